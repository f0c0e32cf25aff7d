import * as grpc from '@grpc/grpc-js';
import type { Clock, TimerHandle } from '../env/clock.js';
import { InvalidMessageError } from '../env/errors.js';
import type { Logger } from '../env/logger.js';
import type { NodeId } from '../env/types.js';
import type { Fields } from '../env/validate.js';
import { type CallbackOptions, callbackOptions, limits } from '../options.js';
import type { Callback, Json } from '../rsm/app.js';
import {
  callbacksService,
  decodeOwner,
  encodeCallbackMessage,
  notPrimaryDetails,
  subscribeMethod,
} from '../rsm/callbacks-wire.js';
import type { ReplicaStatus } from '../rsm/replica.js';
import type { GrpcTransport } from '../runtime/grpc-transport.js';

/** What the hub reads of the replica (always inside a task of the node's executor). */
export interface PrimaryView {
  readonly isPrimary: boolean;
  readonly status: ReplicaStatus;
  primaryOf(): NodeId | null;
  outstandingCallbacks(): readonly Callback[];
}

export interface CallbackHubDeps {
  readonly self: NodeId;
  /** Serves the stream service; its isolation (`isolate()`) silences and ends every stream. */
  readonly transport: Pick<GrpcTransport, 'serveStream' | 'isolated'>;
  readonly replica: PrimaryView;
  /** Runs `fn` as a task of the node's executor and returns its result; throws when the node is stopping. */
  readonly inNode: <T>(fn: () => T) => T;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly options?: Partial<CallbackOptions>;
  /** Longest owner id accepted; default `limits.maxClientIdLength` (the lock service passes `lockLimits.maxOwnerLength`). */
  readonly maxOwnerLength?: number;
}

type Stream = grpc.ServerWritableStream<Fields, Fields>;

/** One owner's open stream. */
class Subscription {
  #ended = false;

  constructor(
    readonly owner: string,
    readonly stream: Stream,
  ) {}

  get open(): boolean {
    return !this.#ended && !this.stream.cancelled && !this.stream.destroyed && !this.stream.writableEnded;
  }

  /** Messages written and not yet handed to the connection. */
  get queued(): number {
    return this.stream.writableLength;
  }

  write(message: Json): void {
    if (this.open) this.stream.write(encodeCallbackMessage(message));
  }

  /** Ends the stream with `code` once what was written has gone out. Idempotent. */
  end(code: grpc.status, details: string): void {
    if (!this.open) {
      this.#ended = true;
      return;
    }
    this.#ended = true;
    this.stream.emit('error', { code, details });
  }
}

/**
 * The callback service (`synod.rsm.Callbacks`, `proto/callbacks.proto`) of a node whose app has
 * callbacks (`App.callbacks`): it keeps the clients' `Subscribe` streams, one per owner (the
 * client id a callback is addressed to), and writes each callback the replica emits to its
 * owner's stream. Generic over the app; the lock service is its first user.
 *
 * Stream semantics (what a client sees; `callbacks-wire.ts` says what it should do):
 * - Only the serving primary (primary of its view, state transfer done) accepts a stream. Any
 *   other node ends it at once with FAILED_PRECONDITION and details `not primary; primary is
 *   HOST:PORT` or `no primary known` (`notPrimaryDetails`). The primary itself, while a view
 *   change is under way (not serving yet), ends it with UNAVAILABLE: retry shortly.
 * - Transport checks first (as for client calls): another cluster's name: FAILED_PRECONDITION;
 *   this node isolated (`transport.isolate()`) or closing: UNAVAILABLE. A bad owner id (empty, or
 *   longer than `maxOwnerLength`): INVALID_ARGUMENT. More than `maxSubscriptions` streams:
 *   RESOURCE_EXHAUSTED.
 * - An accepted stream first receives every callback outstanding for its owner in the current
 *   state (`Replica.outstandingCallbacks`), so a client that (re)subscribes after the primary's
 *   re-send, or after a callback was dropped for want of a stream, still gets it. Then it
 *   receives each callback for its owner as the primary emits it (after executing a request, and
 *   all outstanding ones again when a primary starts serving). A callback for an owner without a
 *   stream here is dropped: its client will subscribe and get it then. Callbacks may therefore
 *   arrive twice; clients must treat them as idempotent (as `App.callbacks` requires).
 * - A newer stream of the same owner replaces the older, which is ended with ABORTED.
 * - Every stream is ended when this node stops being the primary of its view (FAILED_PRECONDITION
 *   naming the new primary, if known), when it is isolated (UNAVAILABLE; nothing more is written
 *   from the moment of isolation), and when it shuts down (UNAVAILABLE). These are checked every
 *   `checkIntervalMs`. A primary that stays primary through a view change keeps its streams (and
 *   re-sends every outstanding callback when it serves again), so a membership change does not
 *   make every client re-subscribe.
 * - A client that does not read is cut off: above `maxQueuedCallbacks` unsent callbacks its stream
 *   is ended with RESOURCE_EXHAUSTED (it re-subscribes and gets the outstanding ones again).
 * - A stream whose client vanished ends when its connection does (the transport's keepalive
 *   bounds that; see `TransportOptions.keepaliveTimeMs`). `SessionKeeper` builds on `has(owner)`
 *   to expire owners that stay without a stream.
 *
 * Every read of the replica runs inside a task of the node's executor (`inNode`); `deliver` is
 * called from one (the replica observer's upcall).
 */
