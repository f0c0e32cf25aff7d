import type { Clock, TimerHandle } from '../env/clock.js';
import type { Executor } from '../env/executor.js';
import type { Logger } from '../env/logger.js';
import type { NodeId } from '../env/types.js';
import { type CallbackOptions, callbackOptions } from '../options.js';
import type { Json } from '../rsm/app.js';
import { type ClientAnswer, type Request, internalClientId, newRequest } from '../rsm/messages.js';
import type { ReplicaStatus } from '../rsm/replica.js';

/**
 * What an app tells `SessionKeeper` about its clients' sessions (the lock service:
 * `lockSessions`). All functions are pure.
 */
export interface SessionSpec<S> {
  /** Every owner (client id of `App.callbacks`) that holds or waits for something in `state`. */
  readonly owners: (state: S) => Iterable<string>;
  /** The app request that ends `owner`'s session: releases what it holds, drops what it waits for. */
  readonly expire: (owner: string) => { readonly proc: string; readonly args: Json };
  /** What `owner` holds and waits for in `state`, as log fields of its expiry. */
  readonly describe?: (state: S, owner: string) => object;
  /**
   * The client id `owner` is bound to in `state` (`HandlerContext.clientId` of the client that
   * first used it), or null when it is bound to none. With it, the callback service accepts a
   * stream for a bound owner only from that client (`CallbackHub`), so no other client can take
   * its callbacks or keep its session alive. Without it, an owner is held only by its open stream.
   */
  readonly clientOf?: (state: S, owner: string) => string | null;
}

/** What the keeper reads of the replica (inside tasks of the node's executor). */
export interface SessionReplicaView<S> {
  readonly isPrimary: boolean;
  readonly status: ReplicaStatus;
  readonly state: S | null;
}

export interface SessionKeeperDeps<S> {
  readonly self: NodeId;
  readonly executor: Executor;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly replica: SessionReplicaView<S>;
  /** Submits a request to this node's replica as a client would (`RsmLayer.submitInternal`). */
  readonly submit: (request: Request, onAnswer: (answer: ClientAnswer) => void) => () => void;
  /** Whether `owner` has an open callback stream to this node now (`CallbackHub.has`). */
  readonly connected: (owner: string) => boolean;
  /** Whether this node is isolated (it serves no client, so it keeps no session clock). */
  readonly isolated: () => boolean;
  readonly spec: SessionSpec<S>;
  /** Uses `sessionTimeoutMs` and `checkIntervalMs`. */
  readonly options?: Partial<CallbackOptions>;
  /**
   * The first sequence number of the session client, minus one. Default: wall-clock ms × 1000,
   * as `RsmClient`, so a restarted node continues above its earlier expiries.
   */
  readonly firstSeq?: number;
}

/**
 * The client id the node `self` submits expiries under: `synod:sessions@<self>` (the node id
 * hashed if that is too long), in the nodes' namespace that clients cannot use.
 */
export function sessionClientId(self: NodeId): string {
  return internalClientId('sessions', self);
}

/**
 * Client sessions on the serving primary: an owner that holds or waits for something in the
 * app's state (`SessionSpec.owners`) must keep a callback stream open to the primary
 * (`CallbackHub`); once it has had none for `sessionTimeoutMs`, its session is expired: the
 * primary submits the app's expire request (`SessionSpec.expire`) through its own RSM, as a
 * node's own request (`HandlerContext.internal`: the app may refuse it from clients) under client
 * id `sessionClientId(self)` and increasing seq, so the expiry is replicated and
 * ordered like any request, and its callbacks (the lock service: retry to the next waiter) go out
 * as usual. Every expiry is logged at warn with what the owner held.
 *
 * Clocks: checked every `checkIntervalMs` (so an expiry comes up to that late). An owner's clock
 * starts when this primary first sees it in the state or its stream closes, and is reset while
 * its stream is open. Only a serving primary that is not isolated keeps clocks; it drops them all
 * otherwise, so a new primary (or one that healed, or finished a view change) starts every
 * owner's clock when it starts serving: clients have the whole timeout to re-subscribe after a
 * failover. A deposed primary that has not heard of it yet may still submit an expiry, but it
 * cannot execute without its backups, which follow the new view.
 *
 * What a client must do: keep its stream open to the serving primary, re-subscribe at once when
 * it ends, and treat everything it holds as lost once it has been without a stream for
 * `sessionTimeoutMs` (its session may have been expired; e.g. a lock's `release` then answers
 * `not-held`, and the next holder's fencing token is higher).
 */
