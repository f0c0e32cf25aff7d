import type { Logger } from '../env/logger.js';
import type { Outbox } from '../env/outbox.js';
import type { Random } from '../env/random.js';
import type { MemberId, NodeId } from '../env/types.js';
import type { PaxosOptions } from '../options.js';
import type { PaxosMessage, PaxosRecord, PaxosValue } from './messages.js';
import type { ValueRule } from './value-rule.js';

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
  /**
   * Acceptors, proposers and learners judge nothing by the value rule (`ValueRule`): a forged
   * decision or accept that breaks it is taken in (the config simulation's checkers must notice).
   */
  readonly skipValueRule?: boolean;
}

/** What the acceptor, proposer and learner of one node share. */
export interface PaxosContext {
  /** This node's address: where its messages come from. */
  readonly self: NodeId;
  /**
   * This node as views list it (`MemberId`): it acts as acceptor or proposer only where a view
   * lists exactly this id, and numbers its proposals with it.
   */
  readonly member: MemberId;
  readonly options: PaxosOptions;
  readonly random: Random;
  readonly logger: Logger;
  readonly breakpoints: PaxosBreakpoints;
  readonly mutations: PaxosMutations;
  /** What a value must be, and who may drive or announce it (see `judge`). */
  readonly rule: ValueRule;
}

/** Size of a majority of `n` acceptors. */
export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

export function sameValue(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * What this node makes of a value (or, with `value` null, of a prepare) for an instance whose
 * previous value is `previous`, coming from `sender` (null: this node's own doing):
 * - ok: the rule holds (or cannot be asked about the sender: `previous` is unknown);
 * - unjudged: the rule needs `previous` and this node does not know it yet; nothing may rest on the value now;
 * - refused: the rule is broken, for the reason given.
 */
export type Judgement = { readonly kind: 'ok' } | { readonly kind: 'unjudged' } | { readonly kind: 'refused'; readonly problem: string };

export function judge(ctx: PaxosContext, previous: PaxosValue | undefined, value: PaxosValue | null, sender: NodeId | null): Judgement {
  const { rule } = ctx;
  if (sender !== null && previous !== undefined) {
    const problem = rule.senderProblem(sender, previous);
    if (problem !== null) return { kind: 'refused', problem };
  }
  if (value === null) return { kind: 'ok' };
  if (rule.needsPrevious && previous === undefined) return { kind: 'unjudged' };
  const problem = rule.valueProblem(previous, value);
  return problem === null ? { kind: 'ok' } : { kind: 'refused', problem };
}
