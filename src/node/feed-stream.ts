import type { Logger } from '../env/logger.js';
import type { ServerStream, ServerStreamEnd } from '../env/streams.js';
import type { FeedOptions } from '../options.js';
import type { Feed, FeedEvent } from '../rsm/feed.js';
import { type FeedCancel, type FeedStreamMessage, maxFeedEventBytes } from '../rsm/feeds-wire.js';
import { utf8Bytes } from '../rsm/json-text.js';

/** What the streams of a node share: the bytes of events held while being sent in parts (`FeedOptions.maxBytesInParts`). */
export interface PartsBudget {
  /** Takes `bytes` if they fit; false: they do not. */
  take(bytes: number): boolean;
  give(bytes: number): void;
}

/** Room a stream message needs beyond its events' JSON (field tags, positions, the `through`). */
const framingBytes = 64 * 1024;

/**
 * One accepted subscription at the primary: where its subscriber is in the feed (`cursor`, the last
 * position sent) and the pump that sends it what follows. It reads from the state (the feed holds
 * the events, not this object), so a subscriber costs its stream's buffer and nothing more, however
 * far behind it is.
 *
 * Pumping: with a transport that says when its buffer drained (`ServerStream.whenWritable`, gRPC),
 * one message goes out, and the next only once the buffer drained: a subscriber that does not read
 * holds at most a buffer's worth here, and is evicted (`evicted`) once it has read nothing for
 * `stallTimeoutMs` while events waited. Without it (the simulator), every event up to the head
 * goes out at once.
 *
 * An event larger than a message (`#pack` finds the first alone too large) goes in parts
 * (`fragment` messages, nothing else between them), then the reads go on after it.
 *
 * Invariant: `cursor` only rises, and every message sent carries events above the cursor before it
 * (so a subscriber sees increasing positions, each once); while an event is in parts the cursor
 * stays below it.
 */
export class FeedStream<S> {
  readonly feedName: string;
  /** The last position sent (or the subscriber's `after`): the next read starts after it. */
  #cursor: number;
  /** Waiting for the transport to call back (`whenWritable`): the subscriber has not read what was sent. */
  #blockedSince: number | null = null;
  /** When a message was last sent (progress goes to a stream idle for `progressIntervalMs`). */
  #lastSentAt: number;
  /** The feed's position the subscriber was last told of (events or progress). */
  #told: number;
  /** An event too large for one message, being sent in parts (`fragment`): its text and how much of it is sent. */
  #inParts: { readonly position: number; readonly text: string; sent: number; readonly bytes: number } | null = null;

  constructor(
    readonly stream: ServerStream<FeedStreamMessage>,
    feedName: string,
    private readonly feed: Feed<S>,
    private readonly filter: unknown,
    after: number,
    private readonly options: FeedOptions,
    private readonly maxMessageBytes: number,
    private readonly log: Logger,
    now: number,
    private readonly partsBudget: PartsBudget,
  ) {
    this.feedName = feedName;
    this.#cursor = after;
    this.#told = after;
    this.#lastSentAt = now;
  }

  get cursor(): number {
    return this.#cursor;
  }

  /** Whether the subscriber has left events unread for `stallTimeoutMs` by `now`. */
  stalled(now: number): boolean {
    return this.#blockedSince !== null && now - this.#blockedSince >= this.options.stallTimeoutMs;
  }

