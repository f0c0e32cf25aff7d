import type { Clock, TimerHandle } from '../env/clock.js';
import type { Executor } from '../env/executor.js';
import type { Logger } from '../env/logger.js';
import type { ServerStream, ServerStreamEnd, StreamEnd } from '../env/streams.js';
import type { Transport } from '../env/transport.js';
import type { NodeId } from '../env/types.js';
import { type CallbackOptions, limits } from '../options.js';
import type { Callback, Json } from '../rsm/app.js';
import { type CallbackSubscribe, callbacksCodec } from '../rsm/callbacks-wire.js';
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
 * - An accepted stream first receives every callback outstanding for its owner in the current
 *   state (`Replica.outstandingCallbacks`), so a client that (re)subscribes after the primary's
 *   re-send, or after a callback was dropped for want of a stream, still gets it. Then it
 *   receives each callback for its owner as the primary emits it (after executing a request, and
 *   all outstanding ones again when a primary starts serving). A callback for an owner without a
 *   stream here is dropped: its client will subscribe and get it then. Callbacks may therefore
 *   arrive twice; clients must treat them as idempotent (as `App.callbacks` requires).
 * - A newer stream of the same owner replaces the older, which ends `replaced`.
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
  readonly #streams = new Map<string, ServerStream<Json>>();
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

  /** Whether `owner` has an open stream here. */
  has(owner: string): boolean {
    return this.#streams.get(owner)?.open === true;
  }

  /** Owners with a stream here now. */
  get size(): number {
    return this.#streams.size;
  }

  /** Sends each callback down its owner's stream, if it has one here; drops it otherwise. Called with the replica's callbacks (primary only). */
  deliver(callbacks: readonly Callback[]): void {
    if (this.#closed) return;
    for (const cb of callbacks) {
      const stream = this.#streams.get(cb.clientId);
      if (stream === undefined || !stream.open) {
        this.#log.debug({ owner: cb.clientId, message: cb.message }, 'callbacks: no stream for the owner; dropped');
        continue;
      }
      stream.send(cb.message);
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

  #open(request: CallbackSubscribe, stream: ServerStream<Json>): void {
    const { owner } = request;
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
    this.#deps.executor.submit(() => this.#admit(owner, stream, refuse));
  }

  /** Accepts `stream` for `owner` if this node is the serving primary (a task of the node's executor). */
  #admit(owner: string, stream: ServerStream<Json>, refuse: (end: ServerStreamEnd, why: string) => void): void {
    if (this.#closed || !stream.open) return; // closed meanwhile, or the client left
    const r = this.#deps.replica;
    if (!r.isPrimary || r.status !== 'normal') {
      const primary = this.#primaryElsewhere();
      if (primary === this.#deps.self) {
        return refuse({ kind: 'not-serving-yet', detail: `${this.#deps.self} is the primary but not serving yet (view change in progress); retry` }, 'not serving yet');
      }
      return refuse(notPrimary(primary), 'not primary');
    }
    const older = this.#streams.get(owner);
    this.#streams.set(owner, stream);
    older?.end({ kind: 'replaced', detail: `replaced by a newer subscription of owner ${owner}` });
    stream.accept();
    const outstanding = r.outstandingCallbacks().filter((c) => c.clientId === owner);
    this.#log.debug({ owner, client: stream.peer, outstanding: outstanding.length }, 'callbacks: subscribed');
    for (const cb of outstanding) stream.send(cb.message);
  }

  #ended(owner: string, stream: ServerStream<Json>, end: StreamEnd): void {
    if (this.#streams.get(owner) !== stream) return;
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

  /** Ends every stream if this node is no longer the primary of its view (a task of the node's executor). */
  #check(): void {
    if (this.#closed || this.#streams.size === 0 || this.#deps.replica.isPrimary) return;
    const primary = this.#primaryElsewhere();
    this.#endAll(notPrimary(primary), `no longer the primary (primary ${primary ?? 'unknown'})`);
  }

  #endAll(end: ServerStreamEnd, why: string): void {
    if (this.#streams.size === 0) return;
    this.#log.info({ streams: this.#streams.size, end: end.kind, detail: end.detail }, `callbacks: ending every stream: ${why}`);
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    for (const s of streams) s.end(end);
  }
}

function notPrimary(primary: NodeId | null): ServerStreamEnd {
  return { kind: 'not-primary', primary, detail: primary === null ? 'not primary; no primary known' : `not primary; primary is ${primary}` };
}
