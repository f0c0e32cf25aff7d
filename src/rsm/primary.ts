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
 */
export class PrimaryHistory {
  readonly #primaries: NodeId[] = [];
  readonly #previous: Members[] = [];

  /** Records view `vid` (views must be added in order, from 1). Returns its primary. */
  add(vid: number, members: Members): NodeId {
    invariant(vid === this.#primaries.length + 1, () => `view ${vid} added after ${this.#primaries.length}`);
    invariant(members.length > 0, `view ${vid} has no members`);
    const before = this.#previous.at(-1);
    const prevPrimary = this.#primaries.at(-1);
    let primary: NodeId;
    if (before === undefined || prevPrimary === undefined) primary = members[0]!;
    else if (members.includes(prevPrimary)) primary = prevPrimary;
    else {
      const carried = before.find((m) => members.includes(m));
      invariant(carried !== undefined, () => `view ${vid} [${members.join(',')}] shares no member with view ${vid - 1}`);
      primary = carried;
    }
    this.#primaries.push(primary);
    this.#previous.push(members);
    return primary;
  }

  /** The primary of view `vid`, if known. */
  of(vid: number): NodeId | undefined {
    return this.#primaries[vid - 1];
  }

  get known(): number {
    return this.#primaries.length;
  }
}
