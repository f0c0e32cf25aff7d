// Randomized runs of the whole stack with the lock service: every client history linearizes in
// the lock model on the real protocol, every client's attempt to release, give back or expire
// another client's owner is refused, a seed replays exactly, broken RSMs are caught by the
// history checker alone, and a service that lets a client name another's owner by the owners check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LeaseFaultTally, firstCaught } from './support.js';
import { runLockSimulation } from '../../tools/sim/lock-run.js';
import { type RunResult, formatResult } from '../../tools/sim/run-result.js';

/** Seeds this suite runs (1000 is `npm run sim -- --layer lock --seeds 1000`). SEED=n runs one. */
const seeds = process.env['SEED'] !== undefined
  ? [Number(process.env['SEED'])]
  : Array.from({ length: Number(process.env['SIM_SEEDS'] ?? 100) }, (_, i) => i + 1);


test('randomized lock-service runs with contending clients and every fault linearize in the lock model', () => {
  const failed: RunResult[] = [];
  const leaseFaults = new LeaseFaultTally();
  const total = { granted: 0, queued: 0, cycles: 0, unknown: 0, operations: 0, lincheckUnknown: 0, thefts: 0, theftsRefused: 0 };
  for (const seed of seeds) {
    const r = runLockSimulation({ seed });
    if (!r.ok) failed.push(r);
    leaseFaults.add(r);
    for (const k of ['granted', 'queued', 'cycles', 'unknown', 'operations', 'lincheckUnknown', 'thefts', 'theftsRefused'] as const) total[k] += r.stats[k] ?? 0;
  }
  const report = failed.map((r) => `${formatResult(r)}\n  ${r.failures.join('\n  ')}\n  replay: npm run sim -- --layer lock --seed ${r.seed}`);
  assert.deepEqual(report, [], `failing seeds:\n${report.join('\n')}`);
  console.log(`${seeds.length} runs, ${total.granted} grants, ${total.cycles} lock cycles, ${total.queued} queued acquires, ` +
    `${total.unknown} calls with unknown outcome, ${total.operations} operations checked, ${total.theftsRefused} of ${total.thefts} theft attempts refused ` +
    '(the rest: outcome unknown); every run served again after its faults (a refusal fails it)');
  console.log(leaseFaults.describe());
  leaseFaults.check();
  assert.ok(total.granted / seeds.length > 10, 'the runs do real work');
  assert.ok(total.cycles / seeds.length > 10, 'clients release what they were granted');
  if (seeds.length >= 20) {
    assert.ok(total.queued > 0, 'clients contend: some acquires are queued');
    assert.ok(total.unknown > 0, 'some calls end with an unknown outcome, which the clients settle');
    assert.ok(total.theftsRefused > 10, 'clients try to take each other\'s locks, and are refused');
  }
  assert.ok(total.operations > total.granted, 'every run checks its client history');
  assert.equal(total.lincheckUnknown, 0, 'the linearizability check of a run never runs out of time');
});

test('a lock-service seed replays the same run', () => {
  assert.equal(runLockSimulation({ seed: 5 }).digest, runLockSimulation({ seed: 5 }).digest);
});

test('a lock service that lets a client name another client\'s owner is caught by the owners check within 100 seeds', () => {
  // The mutation skips the owner-taken refusal: a thief's release (with the token stat shows) or giveBack goes through.
  const caught = firstCaught('owners', 100, (seed) => runLockSimulation({ seed, lockAppMutations: { skipOwnerCheck: true } }));
  assert.ok(caught !== undefined);
  assert.match(caught.failure, /naming another client's owner was executed/);
  console.log(`caught at seed ${caught.seed}: ${caught.failure}`);
});

test('switching the client table off is caught by the lock history checker within 500 seeds', () => {
  const caught = firstCaught('linearizability', 500, (seed) => runLockSimulation({ seed, mutations: { noClientTable: true } }));
  assert.ok(caught !== undefined);
  console.log(`caught at seed ${caught.seed}: ${caught.failure}`);
});

test('a primary that answers before all backups acknowledged is caught by the lock history checker within 500 seeds', () => {
  const caught = firstCaught('linearizability', 500, (seed) => runLockSimulation({ seed, mutations: { replyBeforeAllAcks: true } }));
  assert.ok(caught !== undefined);
  console.log(`caught at seed ${caught.seed}: ${caught.failure}`);
});
