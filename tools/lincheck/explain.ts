/**
 * The linearizability checker's report of a violation: once a search is exhausted, which
 * operation could not follow the longest linearizable prefix it found, and a sentence saying why
 * (the state there, and the other candidates that could not follow either). Separate from the
 * search: it runs once per violation, after the search, and only reads what the search left.
 */
import { isUnknown } from './events.js';
import type { Model, Operation } from './types.js';

/** At most this many further candidates that could not be placed are named in an explanation. */
const maxOthersExplained = 4;

/** A part without a linearization, as the checker reports it (operation ids, not indices). */
export interface PartViolation {
  readonly verdict: 'violation';
  readonly longestPrefix: readonly number[];
  readonly failedOp: number;
  readonly explanation: string;
}

/**
 * The report of a part (`ops`, sorted by call) whose search was exhausted: `best` is the longest
 * prefix found (indices into `ops`), `state` the model state after it.
 */
export function explainViolation<S, I, O>(ops: ReadonlyArray<Operation<I, O>>, model: Model<S, I, O>, best: readonly number[], state: S): PartViolation {
  const placed = new Set(best);
  const rest = ops.map((_, i) => i).filter((i) => !placed.has(i));
  const retOf = (i: number): number => (isUnknown(ops[i]!) ? Number.POSITIVE_INFINITY : ops[i]!.ret!);
  const minRet = rest.reduce((m, i) => Math.min(m, retOf(i)), Number.POSITIVE_INFINITY);
  // The candidates after the prefix; the one that returned first had to come soonest.
  const candidates = rest.filter((i) => ops[i]!.call <= minRet && !isUnknown(ops[i]!));
  const failing = candidates.filter((i) => model.step(state, ops[i]!.input, ops[i]!.output) === undefined);
  const pool = failing.length > 0 ? failing : candidates;
  const failed = pool.reduce((a, b) => (retOf(b) < retOf(a) ? b : a));
  const describe = (i: number): string => describeOp(model, ops[i]!);
  const others = pool.filter((i) => i !== failed);
  const after = best.length === 0 ? 'from the initial state' : `after the longest linearizable prefix (${best.length} of ${ops.length} operations of this part)`;
  const stateText = model.describeState ? model.describeState(state) : `the state is ${model.key(state)}`;
  let explanation = `${after}, ${stateText}: ${describe(failed)} cannot take effect there`;
  if (others.length > 0) {
    const named = others.slice(0, maxOthersExplained).map(describe).join('; ');
    explanation += `, and neither can any other candidate (${named}${others.length > maxOthersExplained ? `; ${others.length - maxOthersExplained} more` : ''})`;
  }
  return { verdict: 'violation', longestPrefix: best.map((i) => ops[i]!.id), failedOp: ops[failed]!.id, explanation };
}

/** `model.describe(op)`, or a generic description, always naming the client and the id. */
export function describeOp<S, I, O>(model: Model<S, I, O>, op: Operation<I, O>): string {
  const what = model.describe ? model.describe(op) : `${JSON.stringify(op.input)} → ${op.output === undefined ? '?' : JSON.stringify(op.output)}`;
  return `${what} [op ${op.id}, ${op.client}]`;
}
