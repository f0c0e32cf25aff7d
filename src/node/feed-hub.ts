import type { Clock } from '../env/clock.js';
import { type Periodic, everyInExecutor } from './periodic.js';
import { describeThrown } from '../rsm/procedure-outcome.js';
import type { Executor } from '../env/executor.js';
import type { Logger } from '../env/logger.js';
import type { ServerStream, ServerStreamEnd } from '../env/streams.js';
import type { Transport } from '../env/transport.js';
import type { NodeId } from '../env/types.js';
import type { FeedOptions } from '../options.js';
import { AppError } from '../rsm/app.js';
import type { Feed } from '../rsm/feed.js';
import { type FeedStreamMessage, type FeedSubscribeRequest, feedsCodec } from '../rsm/feeds-wire.js';
import type { LeaseStatus } from '../rsm/lease.js';
import type { ReplicaStatus, RsmMutations } from '../rsm/replica.js';
import { type Viewstamp, sameViewstamp } from '../rsm/viewstamp.js';
import { leaseLost, notPrimary } from './callback-ends.js';
import { FeedStream, type PartsBudget } from './feed-stream.js';

/** What the hub reads of the replica (always inside a task of the node's executor). */
export interface FeedReplicaView<S> {
  readonly isPrimary: boolean;
  readonly status: ReplicaStatus;
  readonly lease: LeaseStatus;
  /** The executed state (null: none yet). */
  readonly state: S | null;
  /** The viewstamp of the last request the state executed (null: none). */
  readonly lastExecuted: Viewstamp | null;
  primaryOf(): NodeId | null;
}

export interface FeedHubDeps<S> {
  readonly self: NodeId;
  /** Serves the stream service; the transport ends every stream when the node is isolated or closes. */
  readonly transport: Pick<Transport, 'serveStream'>;
  readonly replica: FeedReplicaView<S>;
  /** The node's task queue: every read of the replica runs as one of its tasks. */
  readonly executor: Executor;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The app's feeds (`App.feeds`). */
  readonly feeds: Readonly<Record<string, Feed<S>>>;
  readonly options: FeedOptions;
  /** The transport's `maxMessageBytes`: one event alone may take nearly all of it. */
  readonly maxMessageBytes: number;
  /** Test-only breakage (`RsmMutations.skipFeedEventOnResume`). */
  readonly mutations?: Pick<RsmMutations, 'skipFeedEventOnResume' | 'publishFeedBeforeDurable'>;
}

/** What the hub has done, for tests, status and metrics. */
export interface FeedHubStats {
  readonly streams: number;
  readonly accepted: number;
  readonly evicted: number;
  readonly compacted: number;
  readonly failed: number;
}

/**
 * The feed service (`synod.rsm.Feeds`, `feedsCodec`) of a node whose app has feeds (`App.feeds`):
 * the serving primary streams each subscriber the events of its feed after the position it names,
 * then each new one as requests execute. Served through the node's transport, in production and in
 * the simulator alike.
 *
 * Why this gives a subscriber every event once and in order, across failovers and restarts: the
 * events are in the replicated state (the primary executes a request only after every backup of
 * its view did, so an event it sends is in every later primary's state too), a stream carries
 * increasing positions from the subscriber's own `after`, and a subscriber resumes from the last
 * position it received. No stream state needs to survive anything.
 *
 * What a client sees:
 * - Only the serving primary accepts a stream (`not-primary` naming the primary elsewhere,
 *   `not-serving-yet` during a view change, `unavailable` with its lease lapsed). An unknown feed,
 *   a filter the feed refuses, or a position already compacted are answered with a last message
 *   (`FeedCancel`) and the stream ends `invalid-request`.
 * - Every `checkIntervalMs` the hub ends every stream when this node stopped being the primary
 *   (`not-primary`) or its lease lapsed (`unavailable`): a deposed primary executes nothing more,
 *   so its subscribers must move. A stream idle for `progressIntervalMs` gets progress.
 * - A subscriber that reads nothing for `stallTimeoutMs` while events wait is ended `evicted`
 *   (`FeedStream`), and more than `maxStreams` streams are refused `overloaded`.
 *
 * `advanced` is called from the replica's upcall (a task of the node's executor) after every
 * executed app request: it pumps every stream once, in a later task (one per burst of requests).
 */
