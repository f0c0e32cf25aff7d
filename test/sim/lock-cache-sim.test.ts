// Randomized runs of the whole stack with caching lock clients: the real LockClient on every
// simulated client machine, its callbacks over the simulated stream service, its server calls
// linearizing in the lock model, and no two local users of different clients holding a lock at
// once unless the later one has a higher fencing token; a seed replays exactly; a lock client
// that hands out a lock it is giving back is caught by that fencing check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LeaseFaultTally, firstCaught } from './support.js';
import { runLockCacheSimulation } from '../../tools/sim/lock-cache-run.js';
import { layerRunners } from '../../tools/sim/layers.js';
import { type RunResult, formatResult } from '../../tools/sim/run-result.js';

/** Seeds this suite runs (1000 is `npm run sim -- --layer lock-cache --seeds 1000`). SEED=n runs one. */
const seeds = process.env['SEED'] !== undefined
  ? [Number(process.env['SEED'])]
  : Array.from({ length: Number(process.env['SIM_SEEDS'] ?? 100) }, (_, i) => i + 1);


test('randomized runs of caching lock clients under every fault keep fencing safe and linearize in the lock model', () => {
  const failed: RunResult[] = [];
  const leaseFaults = new LeaseFaultTally();
  const keys = ['cycles', 'localGrants', 'serverGrants', 'streamsOpened', 'streamsAccepted', 'callbacks', 'clientCuts', 'operations', 'lincheckUnknown', 'internal:expire', 'internal:endDelay', 'lostHolds'] as const;
  const total = Object.fromEntries(keys.map((k) => [k, 0])) as Record<(typeof keys)[number], number>;
  let expiringRuns = 0;
  for (const seed of seeds) {
    const r = runLockCacheSimulation({ seed });
    if (!r.ok) failed.push(r);
    expiringRuns += (r.stats['internal:expire'] ?? 0) > 0 ? 1 : 0;
    leaseFaults.add(r);
    for (const k of keys) total[k] += r.stats[k] ?? 0;
  }
  const report = failed.map((r) => `${formatResult(r)}\n  ${r.failures.join('\n  ')}\n  replay: npm run sim -- --layer lock-cache --seed ${r.seed}`);
  assert.deepEqual(report, [], `failing seeds:\n${report.join('\n')}`);
  console.log(`${seeds.length} runs: ${total.cycles} local lock cycles, ${total.localGrants} local grants of which ${total.serverGrants} from the server, ` +
    `${total.callbacks} callbacks over ${total.streamsAccepted} accepted streams (${total.streamsOpened} opened), ` +
    `${total.clientCuts} clients cut off, ${total.operations} server calls checked; every run served again after its faults`);
  console.log(`${expiringRuns} runs expired sessions (${total['internal:expire']} expiries, ${total['internal:endDelay']} ends of lock-delay in the checked histories), ` +
    `${total.lostHolds} local holds ended by lost`);
  console.log(leaseFaults.describe());
  leaseFaults.check();
  assert.ok(total.cycles / seeds.length > 10, 'local users complete lock cycles');
  assert.ok(total.localGrants > total.serverGrants, 'some grants come from the cache, without a server call');
  assert.ok(total.callbacks > 0, 'revokes and retries reach the clients over their streams');
  if (seeds.length >= 20) {
    assert.ok(total.streamsAccepted > seeds.length, 'clients subscribe again after their streams end');
    assert.ok(total.clientCuts > 0, 'clients are cut off from replicas');
    assert.ok(expiringRuns > 0, 'sessions expire: the model explains expire and endDelay');
  }
  assert.equal(total.lincheckUnknown, 0, 'the linearizability check of a run never runs out of time');
});

test('a lock-cache seed replays the same run', () => {
  assert.equal(runLockCacheSimulation({ seed: 5 }).digest, runLockCacheSimulation({ seed: 5 }).digest);
});

test('a lock client that hands out a lock it is giving back is caught by the fencing check within 100 seeds', () => {
  const caught = firstCaught('fencing', 100, (seed) => runLockCacheSimulation({ seed, lockClientMutations: { handOutWhileReleasing: true } }));
  assert.ok(caught !== undefined);
  console.log(`caught at seed ${caught.seed}: ${caught.failure}`);
});

// The mutations, each caught on the lock-cache layer by the check it breaks (seeds found
// with `npm run sim -- --layer lock-cache --seeds 40 --mutate NAME`).

test('a lock client that hands out cached grants past its session is caught by the fencing check once sessions expire', () => {
  const caught = firstCaught('fencing', 20, (seed) => layerRunners['lock-cache']!({ seed, mutations: ['cache-past-session'] }));
  assert.ok(caught !== undefined, 'caught within 20 seeds (seed 7 first)');
  console.log(`caught at seed ${caught.seed}: ${caught.failure}`);
});

test('a primary that serves without its lease is caught by the lease checker on the lock-cache layer', () => {
  // Seed 44 first now (seed 4 before calls pipelined, invokes batched and messages streamed: the runs' timing changed).
  const caught = firstCaught('lease', 80, (seed) => layerRunners['lock-cache']!({ seed, mutations: ['serve-without-lease'] }));
  assert.ok(caught !== undefined, 'caught within 80 seeds (seed 44 first)');
  console.log(`caught at seed ${caught.seed}: ${caught.failure}`);
});
