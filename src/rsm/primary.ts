import type { Members, NodeId } from '../env/types.js';
import { invariant } from '../env/errors.js';

/**
 * The primary of every view, from the view history alone (design §4), so that every node that
 * knows the same views agrees on it:
 * - view 1's primary is its only member, the first node;
 * - the previous primary stays primary while it is a member;
 * - otherwise the first member of the previous view, in list order, that is in the new view.
 *
 * With one member changing per view, the new view always shares a member with the previous one
 * (the last member is never removed), so there always is one.
 *
 * Bounded history (Paxos compacts its log, `PaxosOptions.retainedViews`): the history may start
 * at any view, and jump ahead (a node that caught up from peers that forgot the views between);
 * the first view of a history, like view 1, has its first member as primary. That is the rule's
 * own answer for every view config makes, since joiners go to the end of the list and removals
 * keep its order: by induction the primary of every view is then its first member. Only the
 * primaries of views `forgetBefore` keeps are remembered, and only the last view's members.
 */
export class PrimaryHistory {
  readonly #primaries = new Map<number, NodeId>();
  #last: { vid: number; members: Members; primary: NodeId } | null = null;

  /**
   * Records view `vid`: the next one after the last recorded, or any view to start (or restart,
   * beyond the next) the history. Returns its primary.
   */
  add(vid: number, members: Members): NodeId {
    const last = this.#last;
    invariant(vid >= 1 && (last === null || vid > last.vid), () => `view ${vid} added after ${last?.vid ?? 0}`);
    invariant(members.length > 0, `view ${vid} has no members`);
    let primary: NodeId;
    if (last === null || vid > last.vid + 1) primary = members[0]!;
    else if (members.includes(last.primary)) primary = last.primary;
    else {
      const carried = last.members.find((m) => members.includes(m));
      invariant(carried !== undefined, () => `view ${vid} [${members.join(',')}] shares no member with view ${vid - 1}`);
      primary = carried;
    }
    if (last !== null && vid > last.vid + 1) this.#primaries.clear();
    this.#primaries.set(vid, primary);
    this.#last = { vid, members, primary };
    return primary;
  }

  /** The primary of view `vid`, if known. */
  of(vid: number): NodeId | undefined {
    return this.#primaries.get(vid);
  }

  /** The last view recorded (0: none). */
  get known(): number {
    return this.#last?.vid ?? 0;
  }

  /** Forgets the primaries of views before `oldest` (never the last one's). */
  forgetBefore(oldest: number): void {
    for (const vid of [...this.#primaries.keys()]) if (vid < oldest && vid !== this.known) this.#primaries.delete(vid);
  }
}
