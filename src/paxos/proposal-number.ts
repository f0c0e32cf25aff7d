import type { NodeId } from '../env/types.js';

/**
 * A Paxos proposal number `(round, node)`. Totally ordered: by round, then by node id. Unique
 * per proposer because the node id is part of it, and a proposer never reuses a round: it
 * persists each round before the prepare that carries it leaves (see `Proposer`).
 */
export interface ProposalNumber {
  readonly round: number;
  readonly node: NodeId;
}

/** Negative, zero or positive as `a` is below, equal to or above `b`. */
export function compareProposal(a: ProposalNumber, b: ProposalNumber): number {
  if (a.round !== b.round) return a.round < b.round ? -1 : 1;
  if (a.node === b.node) return 0;
  return a.node < b.node ? -1 : 1;
}

export function formatProposal(n: ProposalNumber): string {
  return `${n.round}.${n.node}`;
}
