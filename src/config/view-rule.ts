import { type Members, type NodeId, addressOf } from '../env/types.js';
import type { ValueRule } from '../paxos/value-rule.js';

/**
 * The view rules as Paxos enforces them (`ValueRule`): what an acceptor accepts, a proposer
 * adopts and a learner learns for instance `i` (view `i`), judged against view `i - 1`:
 * - no address listed twice (a member whose data directory was replaced is removed before the
 *   new one is added: `MemberId`);
 * - exactly one member added or removed, the others the same (so the two views overlap: a view
 *   is never empty), or the same members in the same order (a refresh: a new view after a member
 *   restarted with its durable state, which the layers above start afresh); the order of a list is the proposer's discipline (joiners at the end,
 *   removals keeping the order), which the simulator's view-step checker watches, and is not
 *   judged here: no order makes a node stop, while a view that is two changes away, or shares
 *   nobody with the last, breaks what the layers above assume of every view change (the RSM's
 *   primary is carried over from the view before, and stops when none is);
 * - only a member of view `i - 1` (an acceptor of instance `i`, by address: messages come from
 *   addresses) prepares, proposes or announces
 *   a decision of instance `i`: the config layer proposes only while it is listed in the current
 *   view, and only acceptors answer with a decision, so anybody else is a stranger (a stray
 *   process, or a forged message).
 * A value whose previous view is not known yet is judged later (`needsPrevious`).
 */
export const viewRule: ValueRule = {
  name: 'one member away from the previous view',
  needsPrevious: true,
  valueProblem(previous: Members | undefined, value: Members): string | null {
    if (previous === undefined) return 'the previous view is not known';
    const addresses = value.map(addressOf);
    const twice = addresses.find((a, i) => addresses.indexOf(a) !== i);
    if (twice !== undefined) return `[${value.join(',')}] lists ${twice} twice`;
    return viewStepProblem(previous, value);
  },
  senderProblem(sender: NodeId, acceptors: Members): string | null {
    return acceptors.some((m) => addressOf(m) === sender) ? null : `${sender} is not a member of the previous view [${acceptors.join(',')}]`;
  },
};

/**
 * Why `next` is not one member away from `previous` (added or removed, the rest the same) nor the
 * same list (a refresh), or null.
 */
export function viewStepProblem(previous: Members, next: Members): string | null {
  const added = next.filter((m) => !previous.includes(m));
  const removed = previous.filter((m) => !next.includes(m));
  const changes = added.length + removed.length;
  if (changes === 1) return null;
  if (changes === 0) {
    return next.every((m, i) => m === previous[i]) ? null : `[${next.join(',')}] lists the previous view's members [${previous.join(',')}] in another order`;
  }
  const shared = next.length - added.length;
  const described = [...added.map((m) => `+${m}`), ...removed.map((m) => `-${m}`)].join(' ') || 'no change';
  return shared === 0
    ? `[${next.join(',')}] shares no member with the previous view [${previous.join(',')}]`
    : `[${next.join(',')}] is ${changes} changes away from the previous view [${previous.join(',')}] (${described}), not one`;
}
