// The fuzzer's real-process run, short: one batch of every safe family against three real
// `synod lock-server` processes through real gRPC clients (protobuf bytes, broken ones too),
// and the whole oracle after it; then one against three `synod node --app kv` (with the lease
// keeper and the watch feed). The longer run is the script: `npm run fuzz -- --real --seeds N`.
// On real processes a seed replays the same inputs, not the same timing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { safeFamilies } from '../../tools/fuzz/case-model.js';
import { runRealBatches } from '../../tools/fuzz/real-target.js';
import type { BatchResult } from '../../tools/fuzz/sim-target.js';

const seed = Number(process.env['FUZZ_SEED'] ?? process.env['SEED'] ?? 1);
const cases = 80;

test(`a real batch (seed ${seed}, ${cases} cases) leaves every node up, the replicas equal, refusals typed and clients served`, { timeout: 120_000 }, async () => {
  const results: BatchResult[] = [];
  await runRealBatches({ seeds: [seed], cases, families: safeFamilies, keep: false }, (r) => results.push(r));
  assert.equal(results.length, 1);
  const r = results[0]!;
  assert.ok(r.ok, `seed ${seed} (replay: npm run fuzz -- --real --seed ${seed} --cases ${cases}):\n${r.findings.join('\n')}`);
  assert.equal(r.stats['cases'], cases);
  // Cases reached the nodes and were judged: some refused at the edge, some answered, some streams opened.
  assert.ok(Number(r.stats['refused'] ?? 0) > 0 && Number(r.stats['answered'] ?? 0) > 0, JSON.stringify(r.stats));
  assert.ok(Number(r.stats['good'] ?? 0) > 0, 'the well-behaved clients were served');
});

const kvCases = 60;

test(`a real KV batch (seed ${seed}, ${kvCases} cases: hostile KV arguments and feed subscriptions) leaves every node up, refusals typed and the register right`, { timeout: 120_000 }, async () => {
  const results: BatchResult[] = [];
  await runRealBatches({ seeds: [seed], cases: kvCases, families: safeFamilies, keep: false, app: 'kv' }, (r) => results.push(r));
  const r = results[0]!;
  assert.ok(r.ok, `seed ${seed} (replay: npm run fuzz -- --real --app kv --seed ${seed} --cases ${kvCases}):\n${r.findings.join('\n')}`);
  assert.equal(r.stats['app'], 'kv');
  assert.ok(Number(r.stats['answered'] ?? 0) > 0 && Number(r.stats['stream'] ?? 0) > 0, `calls answered and feed streams heard: ${JSON.stringify(r.stats)}`);
  assert.ok(Number(r.stats['good'] ?? 0) > 0, 'the well-behaved clients were served');
});
