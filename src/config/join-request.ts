import type { Logger } from '../env/logger.js';
import { type Random, randomPick } from '../env/random.js';
import type { Members, NodeId } from '../env/types.js';
import { type AppIdentity, JoinRefusedError, compatibleApps, formatApp } from './app-identity.js';
import type { ConfigMessage } from './messages.js';
import type { SelfStatus } from './ports.js';

/**
 * The joiner's side of the join protocol: whom a node outside the view asks, and when. It asks
 * one member (of the latest view it knows, or a contact the operator named) every `joinRetryMs`;
 * a member that did not answer may be dead, so the next request goes to another (random) one; a
 * redirect is followed at once. A refusal (the cluster runs an app this node's is not compatible
 * with) ends it for good.
 *
 * Only the member this node asked is believed: its reply teaches a node without a cluster id the
 * cluster's id (`ClusterIdPort`), and only its refusal stops the node. Anybody else's answer
 * (a stray process on an old address) counts as no answer.
 */
export class JoinRequest {
  readonly #self: NodeId;
  readonly #app: AppIdentity | null;
  readonly #contacts: readonly NodeId[];
  readonly #log: Logger;
  /** The cluster id this process learned from a join reply (adopted once). */
  #learnedId: string | null = null;
  /** This process has asked to join at least once (so a view that adds it admits this life). */
  #asked = false;
  /** Whom this node asks to join, and when it last asked. */
  #target: NodeId | null = null;
  #askedTick = Number.NEGATIVE_INFINITY;
  #answered = true;
  #refusal: JoinRefusedError | null = null;

  constructor(self: NodeId, app: AppIdentity | null, contacts: readonly NodeId[], logger: Logger) {
    this.#self = self;
    this.#app = app;
    this.#contacts = contacts;
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
   * The node to ask now (a member of `members`, the latest view known, or a contact), or null when
   * the last request is not `everyTicks` old yet. Nobody answered the last request: its target may
   * be dead, so another one is picked.
   */
  due(tick: number, everyTicks: number, members: Members, random: Random): NodeId | null {
    if (tick - this.#askedTick < everyTicks) return null;
    const candidates = [...members, ...this.#contacts.filter((c) => !members.includes(c))].filter((c) => c !== this.#self);
    if (candidates.length === 0) return null;
    if (!this.#answered || this.#target === null || !candidates.includes(this.#target)) {
      this.#target = this.#target === null ? candidates[0]! : randomPick(random, candidates)!;
    }
    return this.#target;
  }

  /**
   * `from` answered a join request (`to`: its redirect, if it redirects). Returns the member to
   * ask at once (a redirect to a member other than the current target, which becomes the
   * target; the caller asks it if still outside), and the cluster id to adopt: the one the reply
   * names, when this node has none (`knowsId` false), has learned none yet, and `from` is the
   * member it asked.
   */
  answered(from: NodeId, to: NodeId | null, clusterId: string, knowsId: boolean): { redirectTo: NodeId | null; learnedId: string | null } {
    let learnedId: string | null = null;
    if (!knowsId && this.#learnedId === null && clusterId !== '' && from === this.#target) {
      learnedId = clusterId;
      this.#learnedId = clusterId;
      this.#log.info({ from, clusterId }, 'config: learned the cluster id from the member asked to join');
    }
    this.#answered = true;
    if (to === null || to === this.#target) return { redirectTo: null, learnedId };
    this.#target = to;
    return { redirectTo: to, learnedId };
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
   * admitted by a compatible cluster), from the member it asked, and when the refusal names an app
   * this node's own rule finds incompatible too (else it is no refusal of this node's app).
   * Returns the refusal it believed.
   */
  refused(from: NodeId, m: Extract<ConfigMessage, { kind: 'join-refused' }>, vid: number, status: SelfStatus): JoinRefusedError | null {
    if (this.#refusal !== null) return null;
    if (status !== 'outside' || compatibleApps(m.memberApp, this.#app) || from !== this.#target) {
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
