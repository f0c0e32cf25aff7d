// Randomized Paxos runs on the simulator: every checker passes on the real protocol, a seed
// replays exactly, and each test-only mutation is caught (the checkers bite).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firstCaught } from './support.js';
import { runPaxosSimulation } from '../../tools/sim/paxos-run.js';
import type { RunResult } from '../../tools/sim/run-result.js';
import { formatResult } from '../../tools/sim/run-result.js';
import { Simulation } from '../../tools/sim/simulation.js';
import { PaxosLayer } from '../../src/paxos/paxos-layer.js';

/** Seeds this suite runs (the full 1000 is `npm run sim -- --layer paxos --seeds 1000`). SEED=n runs one. */
const seeds = process.env['SEED'] !== undefined
  ? [Number(process.env['SEED'])]
  : Array.from({ length: Number(process.env['SIM_SEEDS'] ?? 150) }, (_, i) => i + 1);

test('randomized Paxos runs with loss, partitions, pauses and crashes pass every checker', () => {
  const failed: RunResult[] = [];
  let decided = 0;
  for (const seed of seeds) {
    const r = runPaxosSimulation({ seed });
    decided += r.stats['decided'] ?? 0;
    if (!r.ok) failed.push(r);
  }
  const report = failed.map((r) => `${formatResult(r)}\n  ${r.failures.join('\n  ')}\n  replay: npm run sim -- --layer paxos --seed ${r.seed}`);
  assert.deepEqual(report, [], `failing seeds:\n${report.join('\n')}`);
  // The runs do real work: on average well over ten instances decided per run.
  assert.ok(decided / seeds.length > 10, `only ${decided / seeds.length} instances decided per run`);
});

test('the same seed replays the same run, and another seed does not', () => {
  const a = runPaxosSimulation({ seed: 4242 });
  const b = runPaxosSimulation({ seed: 4242 });
  const c = runPaxosSimulation({ seed: 4243 });
  assert.equal(a.digest, b.digest);
  assert.deepEqual(a.stats, b.stats);
  assert.notEqual(a.digest, c.digest);
});


test('acceptors that answer before their records are durable are caught as an agreement violation within 1000 seeds', () => {
  const caught = firstCaught('agreement', 1000, (seed) => runPaxosSimulation({ seed, mutations: { sendBeforeDurable: true } }));
  assert.ok(caught !== undefined, 'no seed in 1..1000 caught the mutation');
  console.log(`caught at seed ${caught.seed}: ${caught.failure}`);
});

test('acceptors that skip persisting promises are caught breaking a promise after a crash within 1000 seeds', () => {
  const caught = firstCaught('promise broken', 1000, (seed) => runPaxosSimulation({ seed, mutations: { skipPromisePersist: true } }));
  assert.ok(caught !== undefined, 'no seed in 1..1000 caught the mutation');
  console.log(`caught at seed ${caught.seed}: ${caught.failure}`);
});

test('a proposer that proposes a value nobody asked for is caught by the validity checker', () => {
  const caught = firstCaught('validity', 100, (seed) => runPaxosSimulation({ seed, mutations: { forgeOwnValue: true } }));
  assert.ok(caught !== undefined);
  console.log(`caught at seed ${caught.seed}: ${caught.failure}`);
});

test('learners that never catch up are caught by the liveness checker', () => {
  const caught = firstCaught('liveness', 300, (seed) => runPaxosSimulation({ seed, mutations: { noCatchUp: true } }));
  assert.ok(caught !== undefined);
  console.log(`caught at seed ${caught.seed}: ${caught.failure}`);
});

test('a disk that acknowledges fsync without writing is caught by the durability checker', () => {
  const caught = firstCaught('durability', 100, (seed) => runPaxosSimulation({ seed, lyingDisk: true }));
  assert.ok(caught !== undefined);
  console.log(`caught at seed ${caught.seed}: ${caught.failure}`);
});

test('Paxos keeps deciding when every fsync takes 300 ms (longer than the base phase timeout)', () => {
  // Proves the phase timeout adapts: a fixed 250 ms timeout never let a round finish on such a disk.
  const sim = new Simulation({ seed: 9, disk: { minSyncMs: 300, maxSyncMs: 300, slowRate: 0, slowSyncMs: 300 } });
  const ids = ['n1', 'n2', 'n3'];
  const decided = new Map<string, number>();
  const nodes = ids.map((id) => sim.addNode(id, (world) => {
    const layer = new PaxosLayer(world, { first: 'n1', listener: { onDecided: (i) => decided.set(id, i) } });
    world.executor.submit(() => layer.start());
    return { layer };
  }));
  for (const n of nodes) n.start();
  const propose = (from: number, instance: number, value: string[]): void => {
    const node = nodes[from]!;
    node.world!.executor.submit(() => void node.process!.layer.propose(instance, value));
  };
  propose(0, 2, ids);
  sim.runUntil(30_000, () => ids.every((id) => (decided.get(id) ?? 0) >= 2));
  propose(1, 3, ids);
  sim.runUntil(90_000, () => ids.every((id) => (decided.get(id) ?? 0) >= 3));
  assert.deepEqual(ids.map((id) => decided.get(id)), [3, 3, 3], `decided: ${JSON.stringify([...decided])} at ${sim.now} ms`);
  assert.deepEqual(sim.failures, []);
});
