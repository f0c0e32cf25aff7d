// snapshotAndWatch against a scripted client (a compaction cannot be made to fall between two pages
// of a real snapshot on cue): a snapshot whose later page finds its revision compacted is taken again
// from the store's new revision, at most snapshotAttempts times, and the watch starts after it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AppRejectedError, KvClient, KvCompactedError, type SynodClient } from '../../../src/index.js';
import type { Json } from '../../../src/rsm/app.js';

const kv = (key: string, rev: number): Json => ({ key, value: key, createRevision: rev, modRevision: rev, version: 1, lease: 0 });

/** A client whose invoke answers from `script` in order (a function may throw), and whose feed records where it starts. */
function scripted(script: Array<(args: Json) => Json>): { client: SynodClient; calls: Json[]; feeds: number[] } {
  const calls: Json[] = [];
  const feeds: number[] = [];
  const fake = {
    invoke: async (proc: string, args: Json): Promise<Json> => {
      assert.equal(proc, 'range');
      calls.push(args);
      const next = script.shift();
      assert.ok(next !== undefined, `an unexpected call ${JSON.stringify(args)}`);
      return next(args);
    },
    feed: (_name: string, _filter: Json, options: { after: number }) => {
      feeds.push(options.after);
      return { position: options.after, close: () => {}, next: () => new Promise(() => {}), stats: { streams: 1, evictions: 0 } };
    },
  };
  return { client: fake as unknown as SynodClient, calls, feeds }; // only what snapshotAndWatch uses
}

const compacted = (): never => {
  throw new AppRejectedError('compacted', 'revision 10 is compacted');
};

test('a snapshot that a compaction raced is taken again at the new revision, and the watch starts after it', async () => {
  const { client, calls, feeds } = scripted([
    () => ({ kvs: [kv('p/a', 3), kv('p/b', 4)], count: 3, more: true, revision: 10 }),
    compacted,
    () => ({ kvs: [kv('p/a', 3), kv('p/b', 4)], count: 3, more: true, revision: 12 }),
    () => ({ kvs: [kv('p/c', 11)], count: 1, more: false, revision: 12 }),
  ]);
  const store = new KvClient(client, { kv: { snapshotPageKeys: 2 } });
  const snap = await store.snapshotAndWatch('p/');
  assert.equal(snap.revision, 12);
  assert.deepEqual(snap.kvs.map((k) => k.key), ['p/a', 'p/b', 'p/c']);
  assert.deepEqual(calls, [
    { key: 'p/', prefix: true, limit: 2 },
    { key: 'p/b\u0000', rangeEnd: 'p0', limit: 2, revision: 10 },
    { key: 'p/', prefix: true, limit: 2 },
    { key: 'p/b\u0000', rangeEnd: 'p0', limit: 2, revision: 12 },
  ]);
  assert.equal(await snap.watch.started, 13);
  assert.deepEqual(feeds, [12]);
  await store.close();
});

test('a snapshot raced by compactions snapshotAttempts times fails with KvCompactedError', async () => {
  const page = (): Json => ({ kvs: [kv('p/a', 3)], count: 2, more: true, revision: 10 });
  const { client, calls } = scripted([page, compacted, page, compacted]);
  const store = new KvClient(client, { kv: { snapshotPageKeys: 1, snapshotAttempts: 2 } });
  await assert.rejects(store.snapshotAndWatch('p/'), KvCompactedError);
  assert.equal(calls.length, 4);
  await store.close();
});
