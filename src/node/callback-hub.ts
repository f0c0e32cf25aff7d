import type { Clock, TimerHandle } from '../env/clock.js';
import type { Executor } from '../env/executor.js';
import type { Logger } from '../env/logger.js';
import type { ServerStream, ServerStreamEnd } from '../env/streams.js';
import type { Transport } from '../env/transport.js';
import type { NodeId } from '../env/types.js';
import { type CallbackOptions, limits } from '../options.js';
import type { Callback } from '../rsm/app.js';
import { type CallbackStreamMessage, type CallbackSubscribe, callbacksCodec } from '../rsm/callbacks-wire.js';
import type { LeaseStatus } from '../rsm/lease.js';
import type { ReplicaStatus } from '../rsm/replica.js';
import { leaseLost, noLeaseYet, notPrimary, ownerTaken } from './callback-ends.js';
import { Keepalives } from './keepalives.js';
import { type OwnerStream, OwnerStreams } from './owner-streams.js';

/** What the hub reads of the replica (always inside a task of the node's executor). */
export interface PrimaryView {
  readonly isPrimary: boolean;
  readonly status: ReplicaStatus;
  /** The primary lease, read in the same task in which the hub acts on it (`Replica.lease`). */
  readonly lease: LeaseStatus;
  primaryOf(): NodeId | null;
  outstandingCallbacks(): readonly Callback[];
}

export interface CallbackHubDeps {
  readonly self: NodeId;
  /** Serves the stream service; the transport ends every stream when the node is isolated or closes. */
  readonly transport: Pick<Transport, 'serveStream'>;
  readonly replica: PrimaryView;
  /** The node's task queue: every read of the replica runs as one of its tasks. */
  readonly executor: Executor;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Resolved where the node is composed (`NodeStack`); keepalives carry its `sessionTimeoutMs`. */
  readonly options: CallbackOptions;
  /** The node's `RsmOptions.maxClockDriftPpm`, which keepalives carry (clients bound their sessions with it). */
  readonly maxClockDriftPpm: number;
  /** Longest owner id accepted; default `limits.maxClientIdLength` (the lock service passes `lockLimits.maxOwnerLength`). */
  readonly maxOwnerLength?: number;
  /**
   * The client id `owner` is bound to in the replicated state now (`SessionSpec.clientOf`), or
   * null: bound to none. Called inside tasks of the node's executor. Default: owners are never
   * bound in the state (an owner is then held only by its open stream).
   */
  readonly boundClient?: (owner: string) => string | null;
}

