// A user's key-value app, written only against `synod` and `synod/testkit`, passes the testkit
// under every fault, checked against the app itself and against a model of its own; a seed
// replays exactly; the many-seeds helper reports as it goes; a mistake in the test is named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type SimulationResult, TestkitUsageError, simulateApp, simulateSeeds } from '../../tools/testkit/index.js';
import { globalTicketApp } from './broken-apps.js';
import { kvApp, kvModel, nextKvCall } from './kv-app.js';

/** Seeds these tests run; SEED=n runs one. */
const seeds = process.env['SEED'] !== undefined ? [Number(process.env['SEED'])] : Array.from({ length: 8 }, (_, i) => i + 1);

function failuresOf(results: readonly SimulationResult[]): string[] {
  return results.filter((r) => !r.ok).map((r) => `seed ${r.seed}:\n  ${r.failures.join('\n  ')}\n  replay: SEED=${r.seed}`);
}

const sum = (results: readonly SimulationResult[], stat: string): number => results.reduce((n, r) => n + (r.stats[stat] ?? 0), 0);

test('a key-value app passes every check under every fault, its history checked against the app itself', () => {
  const results = seeds.map((seed) => simulateApp({ app: kvApp, seed, nextCall: nextKvCall }));
  assert.deepEqual(failuresOf(results), []);
  console.log(`seeds ${seeds.join(' ')}: ${sum(results, 'operations')} operations checked, ${sum(results, 'faults')} faults, ` +
    `${sum(results, 'unknown')} unknown outcomes`);
  for (const r of results) assert.equal(r.lincheck, 'ok', `seed ${r.seed}: the history was checked to the end`);
  if (seeds.length > 1) {
    assert.ok(sum(results, 'faults') > 0, 'faults were injected');
    assert.ok(sum(results, 'acked') > 25 * seeds.length, 'the clients did real work (fewer with durable writes, power cuts and a quarter of chaos runs: about 48 a seed)');
    assert.ok(sum(results, 'appErrors') > 0, 'app errors (version-mismatch, bad-key) are outcomes the model gives too');
  }
});

test('with a model of its own, partitioned by key, the history and the final state are checked key by key', () => {
  const results = seeds.map((seed) => simulateApp({ app: kvApp, model: kvModel, seed, nextCall: nextKvCall }));
  assert.deepEqual(failuresOf(results), []);
  for (const r of results) assert.equal(r.lincheck, 'ok');
});

test('a seed replays the same run: the same digest twice (with its trace kept or not), another seed another digest', () => {
  const run = (seed: number, keepTrace = false): SimulationResult => simulateApp({ app: kvApp, seed, nextCall: nextKvCall, keepTrace });
  const [a, b, c] = [run(11), run(11, true), run(12)];
  assert.equal(a.digest, b.digest);
  assert.equal(a.operations, b.operations);
  assert.notEqual(a.digest, c.digest);
  assert.equal(a.trace, undefined);
  assert.ok(b.trace?.some((line) => /^0\.000 testkit run seed=11 nodes=\d clients=\d/.test(line)), 'the trace names the run');
});

test('simulateSeeds prints progress, every failing seed with its failures, and a summary naming the failing seeds', () => {
  const good: string[] = [];
  const passing = simulateSeeds({ app: kvApp, nextCall: nextKvCall, seeds: 4, log: (l) => good.push(l) });
  assert.equal(passing.ok, true);
  assert.equal(passing.passed, 4);
  assert.ok(good.some((l) => /^testkit: 4\/4 seeds, 4 passed, 0 failed/.test(l)), good.join('\n'));
  assert.match(good.at(-1)!, /^testkit: 4 passed, 0 failed; \d+ operations checked$/);

  const bad: string[] = [];
  const failing = simulateSeeds({
    app: globalTicketApp,
    nextCall: (rng) => ({ proc: rng.chance(0.7) ? 'take' : 'mine', args: { who: rng.pick(['ann', 'bob']) } }),
    seeds: [1, 2],
    log: (l) => bad.push(l),
  });
  assert.equal(failing.ok, false);
  assert.deepEqual(failing.failingSeeds, failing.failed.map((r) => r.seed));
  assert.ok(failing.failingSeeds.length > 0);
  assert.ok(bad.some((l) => /^seed \d+ FAIL digest=/.test(l)), 'a failing seed is printed when it fails');
  assert.ok(bad.some((l) => l.startsWith('  replay: simulateApp({ …, seed: ')));
  assert.match(bad.at(-1)!, new RegExp(`failing seeds: ${failing.failingSeeds.join(' ')}$`));
});

test('faults none injects no fault; nodes and clients fix the shape of the cluster', () => {
  const r = simulateApp({ app: kvApp, seed: 3, nextCall: nextKvCall, faults: 'none', nodes: 3, clients: 2 });
  assert.deepEqual(r.failures, []);
  assert.equal(r.stats['faults'], 0);
  assert.equal(r.stats['breakpoints'], 0);
  assert.equal(r.stats['nodes'], 3);
  assert.equal(r.stats['clients'], 2);
  const withFaults = simulateApp({ app: kvApp, seed: 3, nextCall: nextKvCall, nodes: 5, clients: 1 });
  assert.deepEqual(withFaults.failures, []);
  assert.equal(withFaults.stats['nodes'], 5);
  assert.ok((withFaults.stats['faults'] ?? 0) > 0);
});

test('a mistake in the test is a TestkitUsageError that names it', () => {
  assert.throws(() => simulateApp({ app: kvApp, seed: 1, nextCall: () => ({ proc: 'gte', args: null }) }),
    (e: unknown) => e instanceof TestkitUsageError && /procedure "gte", which the app does not have \(it has: put, get, delete, cas\)/.test(e.message));
  assert.throws(() => simulateApp({ app: kvApp, seed: 1, nodes: 9, nextCall: nextKvCall }),
    (e: unknown) => e instanceof TestkitUsageError && /nodes must be an integer in \[1, 7\], got 9/.test(e.message));
  assert.throws(() => simulateApp({ app: kvApp, seed: -1, nextCall: nextKvCall }), TestkitUsageError);
  assert.throws(() => simulateApp({ app: kvApp, seed: 1, nextCall: () => { throw new Error('no more ideas'); } }),
    (e: unknown) => e instanceof TestkitUsageError && /nextCall threw for c\d: no more ideas/.test(e.message));
});
