// The replica's durable store (RsmStore) on the simulated disk: records come back in order after a
// crash, a snapshot starts a new log generation and removes the old one once durable, records
// appended behind a snapshot wait for it, a crash before the snapshot is durable keeps the old
// snapshot and log whole, and damage is named instead of loaded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CorruptLogError } from '../../src/env/durable-log.js';
import { CorruptSnapshotError } from '../../src/env/snapshot-file.js';
import { silentLogger } from '../../src/env/logger.js';
import type { RsmRecord } from '../../src/rsm/durable-records.js';
import { newRequest } from '../../src/rsm/messages.js';
import { RsmStore } from '../../src/rsm/rsm-store.js';
import { SimDisk, simDiskStorage } from '../../tools/sim/disk.js';
import { Simulation } from '../../tools/sim/simulation.js';

/** One node's disk and the processes that open it, one after another (a crash ends one). */
function harness(seed = 3) {
  const sim = new Simulation({ seed });
  const disk = new SimDisk();
  let life = 0;
  const open = (): RsmStore => {
    const mine = ++life;
    const sched = {
      get now() {
        return sim.now;
      },
      rng: sim.rng,
      at: (atMs: number, fn: () => void) => sim.scheduleAt(atMs, () => {
        if (life === mine) fn();
      }),
    };
    return new RsmStore({
      name: 'rsm',
      logger: silentLogger,
      world: simDiskStorage(disk, sched),
    });
  };
  const crash = (): void => {
    life++;
    disk.crash(sim.rng);
  };
  return { sim, disk, open, crash };
}

const executed = (seqno: number): RsmRecord => ({ kind: 'executed', vs: { vid: 2, seqno }, request: newRequest('c1', seqno, 'append', { item: `i${seqno}` }) });
const snapshot = (why: 'installed' | 'compaction', text: string): RsmRecord => ({ kind: 'snapshot', why, state: new TextEncoder().encode(text), syncedVid: 2 });

function synced(h: ReturnType<typeof harness>, store: RsmStore): void {
  let done = false;
  store.sync((err) => {
    assert.equal(err, undefined);
    done = true;
  });
  h.sim.runUntilIdle();
  assert.ok(done, 'the sync was called back');
}

test('records made durable come back in order after a crash; the fresh store is empty', () => {
  const h = harness();
  const first = h.open();
  assert.deepEqual(first.load(), { snapshot: null, records: [] });
  first.append({ kind: 'genesis' });
  first.append(executed(1));
  first.append({ kind: 'normal', vid: 2 });
  synced(h, first);
  h.crash();
  const loaded = h.open().load();
  assert.equal(loaded.snapshot, null);
  assert.deepEqual(loaded.records.map((r) => r.kind), ['genesis', 'executed', 'normal']);
  const e = loaded.records[1] as Extract<RsmRecord, { kind: 'executed' }>;
  assert.deepEqual(e.vs, { vid: 2, seqno: 1 });
  assert.equal(e.request.argsText, '{"item":"i1"}');
});

test('a snapshot starts a new generation: once durable, the log behind it is removed and a restart reads the snapshot and what followed', () => {
  const h = harness();
  const store = h.open();
  store.load();
  store.append(executed(1));
  store.append(executed(2));
  store.append(snapshot('compaction', 'STATE@2'));
  store.append(executed(3));
  assert.ok(h.disk.hasStore('rsm-0'));
  synced(h, store);
  assert.ok(!h.disk.hasStore('rsm-0'), 'generation 0 is gone once the snapshot is durable');
  assert.ok(h.disk.hasStore('rsm-1'));
  h.crash();
  const loaded = h.open().load();
  assert.equal(new TextDecoder().decode(loaded.snapshot!.state), 'STATE@2');
  assert.equal(loaded.snapshot!.syncedVid, 2);
  assert.deepEqual(loaded.records.map((r) => (r.kind === 'executed' ? r.vs.seqno : r.kind)), [3]);
});

test('a crash while the snapshot is in flight keeps the old snapshot and the whole old log; what waited behind it was never written', () => {
  const h = harness();
  const store = h.open();
  store.load();
  store.append(executed(1));
  synced(h, store);
  store.append(executed(2));
  store.append(snapshot('installed', 'COPY'));
  store.append(executed(3)); // rests on the copy: must not survive without it
  let called = false;
  store.sync(() => {
    called = true;
  });
  // Run just until the old generation is durable, not long enough for the snapshot's write.
  h.sim.runUntil(h.sim.now + 4, () => h.disk.snapshot('rsm').inFlight > 0);
  assert.ok(h.disk.snapshot('rsm').inFlight > 0, 'the snapshot write is in flight');
  assert.equal(called, false, 'the sync behind the snapshot waits for it');
  h.crash();
  const loaded = h.open().load();
  assert.equal(loaded.snapshot, null, 'the snapshot never became durable');
  assert.deepEqual(loaded.records.map((r) => (r.kind === 'executed' ? r.vs.seqno : r.kind)), [1, 2]);
});

