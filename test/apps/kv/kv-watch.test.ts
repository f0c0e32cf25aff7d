// The watch feed's reads: filters, prevKv, one event per revision, maxEvents and through, compaction.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '../../../src/rsm/app.js';
import { createKvApp, kvApp } from '../../../src/apps/kv/kv-app.js';
import { call, watch, withPuts } from './kv-support.js';
import { type WatchFilter, watchFilterJson } from '../../../src/apps/kv/kv-watch.js';

const kv = (key: string, value: string, createRevision: number, modRevision: number, version: number) => ({ key, value, createRevision, modRevision, version, lease: 0 });

test('a watch on a prefix gets one event per revision that touched it, with prevKv on request', () => {
  const s = withPuts([['a/1', 'x'], ['b', 'y'], ['a/1', 'z']]); // 2, 3, 4
  call(s, 'txn', { success: [{ delete: { key: 'a/1' } }, { put: { key: 'a/2', value: 'w' } }, { put: { key: 'c', value: 'q' } }] }); // 5
  assert.equal(kvApp.feeds!['watch']!.head(s), 5);
  assert.deepEqual(watch(s, 0, { key: 'a/', prefix: true, prevKv: true }), { kind: 'events', through: 5, events: [
    { position: 2, event: { revision: 2, events: [{ type: 'put', kv: kv('a/1', 'x', 2, 2, 1) }] } },
    { position: 4, event: { revision: 4, events: [{ type: 'put', kv: kv('a/1', 'z', 2, 4, 2), prevKv: kv('a/1', 'x', 2, 2, 1) }] } },
    { position: 5, event: { revision: 5, events: [
      { type: 'delete', kv: { key: 'a/1', modRevision: 5 }, prevKv: kv('a/1', 'z', 2, 4, 2) },
      { type: 'put', kv: kv('a/2', 'w', 5, 5, 1) },
    ] } },
  ] });
  assert.deepEqual(watch(s, 2, { key: 'a/1' }), { kind: 'events', through: 5, events: [
    { position: 4, event: { revision: 4, events: [{ type: 'put', kv: kv('a/1', 'z', 2, 4, 2) }] } },
    { position: 5, event: { revision: 5, events: [{ type: 'delete', kv: { key: 'a/1', modRevision: 5 } }] } },
  ] }, 'no prevKv unless asked');
  assert.deepEqual(watch(s, 0, { key: 'a', rangeEnd: 'c', noPut: true }), { kind: 'events', through: 5, events: [
    { position: 5, event: { revision: 5, events: [{ type: 'delete', kv: { key: 'a/1', modRevision: 5 } }] } },
  ] });
  const noDelete = watch(s, 0, { key: '', prefix: true, noDelete: true });
  assert.deepEqual(noDelete.kind === 'events' && noDelete.events.map((e) => e.position), [2, 3, 4, 5]);
  assert.deepEqual(watch(s, 5, { key: '', prefix: true }), { kind: 'events', through: 5, events: [] }, 'at the head: nothing, through the head');
});

test('maxEvents cuts a read at the last event returned, and the next read from there continues without gap or repeat', () => {
  const s = withPuts(Array.from({ length: 10 }, (_, i) => [`k${i % 3}`, String(i)] as [string, string])); // 2..11
  const positions: number[] = [];
  let after = 0;
  for (let reads = 0; reads < 20; reads++) {
    const read = watch(s, after, { key: 'k1' }, 2);
    assert.equal(read.kind, 'events');
    if (read.kind !== 'events') break;
    positions.push(...read.events.map((e) => e.position));
    if (read.events.length === 2) assert.equal(read.through, read.events[1]!.position);
    after = read.through;
    if (read.events.length < 2) break;
  }
  assert.deepEqual(positions, [3, 6, 9]);
  assert.equal(after, 11);
});

