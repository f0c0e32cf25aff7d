// Randomized config-layer runs on the simulator: every checker passes on the real protocol, a
// seed replays exactly, and the checkers catch protocol breakage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firstCaught } from './support.js';
import { runConfigSimulation } from '../../tools/sim/config-run.js';
import { type RunResult, formatResult } from '../../tools/sim/run-result.js';

/** Seeds this suite runs (the full 1000 is `npm run sim -- --layer config --seeds 1000`). SEED=n runs one. */
const seeds = process.env['SEED'] !== undefined
  ? [Number(process.env['SEED'])]
  : Array.from({ length: Number(process.env['SIM_SEEDS'] ?? 150) }, (_, i) => i + 1);

test('randomized config runs with crashes, pauses, partitions and breakpoints pass every checker', () => {
  const failed: RunResult[] = [];
  for (const seed of seeds) {
    const r = runConfigSimulation({ seed });
    if (!r.ok) failed.push(r);
  }
  const report = failed.map((r) => `${formatResult(r)}\n  ${r.failures.join('\n  ')}\n  replay: npm run sim -- --layer config --seed ${r.seed}`);
  assert.deepEqual(report, [], `failing seeds:\n${report.join('\n')}`);
});

test('a config seed replays the same run', () => {
  assert.equal(runConfigSimulation({ seed: 77 }).digest, runConfigSimulation({ seed: 77 }).digest);
});


test('a joiner put at the front of the list is caught by the view-step checker', () => {
  const caught = firstCaught('view step', 50, (seed) => runConfigSimulation({ seed, mutations: { joinerFirst: true } }));
  assert.ok(caught !== undefined);
  console.log(`caught at seed ${caught.seed}: ${caught.failure}`);
});

test('acceptors answering before their records are durable are caught in config runs too', () => {
  const caught = firstCaught('agreement', 500, (seed) => runConfigSimulation({ seed, mutations: { sendBeforeDurable: true } }));
  assert.ok(caught !== undefined);
  console.log(`caught at seed ${caught.seed}: ${caught.failure}`);
});

test('every config run forges Paxos messages that break the view rules, and the nodes refuse them all', () => {
  // Proves the forger does its work: the randomized runs above pass with its messages in them.
  const forged = seeds.slice(0, 30).reduce((sum, seed) => sum + (runConfigSimulation({ seed }).stats['forged'] ?? 0), 0);
  assert.ok(forged > 20, `only ${forged} forged messages in 30 runs`);
});

test('acceptors and learners that skip the view rule take the forged messages in, and the checkers catch it', () => {
  // The mutation half of the pair: without the checks, a forged value reaches a node's disk and its views.
  const categories = ['validity', 'view step', 'view agreement', 'agreement'];
  let caught: { seed: number; failure: string } | undefined;
  for (let seed = 1; seed <= 50 && caught === undefined; seed++) {
    const failure = runConfigSimulation({ seed, mutations: { skipValueRule: true } }).failures
      .find((f) => categories.some((c) => f.replace(/^t=[\d.]+ms /, '').startsWith(c)) && f.includes('stranger:'));
    if (failure !== undefined) caught = { seed, failure };
  }
  assert.ok(caught !== undefined, 'no seed in 1..50 let a forged value in');
  console.log(`caught at seed ${caught.seed}: ${caught.failure}`);
});
