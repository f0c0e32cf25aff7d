import type { Clock } from '../env/clock.js';
import { type Periodic, everyInExecutor } from './periodic.js';
import { invariant } from '../env/errors.js';
import type { Executor } from '../env/executor.js';
import type { Logger } from '../env/logger.js';
import type { NodeId } from '../env/types.js';
import { type CallbackOptions, callbackOptions } from '../options.js';
import type { Json } from '../rsm/app.js';
import { type ClientAnswer, type Request, internalClientId, newInternalRequest } from '../rsm/messages.js';
import type { LeaseStatus } from '../rsm/lease.js';

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
  /**
   * Chubby's lock-delay: what the app's expiries left delayed in `state` (the lock service: locks
   * an expiry freed, granted to nobody until their delay ends). The keeper submits
   * `endDelay(name)` for each `CallbackOptions.lockDelayMs` after it first saw it delayed.
   */
  readonly delayed?: (state: S) => Iterable<string>;
  /** The app request that ends the delay of `name` (a node's own request, like `expire`). Needed with `delayed`. */
  readonly endDelay?: (name: string) => { readonly proc: string; readonly args: Json };
}

/** What the keeper reads of the replica (inside tasks of the node's executor). */
export interface SessionReplicaView<S> {
  /** The primary lease (`Replica.lease`): session clocks run only while it is held. */
  readonly lease: LeaseStatus;
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
  /**
   * When this node last sent `owner` a keepalive, on `clock` (`CallbackHub.confirmedAt`), or
   * null: none within the session timeout. Default: never (no keepalives are sent).
   */
  readonly confirmedAt?: (owner: string) => number | null;
  readonly spec: SessionSpec<S>;
  /** Uses `sessionTimeoutMs`, `checkIntervalMs` and `lockDelayMs`. */
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
 * its stream is open. Clocks run only while this node holds the primary lease (`lease` held:
 * the serving primary, confirmed by every backup); whenever a check finds it not held, every
 * clock is dropped, and every owner's silence starts over at the next check that has the lease.
 * So a new primary (or one whose lease came back, or that finished a view change) gives clients
 * the whole timeout to re-subscribe, and a deposed primary, whose lease lapses, expires nobody.
 *
 * Invariant (what a lock client's cached grants rely on): an owner is never expired sooner than
 * `sessionTimeoutMs` on this node's clock after the last keepalive this node sent it
 * (`confirmedAt`). "Last seen connected" alone does not imply it: a keepalive may leave, and the
 * stream end, between two checks, after the last check that saw the stream. So silence counts
 * from the later of the two, and `#expire` asserts the bound. Keepalives leave only under the
 * lease, and the clocks restart whenever it is not held, so an expiry under a later lease counts
 * from a start after every keepalive of an earlier one.
 *
 * Lock-delay (`SessionSpec.delayed`): each name the state holds delayed gets its `endDelay`
 * request `lockDelayMs` after this primary first saw it delayed under its lease; the marks are
 * forgotten with the clocks, so a new primary re-arms every delay from its own serving time
 * (longer than needed, never shorter).
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
  /** When each delayed name was first seen under the current lease; its `endDelay` is due `lockDelayMs` later. */
  readonly #delayedSince = new Map<string, number>();
  /** `endDelay` requests submitted and not answered yet. */
  readonly #ending = new Map<string, () => void>();
  /** When this node's lease was first seen held (the clocks' common start); null: no lease. */
  #since: number | null = null;
  #ticker: Periodic | null = null;
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
    this.#ticker = everyInExecutor(this.#deps.clock, this.#deps.executor, this.#options.checkIntervalMs, () => this.#check());
  }

