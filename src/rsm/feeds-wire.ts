import { InvalidMessageError } from '../env/errors.js';
import type { StreamCodec } from '../env/streams.js';
import { type Fields, array, bool, object, uint } from '../env/validate.js';
import { limits } from '../options.js';
import type { Json } from './app.js';
import type { FeedEvent } from './feed.js';
import { jsonTextDepth, utf8Bytes } from './json-text.js';

/**
 * The feed service's wire format (`proto/feeds.proto`), shared by the server (`FeedHub`) and
 * clients (`FeedSubscription`): `Subscribe(FeedSubscribe{feed, filter, after})` returns a stream
 * of `FeedMessage`s: events, progress, or a last cancel saying why the server ends it.
 */

/** What a subscriber asks for: the app's feed, its filter (JSON), and the last position it has. */
export interface FeedSubscribeRequest {
  readonly feed: string;
  readonly filter: Json;
  readonly after: number;
}

/**
 * Why the server ends a subscription (the stream's last message; the stream then ends
 * `invalid-request` or `overloaded`):
 * - `compacted`: positions up to `compactedThrough` are gone; subscribe after it (missing what was
 *   compacted), or take a snapshot of the state first (Clone);
 * - `evicted`: the subscriber read too slowly (`FeedOptions.stallTimeoutMs`); it resumes from the
 *   last position it received (`sentThrough` is what the server had sent);
 * - `bad-filter`: the feed refused the filter (`code`, `detail`: the app's error);
 * - `no-such-feed`: the app has no feed of that name;
 * - `event-too-large`: an event passed `maxFeedEventBytes` (what a subscriber joins from parts;
 *   an event larger than one message is sent in parts, `fragment`).
 */
export type FeedCancel =
  | { readonly reason: 'compacted'; readonly compactedThrough: number; readonly detail: string }
  | { readonly reason: 'evicted'; readonly sentThrough: number; readonly detail: string }
  | { readonly reason: 'bad-filter'; readonly code: string; readonly detail: string }
  | { readonly reason: 'no-such-feed' | 'event-too-large'; readonly detail: string };

/**
 * One message of a feed stream. `fragment`: a part of the event at `position`, whose JSON text is
 * larger than a message carries; the parts come in order, one a message, nothing between them, and
 * the one with `last` completes the event (`FeedFragments` joins them).
 */
export type FeedStreamMessage =
  | { readonly kind: 'events'; readonly events: readonly FeedEvent[]; readonly through: number }
  | { readonly kind: 'progress'; readonly through: number }
  | { readonly kind: 'fragment'; readonly position: number; readonly text: string; readonly last: boolean }
  | ({ readonly kind: 'cancel' } & FeedCancel);

const cancelReasons = ['compacted', 'evicted', 'bad-filter', 'no-such-feed', 'event-too-large'] as const;
/** Longest feed name (as procedure names: `App.feeds` keys follow their rule). */
const maxFeedNameLength = 64;
/** Longest detail text a cancel carries. */
const maxDetailLength = 1024;
/**
 * Largest event (its JSON text, UTF-8 bytes) a feed sends in parts and a subscriber joins: 64 MiB.
 * An app's event may pass one message (a KV revision that deletes a range, with prevKv, carries
 * every deleted record); past this bound the primary ends the subscription `event-too-large`,
 * and what one subscriber costs either end while an event is in parts stays bounded.
 */
export const maxFeedEventBytes = 64 * 1024 * 1024;

/**
 * JSON text within `maxBytes` (a limit's name, or `maxFeedEventBytes`) and `limits.maxJsonDepth`, parsed; `field` names it in the
 * error, and a breach names the limit (issue 12), so a client learns which bound it passed.
 */
