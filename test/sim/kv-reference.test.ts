// The KV run's reference history (tools/sim/kv-reference.ts) and its lease checker on states and
// histories built by hand: what they record, what they compare, and what they refuse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createKvApp } from '../../src/apps/kv/kv-app.js';
import type { KvState } from '../../src/apps/kv/kv-state.js';
import type { Json } from '../../src/rsm/app.js';
import { checkKvLeases } from '../../tools/sim/checkers/kv-lease-checker.js';
import { KvReference, watchEvent } from '../../tools/sim/kv-reference.js';
import { Simulation } from '../../tools/sim/simulation.js';
import type { KvInput, KvOutput } from '../../tools/lincheck/kv-model.js';
import type { Operation } from '../../tools/lincheck/types.js';

const app = createKvApp();
const call = (s: KvState, proc: string, args: Json, internal = false): Json => app.handlers[proc]!(s, args, { clientId: internal ? 'synod:leases@n1' : 'c1', internal });

/** A store at revision 5: a=1 (2), b=2 on lease 1 (3), a=3 (4), delete of lease 1's keys by its expiry (5). */
function store(): KvState {
  const s = app.initialState();
  call(s, 'leaseGrant', { ttl: 2 });
  call(s, 'put', { key: 'a', value: '1' });
  call(s, 'put', { key: 'b', value: '2', lease: 1 });
  call(s, 'put', { key: 'a', value: '3' });
  call(s, 'leaseExpire', { id: 1, renewals: 0 }, true);
  return s;
}

test('the reference records a committed state, gives each watcher its events, and fails on a revision that differs', () => {
  const sim = new Simulation({ seed: 1 });
  const ref = new KvReference(sim);
  ref.committed(store(), 'n1');
  assert.equal(ref.head, 5);
  assert.deepEqual(watchEvent({ key: 'b', prefix: false, prevKv: true, noPut: false, noDelete: false }, 5, ref.changes(5)!),
    { revision: 5, events: [{ type: 'delete', kv: { key: 'b', modRevision: 5 }, prevKv: { key: 'b', value: '2', createRevision: 3, modRevision: 3, version: 1, lease: 1 } }] });
  assert.equal(ref.feed().expected({ key: 'a', prefix: false, prevKv: false, noPut: true, noDelete: false }, 4), null);
  const other = app.initialState();
  call(other, 'put', { key: 'z', value: '9' });
  ref.committed(other, 'n2');
  assert.equal(sim.failures.length, 0, 'revisions at or below the head are compared only from the head on');
  ref.checkFinal(other, 'n2');
  assert.ok(sim.failures.some((f) => /kv reference: n2 is at revision 2/.test(f)) && sim.failures.some((f) => /revision 2 in n2 is/.test(f)), sim.failures.join('\n'));
});

test('a revision compacted before any committed state showed it is a failure, or a hole whose live records are rebuilt when the store compacts by itself', () => {
  const s = store();
  call(s, 'compact', { revision: 4 });
  const strict = new Simulation({ seed: 1 });
  new KvReference(strict).committed(s, 'n1');
  assert.ok(strict.failures.some((f) => /2\.\.4 were compacted before any primary's committed state showed them/.test(f)), strict.failures.join('\n'));
  const sim = new Simulation({ seed: 1 });
  const ref = new KvReference(sim, true);
  ref.committed(s, 'n1');
  assert.deepEqual([sim.failures.length, ref.holes, ref.head], [0, 3, 5]);
  assert.equal(ref.feed().expected({ key: '', prefix: true, prevKv: false, noPut: false, noDelete: false }, 3), undefined, 'a hole is not known');
  const seen: Array<[number, string[] | null]> = [];
  const final = ref.replay((r, before) => seen.push([r, before === null ? null : [...before].map(([k, v]) => `${k}=${v.value}`).sort()]));
  assert.deepEqual(seen, [[2, null], [3, null], [4, null], [5, ['a=3', 'b=2']]]);
  assert.deepEqual([...final!.keys()], ['a']);
});

test('the lease checker accepts an expiry a TTL after the last renewal sent, and refuses an earlier one and one that took another key', () => {
  const op = (id: number, client: string, input: KvInput, output: KvOutput | undefined, at: number): Operation<KvInput, KvOutput> => ({ id, client, input, output, call: at, ret: at + 1 });
  const history = (expireAt: number, renewals: number): Array<Operation<KvInput, KvOutput>> => [
    op(0, 'c1', { proc: 'leaseGrant', ttl: 2 }, { id: 1, ttl: 2 }, 0),
    op(1, 'c1', { proc: 'leaseKeepAlive', id: 1 }, { id: 1, ttl: 2 }, 500),
    op(2, 'synod:sessions', { proc: 'leaseExpire', id: 1, renewals }, { expired: true, deleted: 1, revision: 5 }, expireAt),
  ];
  const ref = (sim: Simulation): KvReference => {
    const r = new KvReference(sim);
    r.committed(store(), 'n1');
    return r;
  };
  const ok = new Simulation({ seed: 1 });
  const figures = checkKvLeases(ok, history(2500, 1), ref(ok), 'synod:sessions', 0);
  assert.deepEqual([ok.failures, figures.expiriesChecked, figures.endsChecked], [[], 1, 1]);
  const early = new Simulation({ seed: 1 });
  checkKvLeases(early, history(2400, 1), ref(early), 'synod:sessions', 0);
  assert.ok(early.failures.some((f) => /lease 1 \(ttl 2 s\) expired at 2400\.0 ms, 1900\.0 ms after its renewal 1 was sent/.test(f)), early.failures.join('\n'));
  const unsent = new Simulation({ seed: 1 });
  checkKvLeases(unsent, history(9000, 2), ref(unsent), 'synod:sessions', 0);
  assert.ok(unsent.failures.some((f) => /expired with 2 renewals, but its owner sent only 1 keepalives/.test(f)), unsent.failures.join('\n'));
  const wrongKeys = new Simulation({ seed: 1 });
  const h = history(2500, 1);
  h[2] = op(2, 'synod:sessions', { proc: 'leaseExpire', id: 1, renewals: 1 }, { expired: true, deleted: 1, revision: 4 }, 2500);
  checkKvLeases(wrongKeys, h, ref(wrongKeys), 'synod:sessions', 0);
  assert.ok(wrongKeys.failures.some((f) => /leaseExpire of lease 1 at revision 4 .* made \["put a"\], where its attached keys were \["b"\]/.test(f)), wrongKeys.failures.join('\n'));
});
