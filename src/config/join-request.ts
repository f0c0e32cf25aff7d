import type { Logger } from '../env/logger.js';
import { type Random, randomPick } from '../env/random.js';
import type { Members, NodeId } from '../env/types.js';

/**
 * The joiner's side of the join protocol: whom a node outside the view asks, and when. It asks
 * one member every `joinRetryMs`; a member that did not answer may be dead, so the next request
 * goes to another (random) member; a redirect is followed at once.
 */
export class JoinRequest {
  readonly #log: Logger;
  /** This process has asked to join at least once (so a view that adds it admits this life). */
  #asked = false;
  /** Whom this node asks to join, and when it last asked. */
  #target: NodeId | null = null;
  #askedTick = Number.NEGATIVE_INFINITY;
  #answered = true;

  constructor(logger: Logger) {
    this.#log = logger;
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
}
