import { invariant } from '../env/errors.js';
import type { Members, NodeId } from '../env/types.js';

/**
 * Every view this node knows, by vid, and which one is current. Views come from Paxos
 * instances (instance i decides view i) and never change once known.
 *
 * Invariant: the known views are exactly 1..vid (none before `start`), added in order.
 */
export class ViewHistory {
  readonly #self: NodeId;
  readonly #views = new Map<number, Members>();
  #vid = 0;

  constructor(self: NodeId) {
    this.#self = self;
  }

  /** The current view's id; 0 before the history was loaded. */
  get vid(): number {
    return this.#vid;
  }

  /** Members of view `vid` (default: the current one). */
  members(vid = this.#vid): Members {
    const members = this.#views.get(vid);
    invariant(members !== undefined, () => `view ${vid} is not known at ${this.#self}`);
    return members;
  }

  /** Every view this node knows, oldest first. */
  all(): Array<{ vid: number; members: Members }> {
    return [...this.#views].map(([vid, members]) => ({ vid, members }));
  }

  /** Loads views 1..`highest` as Paxos replayed them from its log. */
  load(highest: number, decided: (instance: number) => Members | undefined): void {
    invariant(this.#vid === 0, 'view history loaded twice');
    for (let i = 1; i <= highest; i++) this.#views.set(i, decided(i)!);
    this.#vid = highest;
  }

  /** View `vid` was committed: it becomes the current one. */
  commit(vid: number, members: Members): void {
    invariant(vid === this.#vid + 1, () => `view ${vid} delivered after ${this.#vid} at ${this.#self}`);
    this.#views.set(vid, members);
    this.#vid = vid;
  }
}

/** `+node` or `-node` (or a description of a larger change, which config itself never proposes). */
export function describeChange(before: Members, after: Members): string {
  const added = after.filter((m) => !before.includes(m));
  const removed = before.filter((m) => !after.includes(m));
  return [...added.map((m) => `+${m}`), ...removed.map((m) => `-${m}`)].join(' ') || 'none';
}
