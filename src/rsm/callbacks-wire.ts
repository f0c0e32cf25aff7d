import { InvalidMessageError } from '../env/errors.js';
import type { StreamCodec } from '../env/streams.js';
import type { Fields } from '../env/validate.js';
import { limits } from '../options.js';
import type { Json } from './app.js';
import { jsonTextDepth, utf8Bytes } from './json-text.js';

/**
 * The callback service's wire format (`proto/callbacks.proto`), shared by the server
 * (`CallbackHub`) and clients (`StreamCallbackSubscriber`): a server stream
 * `Subscribe(SubscribeRequest{cluster, owner, client_id}) returns (stream CallbackMessage{message})`,
 * the message being the app's callback message as JSON text.
 *
 * How a stream ends, and what the client does then (`StreamEnd`; `CallbackHub` has the contract):
 * - `not-primary`: this node is not (or no longer) the serving primary; subscribe to the primary
 *   it names, or, with none known, find the primary and retry after a short wait;
 * - `not-serving-yet`, `unavailable`, `unreachable`: the primary is changing views, or the node
 *   is isolated, stopping, down or cut off: retry (with backoff) there or at another member;
 * - `replaced`: a newer subscription of the same owner replaced this one (the client's own);
 * - `owner-taken`: the owner belongs to another client (bound to it in the app's state, or
 *   streaming from it now): not this client's to subscribe for; give up on this owner;
 * - `overloaded`: too many streams at the node, or this client read too slowly: retry later;
 * - `invalid-request`, `wrong-cluster`, `internal`: a bug or a configuration error: give up.
 * After an end the client subscribes again; every outstanding callback of its owner is sent at
 * once on every new subscription, so nothing is lost while it had none.
 */

/**
 * What a client subscribes with: the owner its callbacks are addressed to (`Callback.clientId`:
 * the lock service's owner id), and the client's own id (`HandlerContext.clientId` of its
 * requests), which the server checks the owner against: only the client an owner is bound to may
 * have its stream.
 */
export interface CallbackSubscribe {
  readonly owner: string;
  readonly clientId: string;
}

/** The owner of a subscription; throws `InvalidMessageError` unless a non-empty string of at most `maxLength`. */
export function decodeOwner(wire: Fields, maxLength: number = limits.maxClientIdLength): string {
  const owner = wire['owner'];
  if (typeof owner !== 'string' || owner.length === 0) throw new InvalidMessageError('owner', 'missing or empty');
  if (owner.length > maxLength) throw new InvalidMessageError('owner', `longer than ${maxLength} characters`);
  return owner;
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

/** The subscribing client's id; throws `InvalidMessageError` unless a non-empty string of at most `limits.maxClientIdLength`. */
export function decodeSubscriberClientId(wire: Fields): string {
  const id = wire['client_id'];
  if (typeof id !== 'string' || id.length === 0) throw new InvalidMessageError('client_id', 'missing or empty');
  if (id.length > limits.maxClientIdLength) throw new InvalidMessageError('client_id', `longer than ${limits.maxClientIdLength} characters`);
  return id;
}

/**
 * The primary's confirmation of a session (`KeepAlive` in proto/callbacks.proto): durations on
 * the server's clock only. A client bounds how long its session surely lasts from these and its
 * own clock (see `StreamSubscription`).
 */
export interface KeepAlive {
  /** Milliseconds on the server's clock from accepting the stream to sending this. */
  readonly sinceAcceptMs: number;
  /** What remained of the primary's lease when it sent this (for display and metrics). */
  readonly leaseRemainingMs: number;
  /** The server's `CallbackOptions.sessionTimeoutMs`. */
  readonly sessionTimeoutMs: number;
  /** The server's `RsmOptions.maxClockDriftPpm`. */
  readonly maxDriftPpm: number;
  /** The server's `CallbackOptions.keepaliveIntervalMs` (0: not said): how long until the next. */
  readonly intervalMs: number;
}

/** One message on a callback stream: an app's callback message, or a keepalive. */
export type CallbackStreamMessage =
  | { readonly kind: 'callback'; readonly message: Json }
  | ({ readonly kind: 'keepalive' } & KeepAlive);

const keepAliveFields = ['since_accept_ms', 'lease_remaining_ms', 'session_timeout_ms', 'max_drift_ppm', 'interval_ms'] as const;
/** Largest duration a keepalive carries (uint32 on the wire). */
const maxKeepAliveMs = 0xffff_ffff;

/** A keepalive's fields; throws `InvalidMessageError` for a missing or out-of-range one. */
function decodeKeepAlive(wire: Fields): KeepAlive {
  const v: number[] = [];
  for (const f of keepAliveFields) {
    const x = wire[f] ?? 0; // proto3: a zero is not sent
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > maxKeepAliveMs) throw new InvalidMessageError(`keepalive.${f}`, 'not a uint32');
    v.push(x);
  }
  if (v[2] === 0) throw new InvalidMessageError('keepalive.session_timeout_ms', 'zero');
  if (v[3]! >= 100_000) throw new InvalidMessageError('keepalive.max_drift_ppm', 'not below 100000');
  return { sinceAcceptMs: v[0]!, leaseRemainingMs: v[1]!, sessionTimeoutMs: v[2]!, maxDriftPpm: v[3]!, intervalMs: v[4]! };
}

/** A stream message: a keepalive if it carries one, the app's callback message otherwise. */
export function decodeCallbackStreamMessage(wire: Fields): CallbackStreamMessage {
  const keepalive = wire['keepalive'];
  if (keepalive !== undefined && keepalive !== null) {
    if (typeof keepalive !== 'object') throw new InvalidMessageError('keepalive', 'not a message');
    return { kind: 'keepalive', ...decodeKeepAlive(keepalive as Fields) };
  }
  return { kind: 'callback', message: decodeCallbackMessage(wire) };
}

function encodeCallbackStreamMessage(m: CallbackStreamMessage): Fields {
  if (m.kind === 'callback') return { message: JSON.stringify(m.message) };
  return { keepalive: { since_accept_ms: m.sinceAcceptMs, lease_remaining_ms: m.leaseRemainingMs, session_timeout_ms: m.sessionTimeoutMs, max_drift_ppm: m.maxDriftPpm, interval_ms: m.intervalMs } };
}

/** The callback service's codec (`synod.rsm.Callbacks`); owner and client ids up to `limits.maxClientIdLength`. */
export const callbacksCodec: StreamCodec<CallbackSubscribe, CallbackStreamMessage> = {
  service: 'synod.rsm.Callbacks',
  encodeRequest: (request) => ({ owner: request.owner, client_id: request.clientId }),
  decodeRequest: (wire) => ({ owner: decodeOwner(wire), clientId: decodeSubscriberClientId(wire) }),
  encodeMessage: encodeCallbackStreamMessage,
  decodeMessage: decodeCallbackStreamMessage,
};
