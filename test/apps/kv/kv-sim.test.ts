// The KV app inside synod's simulated cluster under faults: the framework's guard, read-only queries,
// state transfer (marshal/unmarshal) and the app-as-model linearizability check all hold. SEED=<n> replays.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Json } from '../../../src/rsm/app.js';
import { createKvApp } from '../../../src/apps/kv/kv-app.js';
import { simulateApp } from '../../../tools/testkit/index.js';

const seeds = process.env['SEED'] !== undefined ? [Number(process.env['SEED'])] : [11, 12, 13];
const keys = ['a', 'a/b', 'b', '__proto__', 'constructor'];

test('random KV calls on a simulated 3-node cluster under faults pass every check', () => {
  // A small history bound, so auto-compaction runs on every replica alike and is shipped in state transfers.
  const app = createKvApp({ maxHistoryBytes: 2000 });
  for (const seed of seeds) {
    const r = simulateApp({
      app,
      seed,
      clients: 3,
      nextCall: (rng, client): { proc: string; args: Json } => {
        const key = rng.pick(keys);
        switch (rng.int(8)) {
          case 0: case 1: return { proc: 'put', args: { key, value: `${client.id}:${rng.int(100)}`, prevKv: true } };
          case 2: return { proc: 'delete', args: { key, prefix: rng.chance(0.3) } };
          case 3: return { proc: 'txn', args: { compare: [{ key, target: 'version', op: '<', value: rng.int(4) }], success: [{ put: { key, value: 's' } }], failure: [{ range: { key, prefix: true } }] } };
          case 4: return { proc: 'range', args: { key: '', prefix: true, revision: rng.chance(0.5) ? 0 : rng.between(1, 40) } };
          case 5: return rng.chance(0.5) ? { proc: 'leaseGrant', args: { ttl: 10 } } : { proc: 'leaseRevoke', args: { id: rng.between(1, 4) } };
          case 6: return { proc: 'put', args: { key: `${key}/l`, value: 'x', lease: rng.between(1, 4) } };
          default: return rng.chance(0.5) ? { proc: 'compact', args: { revision: rng.between(1, 40) } } : { proc: 'status', args: null };
        }
      },
    });
    console.log(`kv sim: seed ${seed}, ${r.operations} operations`);
    assert.deepEqual(r.failures, [], `SEED=${seed}`);
    assert.ok(r.operations > 20, `SEED=${seed}: ${r.operations} operations`);
  }
});
