// The feed service through real gRPC on in-process nodes: a subscriber gets every event once and in
// order from any position, across a primary's death; compacted positions, bad filters and unknown
// feeds end a subscription with typed errors; a subscriber that stops reading is evicted and told.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import {
  FeedCompactedError, FeedRefusedError, type FeedBatch, type FeedReader, type NodeHandle, type SynodClient, connect, startNode,
} from '../../src/index.js';
import { protoPackage } from '../../src/runtime/proto.js';
import { freePortPairs } from '../../tools/harness/ports.js';
import { feedLogApp } from '../../tools/sim/feed-log-app.js';

const dir = mkdtempSync(join(tmpdir(), 'synod-feeds-'));
const handles: NodeHandle[] = [];
const clients: SynodClient[] = [];
after(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await Promise.allSettled(handles.map((h) => h.stop()));
  rmSync(dir, { recursive: true, force: true });
});

async function cluster(n: number, name: string, feeds = {}): Promise<{ members: string[]; nodes: NodeHandle[]; client: SynodClient }> {
  const ports = await freePortPairs(n);
  const members = ports.map((p) => `127.0.0.1:${p}`);
  const nodes: NodeHandle[] = [];
  for (const [i, me] of members.entries()) {
    const h = await startNode({ me, first: members[0]!, dataDir: join(dir, `${name}-${i}`), app: feedLogApp, logLevel: 'silent', feeds });
    handles.push(h);
    nodes.push(h);
    await h.ready;
  }
  const client = await connect({ members });
  clients.push(client);
  return { members, nodes, client };
}

/** Takes batches from `reader` until it has `count` events (or `ms` pass); returns them in order. */
async function take(reader: FeedReader, count: number, ms = 20_000): Promise<{ position: number; event: unknown }[]> {
  const got: { position: number; event: unknown }[] = [];
  const deadline = Date.now() + ms;
  while (got.length < count) {
    const left = deadline - Date.now();
    assert.ok(left > 0, `only ${got.length} of ${count} events within ${ms} ms`);
    const next = await Promise.race([reader.next(), new Promise<'late'>((r) => setTimeout(() => r('late'), left).unref())]);
    if (next === 'late') continue;
    assert.equal(next.done, false);
    got.push(...(next.value as FeedBatch).events);
  }
  return got;
}

test('a subscriber gets every event once, in order, from its position; a filter picks its events', async () => {
  const { client } = await cluster(3, 'basic');
  for (let i = 1; i <= 10; i++) await client.invoke('append', { item: `${i % 2 === 0 ? 'even' : 'odd'}-${i}` });
  const all = client.feed('items', null, { after: 0 });
  const evens = client.feed('items', { prefix: 'even' }, { after: 4 });
  await Promise.all(Array.from({ length: 30 }, (_, i) => client.invoke('append', { item: `${(i + 11) % 2 === 0 ? 'even' : 'odd'}-${i + 11}` })));
  await client.invoke('add', { key: 'k', by: 1 }); // changes the state, not the feed
  const got = await take(all, 40);
  assert.deepEqual(got.map((e) => e.position), Array.from({ length: 40 }, (_, i) => i + 1));
  for (const e of got) assert.match(String(e.event), new RegExp(`-${e.position}$`));
  const gotEvens = await take(evens, 18);
  assert.deepEqual(gotEvens.map((e) => e.position), Array.from({ length: 18 }, (_, i) => 6 + 2 * i));
  assert.equal(all.position, 40);
  all.close();
  evens.close();
  assert.deepEqual(await all.next(), { done: true, value: undefined });
});

test('across the primary\'s death the subscriber resumes at the new primary with no gap and no duplicate', async () => {
  const { nodes, client } = await cluster(3, 'failover');
  await client.invoke('append', { item: 'first' });
  const reader = client.feed('items', null);
  const before = await take(reader, 1);
  const primary = nodes.find((h) => h.status().primary === h.address)!;
  assert.ok(primary !== undefined, 'a primary');
  const writes = (async () => {
    for (let i = 2; i <= 60; i++) {
      await client.invoke('append', { item: `e${i}` }, { deadlineMs: 20_000 });
      if (i === 20) await primary.stop();
    }
  })();
  const got = [...before, ...await take(reader, 59, 40_000)];
  await writes;
  assert.deepEqual(got.map((e) => e.position), Array.from({ length: 60 }, (_, i) => i + 1), 'every position once, in order');
  assert.ok(reader.stats.streams >= 2, `the subscription moved to another stream (${reader.stats.streams} streams)`);
  reader.close();
});

