import type { Clock, TimerHandle } from '../env/clock.js';
import { type Logger, silentLogger } from '../env/logger.js';
import { type ClientStream, type StreamEnd, describeStreamEnd } from '../env/streams.js';
import type { ClientTransport } from '../env/transport.js';
import type { NodeId } from '../env/types.js';
import { type FeedSubscriberOptions, feedSubscriberOptions, limits } from '../options.js';
import type { Json } from '../rsm/app.js';
import type { FeedEvent } from '../rsm/feed.js';
import { type FeedCancel, FeedFragments, type FeedStreamMessage, feedsCodec } from '../rsm/feeds-wire.js';
import { FeedClosedError, FeedCompactedError, type FeedError, FeedRefusedError } from './feed-errors.js';

export interface FeedSubscriptionDeps {
  /** Opens the streams: gRPC in production, the simulated network in the simulator. */
  readonly transport: ClientTransport;
  /** Members to try when no primary is known. */
  readonly members: readonly NodeId[];
  /** The primary guess now (e.g. `() => rsmClient.core.primary`; null: none known). */
  readonly primary: () => NodeId | null;
  /**
   * A server accepted a stream (only the serving primary does): the owner of the guess learns it
   * (e.g. `(n) => rsmClient.core.heardFromPrimary(n)`), so that the guess follows a failover even
   * for a client that makes no calls. Default: nothing.
   */
  readonly acceptedBy?: (server: NodeId) => void;
  readonly clock: Clock;
  readonly logger?: Logger;
  readonly options?: Partial<FeedSubscriberOptions>;
}

/** What a subscription asks for: the app's feed, its filter, and the last position the subscriber has. */
export interface FeedSubscribeSpec {
  readonly feed: string;
  readonly filter: Json;
  /** The subscriber gets the events after this position (0: from the feed's start). */
  readonly after: number;
}

/** What a subscription tells its owner. None runs after `close()` or after `ended`. */
export interface FeedHandlers {
  /** Events above every position delivered before, in increasing order; `through` is the position they cover. */
  events(events: readonly FeedEvent[], through: number): void;
  /** The feed reached `through` with no event for this subscription. */
  progress?(through: number): void;
  /** The subscription moves to another stream (a failover, a silent server, an eviction): nothing is lost, it resumes after `position`. */
  resumed?(why: string, position: number): void;
  /** The subscription is over: compacted, refused, or closed (`FeedError`). Once, last. */
  ended(error: FeedError): void;
}

/**
 * One subscription's life: which stream, if any, carries it now.
 * - `connecting`: a stream was opened at `target`, not accepted yet;
 * - `open`: accepted at `target`, last heard from at `heardAt`;
 * - `waiting`: no stream; the next attempt comes after a pause (or after `resume` when paused);
 * - `ended`: over.
 */
type Phase =
  | { readonly kind: 'connecting'; readonly target: NodeId; readonly stream: ClientStream }
  | { readonly kind: 'open'; readonly target: NodeId; readonly stream: ClientStream; heardAt: number }
  | { readonly kind: 'waiting'; readonly timer: TimerHandle | null }
  | { readonly kind: 'ended' };

/**
 * A feed subscription that lasts across streams (`synod.rsm.Feeds`, `FeedHub`): it keeps one
 * stream open at the serving primary and, whenever that stream ends (a failover, a restart, a
 * silent or deposed server, an eviction for reading too slowly), opens another after the last
 * position it received. Positions make this exact: the owner gets every event once, in order,
 * across any number of streams (events at or below the last position delivered are dropped, so a
 * server that repeats itself cannot repeat an event to the owner).
 *
 * Where it goes: the primary a refusal named, else the primary guess, else the members in turn.
 * After a failure with no primary named it pauses `retryPauseMs`, doubling to `maxRetryPauseMs`
 * while failures follow each other; anything received resets the pause. An open stream is left
 * when it brings nothing for `silenceTimeoutMs` (the server sends progress every second), or
 * when the primary guess moves to another node.
 *
 * It ends for good (`FeedHandlers.ended`) only when retrying cannot help: compacted positions
 * (`FeedCompactedError`), a refused filter or feed, another cluster (`FeedRefusedError`), or
 * `close()` (`FeedClosedError`).
 *
 * Flow control: `pause()` closes the stream and opens none until `resume()`, which continues after
 * the last position received. An owner that buffers events pauses when its buffer is full, so
 * nothing ever piles up at the client either.
 */
export class FeedSubscription {
  readonly #deps: FeedSubscriptionDeps;
  readonly #spec: FeedSubscribeSpec;
  readonly #handlers: FeedHandlers;
  readonly #options: FeedSubscriberOptions;
  readonly #log: Logger;
  readonly #members: NodeId[];
  #phase: Phase = { kind: 'waiting', timer: null };
  #position: number;
  #nextMember = 0;
  #hint: NodeId | null = null;
  #pauseMs: number;
  #paused = false;
  #checkTimer: TimerHandle | null = null;
  /** Streams this subscription had (1 + resumptions). */
  #streams = 0;
  #evictions = 0;