/**
 * The callback service (`synod.rsm.Callbacks`, `callbacksCodec`) of a node whose app has callbacks
 * (`App.callbacks`), served through the node's transport (`Transport.serveStream`), in production
 * and in the simulator alike. It keeps one stream per owner (the client id a callback is
 * addressed to) and sends each callback the replica emits down its owner's stream. Generic over
 * the app; the lock service is its first user.
 *
 * The primary lease (`PrimaryView.lease`) governs everything the hub sends: a callback or a
 * keepalive leaves only in a task that read the lease `held`. That is what keeps a deposed
 * primary (cut off from its backups, still reached by clients) from confirming sessions or
 * sending callbacks after another primary may have taken over.
 *
 * What a client sees (`StreamEnd`; callbacks-wire.ts says what it should do):
 * - Only the serving primary holding its lease accepts a stream. Any other node ends it at once
 *   `not-primary`, naming the primary if it knows one; the primary itself, while a view change is
 *   under way or before its lease is granted, `not-serving-yet`; with its lease lapsed,
 *   `unavailable` naming why. The transport refuses a stream first when the node is isolated or
 *   closing, of another cluster, malformed, or one too many (`TransportOptions.maxStreams`); the
 *   hub refuses an owner id longer than `maxOwnerLength` (`invalid-request`).
 * - One stream per owner, and only its own client's (`owner-taken` otherwise). A subscription
 *   names the owner and the subscribing client's id. An owner bound to a client in the state
 *   (`boundClient`: the lock service binds an owner to the client that first used it) is served
 *   to that client only: another client's stream is refused, and one accepted before the binding
 *   is ended when the owner's client subscribes, when a callback for the owner is delivered, or
 *   at the next check. An owner bound to none is held by the first client whose stream is open;
 *   another client is refused while it lasts. So no client takes another's revokes, and no
 *   client keeps another's session alive (`has` counts only the rightful client's stream).
 * - Keepalives (`KeepAlive`): one right after the stream is accepted, then one every
 *   `keepaliveIntervalMs`, each only while the lease is held, carrying the time since accepting
 *   (hub clock), the lease's remaining time, `sessionTimeoutMs` and the drift bound. The hub
 *   remembers when it last sent each owner one (`confirmedAt`): `SessionKeeper` never expires an
 *   owner sooner than `sessionTimeoutMs` after that.
 * - An accepted stream first receives every callback outstanding for its owner in the current
 *   state (`Replica.outstandingCallbacks`), so a client that (re)subscribes after the primary's
 *   re-send, or after a callback was dropped for want of a stream, still gets it. Then it
 *   receives each callback for its owner as the primary emits it (after executing a request, and
 *   all outstanding ones again when a primary starts serving). A callback for an owner without a
 *   stream here is dropped: its client will subscribe and get it then. A callback emitted while
 *   the lease is not held is dropped too; the hub then re-sends every outstanding callback to
 *   every stream at the first check that sees the lease held again (a lapse shorter than a check,
 *   or a view change that kept this primary, whose own re-send came before its new lease).
 *   Callbacks may therefore arrive twice; clients must treat them as idempotent (as
 *   `App.callbacks` requires).
 * - A newer stream of the same owner from the same client replaces the older, which ends `replaced`.
 * - Checked every `checkIntervalMs`: every stream ends `unavailable` naming why when the lease
 *   lapsed (logged once per lapse at warn), and `not-primary` (naming the new primary, if known)
 *   when this node stops being the primary of its view. A primary that stays primary through a
 *   view change keeps its streams while it has no lease (`none`: nothing is sent on them) and
 *   goes on when it holds one again, so a membership change does not make every client
 *   re-subscribe. Streams end `unavailable` when the node shuts down; the transport ends them
 *   `unavailable` when the node is isolated (nothing more reaches a client from then on), and
 *   `overloaded` when a client does not read.
 * - A stream whose client vanished ends when its connection does (keepalive bounds that).
 *   `SessionKeeper` builds on `has(owner)` to expire owners that stay without a stream.
 *
 * `deliver` is called from a task of the node's executor (the replica's callback upcall); stream
 * events come from the transport, and every look at the replica they need is a task of its own.
 * The table of streams and who may hold them is owner-streams.ts; keepalives and their ledger,
 * keepalives.ts.
 */
export class CallbackHub {
  readonly #deps: CallbackHubDeps;
  readonly #maxOwnerLength: number;
  readonly #log: Logger;
  /** The accepted stream of each owner (an owner whose stream ended is forgotten). */
  readonly #streams: OwnerStreams;
  /** Sends keepalives, and remembers when each owner last got one (the session keeper counts from it). */
  readonly #keepalives: Keepalives;
  /** A callback was dropped because the lease was not held: re-send every outstanding one when it is. */
  #dropped = false;
  /**
   * The current lapse was logged (once per lapse: its `why` names how long ago each grant was,
   * which changes at every check); false while the lease has not lapsed.
   */
  #lapseLogged = false;
  /** The periodic check's and the keepalives' timers, while started. */
  readonly #timers = new Map<'check' | 'keepalive', TimerHandle>();
  #closed = false;

  private constructor(deps: CallbackHubDeps) {
    this.#deps = deps;
    this.#maxOwnerLength = Math.min(deps.maxOwnerLength ?? limits.maxClientIdLength, limits.maxClientIdLength);
    this.#log = deps.logger;
    this.#streams = new OwnerStreams(deps.logger, deps.boundClient);
    this.#keepalives = new Keepalives(deps.options, deps.maxClockDriftPpm);
  }

