// The KV store's handlers and queries on their own: revisions, versions, ranges, old revisions, compaction, refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createKvApp, kvApp, kvLimits } from '../../../src/apps/kv/kv-app.js';
import { call, refused, withPuts } from './kv-support.js';
import { limits } from '../../../src/options.js';

test('a new store is at revision 1; each put makes one revision; versions count puts and a delete ends the key', () => {
  const s = kvApp.initialState();
  assert.deepEqual(call(s, 'status', null), { revision: 1, compactRevision: 0, keys: 0, historyRevisions: 0, historyBytes: 0, storeBytes: 0, leases: 0 });
  assert.deepEqual(call(s, 'put', { key: 'a', value: '1' }), { revision: 2 });
  assert.deepEqual(call(s, 'put', { key: 'a', value: '2', prevKv: true }), { revision: 3, prevKv: { key: 'a', value: '1', createRevision: 2, modRevision: 2, version: 1, lease: 0 } });
  assert.deepEqual(call(s, 'put', { key: 'a', value: '2' }), { revision: 4 }, 'a put of the same value is still a new revision, as etcd');
  assert.deepEqual(call(s, 'get', { key: 'a' }), { kvs: [{ key: 'a', value: '2', createRevision: 2, modRevision: 4, version: 3, lease: 0 }], count: 1, more: false, revision: 4 });
  assert.deepEqual(call(s, 'delete', { key: 'a', prevKv: true }), { revision: 5, deleted: 1, prevKvs: [{ key: 'a', value: '2', createRevision: 2, modRevision: 4, version: 3, lease: 0 }] });
  assert.deepEqual(call(s, 'delete', { key: 'a' }), { revision: 5, deleted: 0 }, 'a delete of nothing makes no revision');
  assert.deepEqual(call(s, 'put', { key: 'a', value: 'new' }), { revision: 6 });
  assert.deepEqual(call(s, 'get', { key: 'a' }), { kvs: [{ key: 'a', value: 'new', createRevision: 6, modRevision: 6, version: 1, lease: 0 }], count: 1, more: false, revision: 6 }, 'recreated: version starts again');
  assert.deepEqual(call(s, 'get', { key: 'missing' }), { kvs: [], count: 0, more: false, revision: 6 });
});

test('ranges by prefix, by [key, rangeEnd), from a key on, with limit, keysOnly and countOnly, in key order', () => {
  const s = withPuts([['b/2', 'x'], ['a', '0'], ['b/1', 'y'], ['b0', 'z'], ['c', 'w']]);
  const keys = (args: object) => (call(s, 'range', args as never) as { kvs: { key: string }[] }).kvs.map((kv) => kv.key);
  assert.deepEqual(keys({ key: 'b/', prefix: true }), ['b/1', 'b/2']);
  assert.deepEqual(keys({ key: '', prefix: true }), ['a', 'b/1', 'b/2', 'b0', 'c']);
  assert.deepEqual(keys({ key: 'b', rangeEnd: 'c' }), ['b/1', 'b/2', 'b0']);
  assert.deepEqual(keys({ key: 'b0', rangeEnd: '\u0000' }), ['b0', 'c']);
  assert.deepEqual(keys({ key: 'c', rangeEnd: 'a' }), [], 'an empty interval');
  assert.deepEqual(call(s, 'range', { key: '', prefix: true, limit: 2 }), {
    kvs: [{ key: 'a', value: '0', createRevision: 3, modRevision: 3, version: 1, lease: 0 }, { key: 'b/1', value: 'y', createRevision: 4, modRevision: 4, version: 1, lease: 0 }],
    count: 5, more: true, revision: 6,
  });
  assert.deepEqual((call(s, 'range', { key: 'b/', prefix: true, keysOnly: true }) as { kvs: { value: string }[] }).kvs.map((kv) => kv.value), ['', '']);
  assert.deepEqual(call(s, 'range', { key: 'b/', prefix: true, countOnly: true }), { kvs: [], count: 2, more: false, revision: 6 });
  assert.deepEqual(call(s, 'delete', { key: 'b/', prefix: true }), { revision: 7, deleted: 2 }, 'one revision for a range delete');
  assert.deepEqual(keys({ key: '', prefix: true }), ['a', 'b0', 'c']);
});

test('a range larger than a reply may carry comes in pages: as many kvs as fit, more, and the whole count', () => {
  const s = kvApp.initialState();
  const big = 'v'.repeat(200 * 1024);
  for (let i = 0; i < 8; i++) call(s, 'put', { key: `big/${i}`, value: big });
  const first = call(s, 'range', { key: 'big/', prefix: true }) as { kvs: { key: string }[]; count: number; more: boolean };
  assert.equal(first.count, 8);
  assert.equal(first.more, true);
  assert.ok(first.kvs.length >= 1 && first.kvs.length < 8, `${first.kvs.length} kvs in the first page`);
  assert.ok(JSON.stringify(first).length <= limits.maxReplyBytes, 'the reply fits');
  const keys = first.kvs.map((kv) => kv.key);
  for (let page = first; page.more;) {
    page = call(s, 'range', { key: `${keys.at(-1)!}\u0000`, rangeEnd: 'big0' }) as typeof first;
    keys.push(...page.kvs.map((kv) => kv.key));
  }
  assert.deepEqual(keys, Array.from({ length: 8 }, (_, i) => `big/${i}`));
  const small = call(s, 'range', { key: 'big/', prefix: true, keysOnly: true }) as typeof first;
  assert.deepEqual([small.kvs.length, small.more], [8, false], 'without the values all fit');
});