export class CallbackHub {
  readonly #deps: CallbackHubDeps;
  readonly #options: CallbackOptions;
  readonly #maxOwnerLength: number;
  readonly #log: Logger;
  readonly #subscriptions = new Map<string, Subscription>();
  #timer: TimerHandle | null = null;
  #closed = false;

  private constructor(deps: CallbackHubDeps) {
    this.#deps = deps;
    this.#options = callbackOptions(deps.options);
    this.#maxOwnerLength = deps.maxOwnerLength ?? limits.maxClientIdLength;
    this.#log = deps.logger;
  }

  /** Serves the callback service on `deps.transport` and starts the periodic primary check. */
  static serve(deps: CallbackHubDeps): CallbackHub {
    const hub = new CallbackHub(deps);
    deps.transport.serveStream(callbacksService, subscribeMethod, (request, stream) => hub.#open(request, stream));
    hub.#schedule();
    return hub;
  }

  /** Whether `owner` has an open stream here. */
  has(owner: string): boolean {
    const s = this.#subscriptions.get(owner);
    return s !== undefined && s.open;
  }

  /** Open streams now. */
  get size(): number {
    return this.#subscriptions.size;
  }

  /**
   * Writes each callback to its owner's stream, if it has one here; drops it otherwise. Nothing
   * is written while this node is isolated. Called with the replica's callbacks (primary only).
   */
  deliver(callbacks: readonly Callback[]): void {
    if (this.#closed || this.#deps.transport.isolated) return;
    for (const cb of callbacks) {
      const s = this.#subscriptions.get(cb.clientId);
      if (s === undefined || !s.open) {
        this.#log.debug({ owner: cb.clientId, message: cb.message }, 'callbacks: no stream for the owner; dropped');
        continue;
      }
      this.#write(s, cb.message);
    }
  }

  /** Ends every stream (UNAVAILABLE) and stops the checks. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = null;
    this.#endAll(grpc.status.UNAVAILABLE, `${this.#deps.self} is shutting down`, 'shutting down');
  }

  #open(request: Fields, stream: Stream): void {
    const refuse = (code: grpc.status, details: string, why: string): void => {
      this.#log.debug({ client: stream.getPeer(), owner: request['owner'], code: grpc.status[code], details }, `callbacks: subscription refused: ${why}`);
      stream.emit('error', { code, details });
    };
    if (this.#closed) return refuse(grpc.status.UNAVAILABLE, `${this.#deps.self} is shutting down`, 'shutting down');
    let owner: string;
    try {
      owner = decodeOwner(request, this.#maxOwnerLength);
    } catch (err) {
      const details = err instanceof InvalidMessageError ? err.message : String(err);
      this.#log.warn({ client: stream.getPeer(), details }, 'callbacks: subscription refused: bad owner id');
      stream.emit('error', { code: grpc.status.INVALID_ARGUMENT, details });
      return;
    }
    let seen: { readonly serving: boolean; readonly primary: NodeId | null; readonly outstanding: readonly Callback[] };
    try {
      seen = this.#deps.inNode(() => {
        const r = this.#deps.replica;
        return {
          serving: r.isPrimary && r.status === 'normal',
          primary: this.#primaryElsewhere(),
          outstanding: r.outstandingCallbacks().filter((c) => c.clientId === owner),
        };
      });
    } catch {
      return refuse(grpc.status.UNAVAILABLE, `${this.#deps.self} is stopping`, 'node stopping');
    }
    if (!seen.serving) {
      if (seen.primary === this.#deps.self) {
        return refuse(grpc.status.UNAVAILABLE, `${this.#deps.self} is the primary but not serving yet (view change in progress); retry`, 'not serving yet');
      }
      return refuse(grpc.status.FAILED_PRECONDITION, notPrimaryDetails(seen.primary), 'not primary');
    }
    const older = this.#subscriptions.get(owner);
    if (older === undefined && this.#subscriptions.size >= this.#options.maxSubscriptions) {
      this.#log.warn({ owner, maxSubscriptions: this.#options.maxSubscriptions }, 'callbacks: subscription refused: too many streams');
      stream.emit('error', {
        code: grpc.status.RESOURCE_EXHAUSTED,
        details: `${this.#deps.self} holds ${this.#subscriptions.size} callback streams (maxSubscriptions ${this.#options.maxSubscriptions})`,
      });
      return;
    }
    const s = new Subscription(owner, stream);
    this.#subscriptions.set(owner, s);
    older?.end(grpc.status.ABORTED, `replaced by a newer subscription of owner ${owner}`);
    const forget = (): void => {
      if (this.#subscriptions.get(owner) !== s) return;
      this.#subscriptions.delete(owner);
      this.#log.debug({ owner }, 'callbacks: stream closed');
    };
    stream.once('cancelled', forget);
    stream.once('close', forget);
    stream.once('finish', forget);
    this.#log.debug({ owner, client: stream.getPeer(), outstanding: seen.outstanding.length }, 'callbacks: subscribed');
    for (const cb of seen.outstanding) this.#write(s, cb.message);
  }

  #write(s: Subscription, message: Json): void {
    if (s.queued >= this.#options.maxQueuedCallbacks) {
      this.#log.warn({ owner: s.owner, queued: s.queued }, 'callbacks: client does not read its stream; ended');
      this.#end(s, grpc.status.RESOURCE_EXHAUSTED, `more than ${this.#options.maxQueuedCallbacks} callbacks wait unread; re-subscribe`);
      return;
    }
    s.write(message);
  }

  /** The primary to name in a refusal: the replica's, unless that is this node while it is not primary (stale). */
  #primaryElsewhere(): NodeId | null {
    const r = this.#deps.replica;
    const primary = r.primaryOf();
    if (primary === this.#deps.self && (r.status === 'joining' || !r.isPrimary)) return null;
    return primary;
  }

  #schedule(): void {
    this.#timer = this.#deps.clock.setTimer(this.#options.checkIntervalMs, () => {
      if (this.#closed) return;
      try {
        this.#deps.inNode(() => this.#check());
      } catch {
        return; // the node is stopping
      }
      this.#schedule();
    });
  }

  /** Ends every stream if this node is isolated or no longer the primary of its view. */
  #check(): void {
    if (this.#subscriptions.size === 0) return;
    if (this.#deps.transport.isolated) {
      this.#endAll(grpc.status.UNAVAILABLE, `${this.#deps.self} is isolated`, 'isolated');
      return;
    }
    if (!this.#deps.replica.isPrimary) {
      const primary = this.#primaryElsewhere();
      this.#endAll(grpc.status.FAILED_PRECONDITION, notPrimaryDetails(primary), `no longer the primary (primary ${primary ?? 'unknown'})`);
    }
  }

  #end(s: Subscription, code: grpc.status, details: string): void {
    if (this.#subscriptions.get(s.owner) === s) this.#subscriptions.delete(s.owner);
    s.end(code, details);
  }

  #endAll(code: grpc.status, details: string, why: string): void {
    if (this.#subscriptions.size === 0) return;
    this.#log.info({ streams: this.#subscriptions.size, code: grpc.status[code], details }, `callbacks: ending every stream: ${why}`);
    for (const s of [...this.#subscriptions.values()]) this.#end(s, code, details);
  }
}
