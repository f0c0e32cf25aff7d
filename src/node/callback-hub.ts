import type { Clock, TimerHandle } from '../env/clock.js';
import type { Executor } from '../env/executor.js';
import type { Logger } from '../env/logger.js';
import type { ServerStream, ServerStreamEnd, StreamEnd } from '../env/streams.js';
import type { Transport } from '../env/transport.js';
import type { NodeId } from '../env/types.js';
import { type CallbackOptions, limits } from '../options.js';
import type { Callback, Json } from '../rsm/app.js';
import { type CallbackStreamMessage, type CallbackSubscribe, callbacksCodec } from '../rsm/callbacks-wire.js';
import type { ReplicaStatus } from '../rsm/replica.js';

/** What the hub reads of the replica (always inside a task of the node's executor). */
export interface PrimaryView {
  readonly isPrimary: boolean;
  readonly status: ReplicaStatus;
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
  /** Resolved where the node is composed (`NodeStack`). */
  readonly options: CallbackOptions;
  /** Longest owner id accepted; default `limits.maxClientIdLength` (the lock service passes `lockLimits.maxOwnerLength`). */
  readonly maxOwnerLength?: number;
  /**
   * The client id `owner` is bound to in the replicated state now (`SessionSpec.clientOf`), or
   * null: bound to none. Called inside tasks of the node's executor. Default: owners are never
   * bound in the state (an owner is then held only by its open stream).
   */
  readonly boundClient?: (owner: string) => string | null;
}

/** An accepted stream, and the client that opened it (its `CallbackSubscribe.clientId`). */
interface OwnerStream {
  readonly stream: ServerStream<CallbackStreamMessage>;
  readonly clientId: string;
}

/**
 * The callback service (`synod.rsm.Callbacks`, `callbacksCodec`) of a node whose app has callbacks
 * (`App.callbacks`), served through the node's transport (`Transport.serveStream`), in production
 * and in the simulator alike. It keeps one stream per owner (the client id a callback is
 * addressed to) and sends each callback the replica emits down its owner's stream. Generic over
 * the app; the lock service is its first user.
 *
 * What a client sees (`StreamEnd`; callbacks-wire.ts says what it should do):
 * - Only the serving primary (primary of its view, state transfer done) accepts a stream. Any
 *   other node ends it at once `not-primary`, naming the primary if it knows one; the primary
 *   itself, while a view change is under way, `not-serving-yet`. The transport refuses a stream
 *   first when the node is isolated or closing, of another cluster, malformed, or one too many
 *   (`TransportOptions.maxStreams`); the hub refuses an owner id longer than `maxOwnerLength`
 *   (`invalid-request`).
 * - One stream per owner, and only its own client's (`owner-taken` otherwise). A subscription
 *   names the owner and the subscribing client's id. An owner bound to a client in the state
 *   (`boundClient`: the lock service binds an owner to the client that first used it) is served
 *   to that client only: another client's stream is refused, and one accepted before the binding
 *   is ended when the owner's client subscribes, when a callback for the owner is delivered, or
 *   at the next check. An owner bound to none is held by the first client whose stream is open;
 *   another client is refused while it lasts. So no client takes another's revokes, and no
 *   client keeps another's session alive (`has` counts only the rightful client's stream).
 * - An accepted stream first receives every callback outstanding for its owner in the current
 *   state (`Replica.outstandingCallbacks`), so a client that (re)subscribes after the primary's
 *   re-send, or after a callback was dropped for want of a stream, still gets it. Then it
 *   receives each callback for its owner as the primary emits it (after executing a request, and
 *   all outstanding ones again when a primary starts serving). A callback for an owner without a
 *   stream here is dropped: its client will subscribe and get it then. Callbacks may therefore
 *   arrive twice; clients must treat them as idempotent (as `App.callbacks` requires).
 * - A newer stream of the same owner from the same client replaces the older, which ends `replaced`.
 * - Every stream ends `not-primary` (naming the new primary, if known) when this node stops
 *   being the primary of its view (checked every `checkIntervalMs`), and `unavailable` when it
 *   shuts down; the transport ends them `unavailable` when the node is isolated (nothing more
 *   reaches a client from then on), and `overloaded` when a client does not read. A primary that
 *   stays primary through a view change keeps its streams (and re-sends every outstanding
 *   callback when it serves again), so a membership change does not make every client re-subscribe.
 * - A stream whose client vanished ends when its connection does (keepalive bounds that).
 *   `SessionKeeper` builds on `has(owner)` to expire owners that stay without a stream.
 *
 * `deliver` is called from a task of the node's executor (the replica's callback upcall); stream
 * events come from the transport, and every look at the replica they need is a task of its own.
 */
export class CallbackHub {
  readonly #deps: CallbackHubDeps;
  readonly #maxOwnerLength: number;
  readonly #log: Logger;
  /** The accepted stream of each owner (an owner whose stream ended is forgotten). */
  readonly #streams = new Map<string, OwnerStream>();
  #timer: TimerHandle | null = null;
  #closed = false;

  private constructor(deps: CallbackHubDeps) {
    this.#deps = deps;
    this.#maxOwnerLength = Math.min(deps.maxOwnerLength ?? limits.maxClientIdLength, limits.maxClientIdLength);
    this.#log = deps.logger;
  }

