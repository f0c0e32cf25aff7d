// The chunked pull of a state (StateTransfer) from a source that writes the stream as it is
// asked for (SnapshotSource): complete transfers, strays ignored, lost chunks served again, and
// sources that misbehave refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvariantViolation } from '../../src/env/errors.js';
import { ClientTable, type TableLimits } from '../../src/rsm/client-table.js';
import type { ReplicaMessage } from '../../src/rsm/messages.js';
import { encodeWhole } from '../../src/rsm/snapshot-format.js';
import { type PullProgress, SnapshotSource, StateTransfer } from '../../src/rsm/state-transfer.js';
import type { Viewstamp } from '../../src/rsm/viewstamp.js';

type Chunk = Extract<ReplicaMessage, { kind: 'sync-chunk' }>;

const source = 'src:1';
const puller = 'dst:1';
const vid = 7;
const target: Viewstamp = { vid: 6, seqno: 42 };
const limits: TableLimits = { retentionMs: 1000, maxClients: 1000, evictableAfterMs: 100 };
const noBound = Number.MAX_SAFE_INTEGER;

function sampleTable(clients = 2): ClientTable {
  const t = new ClientTable(limits);
  t.sweep(100, limits);
  for (let i = 0; i < clients; i++) t.record({ clientId: `client-${i}`, seq: i + 1, first: false }, `digest-${i}`, i % 2 === 0 ? { ok: true, value: [i, 'x'] } : { ok: false, code: 'NOPE', message: `refused ${i}` });
  return t;
}

function bytes(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7919) % 256);
}

/** Pulls the whole state from `src` as a replica does: ask nextRequest(), answer with the source's chunk. */
function pullAll(src: SnapshotSource, chunkBytes: number, maxBytes = noBound): { st: StateTransfer; progress: PullProgress[] } {
  const st = new StateTransfer(vid, source, target, maxBytes);
  const progress: PullProgress[] = [];
  for (let guard = 0; guard < 1_000_000; guard++) {
    const ask = st.nextRequest();
    if (ask.kind !== 'sync-pull') throw new Error('unreachable');
    assert.deepEqual(ask, { kind: 'sync-pull', vid, target, offset: st.received });
    const p = st.accept(source, src.chunk(vid, puller, ask.offset, chunkBytes)!);
    progress.push(p);
    if (p !== 'more') break;
  }
  return { st, progress };
}

const rows = (t: ClientTable) => JSON.stringify([...t.entries()].map(([id, e]) => [id, e.floor, e.expired, e.activeMs, [...e.slots]]));

for (const chunkBytes of [1, 7, 1000, 65_536, 256 * 1024]) {
  test(`a state pulled in chunks of ${chunkBytes} bytes arrives whole, 'more' until the last chunk`, () => {
    // Proves the chunked transfer end to end: the table entry by entry, the app's bytes exactly.
    const table = sampleTable(chunkBytes < 100 ? 20 : 500);
    const app = bytes(chunkBytes < 100 ? 2000 : 3 * 1024 * 1024);
    const { st, progress } = pullAll(new SnapshotSource(target, table, app), chunkBytes);
    const total = encodeWhole(target, table, app).length;
    assert.equal(progress.at(-1), 'complete');
    assert.ok(progress.slice(0, -1).every((p) => p === 'more'));
    assert.ok(progress.length >= Math.ceil(total / chunkBytes));
    assert.equal(st.received, total);
    const got = st.result();
    assert.deepEqual(got.last, target);
    assert.equal(rows(got.table), rows(table));
    assert.ok(Buffer.from(got.app).equals(Buffer.from(app)));
  });
}

test('a state that fits in one chunk completes at once', () => {
  // One chunk holding everything is 'complete' straight away.
  const { progress } = pullAll(new SnapshotSource(target, sampleTable(), bytes(500)), 1024 * 1024);
  assert.deepEqual(progress, ['complete']);
});

