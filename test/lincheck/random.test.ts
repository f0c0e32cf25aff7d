// Randomised: histories of the real apps under concurrent clients are linearizable; with one
// output broken beyond any order they are not, and the checker names the broken part.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkLinearizable } from '../../tools/lincheck/check.js';
import {
  type Tampered, generateAppendHistory, generateCounterHistory, generateLockHistory, tamperAppendHistory, tamperCounterHistory, tamperLockHistory,
} from '../../tools/lincheck/generate.js';
import { appendModel, counterModel, lockModel } from '../../tools/lincheck/models.js';
import type { History, Model } from '../../tools/lincheck/types.js';
import { Prng } from '../../tools/sim/prng.js';
import { testSeed } from './support.js';

/** Histories per model per run. */
const runs = 12;
const operations = 300;

function expectOkThenCaught<S, I, O>(name: string, seed: number, history: History<I, O>, model: Model<S, I, O>, tampered: Tampered<I, O>): void {
  const r = checkLinearizable(history, model);
  assert.equal(r.verdict, 'ok', `${name}, seed ${seed}: the true history is linearizable, yet: ${r.verdict === 'violation' ? r.explanation : r.verdict}`);
  const t = checkLinearizable(tampered.history, model);
  assert.equal(t.verdict, 'violation', `${name}, seed ${seed}: op ${tampered.opId} was broken, yet the verdict is ${t.verdict}`);
  assert.ok(t.verdict === 'violation');
  const parts = model.partition ? model.partition(tampered.history) : [tampered.history];
  assert.ok(parts[t.part]!.some((op) => op.id === tampered.opId), `${name}, seed ${seed}: the violation is in the part of op ${tampered.opId}`);
}

test('seeded histories of the counters, the list and the lock service are linearizable, and one broken output is caught', () => {
  // Proves the checker on realistic concurrency (8 clients, timeouts) and that it fails when it must.
  const base = testSeed('lincheck random histories');
  const prng = new Prng(base);
  for (let i = 0; i < runs; i++) {
    const seed = prng.int(2 ** 31);
    const options = { seed, operations, clients: prng.between(2, 8), unknownRate: prng.pick([0, 0.02, 0.05]), lateRate: prng.pick([0, 0.5]) };
    const counter = generateCounterHistory({ ...options, keys: prng.between(1, 4) });
    expectOkThenCaught('counters', seed, counter, counterModel, tamperCounterHistory(counter, seed));
    const list = generateAppendHistory(options);
    expectOkThenCaught('append list', seed, list, appendModel, tamperAppendHistory(list, seed));
    const locks = generateLockHistory({ ...options, locks: prng.between(1, 4) });
    expectOkThenCaught('locks', seed, locks, lockModel, tamperLockHistory(locks, seed));
  }
});

test('histories with many timed-out calls, some taking effect late, are still found linearizable', () => {
  // Proves the first pass (and the second, when a late effect is needed) on one key or lock with
  // 8 clients and 10% unknown outcomes, where backing out of dead ends over every old unknown
  // operation would take far longer than the budget.
  const base = testSeed('lincheck many unknown outcomes');
  const prng = new Prng(base);
  for (let i = 0; i < 4; i++) {
    const options = { seed: prng.int(2 ** 31), operations: 400, clients: 8, unknownRate: 0.1, lateRate: prng.pick([0, 0.2]) };
    const cases: Array<[string, () => ReturnType<typeof checkLinearizable>]> = [
      ['counters', () => checkLinearizable(generateCounterHistory({ ...options, keys: 1 }), counterModel, { timeBudgetMs: 10_000 })],
      ['append list', () => checkLinearizable(generateAppendHistory(options), appendModel, { timeBudgetMs: 10_000 })],
      ['locks', () => checkLinearizable(generateLockHistory({ ...options, locks: 1 }), lockModel, { timeBudgetMs: 10_000 })],
    ];
    for (const [name, check] of cases) assert.equal(check().verdict, 'ok', `${name}, seed ${options.seed}`);
  }
});

test('a generated history replays exactly from its seed, with clients that overlap and outcomes left unknown', () => {
  // Proves the generator is deterministic and makes what the checker needs to be tested on.
  const a = generateCounterHistory({ seed: 42, operations: 300, clients: 6, keys: 2, unknownRate: 0.1 });
  const b = generateCounterHistory({ seed: 42, operations: 300, clients: 6, keys: 2, unknownRate: 0.1 });
  assert.deepEqual(a, b);
  assert.equal(a.length, 300);
  assert.deepEqual(a.map((op) => op.id), a.map((_, i) => i));
  assert.ok(a.some((op) => op.output === undefined), 'some outcomes are unknown');
  const overlapping = a.filter((op, i) => op.ret !== undefined && a.slice(i + 1).some((o) => o.call < op.ret!));
  assert.ok(overlapping.length > 50, 'operations of different clients overlap');
  for (const client of new Set(a.map((op) => op.client))) {
    const mine = a.filter((op) => op.client === client);
    for (let k = 1; k < mine.length; k++) assert.ok(mine[k]!.call >= (mine[k - 1]!.ret ?? mine[k - 1]!.call), `${client} runs one operation at a time`);
  }
});
