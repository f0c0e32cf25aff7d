// The typed KV client through real gRPC on in-process 3-node clusters: every procedure with its typed
// replies and errors; leases kept alive keep their keys and lose them a TTL after the keepalives stop;
// a watch across a primary's death with no gap or duplicate; the Clone pattern while writes race.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  FeedCompactedError, KvCompactedError, KvError, KvLeaseNotFoundError, type KvWatch, type KvWatchEvent, type KeyValue, kvCompare, kvOp,
} from '../../../src/index.js';
import { type KvTestCluster, kvCluster, sleep, until } from './kv-client-support.js';

let c: KvTestCluster;
before(async () => {
  c = await kvCluster(3, { snapshotPageKeys: 7 });
});
after(async () => {
  await c?.close();
});

/** Takes `count` events from `watch` (failing after `ms`). */
async function take(watch: KvWatch, count: number, ms = 30_000): Promise<KvWatchEvent[]> {
  const got: KvWatchEvent[] = [];
  const deadline = Date.now() + ms;
  while (got.length < count) {
    const left = deadline - Date.now();
    assert.ok(left > 0, `only ${got.length} of ${count} events within ${ms} ms`);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), left)));
    const next = await Promise.race([watch.next(), late]);
    clearTimeout(timer);
    if (next === 'late') continue;
    assert.equal(next.done, false, 'the watch ended early');
    got.push(next.value as KvWatchEvent);
  }
  return got;
}

test('put, get, range, delete, txn, compact and status give the store\'s typed replies', async () => {
  const { kv } = c;
  const base = (await kv.status()).revision;
  const p1 = await kv.put('cfg/a', '1');
  assert.equal(p1.revision, base + 1);
  assert.deepEqual(await kv.put('cfg/a', '2', { prevKv: true }), { revision: base + 2, prevKv: { key: 'cfg/a', value: '1', createRevision: base + 1, modRevision: base + 1, version: 1, lease: 0 } });
  await kv.put('cfg/b', 'x');
  await kv.put('cfh', 'outside');
  assert.deepEqual(await kv.get('cfg/a'), { key: 'cfg/a', value: '2', createRevision: base + 1, modRevision: base + 2, version: 2, lease: 0 });
  assert.equal((await kv.get('cfg/a', { revision: base + 1 }))?.value, '1', 'a read at an old revision');
  assert.equal(await kv.get('nothing'), null);
  const prefix = await kv.range({ prefix: 'cfg/' });
  assert.deepEqual(prefix.kvs.map((k) => k.key), ['cfg/a', 'cfg/b']);
  assert.equal(prefix.revision, base + 4);
  const limited = await kv.range({ prefix: 'cf', limit: 2, keysOnly: true });
  assert.deepEqual([limited.kvs.map((k) => [k.key, k.value]), limited.count, limited.more], [[['cfg/a', ''], ['cfg/b', '']], 3, true]);
  assert.deepEqual((await kv.range({ key: 'cfg/b', rangeEnd: 'cfz' })).kvs.map((k) => k.key), ['cfg/b', 'cfh']);
  assert.deepEqual(await kv.range({ prefix: 'cf', countOnly: true }), { kvs: [], count: 3, more: false, revision: base + 4 });
  const txn = await kv.txn({
    compare: [{ key: 'cfg/a', target: 'value', op: '=', value: '2' }],
    success: [{ put: { key: 'cfg/c', value: '3' } }, { range: { key: 'cfg/', prefix: true, countOnly: true } }],
    failure: [{ delete: { key: 'cfg/a' } }],
  });
  assert.deepEqual(txn, { succeeded: true, revision: base + 5, responses: [{ put: {} }, { range: { kvs: [], count: 3, more: false } }] });
  const failed = await kv.txn({ compare: [{ key: 'cfg/a', target: 'version', op: '>', value: 5 }], failure: [{ range: { key: 'cfg/a' } }] });
  assert.equal(failed.succeeded, false);
  assert.equal(failed.revision, base + 5, 'a read-only txn makes no revision');
  // The same with the builder: create a key only if it is missing, and read back in the same txn.
  const build = (value: string) => kv.txn({
    compare: [kvCompare.missing('cfg/new'), kvCompare.value('cfg/a', '!=', 'nope')],
    success: [kvOp.put('cfg/new', value, { prevKv: true }), kvOp.range({ prefix: 'cfg/n' }, { keysOnly: true })],
    failure: [kvOp.range('cfg/new'), kvOp.delete({ key: 'cfg/new', rangeEnd: 'cfg/new\u0000' })],
  });
  assert.deepEqual(await build('first'), { succeeded: true, revision: base + 6, responses: [
    { put: { prevKv: null } }, { range: { kvs: [{ key: 'cfg/new', value: '', createRevision: base + 6, modRevision: base + 6, version: 1, lease: 0 }], count: 1, more: false } }] });
  const second = await build('second');
  assert.equal(second.succeeded, false);
  assert.deepEqual(second.responses, [{ range: { kvs: [{ key: 'cfg/new', value: 'first', createRevision: base + 6, modRevision: base + 6, version: 1, lease: 0 }], count: 1, more: false } }, { delete: { deleted: 1 } }]);
  assert.equal(second.revision, base + 7);
  assert.deepEqual(await kv.delete('cfh', { prevKv: true }), { revision: base + 8, deleted: 1, prevKvs: [{ key: 'cfh', value: 'outside', createRevision: base + 4, modRevision: base + 4, version: 1, lease: 0 }] });
  assert.deepEqual(await kv.delete({ prefix: 'cfg/' }), { revision: base + 9, deleted: 3 });
  assert.deepEqual(await kv.delete({ key: 'a', rangeEnd: 'b' }), { revision: base + 9, deleted: 0 });
  assert.deepEqual(await kv.compact(base + 2), { revision: base + 9, compactRevision: base + 2 });
  const status = await kv.status();
  assert.deepEqual([status.revision, status.compactRevision], [base + 9, base + 2]);
  // The store's refusals, typed.
  await assert.rejects(kv.get('cfg/a', { revision: base + 1 }), (e: unknown) => e instanceof KvCompactedError && e.code === 'compacted');
  await assert.rejects(kv.compact(base + 1), KvCompactedError);
  await assert.rejects(kv.get('cfg/a', { revision: base + 99 }), (e: unknown) => e instanceof KvError && e.code === 'future-revision');
  await assert.rejects(kv.put('k', 'v', { lease: 987_654 }), KvLeaseNotFoundError);
  await assert.rejects(kv.range({ key: '' }), (e: unknown) => e instanceof KvError && e.code === 'bad-request');
  await assert.rejects(kv.txn({ success: [{ put: { key: 'd', value: '1' } }, { put: { key: 'd', value: '2' } }] }), (e: unknown) => e instanceof KvError && e.code === 'duplicate-key');
  assert.throws(() => kv.range({ prefix: 'a', key: 'b' } as never), TypeError);
});