test('chunks from another source, of another target or view, or at another offset are ignored and change nothing', () => {
  // Only the next chunk of this very pull moves it forward; duplicates and strays do not.
  const src = new SnapshotSource(target, sampleTable(), bytes(1000));
  const size = 100;
  const at = (offset: number, t: Viewstamp = target, v = vid): Chunk => ({ ...src.chunk(vid, 'other', offset, size)!, target: t, vid: v });
  const st = new StateTransfer(vid, source, target, noBound);
  const strays: Array<[string, Chunk]> = [
    ['other:1', at(0)],
    [source, at(0, { vid: 6, seqno: 41 })],
    [source, at(0, { vid: 5, seqno: 42 })],
    [source, at(0, target, vid + 1)],
    [source, at(size)],
    [source, { ...at(0), data: new Uint8Array(0), last: false }],
  ];
  for (const [from, m] of strays) assert.equal(st.accept(from, m), 'ignored', `${from} ${JSON.stringify({ ...m, data: m.data.length })}`);
  assert.equal(st.received, 0);
  assert.equal(st.accept(source, at(0)), 'more');
  assert.equal(st.accept(source, at(0)), 'ignored', 'a duplicate of the chunk just taken');
  assert.equal(st.accept(source, at(2 * size)), 'ignored', 'a chunk from further on');
  assert.equal(st.received, size);
  let p: PullProgress = 'more';
  while (p === 'more') p = st.accept(source, at(st.received));
  assert.equal(p, 'complete');
  assert.equal(rows(st.result().table), rows(sampleTable()), 'the strays left no trace');
});

test('a source answers a repeated request with the same chunk, and a pull from elsewhere by writing the stream again', () => {
  // Proves a lost chunk is served again, and a puller that starts over (or skips) gets the right bytes.
  const table = sampleTable(50);
  const app = bytes(3000);
  const whole = Buffer.from(encodeWhole(target, table, app));
  const src = new SnapshotSource(target, table, app);
  const a = src.chunk(vid, puller, 0, 100)!;
  const b = src.chunk(vid, puller, 100, 100)!;
  assert.equal(src.chunk(vid, puller, 100, 100), b, 'the same request: the same chunk');
  for (const offset of [0, 2000, 150, whole.length - 10]) {
    const c = src.chunk(vid, puller, offset, 100)!;
    assert.ok(Buffer.from(c.data).equals(whole.subarray(offset, offset + 100)), `offset ${offset}`);
    assert.equal(c.last, offset + 100 >= whole.length);
  }
  assert.ok(Buffer.from(a.data).equals(whole.subarray(0, 100)));
  assert.equal(src.chunk(vid, puller, whole.length + 1, 100), null, 'beyond the end: nothing to serve');
  const end = src.chunk(vid, 'late', whole.length, 100)!;
  assert.deepEqual({ length: end.data.length, last: end.last }, { length: 0, last: true });
});

test('the pullers of one source each keep their own place', () => {
  // Proves two backups can copy the primary's state at the same time.
  const src = new SnapshotSource(target, sampleTable(30), bytes(500));
  const one = new StateTransfer(vid, source, target, noBound);
  const two = new StateTransfer(vid, source, target, noBound);
  let p1: PullProgress = 'more';
  let p2: PullProgress = 'more';
  while (p1 === 'more' || p2 === 'more') {
    if (p1 === 'more') p1 = one.accept(source, src.chunk(vid, 'one', one.received, 64)!);
    if (p2 === 'more') p2 = two.accept(source, src.chunk(vid, 'two', two.received, 50)!);
  }
  assert.deepEqual([p1, p2], ['complete', 'complete']);
  assert.equal(rows(one.result().table), rows(two.result().table));
});

test('a source that sends more than maxStateTransferBytes, or ends early, makes the pull invalid', () => {
  // Proves a puller never collects without bound, and never installs what a source cut short.
  const table = sampleTable();
  const app = bytes(1000);
  const total = encodeWhole(target, table, app).length;
  const capped = pullAll(new SnapshotSource(target, table, app), 100, total - 1).progress.at(-1);
  assert.ok(typeof capped === 'object' && /maxStateTransferBytes/.test(capped.invalid), JSON.stringify(capped));
  assert.equal(pullAll(new SnapshotSource(target, table, app), 100, total).progress.at(-1), 'complete');
  const st = new StateTransfer(vid, source, target, noBound);
  const first = new SnapshotSource(target, table, app).chunk(vid, puller, 0, 100)!;
  const early = st.accept(source, { ...first, last: true });
  assert.ok(typeof early === 'object' && /before all it announced/.test(early.invalid));
  assert.equal(st.accept(source, { ...first, offset: 100 }), 'ignored', 'an ended pull takes nothing more');
});

test('result() before the pull is complete is an invariant violation', () => {
  // Nobody may install half a state.
  const src = new SnapshotSource(target, sampleTable(), bytes(1000));
  const st = new StateTransfer(vid, source, target, noBound);
  assert.throws(() => st.result(), InvariantViolation, 'before any chunk');
  assert.equal(st.accept(source, src.chunk(vid, puller, 0, 64)!), 'more');
  assert.throws(() => st.result(), InvariantViolation, 'after one chunk of many');
});
