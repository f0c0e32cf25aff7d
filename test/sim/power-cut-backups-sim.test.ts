// The power-cut-backups fault (a primary's backups on slow disks lose power right after it
// answered, and it is kept out until a view forms without it) is survived by a correct synod,
// and catches a backup that acknowledges a batch before the batch's fsync: the acknowledged
// request is lost (RSM checker) or its index reused (real-time order, linearizability).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runRsmSimulation } from '../../tools/sim/rsm-run.js';
import { firstCaught } from './support.js';

const cleanSeeds = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

test('with the power-cut-backups fault every checker passes, and the fault cuts in some runs', () => {
  let cuts = 0;
  for (const seed of cleanSeeds) {
    const r = runRsmSimulation({ seed, powerCutBackups: true });
    assert.ok(r.ok, `seed ${seed}: ${r.failures.join('\n')}`);
    cuts += r.stats['backupPowerCuts'] ?? 0;
  }
  console.log(`${cuts} power cuts of the backups in ${cleanSeeds.length} runs`);
  assert.ok(cuts >= 1, `no power cut of the backups in ${cleanSeeds.length} runs`);
});

test('ack-batch-before-fsync is caught under the power-cut-backups fault; the same seed passes without the mutation', () => {
  const mutations = { ackBatchBeforeFsync: true };
  const caught = firstCaught('', 30, (seed) => runRsmSimulation({ seed, powerCutBackups: true, mutations }));
  assert.ok(caught !== undefined, 'no seed in 30 caught it');
  console.log(`seed ${caught.seed}: ${caught.failure}`);
  assert.match(caught.failure, /acknowledged request lost|real-time order|linearizability/);
  const clean = runRsmSimulation({ seed: caught.seed, powerCutBackups: true });
  assert.ok(clean.ok, `seed ${caught.seed} passes without the mutation: ${clean.failures.join('\n')}`);
  assert.ok((clean.stats['backupPowerCuts'] ?? 0) >= 1, `seed ${caught.seed} cut the backups' power without the mutation too`);
  // For the record: without the fault the mutation has passed every seed tried (1–353 before it existed).
  const without = runRsmSimulation({ seed: caught.seed, mutations });
  console.log(`seed ${caught.seed} without the fault, with the mutation: ${without.ok ? 'pass' : without.failures[0]}`);
});

test('a run with the power-cut-backups fault replays exactly from its seed', () => {
  const a = runRsmSimulation({ seed: 5, powerCutBackups: true, mutations: { ackBatchBeforeFsync: true } });
  const b = runRsmSimulation({ seed: 5, powerCutBackups: true, mutations: { ackBatchBeforeFsync: true } });
  assert.equal(a.digest, b.digest);
  assert.deepEqual(a.failures, b.failures);
});
