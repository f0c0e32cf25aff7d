import type { Logger } from '../env/logger.js';
import type { MemberId, NodeId } from '../env/types.js';
import { type AppIdentity, compatibleApps, formatApp } from './app-identity.js';
import type { JoinOutcome } from './messages.js';
import type { Admission, SelfStatus } from './ports.js';

/** How a member answers a join request: refused (another app), or a reply. */
export type JoinAnswer =
  | { readonly kind: 'refused' }
  | { readonly kind: 'reply'; readonly outcome: JoinOutcome; readonly to: NodeId | null };

/** What the member's side of admission needs to know about the view and this node. */
export interface AdmissionContext {
  readonly self: NodeId;
  readonly vid: number;
  readonly status: SelfStatus;
  /** The joiner is listed in the current view already (by its member id). */
  readonly listed: boolean;
  /** The joiner's address is listed in the current view as another member id: that member must go first. */
  readonly replaced: boolean;
  readonly tick: number;
  /** The first member of the view, in list order, this node considers healthy (itself if none). */
  readonly firstHealthy: () => NodeId;
}

/**
 * The member's side of the join protocol: who admits joiners now (pushed down by the layer above,
 * see `Admission`), how a join request is answered, and the joiners this node queued to propose.
 *
 * Invariants: a joiner whose app is not compatible with this node's is refused, whatever else
 * holds (it is never queued, nor redirected to a member that might queue it); a joiner is queued
 * only by a member that admits, and leaves the queue when a view lists it or when it stops asking
 * for `joinRequestTtlMs`.
 */
export class JoinAdmission {
  readonly #app: AppIdentity | null;
  readonly #log: Logger;
  #admission: Admission = { kind: 'first-healthy' };
  /** Joiners this node has queued for admission, by address: their member ids and the tick they last asked. */
  readonly #joiners = new Map<NodeId, { readonly member: MemberId; readonly tick: number }>();

  /** @param app this node's app (null: none), which a joiner's must be compatible with */
  constructor(app: AppIdentity | null, logger: Logger) {
    this.#app = app;
    this.#log = logger;
  }

  get admission(): Admission {
    return this.#admission;
  }

  set admission(admission: Admission) {
    this.#admission = admission;
  }

  /**
   * A view was committed. 'admit' was granted for the view that just ended: a new view syncs
   * first, and the layer above opens admission again when it serves (design §4: a syncing view
   * admits nobody). Joiners the view lists are admitted.
   */
  viewCommitted(members: readonly MemberId[]): void {
    if (this.#admission.kind === 'admit') this.#admission = { kind: 'closed' };
    for (const [joiner, { member }] of this.#joiners) if (members.includes(member)) this.#joiners.delete(joiner);
  }

  /** Whether this node admits joiners now. */
  admits(ctx: Pick<AdmissionContext, 'self' | 'status' | 'firstHealthy'>): boolean {
    if (ctx.status !== 'member') return false;
    switch (this.#admission.kind) {
      case 'admit':
        return true;
      case 'first-healthy':
        return ctx.firstHealthy() === ctx.self;
      default:
        return false;
    }
  }

  /** Answers `joiner`'s request (it runs `joinerApp`, and asks to be listed as `member`); queues it when this node admits. */
  answer(joiner: NodeId, member: MemberId, joinerApp: AppIdentity | null, incarnation: string, ctx: AdmissionContext): JoinAnswer {
    if (!compatibleApps(joinerApp, this.#app)) {
      this.#log.warn({ vid: ctx.vid, joiner, joinerApp: formatApp(joinerApp), app: formatApp(this.#app) },
        `config: join refused: ${joiner} runs ${formatApp(joinerApp)}, this cluster ${formatApp(this.#app)}`);
      return { kind: 'refused' };
    }
    const reply = (outcome: JoinOutcome, to: NodeId | null = null): JoinAnswer => ({ kind: 'reply', outcome, to });
    if (ctx.listed) return reply('member');
    if (ctx.replaced || ctx.status !== 'member') return reply('retry');
    const a = this.#admission;
    if (a.kind === 'closed') return reply('retry');
    if (a.kind === 'redirect') return reply('redirect', a.to);
    if (a.kind === 'first-healthy') {
      const admitter = ctx.firstHealthy();
      if (admitter !== ctx.self) return reply('redirect', admitter);
    }
    if (this.#joiners.get(joiner)?.member !== member) this.#log.info({ vid: ctx.vid, joiner, member, incarnation }, 'config: join request queued');
    this.#joiners.set(joiner, { member, tick: ctx.tick });
    return reply('queued');
  }

  /** The member id `joiner` asked to be listed as, if it is queued here. */
  memberIdOf(joiner: NodeId): MemberId | undefined {
    return this.#joiners.get(joiner)?.member;
  }

  /** The joiner queued first (in the order they first asked), if any. */
  nextJoiner(): NodeId | undefined {
    const next = this.#joiners.keys().next();
    return next.done === true ? undefined : next.value;
  }

  /** Forgets joiners that last asked more than `ttlTicks` ticks before `tick`. */
  expire(tick: number, ttlTicks: number): void {
    for (const [joiner, { tick: asked }] of this.#joiners) if (tick - asked > ttlTicks) this.#joiners.delete(joiner);
  }
}
