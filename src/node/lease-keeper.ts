import type { Clock } from '../env/clock.js';
import { type Periodic, everyInExecutor } from './periodic.js';
import type { Executor } from '../env/executor.js';
import type { Logger } from '../env/logger.js';
import type { NodeId } from '../env/types.js';
import { type LeaseKeeperOptions, leaseKeeperOptions } from '../options/leases.js';
import type { Json } from '../rsm/app.js';
import { type ClientAnswer, type Request, internalClientId, newInternalRequest } from '../rsm/messages.js';
import type { RsmMutations } from '../rsm/replica-deps.js';
import type { SessionReplicaView } from './sessions.js';

/** One lease of an app's state, as the keeper sees it. */
export interface AppLease {
  readonly id: number;
  /** How long the lease lives without a renewal, in ms. */
  readonly ttlMs: number;
  /** A count the app raises at every renewal (keepalive): a change restarts the lease's clock. */
  readonly renewals: number;
  /**
   * Which grant of `id` this is (the KV store: its grant count when granted): a lease ended and
   * granted again under the same id is another lease, with a clock of its own.
   */
  readonly grant: number;
}

/** What an app tells `LeaseKeeper` about its leases (the KV store: `kvLeaseSpec`). Pure functions. */
export interface LeaseSpec<S> {
  /** Every lease alive in `state`. */
  readonly leases: (state: S) => Iterable<AppLease>;
  /**
   * The app request that expires `lease`, a node's own request (`HandlerContext.internal`). It
   * carries the renewal count the keeper saw, so that the app keeps a lease renewed between the
   * keeper's decision and the request's execution (the KV store: `leaseExpire({ id, renewals })`).
   */
  readonly expire: (lease: { readonly id: number; readonly renewals: number; readonly grant: number }) => { readonly proc: string; readonly args: Json };
}

export interface LeaseKeeperDeps<S> {
  readonly self: NodeId;
  readonly executor: Executor;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The replica's primary lease and state (`Replica`): clocks run only while the lease is held. */
  readonly replica: SessionReplicaView<S>;
  /** Submits a request to this node's replica as a client would (`RsmLayer.submitInternal`). */
  readonly submit: (request: Request, onAnswer: (answer: ClientAnswer) => void) => () => void;
  readonly spec: LeaseSpec<S>;
  readonly options?: Partial<LeaseKeeperOptions>;
  /** The first sequence number of the keeper's client, minus one. Default: wall-clock ms × 1000 (above an earlier process's). */
  readonly firstSeq?: number;
  /** Test-only breakage (`RsmMutations.leaseClockIgnoresRenewals`). */
  readonly mutations?: Pick<RsmMutations, 'leaseClockIgnoresRenewals'>;
}

/** The client id the node `self` submits lease expiries under: `synod:leases@<self>`. */
export function leaseClientId(self: NodeId): string {
  return internalClientId('leases', self);
}

/**
 * An app's leases on the serving primary (the KV store's TTL keys): a lease that has had no
 * renewal for its TTL is expired by a request this node submits through its own RSM (client id
 * `leaseClientId(self)`, `HandlerContext.internal`), so the expiry is replicated and ordered like
 * any request and every replica deletes the same keys at the same revision. No replica's clock
 * ever decides inside a handler.
 *
 * Clocks (as `SessionKeeper`'s): checked every `checkIntervalMs`. A lease's clock starts when
 * this node first sees it under its current primary lease, and again whenever its `renewals`
 * count changes. Clocks run only while this node holds the primary lease; a check without it
 * drops them all, so a new primary (or one whose lease came back) gives every lease its whole
 * TTL again, counted from its own serving time: an expiry may come late after a failover, never
 * early, and a deposed primary expires nothing.
 *
 * Invariant: a lease is expired only after `ttlMs` of this node's clock under one unbroken
 * primary lease during which its renewal count did not change; and the expire request names that
 * count, so a renewal executed after the decision keeps the lease.
 */
