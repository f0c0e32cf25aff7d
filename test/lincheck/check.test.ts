// The checker itself: what it reports about a violation, its input checks, its time budget, and
// its verdicts against a brute-force search on many small random histories.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvariantViolation } from '../../src/env/errors.js';
import { checkLinearizable, describeOp } from '../../tools/lincheck/check.js';
import { generateAppendHistory, generateCounterHistory, generateLockHistory } from '../../tools/lincheck/generate.js';
import {
  type AppendInput, type AppendOutput, type CounterInput, type CounterOutput, type LockOutput, appendModel, counterModel, lockModel,
} from '../../tools/lincheck/models.js';
import type { History, Model, Operation } from '../../tools/lincheck/types.js';
import { Prng } from '../../tools/sim/prng.js';
import { HistoryBuilder, testSeed } from './support.js';

const counters = (): HistoryBuilder<CounterInput, CounterOutput> => new HistoryBuilder<CounterInput, CounterOutput>();

test('a small violation reports the longest linearizable prefix, the operation that failed, and why', () => {
  // Proves the report: add, get 1 linearize; the get of 0 after them cannot.
  const h = counters();
  const add = h.done('c1', { proc: 'add', key: 'k', by: 1 }, { value: 1 }, 0, 1);
  const seen = h.done('c2', { proc: 'get', key: 'k' }, { value: 1 }, 2, 3);
  const stale = h.done('c3', { proc: 'get', key: 'k' }, { value: 0 }, 4, 5);
  const r = checkLinearizable(h.history, counterModel);
  assert.equal(r.verdict, 'violation');
  assert.ok(r.verdict === 'violation');
  assert.deepEqual(r.longestPrefix, [add, seen]);
  assert.equal(r.failedOp, stale);
  assert.equal(r.part, 0);
  assert.equal(r.operations, 3);
  assert.equal(r.explanation, 'after the longest linearizable prefix (2 of 3 operations of this part), the counter is 1: get k → 0 [op 2, c3] cannot take effect there');
  assert.equal(describeOp(counterModel, h.history[stale]!), 'get k → 0 [op 2, c3]');
});

test('a history with a repeated id, or a return before its call, or an output without a return, is refused', () => {
  // Proves the input checks: a malformed history is a programmer error, not a verdict.
  const dup = counters();
  dup.done('c1', { proc: 'get', key: 'k' }, { value: 0 }, 0, 1);
  const ops = [...dup.history, { ...dup.history[0]!, call: 2, ret: 3 }];
  assert.throws(() => checkLinearizable(ops, counterModel), (e: unknown) => e instanceof InvariantViolation && /id 0 appears twice/.test(e.message));
  const backwards: History<CounterInput, CounterOutput> = [{ id: 0, client: 'c1', input: { proc: 'get', key: 'k' }, output: { value: 0 }, call: 5, ret: 4 }];
  assert.throws(() => checkLinearizable(backwards, counterModel), (e: unknown) => e instanceof InvariantViolation && /returned \(4\) before it was called \(5\)/.test(e.message));
  const noRet: History<CounterInput, CounterOutput> = [{ id: 0, client: 'c1', input: { proc: 'get', key: 'k' }, output: { value: 0 }, call: 5, ret: undefined }];
  assert.throws(() => checkLinearizable(noRet, counterModel), InvariantViolation);
});

test('with no time left the verdict on a hard history is unknown, and says the budget ran out', () => {
  // Proves the budget: 24 overlapping timed-out adds of different amounts and a get no subset
  // of them explains make 2^24 sets to try.
  const h = counters();
  for (let i = 1; i <= 24; i++) h.unknown(`c${i}`, { proc: 'add', key: 'k', by: i }, 0);
  h.done('c0', { proc: 'get', key: 'k' }, { value: -1 }, 1, 100);
  const r = checkLinearizable(h.history, counterModel, { timeBudgetMs: 0 });
  assert.equal(r.verdict, 'unknown');
  assert.ok(r.verdict === 'unknown' && /time budget of 0 ms ran out in part 1 of 1/.test(r.reason), r.verdict === 'unknown' ? r.reason : '');
});

test('with too little memory the verdict on a hard history is unknown, and says the memory budget ran out', () => {
  // Proves the memory budget: the same hard history fills the memo far past 1 MiB within seconds
  // (unbounded, it filled gigabytes before the time budget ran out).
  const h = counters();
  for (let i = 1; i <= 24; i++) h.unknown(`c${i}`, { proc: 'add', key: 'k', by: i }, 0);
  h.done('c0', { proc: 'get', key: 'k' }, { value: -1 }, 1, 100);
  const r = checkLinearizable(h.history, counterModel, { timeBudgetMs: 60_000, memoryBudgetBytes: 2 ** 20 });
  assert.equal(r.verdict, 'unknown');
  assert.ok(r.verdict === 'unknown' && /memory budget of 1 MiB ran out in part 1 of 1/.test(r.reason), r.verdict === 'unknown' ? r.reason : '');
});

