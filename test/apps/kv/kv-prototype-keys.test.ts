// Every Object.prototype name (`constructor`, `__proto__`, `toString`, …) is a key like any other: put, read, txn, lease, watch, bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kvApp } from '../../../src/apps/kv/kv-app.js';
import type { Json } from '../../../src/rsm/app.js';
import { call, prototypeKeys, refused, watch } from './kv-support.js';

test('every Object.prototype name works as a key, a prefix and a watched key, and survives the bytes', () => {
  const s = kvApp.initialState();
  call(s, 'leaseGrant', { ttl: 10, id: 1 });
  for (const key of prototypeKeys) {
    assert.deepEqual(call(s, 'get', { key }), { kvs: [], count: 0, more: false, revision: s.revision }, `${key} is absent at first`);
    call(s, 'put', { key, value: `v-${key}` });
    call(s, 'put', { key: `${key}/leased`, value: 'x', lease: 1 });
    const txn = call(s, 'txn', { compare: [{ key, target: 'version', op: '=', value: 1 }], success: [{ put: { key, value: `w-${key}` } }] }) as { succeeded: boolean };
    assert.equal(txn.succeeded, true, key);
  }
  for (const key of prototypeKeys) {
    const got = call(s, 'get', { key }) as { kvs: { value: string; version: number }[] };
    assert.deepEqual(got.kvs.map((kv) => [kv.value, kv.version]), [[`w-${key}`, 2]], key);
    const prefixed = call(s, 'range', { key, prefix: true, keysOnly: true }) as { kvs: { key: string }[] };
    assert.ok(prefixed.kvs.some((kv) => kv.key === `${key}/leased`), key);
    const read = watch(s, 0, { key });
    assert.equal(read.kind === 'events' && read.events.length, 2, `${key}: its put and the txn's`);
  }
  const copy = kvApp.unmarshalState(kvApp.marshalState(s));
  assert.equal(Buffer.from(kvApp.marshalState(copy)).toString(), Buffer.from(kvApp.marshalState(s)).toString());
  assert.equal((call(copy, 'status', null) as { keys: number }).keys, prototypeKeys.length * 2);
  assert.deepEqual(call(copy, 'leaseRevoke', { id: 1 }), { deleted: prototypeKeys.length, revision: s.revision + 1 });
  for (const key of prototypeKeys) assert.deepEqual(call(copy, 'delete', { key }), { revision: copy.revision, deleted: 1 });
  assert.equal((call(copy, 'status', null) as { keys: number }).keys, 0);
});

test('an Object.prototype name as an argument field is an unknown field, refused', () => {
  const s = kvApp.initialState();
  for (const name of prototypeKeys) {
    const args = JSON.parse(`{"key":"a","value":"b",${JSON.stringify(name)}:1}`) as Json;
    refused(s, 'put', args, 'bad-request');
  }
  refused(s, 'txn', JSON.parse('{"success":[{"__proto__":{"key":"a","value":"b"}}]}') as Json, 'bad-request');
});