test('a read after a position below the compaction revision is compacted, naming it; from the compaction revision on it is whole', () => {
  const s = withPuts([['a', '1'], ['a', '2'], ['a', '3'], ['a', '4']]); // 2..5
  call(s, 'compact', { revision: 3 });
  assert.deepEqual(watch(s, 2, { key: 'a' }), { kind: 'compacted', compactedThrough: 3 });
  assert.deepEqual(watch(s, 0, { key: 'a' }), { kind: 'compacted', compactedThrough: 3 });
  const read = watch(s, 3, { key: 'a' });
  assert.deepEqual(read.kind === 'events' && read.events.map((e) => e.position), [4, 5]);
});

test('the history bound compacts the oldest revisions by itself, and watches then see compacted', () => {
  const app = createKvApp({ maxHistoryBytes: 1000 });
  const s = app.initialState();
  for (let i = 0; i < 40; i++) call(s, 'put', { key: 'k', value: 'x'.repeat(20) }, undefined, app);
  const status = call(s, 'status', null, undefined, app) as { revision: number; compactRevision: number; historyBytes: number; historyRevisions: number };
  assert.equal(status.revision, 41);
  assert.ok(status.historyBytes <= 1000 && status.historyBytes > 800, `history at ${status.historyBytes} bytes`);
  assert.equal(status.compactRevision + status.historyRevisions, 41, 'the history holds exactly the revisions above the compaction');
  assert.deepEqual(watch(s, status.compactRevision - 1, { key: 'k' }, 1000, app), { kind: 'compacted', compactedThrough: status.compactRevision });
  const read = watch(s, status.compactRevision, { key: 'k' }, 1000, app);
  assert.equal(read.kind === 'events' && read.events.length, status.historyRevisions);
  // One revision larger than the whole bound: everything before it is compacted, never itself, so
  // a watcher that had seen everything (a watcher of other keys too) still reads it.
  const before = status.revision;
  call(s, 'put', { key: 'big', value: 'y'.repeat(2000) }, undefined, app);
  const after = call(s, 'status', null, undefined, app) as { revision: number; compactRevision: number; historyRevisions: number; historyBytes: number };
  assert.deepEqual([after.revision, after.compactRevision, after.historyRevisions], [42, 41, 1]);
  assert.ok(after.historyBytes > 1000, 'past the bound by the newest revision alone');
  const atHead = watch(s, before, { key: 'big' }, 1000, app);
  assert.deepEqual(atHead.kind === 'events' && atHead.events.map((e) => e.position), [42]);
  assert.deepEqual(watch(s, before, { key: 'other' }, 1000, app), { kind: 'events', events: [], through: 42 }, 'a watcher of other keys is not ended');
  assert.equal((call(s, 'get', { key: 'big', revision: 42 }, undefined, app) as { count: number }).count, 1);
  call(s, 'put', { key: 'k', value: 'z' }, undefined, app);
  assert.equal((call(s, 'status', null, undefined, app) as { compactRevision: number }).compactRevision, 42, 'the next request compacts it once it is not the newest');
});

test('a bad filter or read position is refused with a typed error', () => {
  const feed = kvApp.feeds!['watch']!;
  for (const bad of [null, { key: 5 }, { key: 'a', prefix: true, rangeEnd: 'b' }, { key: 'a', other: 1 }, { key: '' }]) {
    assert.throws(() => feed.filter(bad as never), (e: unknown) => e instanceof AppError && e.code === 'bad-request', JSON.stringify(bad));
  }
  assert.deepEqual(watchFilterJson(feed.filter({ key: 'a', prefix: true }) as WatchFilter), { key: 'a', prefix: true, prevKv: false, noPut: false, noDelete: false });
  assert.throws(() => feed.read(kvApp.initialState(), -1, feed.filter({ key: 'a' }), 10), AppError);
  assert.throws(() => feed.read(kvApp.initialState(), 0, feed.filter({ key: 'a' }), 0), AppError);
});