test('many overlapping timed-out appends that do the same are tried in call order, not in every subset', () => {
  // Proves the reduction for alike unknown outcomes: 2^40 subsets, yet a quick violation.
  const h = new HistoryBuilder<AppendInput, AppendOutput>();
  for (let i = 0; i < 40; i++) h.unknown(`c${i}`, { proc: 'append', item: `u${i}` }, 0);
  h.done('c40', { proc: 'append', item: 'late' }, { index: 45 }, 1, 100);
  const r = checkLinearizable(h.history, appendModel, { timeBudgetMs: 10_000 });
  assert.equal(r.verdict, 'violation');
  const fits = new HistoryBuilder<AppendInput, AppendOutput>();
  for (let i = 0; i < 40; i++) fits.unknown(`c${i}`, { proc: 'append', item: `u${i}` }, 0);
  fits.done('c40', { proc: 'append', item: 'late' }, { index: 31 }, 1, 100);
  assert.equal(checkLinearizable(fits.history, appendModel, { timeBudgetMs: 10_000 }).verdict, 'ok');
});

// ---------------------------------------------------------------------------------------------
// Against brute force.

/**
 * The definition, searched naively: some order of the operations, each placed only if no
 * operation still unplaced returned before it was called, in which every known operation is
 * placed and steps the model; an unknown one may be left out.
 */
function bruteForce<S, I, O>(history: History<I, O>, model: Model<S, I, O>): boolean {
  const parts = model.partition ? model.partition(history) : [history];
  return parts.every((part) => search(part, new Set<number>(), model.init(), model));
}

function search<S, I, O>(ops: History<I, O>, placed: Set<number>, state: S, model: Model<S, I, O>): boolean {
  const left = ops.filter((op) => !placed.has(op.id));
  if (left.every((op) => op.output === undefined)) return true;
  const firstRet = Math.min(...left.filter((op) => op.output !== undefined).map((op) => op.ret!));
  for (const op of left) {
    if (op.call > firstRet) continue;
    const next = model.step(state, op.input, op.output);
    if (next === undefined) continue;
    placed.add(op.id);
    const found = search(ops, placed, next, model);
    placed.delete(op.id);
    if (found) return true;
  }
  return false;
}

/** Replaces, with even odds, one known output by `other(prng)`: maybe still linearizable, maybe not. */
function perhapsMutate<I, O>(history: History<I, O>, prng: Prng, other: (r: Prng) => O): History<I, O> {
  const known = history.filter((op) => op.output !== undefined);
  if (known.length === 0 || prng.chance(0.5)) return history;
  const victim = prng.pick(known);
  return history.map((op): Operation<I, O> => (op === victim ? { ...op, output: other(prng) } : op));
}

const lockOutputs = (r: Prng): LockOutput => {
  const who = (): string | null => r.pick([null, 'c0', 'c1', 'c2']);
  return r.pick<() => LockOutput>([
    () => ({ granted: true, token: r.int(5) }),
    () => ({ granted: false }),
    () => ({ released: true }),
    () => ({ error: 'not-held' }),
    () => ({ holder: who(), token: r.int(5), waiters: r.shuffle(['c0', 'c1', 'c2']).slice(0, r.int(3)) }),
  ])();
};

test('on small random histories, mutated or not, the checker agrees with brute force', () => {
  // Proves soundness and completeness (the memo, the candidate order, the unknown-outcome
  // reductions) against the definition, for the three models.
  const seed = testSeed('lincheck brute force');
  const prng = new Prng(seed);
  const tally = { ok: 0, violation: 0 };
  for (let i = 0; i < 400; i++) {
    const options = { seed: prng.int(2 ** 31), operations: prng.between(3, 9), clients: prng.between(2, 4), unknownRate: 0.3, lateRate: prng.pick([0, 1]), lateMaxMs: 25 };
    const cases: Array<[string, () => [History<unknown, unknown>, Model<unknown, unknown, unknown>]]> = [
      ['counter', () => [perhapsMutate(generateCounterHistory({ ...options, keys: 2 }), prng, (r) => ({ value: r.int(12) })), counterModel] as never],
      ['append', () => [perhapsMutate(generateAppendHistory(options), prng, (r) => (r.chance(0.5) ? { index: r.int(6) } : { length: r.int(6) })), appendModel] as never],
      ['lock', () => [perhapsMutate(generateLockHistory({ ...options, locks: 2 }), prng, lockOutputs), lockModel] as never],
    ];
    for (const [name, make] of cases) {
      const [history, model] = make();
      const expected = bruteForce(history, model);
      const r = checkLinearizable(history, model);
      assert.notEqual(r.verdict, 'unknown');
      assert.equal(r.verdict === 'ok', expected, `${name} case ${i} (seed ${seed}): checker says ${r.verdict}, brute force ${expected ? 'ok' : 'violation'}\n${JSON.stringify(history)}`);
      tally[r.verdict === 'ok' ? 'ok' : 'violation']++;
    }
  }
  console.log(`brute force agreed: ${tally.ok} ok, ${tally.violation} violations`);
  assert.ok(tally.ok > 100 && tally.violation > 100, JSON.stringify(tally));
});