  constructor(deps: FeedSubscriptionDeps, spec: FeedSubscribeSpec, handlers: FeedHandlers) {
    if (deps.members.length === 0) throw new RangeError('a feed subscription needs at least one member address');
    if (!Number.isSafeInteger(spec.after) || spec.after < 0) throw new RangeError(`feed ${spec.feed}: after must be a position (an integer from 0), not ${spec.after}`);
    this.#deps = deps;
    this.#spec = spec;
    this.#handlers = handlers;
    this.#options = feedSubscriberOptions(deps.options);
    this.#log = deps.logger ?? silentLogger;
    this.#members = [...new Set(deps.members)];
    this.#position = spec.after;
    this.#pauseMs = this.#options.retryPauseMs;
  }

  /** The last position received: a new subscription after it continues this one exactly. */
  get position(): number {
    return this.#position;
  }

  /** Streams opened so far, and how many of them ended in an eviction (the subscriber read too slowly). */
  get stats(): { readonly streams: number; readonly evictions: number } {
    return { streams: this.#streams, evictions: this.#evictions };
  }

  get ended(): boolean {
    return this.#phase.kind === 'ended';
  }

  start(): void {
    if (this.#phase.kind !== 'waiting' || this.#phase.timer !== null || this.#checkTimer !== null) return;
    this.#scheduleCheck();
    this.#connect();
  }

  /** Stops receiving (closes the stream) until `resume`. */
  pause(): void {
    if (this.#paused || this.#phase.kind === 'ended') return;
    this.#paused = true;
    this.#drop();
  }

  /** Receives again, after the last position received. */
  resume(): void {
    if (!this.#paused || this.#phase.kind === 'ended') return;
    this.#paused = false;
    if (this.#phase.kind === 'waiting' && this.#phase.timer === null) this.#connect();
  }

  /** Ends the subscription (`FeedClosedError` to `ended`, synchronously). Idempotent. */
  close(): void {
    this.#finish(new FeedClosedError(this.#spec.feed));
  }

  #connect(): void {
    if (this.#phase.kind === 'ended' || this.#paused) return;
    const target = this.#nextTarget();
    this.#streams++;
    const request = { feed: this.#spec.feed, filter: this.#spec.filter, after: this.#position };
    let cancel: FeedCancel | null = null;
    // The parts of an event too large for one message, on this stream only: a stream that ends
    // before the last part leaves the position unread, and the next one sends it whole again.
    const parts = new FeedFragments();
    const stream = this.#deps.transport.openStream(feedsCodec, target, request, {
      accepted: () => {
        if (this.#phase.kind !== 'connecting' || this.#phase.stream !== stream) return;
        this.#phase = { kind: 'open', target, stream, heardAt: this.#deps.clock.now() };
        this.#deps.acceptedBy?.(target);
      },
      message: (m) => {
        if ((this.#phase.kind === 'open' || this.#phase.kind === 'connecting') && this.#phase.stream === stream) {
          if (m.kind === 'cancel') cancel = m;
          else if (m.kind !== 'fragment') this.#receive(m);
          else this.#receivePart(target, stream, parts, m);
        }
      },
      ended: (end) => {
        if ((this.#phase.kind === 'open' || this.#phase.kind === 'connecting') && this.#phase.stream === stream) this.#streamEnded(target, end, cancel);
      },
    });
    this.#phase = { kind: 'connecting', target, stream };
  }

  #receive(m: Exclude<FeedStreamMessage, { kind: 'cancel' | 'fragment' }>): void {
    if (this.#phase.kind === 'open') this.#phase.heardAt = this.#deps.clock.now();
    this.#pauseMs = this.#options.retryPauseMs;
    if (m.kind === 'progress') {
      if (m.through > this.#position) {
        this.#position = m.through;
        this.#handlers.progress?.(m.through);
      }
      return;
    }
    const fresh = m.events.filter((e) => e.position > this.#position);
    if (m.through > this.#position) this.#position = m.through;
    if (fresh.length > 0) this.#handlers.events(fresh, this.#position);
    else this.#handlers.progress?.(this.#position);
  }

  /** A part of an event (`fragment`): with the last, the event is received as if in one message. */
  #receivePart(target: NodeId, stream: ClientStream, parts: FeedFragments, m: Extract<FeedStreamMessage, { kind: 'fragment' }>): void {
    if (this.#phase.kind === 'open') this.#phase.heardAt = this.#deps.clock.now();
    let event: FeedEvent | null;
    try {
      event = parts.add(m);
    } catch (err) {
      // A broken stream (parts of two events interleaved, or too many): drop it and resume from the last whole position.
      stream.close();
      return this.#streamEnded(target, { kind: 'internal', detail: `${target} sent a broken event in parts: ${(err as Error).message}` }, null);
    }
    if (event !== null) this.#receive({ kind: 'events', events: [event], through: event.position });
  }

  /** A stream ended: finish on what retrying cannot cure, resume otherwise. */
  #streamEnded(target: NodeId, end: StreamEnd, cancel: FeedCancel | null): void {
    const feed = this.#spec.feed;
    if (cancel !== null) {
      switch (cancel.reason) {
        case 'compacted':
          return this.#finish(new FeedCompactedError(feed, this.#position, cancel.compactedThrough));
        case 'evicted':
          this.#evictions++;
          this.#log.warn({ feed, server: target, position: this.#position, sentThrough: cancel.sentThrough }, 'feed: evicted for reading too slowly; resuming');
          return this.#retry(`evicted by ${target}: ${cancel.detail}`, null);
        case 'bad-filter':
          return this.#finish(new FeedRefusedError(feed, 'bad-filter', cancel.detail, cancel.code));
        default:
          return this.#finish(new FeedRefusedError(feed, cancel.reason, cancel.detail));
      }
    }
    switch (end.kind) {
      case 'wrong-cluster':
      case 'invalid-request':
        return this.#finish(new FeedRefusedError(feed, end.kind, end.detail));
      case 'not-primary':
        if (end.primary !== null && end.primary !== target) {
          this.#learn(end.primary);
          return this.#retry(describeStreamEnd(end), 0);
        }
        return this.#retry(describeStreamEnd(end), null, target);
      default:
        return this.#retry(describeStreamEnd(end), null, target);
    }
  }

  /** Opens the next stream after `pauseMs` (null: the current backoff, which then doubles), avoiding `avoid` if it can. */
  #retry(why: string, pauseMs: number | null, avoid: NodeId | null = null): void {
    if (avoid !== null && this.#hint === null) this.#hint = this.#other(avoid);
    const wait = pauseMs ?? this.#pauseMs;
    if (pauseMs === null) this.#pauseMs = Math.min(this.#pauseMs * 2, this.#options.maxRetryPauseMs);
    this.#log.debug({ feed: this.#spec.feed, position: this.#position, why, waitMs: wait }, 'feed: stream ended; resuming');
    this.#handlers.resumed?.(why, this.#position);
    if (this.#phase.kind === 'ended') return; // the handler closed it
    const timer = this.#deps.clock.setTimer(wait, () => {
      if (this.#phase.kind !== 'waiting' || this.#phase.timer !== timer) return;
      this.#phase = { kind: 'waiting', timer: null };
      this.#connect();
    });
    this.#phase = { kind: 'waiting', timer };
  }

  /** Closes the current stream, if any, and waits (for `resume`, or a retry). */
  #drop(): void {
    const p = this.#phase;
    if (p.kind === 'connecting' || p.kind === 'open') p.stream.close();
    if (p.kind === 'waiting') p.timer?.cancel();
    if (p.kind !== 'ended') this.#phase = { kind: 'waiting', timer: null };
  }

  #finish(error: FeedError): void {
    if (this.#phase.kind === 'ended') return;
    this.#drop();
    this.#phase = { kind: 'ended' };
    this.#checkTimer?.cancel();
    this.#checkTimer = null;
    if (!(error instanceof FeedClosedError)) this.#log.warn({ feed: this.#spec.feed, position: this.#position, err: error.message }, 'feed: subscription ended');
    this.#handlers.ended(error);
  }

  /**
   * Leaves a stream that went silent, or whose server is no longer the primary guess (the client
   * learned of a newer primary; the guess follows accepted streams too, `acceptedBy`, so a client
   * that only subscribes does not chase a dead primary).
   */
  #scheduleCheck(): void {
    this.#checkTimer = this.#deps.clock.setTimer(this.#options.primaryCheckIntervalMs, () => {
      if (this.#phase.kind === 'ended') return;
      const p = this.#phase;
      if (p.kind === 'open') {
        const silentMs = this.#deps.clock.now() - p.heardAt;
        const guess = this.#deps.primary();
        if (silentMs >= this.#options.silenceTimeoutMs) {
          p.stream.close();
          this.#retry(`${p.target} sent nothing for ${silentMs} ms (silenceTimeoutMs)`, null, p.target);
        } else if (guess !== null && guess !== p.target) {
          p.stream.close();
          this.#hint = guess;
          this.#retry(`the primary is now ${guess}, not ${p.target}`, 0);
        }
      }
      this.#scheduleCheck();
    });
  }

  /** The primary a refusal named (once), else the primary guess, else the members in turn. */
  #nextTarget(): NodeId {
    const hint = this.#hint;
    this.#hint = null;
    if (hint !== null) return hint;
    return this.#deps.primary() ?? this.#members[this.#nextMember++ % this.#members.length]!;
  }

  /** A member other than `node` (the next in turn), or `node` when it is the only one. */
  #other(node: NodeId): NodeId {
    const guess = this.#deps.primary();
    if (guess !== null && guess !== node) return guess;
    for (let k = 0; k < this.#members.length; k++) {
      const m = this.#members[this.#nextMember++ % this.#members.length]!;
      if (m !== node) return m;
    }
    return node;
  }

  /** A refusal named `node` as the primary: try it next, and as a member from now on (bounded). */
  #learn(node: NodeId): void {
    this.#hint = node;
    if (!this.#members.includes(node) && this.#members.length < limits.maxMembers) this.#members.push(node);
  }
}