  /**
   * Sends what the state holds for the subscriber after its cursor, up to position `limit` (what
   * is durable: see `FeedHub`; `durable`: the state is exactly the durable one, so a compaction it
   * shows may be told), then `resume` is called when the transport can take more (the
   * caller pumps again). Returns what ended the subscription, if anything did (the stream is then
   * ended already).
   */
  pump(state: Readonly<S>, limit: number, durable: boolean, now: number, resume: () => void): FeedCancel | null {
    if (!this.stream.open || this.#blockedSince !== null) return null;
    const flow = this.stream.whenWritable;
    for (;;) {
      if (this.#inParts !== null) {
        if (!this.#sendPart(now)) return null;
        if (flow !== undefined) return this.#block(flow, now, resume);
        continue;
      }
      const head = Math.min(this.feed.head(state), limit);
      if (this.#cursor >= head) return null;
      const read = this.feed.read(state, this.#cursor, this.filter, this.options.maxEventsPerMessage);
      if (read.kind === 'compacted') {
        if (!durable) return null; // told only once the compaction is durable: the next `advanced` pumps again
        return this.cancel({ reason: 'compacted', compactedThrough: read.compactedThrough,
          detail: `${this.feedName}: positions up to ${read.compactedThrough} are compacted; the subscription asked for those after ${this.#cursor}` }, { kind: 'invalid-request', detail: 'feed compacted' });
      }
      // Only up to `head`: what lies past it is not durable yet.
      const events = read.through > head ? read.events.filter((e) => e.position <= head) : read.events;
      const packed = this.#pack(events, Math.min(read.through, head));
      if (packed === null) {
        // The first event alone is larger than a message: it goes in parts, then the reads go on after it.
        const position = events[0]!.position;
        const text = JSON.stringify(events[0]!.event);
        if (utf8Bytes(text) > maxFeedEventBytes) {
          return this.cancel({ reason: 'event-too-large', detail: `${this.feedName}: the event at ${position} is larger than a subscriber joins from parts (${maxFeedEventBytes} bytes, maxFeedEventBytes)` },
            { kind: 'internal', detail: 'feed event too large' });
        }
        const bytes = utf8Bytes(text);
        if (!this.partsBudget.take(bytes)) {
          this.log.warn({ client: this.stream.peer, feed: this.feedName, position, bytes, maxBytesInParts: this.options.maxBytesInParts }, 'feeds: event in parts refused: the node holds maxBytesInParts already');
          this.stream.end({ kind: 'overloaded', detail: `${this.feedName}: the event at ${position} (${bytes} bytes) goes in parts, and this node holds feeds.maxBytesInParts of those already; retry` });
          return null;
        }
        this.#inParts = { position, text, sent: 0, bytes };
        continue;
      }
      if (packed.through <= this.#cursor) return null; // a read that did not move: nothing more now
      this.#cursor = packed.through;
      if (packed.events.length === 0) continue; // nothing matched up to `through`: read on (progress is sent when idle)
      if (!this.stream.send({ kind: 'events', events: packed.events, through: packed.through })) return null;
      this.#lastSentAt = now;
      this.#told = packed.through;
      if (flow !== undefined) return this.#block(flow, now, resume);
    }
  }

  /** Waits for the transport's buffer to drain (the subscriber read), then `resume`. */
  #block(flow: NonNullable<ServerStream<FeedStreamMessage>['whenWritable']>, now: number, resume: () => void): null {
    this.#blockedSince = now;
    flow.call(this.stream, () => {
      this.#blockedSince = null;
      resume();
    });
    return null;
  }

  /**
   * Sends the next part of the event in parts: at most `FeedOptions.maxMessageBytes` of its text
   * (a third as many UTF-16 units, each at most 3 bytes of UTF-8), never ending between the two
   * halves of a surrogate pair. With the last part the cursor moves past the event. False: the
   * stream took nothing (it ended).
   */
  #sendPart(now: number): boolean {
    const p = this.#inParts!;
    let end = Math.min(p.text.length, p.sent + Math.max(2, Math.floor(this.options.maxMessageBytes / 3)));
    const last = p.text.charCodeAt(end - 1);
    if (end < p.text.length && last >= 0xd800 && last <= 0xdbff) end--;
    const done = end === p.text.length;
    if (!this.stream.send({ kind: 'fragment', position: p.position, text: p.text.slice(p.sent, end), last: done })) return false;
    p.sent = end;
    this.#lastSentAt = now;
    if (done) {
      this.#release();
      this.#cursor = p.position;
      this.#told = p.position;
    }
    return true;
  }

  /** The stream ended: what it held in parts goes back to the node's budget. Idempotent. */
  ended(): void {
    this.#release();
  }

  #release(): void {
    if (this.#inParts !== null) this.partsBudget.give(this.#inParts.bytes);
    this.#inParts = null;
  }

  /** Sends a progress message if the subscriber was told nothing for `progressIntervalMs` (also its liveness signal). */
  progress(now: number): void {
    if (!this.stream.open || this.#blockedSince !== null || this.#inParts !== null || now - this.#lastSentAt < this.options.progressIntervalMs) return;
    this.#lastSentAt = now;
    this.#told = this.#cursor;
    this.stream.send({ kind: 'progress', through: this.#cursor });
  }

  /** Sends the subscriber the reason its subscription ends, then ends the stream with `end`. */
  cancel(cancel: FeedCancel, end: ServerStreamEnd): FeedCancel {
    this.log.debug({ client: this.stream.peer, feed: this.feedName, cursor: this.#cursor, reason: cancel.reason }, 'feeds: subscription cancelled');
    this.stream.send({ kind: 'cancel', ...cancel });
    this.stream.end(end);
    return cancel;
  }

  /** Ends a subscriber that stopped reading (`stalled`): it resumes from the last position it received. */
  evict(): FeedCancel {
    return this.cancel({ reason: 'evicted', sentThrough: this.#told,
      detail: `${this.feedName}: the subscriber read nothing for ${this.options.stallTimeoutMs} ms (stallTimeoutMs) while events waited; resume from the last position received` },
    { kind: 'overloaded', detail: 'feed subscriber too slow' });
  }

  /**
   * The events that fit one message (their JSON within `maxEventsPerMessage` and
   * `FeedOptions.maxMessageBytes`; the first alone up to the transport's bound), and the position
   * the message covers: `through` when all fit, else the last event's. Null: the first event alone
   * is too large to send.
   */
  #pack(events: readonly FeedEvent[], through: number): { readonly events: readonly FeedEvent[]; readonly through: number } | null {
    let bytes = 0;
    for (const [i, e] of events.entries()) {
      bytes += utf8Bytes(JSON.stringify(e.event)) + 16;
      if (i === 0 && bytes > this.maxMessageBytes - framingBytes) return null;
      if (i > 0 && bytes > this.options.maxMessageBytes) return { events: events.slice(0, i), through: events[i - 1]!.position };
    }
    return { events, through };
  }
}
