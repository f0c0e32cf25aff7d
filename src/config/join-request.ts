import type { Logger } from '../env/logger.js';
import { type Random, randomPick } from '../env/random.js';
import type { Members, NodeId } from '../env/types.js';
import { type AppIdentity, JoinRefusedError, compatibleApps, formatApp } from './app-identity.js';
import type { ConfigMessage } from './messages.js';
import type { SelfStatus } from './ports.js';

/**
 * The joiner's side of the join protocol: whom a node outside the view asks, and when. It asks
 * one member every `joinRetryMs`; a member that did not answer may be dead, so the next request
 * goes to another (random) member; a redirect is followed at once. A refusal (the cluster runs
 * an app this node's is not compatible with) ends it for good.
 */
export class JoinRequest {
  readonly #self: NodeId;
  readonly #app: AppIdentity | null;
  readonly #log: Logger;
  /** This process has asked to join at least once (so a view that adds it admits this life). */
  #asked = false;
  /** Whom this node asks to join, and when it last asked. */
  #target: NodeId | null = null;
  #askedTick = Number.NEGATIVE_INFINITY;
  #answered = true;
  #refusal: JoinRefusedError | null = null;

  constructor(self: NodeId, app: AppIdentity | null, logger: Logger) {
    this.#self = self;
    this.#app = app;
    this.#log = logger;
  }

  /** Why the cluster refused this node, if it did: then it never asks again. */
  get refusal(): JoinRefusedError | null {
    return this.#refusal;
  }

  /** Whether this process has asked to join at least once. */
  get asked(): boolean {
    return this.#asked;
  }

  /** This node is outside a newly committed view: the next request picks its target afresh. */
  restart(): void {
    this.#target = null;
    this.#answered = true;
  }

  /**
   * The member to ask now, or null when the last request is not `everyTicks` old yet. Nobody
   * answered the last request: its target may be dead, so another member is picked.
   */
  due(tick: number, everyTicks: number, members: Members, random: Random): NodeId | null {
    if (tick - this.#askedTick < everyTicks) return null;
    if (!this.#answered || this.#target === null || !members.includes(this.#target)) {
      this.#target = this.#target === null ? members[0]! : randomPick(random, members)!;
    }
    return this.#target;
  }

  /**
   * A member answered. With a redirect to a member other than the current target, that member
   * becomes the target and is returned: the caller asks it at once (if still outside).
   */
  answered(redirectTo: NodeId | null): NodeId | null {
    this.#answered = true;
    if (redirectTo === null || redirectTo === this.#target) return null;
    this.#target = redirectTo;
    return redirectTo;
  }

  /** A request is about to go to the current target at `tick`; returns that target. */
  sending(tick: number, vid: number): NodeId {
    const target = this.#target!;
    if (!this.#asked) this.#log.info({ vid, target }, 'config: asking to join');
    this.#asked = true;
    this.#askedTick = tick;
    this.#answered = false;
    return target;
  }

  /**
   * A member refused this node's join. Believed only while this node is outside (a member was
   * admitted by a compatible cluster) and when the refusal names an app this node's own rule finds
   * incompatible too (else it is no refusal of this node's app). Returns the refusal it believed.
   */
  refused(from: NodeId, m: Extract<ConfigMessage, { kind: 'join-refused' }>, vid: number, status: SelfStatus): JoinRefusedError | null {
    if (this.#refusal !== null) return null;
    if (status !== 'outside' || compatibleApps(m.memberApp, this.#app)) {
      this.#log.warn({ vid, from, memberApp: formatApp(m.memberApp), app: formatApp(this.#app), status },
        'config: ignoring a join refusal that does not apply to this node');
      return null;
    }
    const error = new JoinRefusedError(this.#self, this.#app, from, m.vid, m.memberApp);
    this.#refusal = error;
    this.#log.error({ vid, by: from, byVid: m.vid, app: formatApp(this.#app), clusterApp: formatApp(m.memberApp) },
      `config: join refused: ${error.message}`);
    return error;
  }
}