export class SessionKeeper<S> {
  readonly #deps: SessionKeeperDeps<S>;
  readonly #options: CallbackOptions;
  readonly #log: Logger;
  readonly #clientId: string;
  #seq: number;
  /** When each owner in the state was last seen with a stream (or first seen at all). */
  readonly #lastSeen = new Map<string, number>();
  /** Expiries submitted and not answered yet, with the function that forgets each. */
  readonly #expiring = new Map<string, () => void>();
  /** When this node started serving (the clocks' common start); null: not serving. */
  #since: number | null = null;
  #timer: TimerHandle | null = null;
  #stopped = false;

  constructor(deps: SessionKeeperDeps<S>) {
    this.#deps = deps;
    this.#options = callbackOptions(deps.options);
    this.#log = deps.logger;
    this.#clientId = sessionClientId(deps.self);
    this.#seq = deps.firstSeq ?? Date.now() * 1000;
  }

  /** Starts the periodic check. */
  start(): void {
    this.#schedule();
  }

  /** Stops checking; answers still to come are dropped. */
  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = null;
    for (const forget of this.#expiring.values()) forget();
    this.#expiring.clear();
  }

  /** Owners whose expiry is under way (for tests). */
  get expiring(): readonly string[] {
    return [...this.#expiring.keys()];
  }

  #schedule(): void {
    this.#timer = this.#deps.clock.setTimer(this.#options.checkIntervalMs, () => {
      if (this.#stopped) return;
      this.#deps.executor.submit(() => {
        if (!this.#stopped) this.#check();
      });
      this.#schedule();
    });
  }

  /** One look at the state (a task of the node's executor). */
  #check(): void {
    const { replica } = this.#deps;
    const state = replica.state;
    const now = this.#deps.clock.now();
    if (this.#deps.isolated() || !replica.isPrimary || replica.status !== 'normal' || state === null) {
      if (this.#since !== null) this.#log.info({}, 'sessions: not the serving primary; session clocks stopped');
      this.#since = null;
      this.#lastSeen.clear();
      return;
    }
    if (this.#since === null) {
      this.#since = now;
      this.#log.info({ sessionTimeoutMs: this.#options.sessionTimeoutMs }, 'sessions: serving primary; every owner\'s session clock starts now');
    }
    const owners = new Set(this.#deps.spec.owners(state));
    for (const owner of this.#lastSeen.keys()) if (!owners.has(owner)) this.#lastSeen.delete(owner);
    for (const owner of owners) {
      const seen = this.#lastSeen.get(owner);
      if (seen === undefined || this.#deps.connected(owner)) {
        this.#lastSeen.set(owner, now);
      } else if (now - seen >= this.#options.sessionTimeoutMs && !this.#expiring.has(owner)) {
        this.#expire(owner, state, now - seen);
      }
    }
  }

  #expire(owner: string, state: S, silentMs: number): void {
    const { spec } = this.#deps;
    const held = spec.describe?.(state, owner) ?? {};
    const expire = spec.expire(owner);
    const request = newRequest(this.#clientId, ++this.#seq, expire.proc, expire.args);
    this.#log.info({ owner, silentMs, seq: request.seq, ...held }, 'sessions: owner has had no callback stream for the session timeout; expiring');
    const forget = this.#deps.submit(request, (answer) => this.#answered(owner, held, silentMs, answer));
    this.#expiring.set(owner, forget);
  }

  #answered(owner: string, held: object, silentMs: number, answer: ClientAnswer): void {
    if (this.#stopped) return;
    this.#expiring.delete(owner);
    if (answer.kind === 'executed' && answer.outcome.ok) {
      this.#lastSeen.delete(owner);
      this.#log.warn({ owner, silentMs, ...held, outcome: answer.outcome.value }, 'sessions: session expired; what the owner held is released');
      return;
    }
    if (answer.kind === 'not-primary' || answer.kind === 'busy') {
      // A view change: the clocks start over when this node serves again.
      this.#log.debug({ owner, answer: answer.kind }, 'sessions: expiry not executed; will retry');
      return;
    }
    // A bug (the app refused its own expire request, or this client id's numbers went backwards):
    // try again only after another timeout, so a persistent refusal is not retried every tick.
    this.#lastSeen.set(owner, this.#deps.clock.now());
    this.#log.error({ owner, answer }, 'sessions: expiry refused');
  }
}
