// Transactions as etcd's: compares on every target, then/else branches, one revision, and the refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kvApp, kvLimits } from '../../../src/apps/kv/kv-app.js';
import type { Json } from '../../../src/rsm/app.js';
import { call, refused, withPuts } from './kv-support.js';

test('a txn whose compares hold runs success, else failure; its writes are one revision, ranges see earlier writes', () => {
  const s = withPuts([['a', '1'], ['b', '2']]); // a@2, b@3
  const txn = (compare: Json[]) => call(s, 'txn', {
    compare,
    success: [{ put: { key: 'a', value: 'new' } }, { delete: { key: 'b', prevKv: true } }, { range: { key: '', prefix: true } }],
    failure: [{ range: { key: 'a' } }],
  }) as { succeeded: boolean; revision: number; responses: Json[] };
  const failed = txn([{ key: 'a', target: 'value', op: '=', value: '0' }]);
  assert.equal(failed.succeeded, false);
  assert.equal(failed.revision, 3, 'a read-only branch makes no revision');
  assert.deepEqual(failed.responses, [{ range: { kvs: [{ key: 'a', value: '1', createRevision: 2, modRevision: 2, version: 1, lease: 0 }], count: 1, more: false } }]);
  const ok = txn([{ key: 'a', target: 'value', op: '=', value: '1' }, { key: 'b', target: 'modRevision', op: '<', value: 4 }]);
  assert.deepEqual(ok, {
    succeeded: true, revision: 4,
    responses: [
      { put: {} },
      { delete: { deleted: 1, prevKvs: [{ key: 'b', value: '2', createRevision: 3, modRevision: 3, version: 1, lease: 0 }] } },
      { range: { kvs: [{ key: 'a', value: 'new', createRevision: 2, modRevision: 4, version: 2, lease: 0 }], count: 1, more: false } },
    ],
  });
  assert.equal((call(s, 'status', null) as { historyRevisions: number }).historyRevisions, 3, 'revisions 2, 3 and the txn\'s 4');
});

test('compares on every target and op; a missing key has zeros and fails every value compare', () => {
  const s = withPuts([['k', 'm']]); // k: create 2, mod 2, version 1
  call(s, 'put', { key: 'k', value: 'm' }); // mod 3, version 2
  const holds = (c: Json): boolean => (call(s, 'txn', { compare: [c] }) as { succeeded: boolean }).succeeded;
  const cases: [Json, boolean][] = [
    [{ key: 'k', target: 'value', op: '=', value: 'm' }, true],
    [{ key: 'k', target: 'value', op: '<', value: 'n' }, true],
    [{ key: 'k', target: 'value', op: '>', value: 'n' }, false],
    [{ key: 'k', target: 'value', op: '!=', value: 'm' }, false],
    [{ key: 'k', target: 'version', op: '=', value: 2 }, true],
    [{ key: 'k', target: 'createRevision', op: '=', value: 2 }, true],
    [{ key: 'k', target: 'modRevision', op: '>', value: 2 }, true],
    [{ key: 'k', target: 'lease', op: '=', value: 0 }, true],
    [{ key: 'x', target: 'version', op: '=', value: 0 }, true],
    [{ key: 'x', target: 'createRevision', op: '<', value: 1 }, true],
    [{ key: 'x', target: 'value', op: '=', value: '' }, false],
    [{ key: 'x', target: 'value', op: '!=', value: 'z' }, false],
  ];
  for (const [c, expected] of cases) assert.equal(holds(c), expected, JSON.stringify(c));
  assert.equal((call(s, 'txn', {}) as { succeeded: boolean }).succeeded, true, 'no compares: success');
});

test('txn refusals: too many ops, a key written twice, bad compares and ops, a missing lease; none changes anything', () => {
  const s = withPuts([['a', '1']]);
  const puts = (n: number) => Array.from({ length: n }, (_, i) => ({ put: { key: `k${i}`, value: 'v' } }));
  assert.equal((call(s, 'txn', { success: puts(kvLimits.maxTxnOps) }) as { revision: number }).revision, 3, 'maxTxnOps puts are one revision');
  refused(s, 'txn', { success: puts(kvLimits.maxTxnOps + 1) }, 'too-many-ops');
  refused(s, 'txn', { failure: puts(kvLimits.maxTxnOps + 1) }, 'too-many-ops');
  refused(s, 'txn', { compare: Array(kvLimits.maxTxnOps + 1).fill({ key: 'a', target: 'version', op: '=', value: 1 }) }, 'too-many-ops');
  refused(s, 'txn', { success: [{ put: { key: 'x', value: '1' } }, { put: { key: 'x', value: '2' } }] }, 'duplicate-key');
  refused(s, 'txn', { success: [{ put: { key: 'x/1', value: '1' } }, { delete: { key: 'x/', prefix: true } }] }, 'duplicate-key');
  refused(s, 'txn', { failure: [{ delete: { key: 'w', rangeEnd: 'y' } }, { put: { key: 'x', value: '1' } }] }, 'duplicate-key', undefined);
  refused(s, 'txn', { compare: [{ key: 'a', target: 'version', op: '=', value: '1' }] }, 'bad-request');
  refused(s, 'txn', { compare: [{ key: 'a', target: 'size', op: '=', value: 1 }] }, 'bad-request');
  refused(s, 'txn', { compare: [{ key: 'a', target: 'version', op: '<=', value: 1 }] }, 'bad-request');
  refused(s, 'txn', { success: [{ get: { key: 'a' } }] }, 'bad-request');
  refused(s, 'txn', { success: [{ put: { key: 'a', value: '1' }, delete: { key: 'b' } }] }, 'bad-request');
  refused(s, 'txn', { success: [{ range: { key: 'a', revision: 2 } }] }, 'bad-request');
  refused(s, 'txn', { success: [{ put: { key: 'b', value: '1' } }, { put: { key: 'c', value: '1', lease: 9 } }] }, 'lease-not-found');
  refused(s, 'txn', { success: 'x' }, 'bad-request');
  // Overlapping deletes are allowed (etcd too): the second finds the keys gone.
  assert.deepEqual(call(s, 'txn', { success: [{ delete: { key: 'k', prefix: true } }, { delete: { key: 'k1' } }] }), {
    succeeded: true, revision: 4, responses: [{ delete: { deleted: kvLimits.maxTxnOps } }, { delete: { deleted: 0 } }],
  });
});

test('a txn that deletes nothing makes no revision', () => {
  const s = kvApp.initialState();
  assert.deepEqual(call(s, 'txn', { success: [{ delete: { key: 'none' } }] }), { succeeded: true, revision: 1, responses: [{ delete: { deleted: 0 } }] });
});
