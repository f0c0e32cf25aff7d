/**
 * The linearizability checker: a Wing & Gong search as refined by Lowe (and by porcupine), over
 * one part of a history at a time. This file is its entry: it validates the history, splits it
 * into the model's parts, runs the searches of each part within the budgets and turns their
 * outcomes into a verdict. The pieces live beside it: events.ts (the call/return event lists),
 * memo.ts (the linearized set and the memo of states seen), search.ts (one depth-first search,
 * and how it treats operations of unknown outcome), explain.ts (the report of a violation).
 *
 * Two passes. An operation that timed out mostly took effect soon after its call, or never; but
 * the full search tries every unknown operation never placed yet at every position of every dead
 * end it backs out of, and with many of them that multiplies its work beyond any budget. So a
 * first pass lets an unknown operation take effect only before its client's next call (nothing
 * called after that is placed before it; the alike ones go in call order among those whose time
 * has not passed, a reduction that may lose linearizations there). A linearization it finds is
 * one: verdict ok. If it finds none, the second pass searches without those restrictions, for
 * the verdict and the report.
 *
 * Ties: an operation that returned at the same instant another was invoked is taken as
 * concurrent with it (calls sort before returns at equal times), so a tie never yields a
 * violation.
 */
import { invariant } from '../../src/env/errors.js';
import { isUnknown } from './events.js';
import { type PartViolation, explainViolation } from './explain.js';
import { type Budget, type Exhaustion, search } from './search.js';
import type { CheckOptions, CheckResult, History, Model, Operation } from './types.js';

export { describeOp } from './explain.js';

/** Time budget of a check unless `CheckOptions.timeBudgetMs` says otherwise. */
export const defaultTimeBudgetMs = 30_000;
/**
 * Memory budget of the memo of one part unless `CheckOptions.memoryBudgetBytes` says otherwise:
 * 512 MiB. A hard part (many concurrent unknown outcomes) can fill gigabytes within the time
 * budget; past this the verdict is unknown rather than the process running out of memory.
 */
export const defaultMemoryBudgetBytes = 512 * 1024 * 1024;

type PartResult = { readonly verdict: 'ok' } | { readonly verdict: 'unknown'; readonly why: Exhaustion } | PartViolation;

/**
 * Checks that `history` is linearizable with respect to `model`: part by part (`model.partition`),
 * within a time budget for the whole history. Violation: the first part (in partition order) that
 * has no linearization, with the longest linearizable prefix the search found there (longest by
 * its operations of known outcome; an unknown one is in it only if the known ones needed it) and
 * an operation that could not be placed after it. Unknown: the budget ran out before a verdict.
 */
export function checkLinearizable<S, I, O>(history: History<I, O>, model: Model<S, I, O>, options?: CheckOptions): CheckResult {
  const started = performance.now();
  const budgetMs = options?.timeBudgetMs ?? defaultTimeBudgetMs;
  invariant(budgetMs >= 0, `lincheck: timeBudgetMs must be >= 0, got ${budgetMs}`);
  const memoryBytes = options?.memoryBudgetBytes ?? defaultMemoryBudgetBytes;
  invariant(memoryBytes > 0, `lincheck: memoryBudgetBytes must be > 0, got ${memoryBytes}`);
  validate(history);
  const deadline = started + budgetMs;
  const parts = model.partition ? model.partition(history) : [history];
  const base = { operations: history.length, parts: parts.length };
  for (const [index, part] of parts.entries()) {
    const r = checkPart(part, model, { deadline, memoryBytes });
    const elapsedMs = performance.now() - started;
    if (r.verdict === 'unknown') {
      const budget = r.why === 'time' ? `time budget of ${budgetMs} ms` : `memory budget of ${Math.round(memoryBytes / 2 ** 20)} MiB`;
      return { verdict: 'unknown', ...base, elapsedMs, reason: `${budget} ran out in part ${index + 1} of ${parts.length} (${part.length} operations)` };
    }
    if (r.verdict === 'violation') {
      return { verdict: 'violation', ...base, elapsedMs, part: index, longestPrefix: r.longestPrefix, failedOp: r.failedOp, explanation: r.explanation };
    }
  }
  return { verdict: 'ok', ...base, elapsedMs: performance.now() - started };
}

function validate<I, O>(history: History<I, O>): void {
  const ids = new Set<number>();
  for (const op of history) {
    invariant(!ids.has(op.id), `lincheck: operation id ${op.id} appears twice in the history`);
    ids.add(op.id);
    invariant(Number.isFinite(op.call), `lincheck: operation ${op.id} has no finite call time`);
    if (op.output !== undefined) {
      invariant(op.ret !== undefined && Number.isFinite(op.ret), `lincheck: operation ${op.id} has an output but no finite return time`);
      invariant(op.ret >= op.call, `lincheck: operation ${op.id} returned (${op.ret}) before it was called (${op.call})`);
    }
  }
}

function checkPart<S, I, O>(part: History<I, O>, model: Model<S, I, O>, budget: Budget): PartResult {
  const ops = [...part].sort((a, b) => a.call - b.call || a.id - b.id);
  const byNextCall = nextCallOfClient(ops);
  if (byNextCall.some((t, i) => Number.isFinite(t) && isUnknown(ops[i]!))) {
    const first = search(ops, model, budget, byNextCall);
    if (first.verdict !== 'exhausted') return first;
  }
  const full = search(ops, model, budget, null);
  if (full.verdict !== 'exhausted') return full;
  return explainViolation(ops, model, full.best, full.bestState);
}

/** For each operation (sorted by call), when its client next called; +∞ for its last one. */
function nextCallOfClient<I, O>(ops: ReadonlyArray<Operation<I, O>>): Float64Array {
  const next = new Float64Array(ops.length).fill(Number.POSITIVE_INFINITY);
  const later = new Map<string, number>();
  for (let i = ops.length - 1; i >= 0; i--) {
    const op = ops[i]!;
    const t = later.get(op.client);
    if (t !== undefined) next[i] = t;
    later.set(op.client, op.call);
  }
  return next;
}

