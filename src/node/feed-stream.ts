import type { Logger } from '../env/logger.js';
import type { ServerStream, ServerStreamEnd } from '../env/streams.js';
import type { FeedOptions } from '../options.js';
import type { Feed, FeedEvent } from '../rsm/feed.js';
import type { FeedCancel, FeedStreamMessage } from '../rsm/feeds-wire.js';
import { utf8Bytes } from '../rsm/json-text.js';

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
 * Invariant: `cursor` only rises, and every message sent carries events above the cursor before it
 * (so a subscriber sees increasing positions, each once).
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
   * is durable: see `FeedHub`), then `resume` is called when the transport can take more (the
   * caller pumps again). Returns what ended the subscription, if anything did (the stream is then
   * ended already).
   */
  pump(state: Readonly<S>, limit: number, now: number, resume: () => void): FeedCancel | null {
    if (!this.stream.open || this.#blockedSince !== null) return null;
    const flow = this.stream.whenWritable;
    for (;;) {
      const head = Math.min(this.feed.head(state), limit);
      if (this.#cursor >= head) return null;
      const read = this.feed.read(state, this.#cursor, this.filter, this.options.maxEventsPerMessage);
      if (read.kind === 'compacted') {
        return this.cancel({ reason: 'compacted', compactedThrough: read.compactedThrough,
          detail: `${this.feedName}: positions up to ${read.compactedThrough} are compacted; the subscription asked for those after ${this.#cursor}` }, { kind: 'invalid-request', detail: 'feed compacted' });
      }
      // Only up to `head`: what lies past it is not durable yet.
      const events = read.through > head ? read.events.filter((e) => e.position <= head) : read.events;
      const packed = this.#pack(events, Math.min(read.through, head));
      if (packed === null) {
        const position = events[0]!.position;
        return this.cancel({ reason: 'event-too-large', detail: `${this.feedName}: the event at ${position} is larger than a message may carry (${this.maxMessageBytes} bytes)` },
          { kind: 'internal', detail: 'feed event too large' });
      }
      if (packed.through <= this.#cursor) return null; // a read that did not move: nothing more now
      this.#cursor = packed.through;
      if (packed.events.length === 0) continue; // nothing matched up to `through`: read on (progress is sent when idle)
      if (!this.stream.send({ kind: 'events', events: packed.events, through: packed.through })) return null;
      this.#lastSentAt = now;
      this.#told = packed.through;
      if (flow !== undefined) {
        this.#blockedSince = now;
        flow.call(this.stream, () => {
          this.#blockedSince = null;
          resume();
        });
        return null;
      }
    }
  }

  /** Sends a progress message if the subscriber was told nothing for `progressIntervalMs` (also its liveness signal). */
  progress(now: number): void {
    if (!this.stream.open || this.#blockedSince !== null || now - this.#lastSentAt < this.options.progressIntervalMs) return;
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