test('a client that only watches settles on the new primary after a failover (its own primary guess stays on the dead node)', async () => {
  const { members, nodes, client } = await cluster(3, 'watch-only');
  await client.invoke('append', { item: 'first' });
  const watcher = await connect({ members });
  clients.push(watcher);
  await watcher.invoke('length'); // its guess: the primary of now, which is about to die
  const reader = watcher.feed('items', null);
  await take(reader, 1);
  const primary = nodes.find((h) => h.status().primary === h.address)!;
  await primary.stop();
  for (let i = 2; i <= 10; i++) await client.invoke('append', { item: `e${i}` }, { deadlineMs: 20_000 });
  assert.deepEqual((await take(reader, 9, 30_000)).map((e) => e.position), [2, 3, 4, 5, 6, 7, 8, 9, 10]);
  const streams = reader.stats.streams;
  await new Promise((r) => setTimeout(r, 2000));
  assert.ok(reader.stats.streams <= streams + 1, `the subscription kept its stream: ${streams} streams, then ${reader.stats.streams} two seconds later`);
  reader.close();
});

test('compacted positions, a bad filter and an unknown feed end a subscription with typed errors', async () => {
  const { client } = await cluster(1, 'errors');
  for (let i = 1; i <= 12; i++) await client.invoke('append', { item: `t${i}` });
  await client.invoke('trim', { through: 10 });
  const stale = client.feed('items', null, { after: 5 });
  await assert.rejects(stale.next(), (err: unknown) => err instanceof FeedCompactedError && err.compactedThrough === 10 && err.after === 5);
  const fresh = client.feed('items', null, { after: 10 });
  assert.deepEqual((await take(fresh, 2)).map((e) => e.event), ['t11', 't12']);
  fresh.close();
  await assert.rejects(client.feed('items', { prefix: 7 }).next(), (err: unknown) => err instanceof FeedRefusedError && err.reason === 'bad-filter' && err.code === 'bad-filter');
  await assert.rejects(client.feed('nothing', null).next(), (err: unknown) => err instanceof FeedRefusedError && err.reason === 'no-such-feed');
  await assert.rejects(client.feed('constructor', null).next(), (err: unknown) => err instanceof FeedRefusedError && err.reason === 'no-such-feed');
});

test('a subscriber that stops reading is evicted after stallTimeoutMs and told where it was', async () => {
  const { members, client } = await cluster(1, 'evict', { stallTimeoutMs: 300, checkIntervalMs: 50 });
  const big = 'x'.repeat(64 * 1024);
  await Promise.all(Array.from({ length: 200 }, () => client.invoke('append', { item: big })));
  // A gRPC call made by hand over HTTP/2 whose body is never read: the client's flow-control window
  // (64 KiB) fills, the server's writes back up, and its pump stalls. (grpc-js's own client reads
  // into memory as fast as the socket allows, so it cannot stand for a subscriber that stops.)
  const method = (protoPackage()['synod.rsm.Feeds'] as Record<string, { requestSerialize: (v: unknown) => Buffer; responseDeserialize: (b: Buffer) => Record<string, unknown> }>)['Subscribe']!;
  const body = method.requestSerialize({ cluster: client.cluster, feed: 'items', filter: 'null', after: 0 });
  const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), body]);
  frame.writeUInt32BE(body.length, 1);
  const session = http2.connect(`http://${members[0]!}`, { settings: { initialWindowSize: 65_535 } });
  const req = session.request({ ':method': 'POST', ':path': '/synod.rsm.Feeds/Subscribe', 'content-type': 'application/grpc', te: 'trailers' });
  req.end(frame);
  req.pause();
  await new Promise((r) => setTimeout(r, 1500)); // well past stallTimeoutMs: the server evicts it now
  const chunks: Buffer[] = [];
  const trailers = new Promise<http2.IncomingHttpHeaders>((resolve) => req.on('trailers', resolve));
  req.on('data', (c: Buffer) => chunks.push(c));
  req.resume();
  const status = await trailers;
  session.close();
  const data = Buffer.concat(chunks);
  const messages: Record<string, unknown>[] = [];
  for (let at = 0; at + 5 <= data.length;) {
    const length = data.readUInt32BE(at + 1);
    messages.push(method.responseDeserialize(data.subarray(at + 5, at + 5 + length)));
    at += 5 + length;
  }
  const cancel = messages.at(-1)?.['cancel'] as Record<string, unknown> | undefined;
  assert.equal(cancel?.['reason'], 'evicted', `the last message says evicted (${messages.length} messages)`);
  const lastEvents = messages.filter((m) => m['events'] !== undefined).at(-1)?.['events'] as { through: number } | undefined;
  assert.ok(lastEvents !== undefined && lastEvents.through < 200, `it had not been sent everything (through ${lastEvents?.through})`);
  assert.equal(cancel?.['sent_through'], lastEvents.through, 'the cancel names the last position sent');
  assert.equal(Number(status['grpc-status']), grpc.status.RESOURCE_EXHAUSTED);
  // The same subscriber resumes from what it received and gets the rest.
  const resumed = client.feed('items', null, { after: lastEvents.through });
  const rest = await take(resumed, 200 - lastEvents.through);
  assert.equal(rest[0]!.position, lastEvents.through + 1);
  resumed.close();
});
