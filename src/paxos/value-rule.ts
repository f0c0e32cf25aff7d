import type { NodeId } from '../env/types.js';
import type { PaxosValue } from './messages.js';

/**
 * What a value must be, and who may drive or announce one, before this node's acceptor accepts
 * it, its proposer adopts it, or its learner learns (and persists) it. Paxos itself only needs
 * member lists; the layer above states its own rules here (the config layer: `viewRule`, one
 * member away from the previous view), so that a value breaking them is refused before anything
 * durable rests on it: a node must never persist a value it would stop on when it replays it.
 *
 * Rules are pure functions of their arguments.
 */
export interface ValueRule {
  /** Named in log lines. */
  readonly name: string;
  /**
   * Whether judging instance `i`'s value takes the value of instance `i - 1`. When it does, a
   * value whose predecessor this node does not know yet is not accepted or learned now: the node
   * fetches the gap first and judges the value once it can.
   */
  readonly needsPrevious: boolean;
  /** Why `value` cannot be decided after `previous` (the value of the instance before), or null when it can. */
  valueProblem(previous: PaxosValue | undefined, value: PaxosValue): string | null;
  /**
   * Why `sender` (the address a message came from) may not prepare, accept or announce a decision
   * for an instance whose acceptors are `acceptors` (the value of the instance before: member ids,
   * see `MemberId`), or null when it may. Asked only when this node knows `acceptors`.
   */
  senderProblem(sender: NodeId, acceptors: PaxosValue): string | null;
}

/**
 * The rule of Paxos alone: any member list (the codec already checked its shape), from anybody.
 * What a node that runs Paxos without the config layer uses (tests, the Paxos-only simulation).
 */
export const anyMemberList: ValueRule = {
  name: 'any member list',
  needsPrevious: false,
  valueProblem: () => null,
  senderProblem: () => null,
};