  /** Serves the callback service on `deps.transport`; `start` begins the periodic primary check. */
  static serve(deps: CallbackHubDeps): CallbackHub {
    const hub = new CallbackHub(deps);
    deps.transport.serveStream(callbacksCodec, (request, stream) => hub.#open(request, stream));
    return hub;
  }

  start(): void {
    if (!this.#closed && this.#timer === null) this.#schedule();
  }

  /** Whether `owner` has an open stream here, from the client it is bound to (if any). Call from a task of the node's executor. */
  has(owner: string): boolean {
    const entry = this.#streams.get(owner);
    return entry !== undefined && entry.stream.open && this.#rightful(owner, entry);
  }

  /** Owners with a stream here now. */
  get size(): number {
    return this.#streams.size;
  }

  /**
   * Sends each callback down its owner's stream, if it has one here from the owner's client;
   * drops it otherwise (and ends a stream of another client: `owner-taken`). Called with the
   * replica's callbacks (primary only), in a task of the node's executor.
   */
  deliver(callbacks: readonly Callback[]): void {
    if (this.#closed) return;
    for (const cb of callbacks) {
      const entry = this.#streams.get(cb.clientId);
      if (entry !== undefined && entry.stream.open && !this.#rightful(cb.clientId, entry)) this.#endTaken(cb.clientId, entry);
      const stream = this.#streams.get(cb.clientId)?.stream;
      if (stream === undefined || !stream.open) {
        this.#log.debug({ owner: cb.clientId, message: cb.message }, 'callbacks: no stream for the owner; dropped');
        continue;
      }
      stream.send({ kind: 'callback', message: cb.message });
    }
  }

  /** Ends every stream (`unavailable`) and stops the checks. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = null;
    this.#endAll({ kind: 'unavailable', detail: `${this.#deps.self} is shutting down` }, 'shutting down');
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
    stream.onEnded((end) => this.#ended(owner, stream, end));
    this.#deps.executor.submit(() => this.#admit(owner, { stream, clientId }, refuse));
  }

  /**
   * Accepts `entry`'s stream for `owner` if this node is the serving primary and the owner is not
   * another client's (a task of the node's executor).
   */
  #admit(owner: string, entry: OwnerStream, refuse: (end: ServerStreamEnd, why: string) => void): void {
    const { stream, clientId } = entry;
    if (this.#closed || !stream.open) return; // closed meanwhile, or the client left
    const r = this.#deps.replica;
    if (!r.isPrimary || r.status !== 'normal') {
      const primary = this.#primaryElsewhere();
      if (primary === this.#deps.self) {
        return refuse({ kind: 'not-serving-yet', detail: `${this.#deps.self} is the primary but not serving yet (view change in progress); retry` }, 'not serving yet');
      }
      return refuse(notPrimary(primary), 'not primary');
    }
    const bound = this.#deps.boundClient?.(owner) ?? null;
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
    stream.accept();
    const outstanding = r.outstandingCallbacks().filter((c) => c.clientId === owner);
    this.#log.debug({ owner, client: stream.peer, outstanding: outstanding.length }, 'callbacks: subscribed');
    for (const cb of outstanding) stream.send({ kind: 'callback', message: cb.message });
  }

  #ended(owner: string, stream: ServerStream<CallbackStreamMessage>, end: StreamEnd): void {
    if (this.#streams.get(owner)?.stream !== stream) return;
    this.#streams.delete(owner);
    this.#log.debug({ owner, end: end.kind, detail: end.detail }, 'callbacks: stream ended');
  }

  /** The primary to name in a refusal: the replica's, unless that is this node while it is not primary (stale). */
  #primaryElsewhere(): NodeId | null {
    const r = this.#deps.replica;
    const primary = r.primaryOf();
    if (primary === this.#deps.self && (r.status === 'joining' || !r.isPrimary)) return null;
    return primary;
  }

  #schedule(): void {
    this.#timer = this.#deps.clock.setTimer(this.#deps.options.checkIntervalMs, () => {
      if (this.#closed || this.#deps.executor.stopped) return;
      this.#deps.executor.submit(() => this.#check());
      this.#schedule();
    });
  }

  /**
   * Ends every stream if this node is no longer the primary of its view, and otherwise every
   * stream of an owner bound to another client than the stream's (a task of the node's executor).
   */
  #check(): void {
    if (this.#closed || this.#streams.size === 0) return;
    if (this.#deps.replica.isPrimary) {
      for (const [owner, entry] of [...this.#streams]) if (!this.#rightful(owner, entry)) this.#endTaken(owner, entry);
      return;
    }
    const primary = this.#primaryElsewhere();
    this.#endAll(notPrimary(primary), `no longer the primary (primary ${primary ?? 'unknown'})`);
  }

  /** Whether `entry` is from the client `owner` is bound to, or `owner` is bound to none. */
  #rightful(owner: string, entry: OwnerStream): boolean {
    const bound = this.#deps.boundClient?.(owner) ?? null;
    return bound === null || bound === entry.clientId;
  }

  /** Ends (and forgets) a stream of `owner` that is not its bound client's. */
  #endTaken(owner: string, entry: OwnerStream): void {
    this.#streams.delete(owner);
    this.#log.info({ owner, client: entry.stream.peer }, 'callbacks: stream ended: the owner is bound to another client');
    entry.stream.end(ownerTaken(owner, 'it is bound to another client (the one that first used it)'));
  }

  #endAll(end: ServerStreamEnd, why: string): void {
    if (this.#streams.size === 0) return;
    this.#log.info({ streams: this.#streams.size, end: end.kind, detail: end.detail }, `callbacks: ending every stream: ${why}`);
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    for (const s of streams) s.stream.end(end);
  }
}

function ownerTaken(owner: string, why: string): ServerStreamEnd {
  return { kind: 'owner-taken', detail: `owner ${owner} is not this client's: ${why}` };
}

function notPrimary(primary: NodeId | null): ServerStreamEnd {
  return { kind: 'not-primary', primary, detail: primary === null ? 'not primary; no primary known' : `not primary; primary is ${primary}` };
}