test('two snapshots in a row: the second waits for the first; a restart reads the newest and only its generation', () => {
  const h = harness();
  const store = h.open();
  store.load();
  store.append(snapshot('compaction', 'A'));
  store.append(executed(1));
  store.append(snapshot('compaction', 'B'));
  store.append(executed(2));
  synced(h, store);
  assert.deepEqual(['rsm-0', 'rsm-1', 'rsm-2'].map((n) => h.disk.hasStore(n)), [false, false, true]);
  h.crash();
  const loaded = h.open().load();
  assert.equal(new TextDecoder().decode(loaded.snapshot!.state), 'B');
  assert.deepEqual(loaded.records.map((r) => (r.kind === 'executed' ? r.vs.seqno : r.kind)), [2]);
});

test('damage is named, never loaded: a snapshot file that is not one, and an undecodable record', () => {
  const h = harness();
  h.disk.snapshot('rsm').durable = new TextEncoder().encode('not a snapshot\n');
  assert.throws(() => h.open().load(), (err: unknown) => err instanceof CorruptSnapshotError && /rsm\.snapshot/.test(err.message));
  const g = harness();
  g.disk.store('rsm-0').records.push(new TextEncoder().encode('{"executed":{}}'));
  g.disk.store('rsm-0').durableCount = 1;
  assert.throws(() => g.open().load(), (err: unknown) => err instanceof CorruptLogError && err.file === 'rsm-0' && err.offset === 0);
});

test('a compaction does not hold the log back: a crash with its snapshot in flight replays the old snapshot and every generation after it', () => {
  const h = harness();
  const store = h.open();
  store.load();
  store.append(executed(1));
  store.append(snapshot('compaction', 'AT-1'));
  store.append(executed(2));
  let called = false;
  store.sync(() => {
    called = true;
  });
  h.sim.runUntil(h.sim.now + 10, () => called);
  assert.ok(called, 'the sync behind a compaction does not wait for its snapshot');
  assert.ok(h.disk.snapshot('rsm').inFlight > 0, 'the snapshot write is still in flight (seed 3 draws a slower write than sync)');
  h.crash();
  const loaded = h.open().load();
  assert.equal(loaded.snapshot, null);
  assert.deepEqual(loaded.records.map((r) => (r.kind === 'executed' ? r.vs.seqno : r.kind)), [1, 2], 'generation 0, then 1');
});

test('a snapshot write that fails stops the store: the syncs behind an installed copy, and every later one, get the error; the disk keeps the old snapshot and log', () => {
  for (const why of ['installed', 'compaction'] as const) {
    const h = harness();
    const store = h.open();
    store.load();
    store.append(executed(1));
    synced(h, store);
    h.disk.snapshot('rsm'); // the file exists (empty) so that the fault reaches it
    h.disk.failNextSync();
    h.disk.store('rsm-0').failNextSync = false; // only the snapshot's write fails
    store.append(snapshot(why, 'LOST'));
    store.append(executed(2));
    const errors: Array<string | undefined> = [];
    store.sync((err) => errors.push(err?.message));
    h.sim.runUntilIdle();
    store.sync((err) => errors.push(err?.message));
    h.sim.runUntilIdle();
    const failed = 'simulated disk error: the snapshot write failed';
    assert.deepEqual(errors, why === 'installed' ? [failed, failed] : [undefined, failed], why);
    h.crash();
    const loaded = h.open().load();
    assert.equal(loaded.snapshot, null, why);
    assert.deepEqual(loaded.records.map((r) => (r.kind === 'executed' ? r.vs.seqno : r.kind)), why === 'installed' ? [1] : [1, 2], why);
  }
});

test('a log generation missing while a later one exists is refused as corruption, not skipped', () => {
  const h = harness();
  const store = h.open();
  store.load();
  store.append(executed(1));
  store.append(snapshot('compaction', 'S'));
  store.append({ kind: 'normal', vid: 3 });
  synced(h, store);
  // The snapshot names generation 1; generation 2 appears, generation 1 vanishes.
  h.disk.store('rsm-2').records.push(new TextEncoder().encode('{"normal":{"vid":4}}'));
  h.disk.store('rsm-2').durableCount = 1;
  h.disk.removeStore('rsm-1');
  h.crash();
  assert.throws(() => h.open().load(), (err: unknown) => err instanceof CorruptLogError && err.file === 'rsm-1');
});