export class LeaseKeeper<S> {
  readonly #deps: LeaseKeeperDeps<S>;
  readonly #options: LeaseKeeperOptions;
  readonly #clientId: string;
  #seq: number;
  /** Each lease's renewal count and when this node saw it change (or first saw the lease). */
  readonly #clocks = new Map<number, { renewals: number; grant: number; since: number }>();
  /** Expiries submitted and not answered yet, with the function that forgets each. */
  readonly #expiring = new Map<number, () => void>();
  #held = false;
  #ticker: Periodic | null = null;
  #stopped = false;

  constructor(deps: LeaseKeeperDeps<S>) {
    this.#deps = deps;
    this.#options = leaseKeeperOptions(deps.options);
    this.#clientId = leaseClientId(deps.self);
    this.#seq = deps.firstSeq ?? Date.now() * 1000;
  }

  start(): void {
    this.#ticker = everyInExecutor(this.#deps.clock, this.#deps.executor, this.#options.checkIntervalMs, () => this.#check());
  }

  /** Stops checking; answers still to come are dropped. */
  stop(): void {
    this.#stopped = true;
    this.#ticker?.cancel();
    this.#ticker = null;
    for (const forget of this.#expiring.values()) forget();
    this.#expiring.clear();
  }

  /** Leases whose expiry is under way (for tests and status). */
  get expiring(): readonly number[] {
    return [...this.#expiring.keys()];
  }

  /** One look at the leases (a task of the node's executor). */
  #check(): void {
    const { replica, spec } = this.#deps;
    const state = replica.state;
    if (replica.lease.state !== 'held' || state === null) {
      if (this.#held) this.#deps.logger.info({ lease: replica.lease.state }, 'leases: no primary lease; lease clocks stopped');
      this.#held = false;
      this.#clocks.clear();
      return;
    }
    if (!this.#held) {
      this.#held = true;
      this.#deps.logger.info({}, 'leases: primary lease held; every lease\'s clock starts now');
    }
    const now = this.#deps.clock.now();
    const alive = new Set<number>();
    for (const lease of spec.leases(state)) {
      alive.add(lease.id);
      const clock = this.#clocks.get(lease.id);
      if (clock === undefined || clock.grant !== lease.grant || (clock.renewals !== lease.renewals && this.#deps.mutations?.leaseClockIgnoresRenewals !== true)) {
        this.#clocks.set(lease.id, { renewals: lease.renewals, grant: lease.grant, since: now });
        continue;
      }
      clock.renewals = lease.renewals; // (changes only under the mutation: the count noted, the clock not restarted)
      const silentMs = now - clock.since;
      if (silentMs >= lease.ttlMs && !this.#expiring.has(lease.id) && this.#expiring.size < this.#options.maxExpiringLeases) {
        this.#expire(lease, silentMs);
      }
    }
    for (const id of this.#clocks.keys()) if (!alive.has(id)) this.#clocks.delete(id);
  }

  #expire(lease: AppLease, silentMs: number): void {
    const expire = this.#deps.spec.expire({ id: lease.id, renewals: lease.renewals, grant: lease.grant });
    const request = newInternalRequest(this.#clientId, ++this.#seq, expire.proc, expire.args);
    this.#deps.logger.info({ lease: lease.id, ttlMs: lease.ttlMs, silentMs, seq: request.seq }, 'leases: lease not renewed for its TTL; expiring');
    const forget = this.#deps.submit(request, (answer) => this.#answered(lease.id, answer));
    this.#expiring.set(lease.id, forget);
  }

  #answered(id: number, answer: ClientAnswer): void {
    if (this.#stopped) return;
    this.#expiring.delete(id);
    if (answer.kind === 'executed' && answer.outcome.ok) {
      this.#deps.logger.info({ lease: id, outcome: answer.outcome.value }, 'leases: lease expiry executed');
      return; // gone (or renewed meanwhile: its new count restarts its clock at the next check)
    }
    if (answer.kind === 'not-primary' || answer.kind === 'busy' || answer.kind === 'stale') return; // not executed: the next check decides again
    // A bug (the app refused its own expire request): try again only after another TTL.
    const clock = this.#clocks.get(id);
    if (clock !== undefined) clock.since = this.#deps.clock.now();
    this.#deps.logger.error({ lease: id, answer }, 'leases: lease expiry refused');
  }
}