test('a read at an old revision sees the store as it was; below the compaction revision it is compacted, above the current one in the future', () => {
  const s = kvApp.initialState();
  call(s, 'put', { key: 'k', value: 'v1' }); // 2
  call(s, 'put', { key: 'j', value: 'w' }); // 3
  call(s, 'put', { key: 'k', value: 'v2' }); // 4
  call(s, 'delete', { key: 'j' }); // 5
  call(s, 'txn', { success: [{ put: { key: 'k', value: 'v3' } }, { put: { key: 'l', value: 'x' } }] }); // 6
  const at = (revision: number) => (call(s, 'range', { key: '', prefix: true, revision }) as { kvs: { key: string; value: string; version: number }[] }).kvs.map((kv) => `${kv.key}=${kv.value}@${kv.version}`);
  assert.deepEqual(at(1), []);
  assert.deepEqual(at(2), ['k=v1@1']);
  assert.deepEqual(at(3), ['j=w@1', 'k=v1@1']);
  assert.deepEqual(at(4), ['j=w@1', 'k=v2@2']);
  assert.deepEqual(at(5), ['k=v2@2']);
  assert.deepEqual(at(6), ['k=v3@3', 'l=x@1']);
  assert.equal((call(s, 'range', { key: 'k', revision: 3 }) as { revision: number }).revision, 6, 'the reply names the current revision');
  refused(s, 'range', { key: 'k', revision: 7 }, 'future-revision');
  assert.deepEqual(call(s, 'compact', { revision: 4 }), { revision: 6, compactRevision: 4 });
  assert.deepEqual(at(4), ['j=w@1', 'k=v2@2'], 'the compaction revision itself is still readable');
  refused(s, 'range', { key: 'k', revision: 3 }, 'compacted');
  refused(s, 'compact', { revision: 4 }, 'compacted');
  refused(s, 'compact', { revision: 7 }, 'future-revision');
  assert.deepEqual(call(s, 'compact', { revision: 6 }), { revision: 6, compactRevision: 6 });
  assert.deepEqual(at(6), ['k=v3@3', 'l=x@1']);
  assert.equal((call(s, 'status', null) as { historyRevisions: number }).historyRevisions, 0);
  call(s, 'put', { key: 'k', value: 'v4' });
  assert.deepEqual(at(6), ['k=v3@3', 'l=x@1'], 'history starts again after a compaction at the head');
});

test('every bad input is a typed refusal that changes nothing', () => {
  const s = withPuts([['a', '1']]);
  refused(s, 'put', { key: '', value: 'x' }, 'bad-request');
  refused(s, 'put', { key: 'a' }, 'bad-request');
  refused(s, 'put', { key: 'a', value: 1 }, 'bad-request');
  refused(s, 'put', { key: 'a', value: 'x', extra: 1 }, 'bad-request');
  refused(s, 'put', [], 'bad-request');
  refused(s, 'put', null, 'bad-request');
  refused(s, 'put', { key: 'é'.repeat(kvLimits.maxKeyBytes / 2 + 1), value: 'x' }, 'key-too-large');
  refused(s, 'put', { key: 'a', value: 'x'.repeat(kvLimits.maxValueBytes + 1) }, 'value-too-large');
  refused(s, 'put', { key: 'a', value: 'x', lease: 5 }, 'lease-not-found');
  refused(s, 'put', { key: 'a', value: 'x', lease: -1 }, 'bad-request');
  refused(s, 'delete', { key: 'a', prefix: true, rangeEnd: 'b' }, 'bad-request');
  refused(s, 'delete', { key: '' }, 'bad-request');
  refused(s, 'range', { key: 'a', limit: -1 }, 'bad-request');
  refused(s, 'range', { key: 'a', revision: 1.5 }, 'bad-request');
  refused(s, 'range', { key: 'a', rangeEnd: 'x'.repeat(kvLimits.maxKeyBytes + 1) }, 'key-too-large');
  refused(s, 'compact', {}, 'bad-request');
  refused(s, 'status', { x: 1 }, 'bad-request');
  assert.equal((call(s, 'get', { key: 'a' }) as { kvs: unknown[] }).kvs.length, 1);
});

test('a put past the store bound is refused store-full; deletes and smaller values still go', () => {
  const app = createKvApp({ maxStoreBytes: 200 });
  const s = app.initialState();
  call(s, 'put', { key: 'a', value: 'x'.repeat(100) }, undefined, app);
  refused(s, 'put', { key: 'b', value: 'x'.repeat(100) }, 'store-full', undefined, app);
  call(s, 'put', { key: 'a', value: 'y' }, undefined, app);
  call(s, 'put', { key: 'b', value: 'x'.repeat(60) }, undefined, app);
  call(s, 'delete', { key: 'a' }, undefined, app);
});
