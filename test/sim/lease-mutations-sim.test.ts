// The lease checker bites on the RSM simulation: each lease mutation, and clocks drifting far
// past the bound the lease assumes, make a primary act while another serves; within the bound
// the same seed passes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runRsmSimulation } from '../../tools/sim/rsm-run.js';
import { firstCaught } from './support.js';

test('serve-without-lease is caught by the lease checker', () => {
  const caught = firstCaught('lease:', 200, (seed) => runRsmSimulation({ seed, mutations: { serveWithoutLease: true } }));
  assert.ok(caught !== undefined, 'no seed in 200 caught it');
  console.log(`seed ${caught.seed}: ${caught.failure}`);
  assert.ok(runRsmSimulation({ seed: caught.seed }).ok, `seed ${caught.seed} passes without the mutation`);
});

test('new-primary-without-waiting is caught by the lease checker', () => {
  const caught = firstCaught('lease:', 200, (seed) => runRsmSimulation({ seed, mutations: { newPrimaryWithoutWaiting: true } }));
  assert.ok(caught !== undefined, 'no seed in 200 caught it');
  console.log(`seed ${caught.seed}: ${caught.failure}`);
  assert.match(caught.failure, /started serving view \d+ .* while \S+ .* still believed it held its lease/);
  assert.ok(runRsmSimulation({ seed: caught.seed }).ok, `seed ${caught.seed} passes without the mutation`);
});

test('clocks drifting 20 times past the bound break the lease on some seed; the same seed within the bound passes', () => {
  const caught = firstCaught('lease:', 200, (seed) => runRsmSimulation({ seed, clockDriftX: 20 }));
  assert.ok(caught !== undefined, 'no seed in 200 caught it');
  console.log(`seed ${caught.seed} at 20x the drift bound: ${caught.failure}`);
  const within = runRsmSimulation({ seed: caught.seed, clockDriftX: 1 });
  assert.ok(within.ok, within.failures.join('\n'));
});
