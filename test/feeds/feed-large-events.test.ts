// An event larger than one stream message reaches its subscriber whole, in parts (fragments),
// instead of ending the subscription for good. Found while fuzzing the KV store: one revision's
// watch event is unbounded (a delete of a range, or a lease's end, with prevKv carries every
// deleted key and value), and any client's delete left every prevKv watcher of the range stuck
// at that revision (`event-too-large`, the stream ended `internal`, and the same on every resume).
// What a node holds of events in parts is bounded (feeds.maxBytesInParts), so that many streams
// of a large event cannot take it down.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { type FeedBatch, type NodeHandle, type SynodClient, connect, startNode } from '../../src/index.js';
import { kvApp, kvLeaseSpec } from '../../src/apps/kv/kv-app.js';
import { limits } from '../../src/options.js';
import { freePortPairs } from '../../tools/harness/ports.js';

const dir = mkdtempSync(join(tmpdir(), 'synod-feed-large-'));
const handles: NodeHandle[] = [];
const clients: SynodClient[] = [];
after(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await Promise.allSettled(handles.map((h) => h.stop()));
  rmSync(dir, { recursive: true, force: true });
});

/** A one-node KV cluster and a client of it. */
async function kvNode(name: string, feeds = {}): Promise<SynodClient> {
  const [port] = await freePortPairs(1);
  const me = `127.0.0.1:${port}`;
  const h = await startNode({ me, first: me, dataDir: join(dir, name), app: kvApp, leases: kvLeaseSpec, logLevel: 'silent', feeds });
  handles.push(h);
  await h.ready;
  const client = await connect({ members: [me] });
  clients.push(client);
  return client;
}

test('a KV revision whose watch event is larger than a stream message (a range delete with prevKv) reaches the watcher whole, and the stream goes on', { timeout: 60_000 }, async () => {
  // Room in parts for one such event at a time: the second watcher below gets it only if the first gave its bytes back.
  const client = await kvNode('whole', { maxBytesInParts: 8 * 1024 * 1024 });
  // 24 keys of 200 KiB, with characters JSON escapes (6 bytes each in the event's text) and a
  // character outside the BMP, so parts are cut between characters, never inside one.
  const value = (i: number): string => `${String(i).padStart(2, '0')}👍${'\u0001'.repeat(1000)}${'v'.repeat(200 * 1024 - 1010)}`;
  for (let i = 0; i < 24; i++) await client.invoke('put', { key: `big/${String(i).padStart(2, '0')}`, value: value(i) });
  const watcher = client.feed('watch', { key: 'big/', prefix: true, prevKv: true }, { after: 25 });
  const deleted = await client.invoke('delete', { key: 'big/', prefix: true }) as { revision: number };
  await client.invoke('put', { key: 'big/after', value: 'small' });
  const got: { position: number; event: unknown }[] = [];
  while (got.length < 2) {
    const next = await watcher.next();
    assert.equal(next.done, false, 'the subscription ended');
    got.push(...(next.value as FeedBatch).events);
  }
  assert.deepEqual(got.map((e) => e.position), [deleted.revision, deleted.revision + 1]);
  const event = got[0]!.event as { revision: number; events: Array<{ type: string; kv: { key: string }; prevKv: { value: string } }> };
  assert.ok(JSON.stringify(event).length > limits.maxMessageBytes, 'the event is larger than a message');
  assert.equal(event.events.length, 24);
  for (const [i, e] of event.events.entries()) {
    assert.equal(e.type, 'delete');
    assert.equal(e.kv.key, `big/${String(i).padStart(2, '0')}`);
    assert.equal(e.prevKv.value, value(i), `the prevKv of ${e.kv.key} arrived intact`);
  }
  assert.equal(watcher.stats.streams, 1, 'on the one stream');
  watcher.close();
  const second = client.feed('watch', { key: 'big/', prefix: true, prevKv: true }, { after: 25 });
  const again = await second.next();
  assert.equal(again.done, false);
  assert.deepEqual((again.value as FeedBatch).events[0]!.event, got[0]!.event, 'the same event, whole, to a later watcher');
  second.close();
});

test('events in parts are bounded per node (feeds.maxBytesInParts): past it a watcher is told overloaded and retries, and the node serves on', { timeout: 60_000 }, async () => {
  const client = await kvNode('budget', { maxBytesInParts: 1024 * 1024 });
  for (let i = 0; i < 24; i++) await client.invoke('put', { key: `big/${i}`, value: 'v'.repeat(200 * 1024) }); // revisions 2..25: their delete's event is 4.8 MiB
  await client.invoke('delete', { key: 'big/', prefix: true });
  const watcher = client.feed('watch', { key: 'big/', prefix: true, prevKv: true }, { after: 25 });
  const next = watcher.next();
  const late = await Promise.race([next.then(() => 'event'), new Promise<'none'>((r) => setTimeout(() => r('none'), 1500).unref())]);
  assert.equal(late, 'none', 'the event needs more than the node holds in parts');
  assert.ok(watcher.stats.streams >= 2, `the watcher retried (${watcher.stats.streams} streams)`);
  await client.invoke('put', { key: 'small', value: 'x' });
  assert.equal(((await client.invoke('get', { key: 'small' })) as { kvs: Array<{ value: string }> }).kvs[0]!.value, 'x', 'the node serves on');
  watcher.close();
});
