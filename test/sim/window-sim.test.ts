// Many calls in flight per client on the simulator: the append workload with four calls in flight
// on each RsmClient passes every checker (replica states, lost/duplicated appends, linearizability)
// under every fault; the client-table mutation that answers a retry from the wrong slot of the
// window is caught, and the same seed passes without it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runRsmSimulation } from '../../tools/sim/rsm-run.js';
import { firstCaught } from './support.js';

const seeds = [1, 2, 3, 4, 5, 6];

test('four calls in flight per client: every checker passes under faults', () => {
  for (const seed of seeds) {
    const r = runRsmSimulation({ seed, callsPerClient: 4 });
    assert.ok(r.ok, `seed ${seed}: ${r.failures.join('\n')}`);
  }
});

test('four calls in flight per client with a table that forgets clients cut off mid-call: every checker passes, and the expiry paths ran', () => {
  let expired = 0;
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    const r = runRsmSimulation({ seed, callsPerClient: 4, shortTable: true });
    assert.ok(r.ok, `seed ${seed}: ${r.failures.join('\n')}`);
    expired += r.stats['expired'] ?? 0;
  }
  console.log(`calls told their client had expired: ${expired}`);
  assert.ok(expired > 0, 'some call found its client forgotten');
});

test('wrong-window-slot (a retry answered with the outcome of the number below it) is caught', () => {
  const caught = firstCaught('', 20, (seed) => runRsmSimulation({ seed, callsPerClient: 4, mutations: { wrongWindowSlot: true } }));
  assert.ok(caught !== undefined, 'no seed in 20 caught it');
  console.log(`seed ${caught.seed}: ${caught.failure}`);
  const clean = runRsmSimulation({ seed: caught.seed, callsPerClient: 4 });
  assert.ok(clean.ok, `seed ${caught.seed} passes without the mutation: ${clean.failures.join('\n')}`);
});