function jsonField(text: unknown, field: string, maxBytes: 'maxRequestBytes' | 'maxMessageBytes' | number): Json {
  if (typeof text !== 'string' || text.length === 0) throw new InvalidMessageError(field, 'missing or empty');
  const max = typeof maxBytes === 'number' ? maxBytes : limits[maxBytes];
  const named = typeof maxBytes === 'number' ? 'maxFeedEventBytes' : `limits.${maxBytes}`;
  if (text.length > max || utf8Bytes(text) > max) throw new InvalidMessageError(field, `more than ${max} bytes (${named})`);
  if (jsonTextDepth(text, limits.maxJsonDepth) > limits.maxJsonDepth) {
    throw new InvalidMessageError(field, `JSON nested deeper than ${limits.maxJsonDepth} levels (limits.maxJsonDepth)`);
  }
  try {
    return JSON.parse(text) as Json;
  } catch {
    throw new InvalidMessageError(field, 'not JSON');
  }
}

function text(value: unknown, field: string, maxLength: number): string {
  const s = value ?? '';
  if (typeof s !== 'string') throw new InvalidMessageError(field, 'not a string');
  if (s.length > maxLength) throw new InvalidMessageError(field, `longer than ${maxLength} characters`);
  return s;
}

function decodeRequest(wire: Fields): FeedSubscribeRequest {
  const feed = wire['feed'];
  if (typeof feed !== 'string' || feed.length === 0) throw new InvalidMessageError('feed', 'missing or empty');
  if (feed.length > maxFeedNameLength) throw new InvalidMessageError('feed', `longer than ${maxFeedNameLength} characters`);
  const filter = wire['filter'] === undefined || wire['filter'] === '' ? null : jsonField(wire['filter'], 'filter', 'maxRequestBytes');
  return { feed, filter, after: uint(wire['after'] ?? 0, 'after', 0, Number.MAX_SAFE_INTEGER) };
}

function decodeEvents(wire: Fields): FeedStreamMessage {
  const list = array(wire['events'] ?? [], 'events.events', Number.MAX_SAFE_INTEGER);
  const events: FeedEvent[] = [];
  let last = 0;
  for (const [i, item] of list.entries()) {
    const e = object(item, `events.events[${i}]`);
    const position = uint(e['position'], `events.events[${i}].position`, 1, Number.MAX_SAFE_INTEGER);
    if (position <= last) throw new InvalidMessageError(`events.events[${i}].position`, 'not above the one before');
    last = position;
    events.push({ position, event: jsonField(e['event'], `events.events[${i}].event`, 'maxMessageBytes') });
  }
  const through = uint(wire['through'], 'events.through', 0, Number.MAX_SAFE_INTEGER);
  if (through < last) throw new InvalidMessageError('events.through', 'below the last event');
  return { kind: 'events', events, through };
}

function decodeCancel(wire: Fields): FeedStreamMessage {
  const reason = wire['reason'];
  if (typeof reason !== 'string' || !(cancelReasons as readonly string[]).includes(reason)) throw new InvalidMessageError('cancel.reason', 'not a known reason');
  const detail = text(wire['detail'], 'cancel.detail', maxDetailLength);
  switch (reason as FeedCancel['reason']) {
    case 'compacted':
      return { kind: 'cancel', reason: 'compacted', compactedThrough: uint(wire['compacted_through'] ?? 0, 'cancel.compacted_through', 0, Number.MAX_SAFE_INTEGER), detail };
    case 'evicted':
      return { kind: 'cancel', reason: 'evicted', sentThrough: uint(wire['sent_through'] ?? 0, 'cancel.sent_through', 0, Number.MAX_SAFE_INTEGER), detail };
    case 'bad-filter':
      return { kind: 'cancel', reason: 'bad-filter', code: text(wire['code'], 'cancel.code', 64), detail };
    default:
      return { kind: 'cancel', reason: reason as 'no-such-feed' | 'event-too-large', detail };
  }
}

function decodeFragment(wire: Fields): FeedStreamMessage {
  const position = uint(wire['position'], 'fragment.position', 1, Number.MAX_SAFE_INTEGER);
  const part = wire['text'];
  if (typeof part !== 'string' || part.length === 0) throw new InvalidMessageError('fragment.text', 'missing or empty');
  if (part.length > limits.maxMessageBytes) throw new InvalidMessageError('fragment.text', `more than ${limits.maxMessageBytes} characters (limits.maxMessageBytes)`);
  return { kind: 'fragment', position, text: part, last: bool(wire['last'], 'fragment.last') };
}

