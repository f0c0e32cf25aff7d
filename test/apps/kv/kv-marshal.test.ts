// The KV state's bytes: a round trip gives the same state (the history too, so watches continue), and a tampered state is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createKvApp, kvApp } from '../../../src/apps/kv/kv-app.js';
import type { Json } from '../../../src/rsm/app.js';
import type { KvState } from '../../../src/apps/kv/kv-state.js';
import { call, watch } from './kv-support.js';

function sample(): KvState {
  const s = kvApp.initialState();
  call(s, 'leaseGrant', { ttl: 10, id: 4 });
  call(s, 'leaseGrant', { ttl: 20 });
  call(s, 'put', { key: 'b', value: 'é', lease: 4 });
  call(s, 'put', { key: 'a', value: '1' });
  call(s, 'put', { key: 'a', value: '2', lease: 1 });
  call(s, 'txn', { success: [{ delete: { key: 'a' } }, { put: { key: 'c', value: '3' } }] });
  call(s, 'leaseKeepAlive', { id: 4 });
  call(s, 'put', { key: 'd', value: '4' });
  call(s, 'compact', { revision: 3 });
  return s;
}

const text = (s: KvState): string => Buffer.from(kvApp.marshalState(s)).toString();

test('a marshalled state reads back to the same bytes, answers and watch events', () => {
  const s = sample();
  const copy = kvApp.unmarshalState(kvApp.marshalState(s));
  assert.equal(text(copy), text(s));
  for (const [proc, args] of [['range', { key: '', prefix: true }], ['range', { key: '', prefix: true, revision: 4 }], ['leases', null], ['status', null], ['leaseTimeToLive', { id: 4, keys: true }]] as [string, Json][]) {
    assert.deepEqual(call(copy, proc, args), call(s, proc, args), proc);
  }
  assert.deepEqual(watch(copy, 3, { key: '', prefix: true, prevKv: true }), watch(s, 3, { key: '', prefix: true, prevKv: true }));
  // The copy goes on as the original does: same revisions, same lease ids, same deletions.
  for (const t of [s, copy]) {
    call(t, 'leaseGrant', { ttl: 5 });
    call(t, 'leaseRevoke', { id: 4 });
    call(t, 'put', { key: 'e', value: '5', lease: 2 });
  }
  assert.equal(text(copy), text(s));
});

test('equal states filled in another order marshal to equal bytes', () => {
  const a = kvApp.initialState();
  const b = kvApp.initialState();
  for (const s of [a, b]) {
    call(s, 'leaseGrant', { ttl: 5, id: 2 });
    call(s, 'leaseGrant', { ttl: 5, id: 1 });
  }
  call(a, 'txn', { success: [{ put: { key: 'x', value: '1', lease: 1 } }, { put: { key: 'y', value: '1', lease: 1 } }] });
  call(b, 'txn', { success: [{ put: { key: 'y', value: '1', lease: 1 } }, { put: { key: 'x', value: '1', lease: 1 } }] });
  call(a, 'compact', { revision: 2 });
  call(b, 'compact', { revision: 2 });
  assert.notDeepEqual([...a.kvs.keys()], [...b.kvs.keys()], 'the maps were filled in another order');
  assert.equal(text(a), text(b));
});

test('a tampered or malformed state is refused with a TypeError naming what is wrong', () => {
  const good = JSON.parse(text(sample())) as { [key: string]: Json };
  const refuse = (change: (v: { [key: string]: Json }) => void, why: RegExp) => {
    const v = JSON.parse(JSON.stringify(good)) as { [key: string]: Json };
    change(v);
    assert.throws(() => kvApp.unmarshalState(new TextEncoder().encode(JSON.stringify(v))), (e: unknown) => e instanceof TypeError && why.test(e.message), why.source);
  };
  const rows = (v: { [key: string]: Json }, field: string) => v[field] as Json[][];
  refuse((v) => { v['format'] = 'synod-kv/0'; }, /format/);
  refuse((v) => { v['revision'] = 2; }, /revision|history/);
  refuse((v) => { v['compactRevision'] = 99; }, /compactRevision/);
  refuse((v) => { rows(v, 'kvs').reverse(); }, /increasing key order/);
  refuse((v) => { rows(v, 'kvs')[0]![5] = 99; }, /lease 99/);
  refuse((v) => { rows(v, 'kvs').find((r) => r[0] === 'c')![1] = 'changed'; }, /last change/);
  refuse((v) => { rows(v, 'kvs')[0]![3] = 1000; }, /modRevision/);
  refuse((v) => { rows(v, 'leases')[0]![0] = 'x'; }, /lease id/);
  refuse((v) => { rows(v, 'history').shift(); }, /history/);
  refuse((v) => { (rows(v, 'history')[0]![1] as Json[]).length = 0; }, /no changes/);
  refuse((v) => { ((rows(v, 'history')[0]![1] as Json[][])[0]!)[0] = 'set'; }, /is not/);
  refuse((v) => { delete v['history']; }, /history must be an array/);
  // The txn's delete of a (revision 5) names a prev other than what the put of a at 4 made.
  refuse((v) => {
    const history = rows(v, 'history') as unknown as [number, Json[][]][];
    const del = history.flatMap(([, changes]) => changes).find((c) => c[0] === 'delete' && c[1] === 'a')!;
    (del[2] as Json[])[0] = 'not what it was';
  }, /prev is not what its previous change made/);
  assert.throws(() => kvApp.unmarshalState(new TextEncoder().encode('[]')), TypeError);
  // Within the bound it was kept to: a state past a smaller bound is refused by an app with it.
  const small = createKvApp({ maxHistoryBytes: 10 });
  assert.throws(() => small.unmarshalState(kvApp.marshalState(sample())), /maxHistoryBytes/);
});