  /** Serves the callback service on `deps.transport`; `start` begins the periodic checks and keepalives. */
  static serve(deps: CallbackHubDeps): CallbackHub {
    const hub = new CallbackHub(deps);
    deps.transport.serveStream(callbacksCodec, (request, stream) => hub.#open(request, stream));
    return hub;
  }

  start(): void {
    if (this.#closed || this.#timers.size > 0) return;
    this.#every('check', this.#deps.options.checkIntervalMs, () => this.#check());
    this.#every('keepalive', this.#deps.options.keepaliveIntervalMs, () => this.#keepAliveAll());
  }

  /** Whether `owner` has an open stream here, from the client it is bound to (if any). Call from a task of the node's executor. */
  has(owner: string): boolean {
    return this.#streams.has(owner);
  }

  /**
   * When this hub last sent `owner` a keepalive (its clock), or null: none within the last
   * `sessionTimeoutMs`. Every keepalive was sent while the lease was held.
   */
  confirmedAt(owner: string): number | null {
    return this.#keepalives.confirmedAt(owner);
  }

  /** Owners with a stream here now. */
  get size(): number {
    return this.#streams.size;
  }

  /**
   * Sends each callback down its owner's stream, if it has one here from the owner's client;
   * drops it otherwise (and ends a stream of another client: `owner-taken`). Drops every one
   * while the lease is not held (they are re-sent when it is). Called with the replica's
   * callbacks (primary only), in a task of the node's executor.
   */
  deliver(callbacks: readonly Callback[]): void {
    if (this.#closed || callbacks.length === 0) return;
    if (this.#deps.replica.lease.state !== 'held') {
      this.#dropped = true;
      this.#log.debug({ callbacks: callbacks.length, lease: this.#deps.replica.lease.state }, 'callbacks: no lease; dropped (re-sent once it is held)');
      return;
    }
    this.#send(callbacks);
  }

  /** Ends every stream (`unavailable`) and stops the checks. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers.values()) timer.cancel();
    this.#timers.clear();
    this.#streams.endAll({ kind: 'unavailable', detail: `${this.#deps.self} is shutting down` }, 'shutting down');
  }

  /** Sends each callback down its owner's rightful stream (the caller saw the lease held in this task). */
  #send(callbacks: readonly Callback[]): void {
    for (const cb of callbacks) {
      const entry = this.#streams.get(cb.clientId);
      if (entry !== undefined && entry.stream.open && !this.#streams.rightful(cb.clientId, entry)) this.#streams.endTaken(cb.clientId, entry);
      const stream = this.#streams.get(cb.clientId)?.stream;
      if (stream === undefined || !stream.open) {
        this.#log.debug({ owner: cb.clientId, message: cb.message }, 'callbacks: no stream for the owner; dropped');
        continue;
      }
      stream.send({ kind: 'callback', message: cb.message });
    }
  }

  #open(request: CallbackSubscribe, stream: ServerStream<CallbackStreamMessage>): void {
    const { owner, clientId } = request;
    const refuse = (end: ServerStreamEnd, why: string): void => {
      this.#log.debug({ client: stream.peer, owner, end: end.kind, detail: end.detail }, `callbacks: subscription refused: ${why}`);
      stream.end(end);
    };
    if (this.#closed || this.#deps.executor.stopped) return refuse({ kind: 'unavailable', detail: `${this.#deps.self} is shutting down` }, 'shutting down');
    if (owner.length > this.#maxOwnerLength) {
      this.#log.warn({ client: stream.peer }, 'callbacks: subscription refused: owner id too long');
      stream.end({ kind: 'invalid-request', detail: `invalid message: owner: longer than ${this.#maxOwnerLength} characters` });
      return;
    }
    stream.onEnded((end) => this.#streams.ended(owner, stream, end));
    this.#deps.executor.submit(() => this.#admit(owner, { stream, clientId, acceptedAt: 0 }, refuse));
  }

  /**
   * Accepts `entry`'s stream for `owner` if this node is the serving primary holding its lease
   * and the owner is not another client's (a task of the node's executor).
   */
  #admit(owner: string, entry: OwnerStream, refuse: (end: ServerStreamEnd, why: string) => void): void {
    const { stream, clientId } = entry;
    if (this.#closed || !stream.open) return; // closed meanwhile, or the client left
    const r = this.#deps.replica;
    const lease = r.lease;
    if (lease.state === 'lapsed') return refuse(leaseLost(lease.why), 'lease lapsed');
    if (!r.isPrimary || r.status !== 'normal') {
      const primary = this.#primaryElsewhere();
      if (primary === this.#deps.self) {
        return refuse({ kind: 'not-serving-yet', detail: `${this.#deps.self} is the primary but not serving yet (view change in progress); retry` }, 'not serving yet');
      }
      return refuse(notPrimary(primary), 'not primary');
    }
    if (lease.state !== 'held') return refuse(noLeaseYet(this.#deps.self), 'no lease yet');
    const bound = this.#streams.boundClient(owner);
    const older = this.#streams.get(owner);
    if (bound !== null && bound !== clientId) {
      this.#log.info({ client: stream.peer, owner }, 'callbacks: subscription refused: the owner is bound to another client');
      return stream.end(ownerTaken(owner, 'it is bound to another client (the one that first used it)'));
    }
    if (bound === null && older !== undefined && older.stream.open && older.clientId !== clientId) {
      this.#log.info({ client: stream.peer, owner }, 'callbacks: subscription refused: another client streams for the owner');
      return stream.end(ownerTaken(owner, 'another client holds its callback stream'));
    }
    this.#streams.set(owner, entry);
    // The owner's client replaces its own older stream, or one another client opened before the owner was bound to it.
    older?.stream.end(older.clientId === clientId ? { kind: 'replaced', detail: `replaced by a newer subscription of owner ${owner}` }
      : ownerTaken(owner, 'it is bound to another client (the one that first used it)'));
    entry.acceptedAt = this.#deps.clock.now();
    stream.accept();
    this.#keepalives.send(owner, entry, entry.acceptedAt, lease.remainingMs);
    const outstanding = r.outstandingCallbacks().filter((c) => c.clientId === owner);
    this.#log.debug({ owner, client: stream.peer, outstanding: outstanding.length }, 'callbacks: subscribed');
    for (const cb of outstanding) stream.send({ kind: 'callback', message: cb.message });
  }

  /** The primary to name in a refusal: the replica's, unless that is this node while it is not primary (stale). */
  #primaryElsewhere(): NodeId | null {
    const r = this.#deps.replica;
    const primary = r.primaryOf();
    if (primary === this.#deps.self && (r.status === 'joining' || !r.isPrimary)) return null;
    return primary;
  }

  /** Runs `task` as a task of the node's executor every `intervalMs` until the hub closes. */
  #every(name: 'check' | 'keepalive', intervalMs: number, task: () => void): void {
    this.#timers.set(name, this.#deps.clock.setTimer(intervalMs, () => {
      if (this.#closed || this.#deps.executor.stopped) return;
      this.#deps.executor.submit(() => {
        if (!this.#closed) task();
      });
      this.#every(name, intervalMs, task);
    }));
  }

  /**
   * Follows the lease and the view (a task of the node's executor): with the lease lapsed, ends
   * every stream `unavailable` naming why; when no longer the primary, `not-primary`; while the
   * primary (lease held, or none during a view change that kept it), ends the streams of owners
   * bound to another client, and, with the lease held after callbacks were dropped, re-sends
   * every outstanding callback.
   */
  #check(): void {
    const r = this.#deps.replica;
    const lease = r.lease;
    const now = this.#deps.clock.now();
    this.#keepalives.forgetExpired(now);
    if (lease.state === 'lapsed') {
      if (!this.#lapseLogged) {
        this.#lapseLogged = true;
        this.#log.warn({ streams: this.#streams.size, why: lease.why }, 'callbacks: primary lease lapsed; every stream ends (unavailable), no new one until it is held again');
      }
      this.#streams.endAll(leaseLost(lease.why), 'primary lease lapsed');
      return;
    }
    this.#lapseLogged = false;
    if (!r.isPrimary) {
      if (this.#streams.size === 0) return;
      const primary = this.#primaryElsewhere();
      this.#streams.endAll(notPrimary(primary), `no longer the primary (primary ${primary ?? 'unknown'})`);
      return;
    }
    this.#streams.endStrangers();
    if (lease.state === 'held' && this.#dropped) {
      this.#dropped = false;
      const outstanding = r.outstandingCallbacks();
      this.#log.debug({ outstanding: outstanding.length, streams: this.#streams.size }, 'callbacks: lease held again; every outstanding callback re-sent');
      this.#send(outstanding);
    }
  }

  /** Sends every rightful stream a keepalive if the lease is held (a task of the node's executor). */
  #keepAliveAll(): void {
    const lease = this.#deps.replica.lease;
    if (lease.state !== 'held') return;
    this.#keepalives.round(this.#streams, this.#deps.clock.now(), lease.remainingMs);
  }
}