function decodeMessage(wire: Fields): FeedStreamMessage {
  const body = typeof wire['body'] === 'string' ? wire['body'] : ['events', 'progress', 'cancel', 'fragment'].find((k) => wire[k] !== undefined && wire[k] !== null);
  switch (body) {
    case 'events':
      return decodeEvents(object(wire['events'], 'events'));
    case 'progress':
      return { kind: 'progress', through: uint(object(wire['progress'], 'progress')['through'] ?? 0, 'progress.through', 0, Number.MAX_SAFE_INTEGER) };
    case 'cancel':
      return decodeCancel(object(wire['cancel'], 'cancel'));
    case 'fragment':
      return decodeFragment(object(wire['fragment'], 'fragment'));
    default:
      throw new InvalidMessageError('body', 'no known message');
  }
}

function encodeMessage(m: FeedStreamMessage): Fields {
  switch (m.kind) {
    case 'events':
      return { events: { events: m.events.map((e) => ({ position: e.position, event: JSON.stringify(e.event) })), through: m.through } };
    case 'progress':
      return { progress: { through: m.through } };
    case 'fragment':
      return { fragment: { position: m.position, text: m.text, last: m.last } };
    case 'cancel': {
      const cancel: Fields = { reason: m.reason, detail: m.detail };
      if (m.reason === 'compacted') cancel['compacted_through'] = m.compactedThrough;
      if (m.reason === 'evicted') cancel['sent_through'] = m.sentThrough;
      if (m.reason === 'bad-filter') cancel['code'] = m.code;
      return { cancel };
    }
  }
}

/** The feed service's codec (`synod.rsm.Feeds`). */
export const feedsCodec: StreamCodec<FeedSubscribeRequest, FeedStreamMessage> = {
  service: 'synod.rsm.Feeds',
  encodeRequest: (r) => ({ feed: r.feed, filter: JSON.stringify(r.filter), after: r.after }),
  decodeRequest,
  encodeMessage,
  decodeMessage,
};

/** A cancel's reason and detail, for errors and logs. */
export function describeFeedCancel(c: FeedCancel): string {
  return `${c.reason}: ${c.detail}`;
}

/**
 * A subscriber's parts of one event (`fragment` messages) until the last: then the event, read as
 * an `events` message's would be (JSON within `maxFeedEventBytes` and `limits.maxJsonDepth`).
 * Parts of another position, or past the bound, are a broken stream: `add` throws
 * `InvalidMessageError` (the subscriber ends the stream and resumes from the last whole position).
 */
export class FeedFragments {
  #position = 0;
  #parts: string[] = [];
  #bytes = 0;

  /** Takes one part; returns the whole event with the last one, else null. */
  add(m: Extract<FeedStreamMessage, { kind: 'fragment' }>): FeedEvent | null {
    if (this.#parts.length > 0 && m.position !== this.#position) {
      this.clear();
      throw new InvalidMessageError('fragment.position', `a part of ${m.position} before the last part of ${this.#position}`);
    }
    this.#position = m.position;
    this.#parts.push(m.text);
    this.#bytes += utf8Bytes(m.text);
    if (this.#bytes > maxFeedEventBytes) {
      this.clear();
      throw new InvalidMessageError('fragment.text', `an event of more than ${maxFeedEventBytes} bytes (maxFeedEventBytes)`);
    }
    if (!m.last) return null;
    const text = this.#parts.join('');
    this.clear();
    return { position: m.position, event: jsonField(text, `fragment[${m.position}]`, maxFeedEventBytes) };
  }

  /** Forgets the parts so far (a stream ended: its replacement sends the event again from its first part). */
  clear(): void {
    this.#parts = [];
    this.#bytes = 0;
  }
}