test('a kept-alive lease keeps its keys past its TTL; stopped, they vanish after it; revoked, at once', async () => {
  const { kv } = c;
  const kept = await kv.grantLease(2);
  assert.equal(kept.ttl, 2);
  assert.ok(kept.keepAliveIntervalMs <= 700, `a keepalive every ttl/3 (${kept.keepAliveIntervalMs} ms)`);
  await kv.put('eph/kept', 'here', { lease: kept.id });
  assert.deepEqual(await kv.leaseTimeToLive(kept.id, { keys: true }), { id: kept.id, grantedTtl: 2, renewals: 0, keys: ['eph/kept'] });
  assert.ok((await kv.leases()).some((l) => l.id === kept.id && l.ttl === 2));
  await sleep(5000); // two and a half TTLs
  assert.equal((await kv.get('eph/kept'))?.value, 'here', 'the key stays while keepalives run');
  assert.ok(kept.renewals >= 5, `keepalives ran (${kept.renewals})`);
  assert.ok((await kv.leaseTimeToLive(kept.id)).renewals >= 5);
  // The keepalives stop (as if the process holding the lease died): the key goes within TTL + checks.
  kept.stopKeepAlive();
  const stoppedAt = Date.now();
  await until(async () => (await kv.get('eph/kept')) === null, 10_000, 'the lease\'s key vanishes');
  assert.ok(Date.now() - stoppedAt >= 1500, `not before its TTL (${Date.now() - stoppedAt} ms)`);
  await assert.rejects(kv.leaseTimeToLive(kept.id), KvLeaseNotFoundError);
  // Revoked: its keys go in one revision, and the handle reports it.
  const revoked = await kv.grantLease(30);
  await kv.put('eph/r1', '1', { lease: revoked.id });
  await kv.put('eph/r2', '2', { lease: revoked.id });
  const { deleted, revision } = await revoked.revoke();
  assert.equal(deleted, 2);
  assert.equal((await kv.status()).revision, revision);
  assert.equal((await revoked.lost).reason, 'revoked');
  // A lease revoked elsewhere: the handle's next keepalive learns it is gone.
  const other = await kv.grantLease(2);
  const adopted = await (await c.connect()).keepAlive(other.id);
  assert.equal(adopted.ttl, 2);
  other.stopKeepAlive();
  await kv.revokeLease(other.id);
  const lost = await Promise.race([adopted.lost, sleep(5000).then(() => null)]);
  assert.equal(lost?.reason, 'expired', 'the keepalive found the lease gone');
});