export class FeedHub<S> {
  readonly #deps: FeedHubDeps<S>;
  readonly #log: Logger;
  readonly #streams = new Set<FeedStream<S>>();
  /**
   * How far each feed may be published: its head after the latest step of the primary whose
   * records are durable (`advanced`). The state may be ahead of it, by steps whose records are
   * still being written: a crash could lose those (a view of one member has no backup that holds
   * them), so their events wait. Nothing is published before the first `advanced` of a feed.
   */
  readonly #published = new Map<string, number>();
  /** The viewstamp the state stood at when the heads in `#published` were taken. */
  #publishedAt: Viewstamp | null = null;
  /** Streams accepted by the transport, not yet admitted (counted against `maxStreams`). */
  #pending = 0;
  /** Bytes of events the streams hold while sending them in parts (`FeedOptions.maxBytesInParts`). */
  #bytesInParts = 0;
  readonly #partsBudget: PartsBudget = {
    take: (bytes) => {
      if (this.#bytesInParts + bytes > this.#deps.options.maxBytesInParts) return false;
      this.#bytesInParts += bytes;
      return true;
    },
    give: (bytes) => void (this.#bytesInParts -= bytes),
  };
  #pumpQueued = false;
  #ticker: Periodic | null = null;
  #closed = false;
  #lapseLogged = false;
  #accepted = 0;
  #evicted = 0;
  #compacted = 0;
  #failed = 0;

  private constructor(deps: FeedHubDeps<S>) {
    this.#deps = deps;
    this.#log = deps.logger;
  }

  /** Serves the feed service on `deps.transport`; `start` begins the periodic checks. */
  static serve<S>(deps: FeedHubDeps<S>): FeedHub<S> {
    const hub = new FeedHub(deps);
    deps.transport.serveStream(feedsCodec, (request, stream) => hub.#open(request, stream));
    return hub;
  }

  start(): void {
    if (this.#closed || this.#ticker !== null) return;
    this.#ticker = everyInExecutor(this.#deps.clock, this.#deps.executor, this.#deps.options.checkIntervalMs, () => this.#check());
  }

  stats(): FeedHubStats {
    return { streams: this.#streams.size, accepted: this.#accepted, evicted: this.#evicted, compacted: this.#compacted, failed: this.#failed };
  }

  /**
   * The feeds reached `heads` in durable steps (the replica's upcall, `CallbackListener.onAdvanced`):
   * pump every stream, up to there, in a task of its own.
   */
  advanced(heads: ReadonlyMap<string, number>, at: Viewstamp | null): void {
    for (const [name, head] of heads) this.#published.set(name, head);
    this.#publishedAt = at;
    if (this.#closed || this.#pumpQueued || this.#streams.size === 0) return;
    this.#pumpQueued = true;
    this.#deps.executor.submit(() => {
      this.#pumpQueued = false;
      if (this.#closed) return;
      for (const s of this.#streams) this.#pump(s);
    });
  }

  /** Ends every stream (`unavailable`) and stops the checks. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ticker?.cancel();
    this.#ticker = null;
    this.#endAll({ kind: 'unavailable', detail: `${this.#deps.self} is shutting down` });
  }

  #open(request: FeedSubscribeRequest, stream: ServerStream<FeedStreamMessage>): void {
    if (this.#closed || this.#deps.executor.stopped) return stream.end({ kind: 'unavailable', detail: `${this.#deps.self} is shutting down` });
    if (this.#streams.size + this.#pending >= this.#deps.options.maxStreams) {
      this.#log.warn({ client: stream.peer, maxStreams: this.#deps.options.maxStreams }, 'feeds: subscription refused: too many feed streams');
      return stream.end({ kind: 'overloaded', detail: `${this.#deps.self} holds ${this.#streams.size} feed streams (feeds.maxStreams)` });
    }
    this.#pending++;
    this.#deps.executor.submit(() => {
      this.#pending--;
      this.#admit(request, stream);
    });
  }

  /** Accepts `stream` if this node is the serving primary with its lease, and the feed takes the filter (a task of the node's executor). */
  #admit(request: FeedSubscribeRequest, stream: ServerStream<FeedStreamMessage>): void {
    if (this.#closed || !stream.open) return;
    const refusal = this.#refusal();
    if (refusal !== null) {
      this.#log.debug({ client: stream.peer, feed: request.feed, end: refusal.kind }, 'feeds: subscription refused');
      return stream.end(refusal);
    }
    const feed = Object.hasOwn(this.#deps.feeds, request.feed) ? this.#deps.feeds[request.feed] : undefined;
    const now = this.#deps.clock.now();
    const after = request.after > 0 && this.#deps.mutations?.skipFeedEventOnResume === true ? request.after + 1 : request.after;
    const sub = (f: Feed<S>, filter: unknown): FeedStream<S> =>
      new FeedStream(stream, request.feed, f, filter, after, this.#deps.options, this.#deps.maxMessageBytes, this.#log, now, this.#partsBudget);
    if (feed === undefined) {
      sub(noFeed as Feed<S>, null).cancel({ reason: 'no-such-feed', detail: `the app has no feed ${JSON.stringify(request.feed)}` }, { kind: 'invalid-request', detail: 'no such feed' });
      return;
    }
    let filter: unknown;
    try {
      filter = feed.filter(request.filter);
    } catch (err) {
      const code = err instanceof AppError ? err.code : 'bad-filter';
      const detail = err instanceof AppError ? err.message : `the feed's filter check failed: ${describeThrown(err)}`;
      sub(noFeed as Feed<S>, null).cancel({ reason: 'bad-filter', code, detail }, { kind: 'invalid-request', detail: 'bad filter' });
      return;
    }
    const s = sub(feed, filter);
    this.#streams.add(s);
    this.#accepted++;
    stream.onEnded(() => {
      this.#streams.delete(s);
      s.ended();
    });
    stream.accept();
    this.#log.debug({ client: stream.peer, feed: request.feed, after: request.after }, 'feeds: subscribed');
    this.#pump(s);
  }

  /** Why this node takes no subscriber now, or null: it is the serving primary holding its lease. */
  #refusal(): ServerStreamEnd | null {
    const r = this.#deps.replica;
    const lease = r.lease;
    if (lease.state === 'lapsed') return leaseLost(lease.why);
    if (!r.isPrimary || r.status !== 'normal' || r.state === null) {
      const primary = this.#primaryElsewhere();
      if (primary === this.#deps.self) return { kind: 'not-serving-yet', detail: `${this.#deps.self} is the primary but not serving yet (view change in progress); retry` };
      return notPrimary(primary);
    }
    return null;
  }

  /**
   * Sends `s` what it may have now: only on the serving primary in a normal view (a primary
   * leaving its view executes its requests in flight without their acknowledgements, `abandon`:
   * nothing of that may reach a subscriber), only up to the published heads, and a compaction
   * only once the state is the durable one (a compaction is no position: a step that compacted
   * and is not yet durable could still be lost, and `compacted` ends a subscription for good).
   */
  #pump(s: FeedStream<S>): void {
    const r = this.#deps.replica;
    const state = r.state;
    if (state === null || !s.stream.open || !r.isPrimary || r.status !== 'normal') return;
    try {
      const beforeDurable = this.#deps.mutations?.publishFeedBeforeDurable === true;
      const limit = beforeDurable ? Number.MAX_SAFE_INTEGER : this.#published.get(s.feedName) ?? 0;
      const durable = beforeDurable || sameViewstamp(r.lastExecuted, this.#publishedAt);
      const ended = s.pump(state, limit, durable, this.#deps.clock.now(), () => {
        if (!this.#closed && !this.#deps.executor.stopped) this.#deps.executor.submit(() => this.#pump(s));
      });
      if (ended?.reason === 'compacted') this.#compacted++;
    } catch (err) {
      // The app's `head` or `read` threw: a bug of the app. The subscriber retries; the log says why.
      this.#failed++;
      this.#log.error({ feed: s.feedName, cursor: s.cursor, err: describeThrown(err), failures: this.#failed }, 'feeds: the app\'s feed failed; stream ended');
      s.stream.end({ kind: 'internal', detail: `the feed ${s.feedName} failed at ${this.#deps.self}` });
    }
  }

  /** Follows the view and the lease, sends progress, evicts stalled subscribers (a task of the node's executor). */
  #check(): void {
    if (this.#streams.size === 0) return;
    const r = this.#deps.replica;
    const lease = r.lease;
    if (lease.state === 'lapsed') {
      if (!this.#lapseLogged) this.#log.warn({ streams: this.#streams.size, why: lease.why }, 'feeds: primary lease lapsed; every feed stream ends (unavailable)');
      this.#lapseLogged = true;
      return this.#endAll(leaseLost(lease.why));
    }
    this.#lapseLogged = false;
    if (!r.isPrimary) return this.#endAll(notPrimary(this.#primaryElsewhere()));
    const now = this.#deps.clock.now();
    for (const s of [...this.#streams]) {
      if (s.stalled(now)) {
        this.#evicted++;
        this.#log.warn({ client: s.stream.peer, feed: s.feedName, cursor: s.cursor, stallTimeoutMs: this.#deps.options.stallTimeoutMs }, 'feeds: subscriber evicted: it read nothing while events waited');
        s.evict();
        continue;
      }
      s.progress(now);
    }
  }

  #endAll(end: ServerStreamEnd): void {
    for (const s of [...this.#streams]) s.stream.end(end);
    this.#streams.clear();
  }

  /** The primary to name in a refusal: the replica's, unless that is this node while it is not primary (stale). */
  #primaryElsewhere(): NodeId | null {
    const r = this.#deps.replica;
    const primary = r.primaryOf();
    if (primary === this.#deps.self && (r.status === 'joining' || !r.isPrimary)) return null;
    return primary;
  }
}

/** Stands in for a feed that does not exist, only to send a refusal through `FeedStream.cancel`. */
const noFeed: Feed<unknown> = {
  head: () => 0,
  filter: (f) => f,
  read: () => ({ kind: 'events', events: [], through: 0 }),
};
