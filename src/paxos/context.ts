import type { Logger } from '../env/logger.js';
import type { Outbox } from '../env/outbox.js';
import type { Random } from '../env/random.js';
import type { NodeId } from '../env/types.js';
import type { PaxosOptions } from '../options.js';
import type { PaxosMessage, PaxosRecord } from './messages.js';

export type PaxosOutbox = Outbox<PaxosMessage, PaxosRecord>;

/**
 * Crash breakpoints of the Paxos proposer (design §7), armed by the test control service.
 * 3: die after a majority promised, before any accept leaves.
 * 4: die after a majority accepted, before any decide leaves.
 */
export interface PaxosBreakpoints {
  /** True when breakpoint `n` is armed; the proposer then halts the node at that point. */
  isArmed(n: 3 | 4): boolean;
}

export const noBreakpoints: PaxosBreakpoints = { isArmed: () => false };

/** Test-only switches that break Paxos on purpose, to prove the simulator's checkers bite. */
export interface PaxosMutations {
  /** Acceptors answer prepares without persisting the promise. */
  readonly skipPromisePersist?: boolean;
  /** The proposer proposes its own value reversed: a value nobody asked for (validity must notice). */
  readonly forgeOwnValue?: boolean;
  /** The learner neither gossips nor fetches: a node that missed a decide never learns it (liveness must notice). */
  readonly noCatchUp?: boolean;
}

/** What the acceptor, proposer and learner of one node share. */
export interface PaxosContext {
  readonly self: NodeId;
  readonly options: PaxosOptions;
  readonly random: Random;
  readonly logger: Logger;
  readonly breakpoints: PaxosBreakpoints;
  readonly mutations: PaxosMutations;
}

/** Size of a majority of `n` acceptors. */
export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

export function sameValue(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