test('snapshotAndWatch: a snapshot at R paged at R, then every change after R once, while writes race', async () => {
  const { kv } = c;
  for (let i = 0; i < 30; i++) await kv.put(`clone/${String(i).padStart(2, '0')}`, `v0-${i}`);
  let writing = true;
  let writes = 0;
  const writer = (async () => {
    const w = await c.connect();
    for (let i = 0; writing; i++) {
      const key = `clone/${String((i * 7) % 40).padStart(2, '0')}`;
      if (i % 5 === 4) await w.delete(key);
      else await w.put(key, `v1-${i}`);
      writes++;
    }
  })();
  await until(async () => writes >= 5, 20_000, 'the writer is writing');
  const snap = await kv.snapshotAndWatch('clone/');
  const writesAtSnapshot = writes;
  assert.ok(snap.kvs.length > 7, 'the snapshot took more than one page');
  const mirror = new Map<string, KeyValue>(snap.kvs.map((k) => [k.key, k]));
  for (const k of snap.kvs) assert.ok(k.modRevision <= snap.revision);
  await until(async () => writes >= writesAtSnapshot + 20, 20_000, 'more writes after the snapshot');
  writing = false;
  await writer;
  const final = await kv.range({ prefix: 'clone/' });
  let last = snap.revision;
  while (last < final.revision) {
    const [e] = await take(snap.watch, 1);
    // Each write here is one change in one revision: revisions strictly increase, after the snapshot's.
    assert.ok(e!.revision > last, `revision ${e!.revision} after ${last}: none repeated, none from the snapshot`);
    last = e!.revision;
    if (e!.type === 'put') mirror.set(e!.kv.key, e!.kv);
    else mirror.delete(e!.kv.key);
  }
  snap.watch.close();
  assert.equal(snap.watch.position, final.revision);
  assert.deepEqual([...mirror.values()].sort((a, b) => (a.key < b.key ? -1 : 1)), final.kvs, 'snapshot + events = the store');
});

test('a watch from a compacted revision fails naming the compact revision; from now it sees only new changes', async () => {
  const { kv } = c;
  await kv.put('w/x', '1');
  const { revision } = await kv.put('w/x', '2');
  await kv.compact(revision);
  const stale = kv.watch({ key: 'w/x', fromRevision: revision - 1 });
  await assert.rejects(stale.next(), (e: unknown) => e instanceof FeedCompactedError && e.compactedThrough === revision);
  const now = kv.watch({ prefix: 'w/', prevKv: true });
  assert.equal(await now.started, revision + 1, 'from now: after the store\'s revision');
  await kv.put('w/y', 'new');
  await kv.delete('w/x');
  // Two takers at once (not for-await): each gets the next event, in order.
  const [first, second] = await Promise.all([now.next(), now.next()]);
  const [put, del] = [first.value as KvWatchEvent, second.value as KvWatchEvent];
  assert.deepEqual(put, { type: 'put', revision: revision + 1, kv: { key: 'w/y', value: 'new', createRevision: revision + 1, modRevision: revision + 1, version: 1, lease: 0 } });
  assert.deepEqual(del, { type: 'delete', revision: revision + 2, kv: { key: 'w/x', modRevision: revision + 2 }, prevKv: { key: 'w/x', value: '2', createRevision: revision - 1, modRevision: revision, version: 2, lease: 0 } });
  now.close();
  assert.deepEqual(await now.next(), { done: true, value: undefined });
  // The filter's other flags reach the store: deletes only, from a revision.
  const deletes = kv.watch({ key: 'w/', rangeEnd: 'w0', fromRevision: revision + 1, noPut: true });
  const [onlyDelete] = await take(deletes, 1);
  assert.deepEqual(onlyDelete, { type: 'delete', revision: revision + 2, kv: { key: 'w/x', modRevision: revision + 2 } });
  assert.equal(deletes.position, revision + 2);
  deletes.close();
});

test('a watch across the primary\'s death resumes at the new primary with no gap and no duplicate; a kept-alive lease lives on', async () => {
  const f = await kvCluster(3);
  try {
    const lease = await f.kv.grantLease(2);
    await f.kv.put('held', 'by a lease', { lease: lease.id });
    const start = (await f.kv.status()).revision + 1;
    const watch = f.kv.watch({ prefix: 'fo/', fromRevision: start });
    const primary = f.nodes.find((h) => h.status().primary === h.address)!;
    assert.ok(primary !== undefined, 'a primary');
    const writes = (async () => {
      for (let i = 1; i <= 60; i++) {
        await f.kv.put(`fo/${i % 7}`, `${i}`);
        if (i === 20) await primary.stop();
      }
    })();
    const got = await take(watch, 60, 45_000);
    await writes;
    assert.deepEqual(got.map((e) => e.revision), Array.from({ length: 60 }, (_, i) => start + i), 'every revision once, in order');
    assert.deepEqual(got.map((e) => e.type === 'put' && e.kv.value), Array.from({ length: 60 }, (_, i) => `${i + 1}`));
    watch.close();
    // The keepalives went on through the failover: two TTLs later the lease and its key are there.
    await sleep(4000);
    assert.equal((await f.kv.get('held'))?.value, 'by a lease');
    assert.equal(await Promise.race([lease.lost.then(() => 'lost'), sleep(10).then(() => 'alive')]), 'alive');
  } finally {
    await f.close();
  }
});