  /** Stops checking; answers still to come are dropped. */
  stop(): void {
    this.#stopped = true;
    this.#ticker?.cancel();
    this.#ticker = null;
    for (const forget of [...this.#expiring.values(), ...this.#ending.values()]) forget();
    this.#expiring.clear();
    this.#ending.clear();
  }

  /** Owners whose expiry is under way (for tests). */
  get expiring(): readonly string[] {
    return [...this.#expiring.keys()];
  }

  /** One look at the state (a task of the node's executor). */
  #check(): void {
    const { replica } = this.#deps;
    const state = replica.state;
    const now = this.#deps.clock.now();
    const lease = replica.lease;
    if (lease.state !== 'held' || state === null) {
      if (this.#since !== null) this.#log.info({ lease: lease.state }, 'sessions: no primary lease; session clocks stopped');
      this.#since = null;
      this.#lastSeen.clear();
      this.#delayedSince.clear();
      return;
    }
    if (this.#since === null) {
      this.#since = now;
      this.#log.info({ sessionTimeoutMs: this.#options.sessionTimeoutMs }, 'sessions: primary lease held; every owner\'s session clock starts now');
    }
    this.#checkDelays(state, now);
    const owners = new Set(this.#deps.spec.owners(state));
    for (const owner of this.#lastSeen.keys()) if (!owners.has(owner)) this.#lastSeen.delete(owner);
    for (const owner of owners) {
      const seen = this.#lastSeen.get(owner);
      if (seen === undefined || this.#deps.connected(owner)) {
        this.#lastSeen.set(owner, now);
        continue;
      }
      const silentMs = now - Math.max(seen, this.#deps.confirmedAt?.(owner) ?? seen);
      if (silentMs >= this.#options.sessionTimeoutMs && !this.#expiring.has(owner)) this.#expire(owner, state, silentMs);
    }
  }

  /** Arms each delayed name's end, and submits the ends that are due (under the lease). */
  #checkDelays(state: S, now: number): void {
    const { spec } = this.#deps;
    if (spec.delayed === undefined || spec.endDelay === undefined) return;
    const delayed = new Set(spec.delayed(state));
    for (const name of this.#delayedSince.keys()) if (!delayed.has(name)) this.#delayedSince.delete(name);
    for (const name of delayed) {
      const since = this.#delayedSince.get(name);
      if (since === undefined) this.#delayedSince.set(name, now);
      else if (now - since >= this.#options.lockDelayMs && !this.#ending.has(name)) this.#endDelay(name, spec.endDelay(name), now - since);
    }
  }

  #endDelay(name: string, end: { readonly proc: string; readonly args: Json }, delayedMs: number): void {
    const request = newInternalRequest(this.#clientId, ++this.#seq, end.proc, end.args);
    this.#log.info({ name, delayedMs, seq: request.seq }, 'sessions: lock-delay over; ending it');
    const forget = this.#deps.submit(request, (answer) => {
      if (this.#stopped) return;
      this.#ending.delete(name);
      if (answer.kind === 'executed' && answer.outcome.ok) return;
      if (answer.kind !== 'not-primary' && answer.kind !== 'busy' && answer.kind !== 'stale') {
        this.#delayedSince.set(name, this.#deps.clock.now()); // a bug: try again only after another delay
        this.#log.error({ name, answer }, 'sessions: ending a lock-delay refused');
      }
    });
    this.#ending.set(name, forget);
  }

  #expire(owner: string, state: S, silentMs: number): void {
    const { spec } = this.#deps;
    const confirmed = this.#deps.confirmedAt?.(owner) ?? null;
    invariant(confirmed === null || this.#deps.clock.now() - confirmed >= this.#options.sessionTimeoutMs,
      () => `sessions: expiring ${owner} ${this.#deps.clock.now() - confirmed!} ms after its last keepalive, before the session timeout`);
    const held = spec.describe?.(state, owner) ?? {};
    const expire = spec.expire(owner);
    const request = newInternalRequest(this.#clientId, ++this.#seq, expire.proc, expire.args);
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
    if (answer.kind === 'not-primary' || answer.kind === 'busy' || answer.kind === 'stale') {
      // A view change (the clocks start over when this node serves again), or a later request of
      // this node's ran first and settled this one's number (`newInternalRequest`): not executed.
      this.#log.debug({ owner, answer: answer.kind }, 'sessions: expiry not executed; will retry');
      return;
    }
    // A bug (the app refused its own expire request, or this client id's numbers went backwards):
    // try again only after another timeout, so a persistent refusal is not retried every tick.
    this.#lastSeen.set(owner, this.#deps.clock.now());
    this.#log.error({ owner, answer }, 'sessions: expiry refused');
  }
}
