import { invariant } from '../env/errors.js';
import { type Members, type NodeId, addressOf } from '../env/types.js';

/** One view: its members as Paxos decided them (`MemberId`s), and their addresses in the same order. */
interface KeptView {
  readonly ids: Members;
  readonly addresses: Members;
}

function kept(ids: Members): KeptView {
  // Views listed by address alone (most) share one array.
  const addresses = ids.map(addressOf);
  return { ids, addresses: addresses.every((a, i) => a === ids[i]) ? ids : addresses };
}

/**
 * The views this node keeps, by vid, and which one is current. Views come from Paxos instances
 * (instance i decides view i) and never change once known. Paxos compacts its log
 * (`PaxosOptions.retainedViews`), and this history keeps no more than Paxos does: the views from
 * `oldest` to `vid`, older ones forgotten (`forgetBefore`). A view is kept as Paxos delivered
 * it, member ids (`MemberId`: with disk ids) and their addresses; the layers above and the
 * failure detector speak addresses (`members`), membership of this node is by id (`ids`).
 *
 * Invariant: the kept views are exactly `oldest`..`vid` (none before `load`); a view is added
 * after the one before it, or (a catch-up from peers whose logs were compacted) as the start of
 * a new history, everything older forgotten.
 */
export class ViewHistory {
  readonly #self: NodeId;
  readonly #views = new Map<number, KeptView>();
  #vid = 0;
  #oldest = 1;

  constructor(self: NodeId) {
    this.#self = self;
  }

  /** The current view's id; 0 before the history was loaded. It is also how many views were decided. */
  get vid(): number {
    return this.#vid;
  }

  /** The oldest view kept (older ones were forgotten with Paxos' compacted log). */
  get oldest(): number {
    return this.#oldest;
  }

  /** Whether view `vid`'s members are kept here. */
  knows(vid: number): boolean {
    return this.#views.has(vid);
  }

  /** Addresses of the members of view `vid` (default: the current one), which must be kept here (`knows`). */
  members(vid = this.#vid): Members {
    return this.#view(vid).addresses;
  }

  /** Member ids of view `vid` (default: the current one), as Paxos decided them (`MemberId`). */
  ids(vid = this.#vid): Members {
    return this.#view(vid).ids;
  }

  #view(vid: number): KeptView {
    const view = this.#views.get(vid);
    invariant(view !== undefined, () => `view ${vid} is not known at ${this.#self} (it keeps views ${this.#oldest}..${this.#vid})`);
    return view;
  }

  /** The newest `count` views kept, oldest first (all of them when `count` is omitted). */
  tail(count = Number.POSITIVE_INFINITY): Array<{ vid: number; members: Members }> {
    const from = Math.max(this.#oldest, this.#vid - count + 1);
    const views: Array<{ vid: number; members: Members }> = [];
    for (let vid = from; vid <= this.#vid; vid++) views.push({ vid, members: this.members(vid) });
    return views;
  }

  /** Loads views `oldest`..`highest` as Paxos replayed them. */
  load(oldest: number, highest: number, decided: (instance: number) => Members | undefined): void {
    invariant(this.#vid === 0, 'view history loaded twice');
    for (let i = oldest; i <= highest; i++) {
      const members = decided(i);
      invariant(members !== undefined, () => `paxos knows views ${oldest}..${highest} but not ${i} at ${this.#self}`);
      this.#views.set(i, kept(members));
    }
    this.#oldest = oldest;
    this.#vid = highest;
  }

  /**
   * View `vid` was committed: it becomes the current one. A `vid` beyond the next one starts a
   * new history there (Paxos caught up from peers that no longer keep the views in between).
   */
  commit(vid: number, members: Members): void {
    invariant(vid > this.#vid, () => `view ${vid} delivered after ${this.#vid} at ${this.#self}`);
    if (vid > this.#vid + 1) {
      this.#views.clear();
      this.#oldest = vid;
    }
    this.#views.set(vid, kept(members));
    this.#vid = vid;
  }

  /** Forgets the views before `oldest` (never the current one): Paxos no longer keeps them. */
  forgetBefore(oldest: number): void {
    const floor = Math.min(oldest, this.#vid);
    for (let vid = this.#oldest; vid < floor; vid++) this.#views.delete(vid);
    this.#oldest = Math.max(this.#oldest, floor);
  }
}

/** `+node`, `-node` or `refresh` (the same members: see `ChangeKind`), or a description of a larger change, which config never proposes. */
export function describeChange(before: Members, after: Members): string {
  const added = after.filter((m) => !before.includes(m));
  const removed = before.filter((m) => !after.includes(m));
  return [...added.map((m) => `+${m}`), ...removed.map((m) => `-${m}`)].join(' ') || 'refresh';
}
