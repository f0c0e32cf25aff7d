import { InvalidMessageError } from '../env/errors.js';
import type { NodeId } from '../env/types.js';
import type { Fields } from '../env/validate.js';
import { limits } from '../options.js';
import type { Json } from './app.js';
import { jsonTextDepth, utf8Bytes } from './json-text.js';

/**
 * The callback service's wire format (`proto/callbacks.proto`), shared by the server
 * (`CallbackHub`) and clients: `rpc Subscribe(SubscribeRequest{cluster, owner}) returns (stream
 * CallbackMessage{message})`, the message being the app's callback message as JSON text.
 *
 * How a stream ends, and what the client does then (see `CallbackHub` for the whole contract):
 * - FAILED_PRECONDITION with details `notPrimaryDetails(...)`: this node is not (or no longer) the
 *   serving primary; subscribe to the primary it names (`primaryFromDetails`), or, with none
 *   known, ask the members for the primary and retry after a short wait;
 * - FAILED_PRECONDITION with other details: another cluster's node: a configuration error;
 * - UNAVAILABLE: the node is isolated, not serving yet (a view change), or shutting down: retry
 *   (with backoff) there or at another member;
 * - ABORTED: a newer subscription of the same owner replaced this one (the client's own);
 * - RESOURCE_EXHAUSTED: too many subscriptions, or this client read too slowly: retry later;
 * - INVALID_ARGUMENT: a bad owner id: a bug of the client.
 * After any end the client subscribes again; every outstanding callback of its owner is sent at
 * once on every new subscription, so nothing is lost while it had none.
 */
export const callbacksService = 'synod.rsm.Callbacks';
export const subscribeMethod = 'Subscribe';

const notPrimaryPrefix = 'not primary; primary is ';
const noPrimary = 'no primary known';

/** The details of the FAILED_PRECONDITION a node that is not the serving primary ends a stream with. */
export function notPrimaryDetails(primary: NodeId | null): string {
  return primary === null ? noPrimary : `${notPrimaryPrefix}${primary}`;
}

/**
 * The primary named by a stream's end details: a node id, null when the node knew none, and
 * undefined when the details are not a not-primary refusal.
 */
export function primaryFromDetails(details: string): NodeId | null | undefined {
  if (details === noPrimary) return null;
  if (details.startsWith(notPrimaryPrefix)) return details.slice(notPrimaryPrefix.length);
  return undefined;
}

export function encodeSubscribeRequest(cluster: string, owner: string): Fields {
  return { cluster, owner };
}

/** The owner of a subscription; throws `InvalidMessageError` unless a non-empty string of at most `maxLength`. */
export function decodeOwner(wire: Fields, maxLength: number = limits.maxClientIdLength): string {
  const owner = wire['owner'];
  if (typeof owner !== 'string' || owner.length === 0) throw new InvalidMessageError('owner', 'missing or empty');
  if (owner.length > maxLength) throw new InvalidMessageError('owner', `longer than ${maxLength} characters`);
  return owner;
}

export function encodeCallbackMessage(message: Json): Fields {
  return { message: JSON.stringify(message) };
}

/**
 * A received callback message; throws `InvalidMessageError` for one that is not JSON, or beyond
 * the limits a primary sends within (`limits.maxReplyBytes`, `limits.maxJsonDepth`).
 */
export function decodeCallbackMessage(wire: Fields): Json {
  const text = wire['message'];
  if (typeof text !== 'string' || text.length === 0) throw new InvalidMessageError('message', 'missing or empty');
  if (text.length > limits.maxReplyBytes || utf8Bytes(text) > limits.maxReplyBytes) {
    throw new InvalidMessageError('message', `more than ${limits.maxReplyBytes} bytes (limits.maxReplyBytes)`);
  }
  if (jsonTextDepth(text, limits.maxJsonDepth) > limits.maxJsonDepth) {
    throw new InvalidMessageError('message', `JSON nested deeper than ${limits.maxJsonDepth} levels (limits.maxJsonDepth)`);
  }
  try {
    return JSON.parse(text) as Json;
  } catch {
    throw new InvalidMessageError('message', 'not JSON');
  }
}
