import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidMessageError, InvariantViolation } from '../../src/env/errors.js';
import { ClientTable } from '../../src/rsm/client-table.js';
import type { ReplicaMessage } from '../../src/rsm/messages.js';
import { StateTransfer, chunkOf, decodeSnapshot, encodeSnapshot } from '../../src/rsm/state-transfer.js';
import type { Viewstamp } from '../../src/rsm/viewstamp.js';

// Snapshots (encodeSnapshot / decodeSnapshot) and the chunked pull (StateTransfer + chunkOf).

type Chunk = Extract<ReplicaMessage, { kind: 'sync-chunk' }>;

const source = 'src:1';
const vid = 7;
const target: Viewstamp = { vid: 6, seqno: 42 };

function sampleTable(): ClientTable {
  const t = new ClientTable();
  t.record('client-b', 3, 'digest-b', { ok: true, value: { x: [1, 'two', null] } });
  t.record('client-a', 9, 'digest-a', { ok: false, code: 'NOPE', message: 'refused' });
  return t;
}

/** Deterministic pseudo-random bytes (every byte value occurs). */
function bytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = 0x12345678;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function chunk(snapshot: Uint8Array, offset: number, chunkBytes: number, at: Viewstamp = target, v = vid): Chunk {
  return chunkOf(v, at, snapshot, offset, chunkBytes) as Chunk;
}

/** Pulls `snapshot` to the end as a replica does: ask nextRequest(), answer with chunkOf. */
function pullAll(snapshot: Uint8Array, chunkBytes: number): { st: StateTransfer; progress: string[] } {
  const st = new StateTransfer(vid, source, target);
  const progress: string[] = [];
  for (let guard = 0; guard < snapshot.length + 2; guard++) {
    const ask = st.nextRequest();
    assert.equal(ask.kind, 'sync-pull');
    if (ask.kind !== 'sync-pull') throw new Error('unreachable');
    assert.deepEqual(ask, { kind: 'sync-pull', vid, target, offset: st.received });
    const p = st.accept(source, chunk(snapshot, ask.offset, chunkBytes));
    progress.push(p);
    if (p !== 'more') break;
  }
  return { st, progress };
}

test('a snapshot with an empty app state round-trips', () => {
  // The header (last viewstamp and client table) alone survives encode / decode.
  const table = sampleTable();
  const snap = decodeSnapshot(encodeSnapshot(target, table, new Uint8Array(0)));
  assert.deepEqual(snap.last, target);
  assert.deepEqual(snap.table.toJson(), table.toJson());
  assert.equal(snap.app.length, 0);
});

test('a snapshot at viewstamp (0, 0) with an empty client table round-trips', () => {
  // The state a brand-new cluster starts from encodes like any other.
  const snap = decodeSnapshot(encodeSnapshot({ vid: 0, seqno: 0 }, new ClientTable(), new Uint8Array([1, 2, 3])));
  assert.deepEqual(snap.last, { vid: 0, seqno: 0 });
  assert.deepEqual(snap.table.toJson(), []);
  assert.deepEqual(snap.app, new Uint8Array([1, 2, 3]));
});

test('a snapshot with a large (3 MiB) app state round-trips byte for byte', () => {
  // Large app states are carried whole, every byte value included.
  const app = bytes(3 * 1024 * 1024 + 17);
  const snap = decodeSnapshot(encodeSnapshot(target, sampleTable(), app));
  assert.deepEqual(snap.last, target);
  assert.deepEqual(snap.table.toJson(), sampleTable().toJson());
  assert.equal(snap.app.length, app.length);
  assert.ok(Buffer.from(snap.app).equals(Buffer.from(app)));
});

test('a snapshot decodes from a view into a larger buffer at a non-zero offset', () => {
  // decodeSnapshot reads its header length relative to the view, not the underlying buffer.
  const encoded = encodeSnapshot(target, sampleTable(), bytes(100));
  const larger = new Uint8Array(encoded.length + 13);
  larger.fill(0xff);
  larger.set(encoded, 5);
  const snap = decodeSnapshot(larger.subarray(5, 5 + encoded.length));
  assert.deepEqual(snap.last, target);
  assert.deepEqual(snap.app, bytes(100));
});

test('a truncated or too deeply nested snapshot is refused as invalid input, not a silent partial state', () => {
  // The bytes come from another replica: bytes shorter than the header they announce, or a
  // header nested deeper than any client table holds, are refused with a typed error (the
  // state is then not installed), never an invariant violation that would stop the node.
  const encoded = encodeSnapshot(target, sampleTable(), bytes(10));
  assert.throws(() => decodeSnapshot(encoded.subarray(0, 3)), InvalidMessageError);
  assert.throws(() => decodeSnapshot(encoded.subarray(0, 10)), InvalidMessageError);
  const deep = new TextEncoder().encode(`${'['.repeat(100_000)}${']'.repeat(100_000)}`);
  const forged = new Uint8Array(4 + deep.length);
  new DataView(forged.buffer).setUint32(0, deep.length, true);
  forged.set(deep, 4);
  assert.throws(() => decodeSnapshot(forged), (e: unknown) => e instanceof InvalidMessageError && /deeper/.test(e.message));
});

for (const chunkBytes of [1, 7, 1000, 4096, 65_536, 256 * 1024]) {
  test(`a snapshot pulled in chunks of ${chunkBytes} bytes is assembled exactly, reporting more until complete`, () => {
    // Every chunk but the last says 'more'; the last says 'complete'; the result is the snapshot.
    const appBytes = chunkBytes < 1000 ? 3000 * chunkBytes : chunkBytes < 65_536 ? 300_000 : 3 * 1024 * 1024;
    const snapshot = encodeSnapshot(target, sampleTable(), bytes(appBytes));
    const { st, progress } = pullAll(snapshot, chunkBytes);
    const chunks = Math.ceil(snapshot.length / chunkBytes);
    assert.equal(progress.length, chunks);
    assert.deepEqual(progress.slice(0, -1), Array(chunks - 1).fill('more'));
    assert.equal(progress.at(-1), 'complete');
    assert.equal(st.received, snapshot.length);
    assert.ok(Buffer.from(st.result()).equals(Buffer.from(snapshot)));
    assert.deepEqual(decodeSnapshot(st.result()).last, target);
  });
}

test('a snapshot that fits in one chunk (chunk larger than the snapshot) completes at once', () => {
  // One chunk holding everything is 'complete' straight away.
  const snapshot = encodeSnapshot(target, sampleTable(), bytes(500));
  const { st, progress } = pullAll(snapshot, snapshot.length + 1);
  assert.deepEqual(progress, ['complete']);
  assert.ok(Buffer.from(st.result()).equals(Buffer.from(snapshot)));
  const exact = pullAll(snapshot, snapshot.length);
  assert.deepEqual(exact.progress, ['complete']);
});

test('chunks from another source, of another target or view, or at another offset are ignored and change nothing', () => {
  // Only the next chunk of this very pull moves it forward; duplicates and strays do not.
  const snapshot = encodeSnapshot(target, sampleTable(), bytes(1000));
  const size = 100;
  const st = new StateTransfer(vid, source, target);
  const strays: Array<[string, Chunk]> = [
    ['other:1', chunk(snapshot, 0, size)],
    [source, chunk(snapshot, 0, size, { vid: 6, seqno: 41 })],
    [source, chunk(snapshot, 0, size, { vid: 5, seqno: 42 })],
    [source, chunk(snapshot, 0, size, target, vid + 1)],
    [source, chunk(snapshot, 0, size, target, vid - 1)],
    [source, chunk(snapshot, size, size)],
  ];
  for (const [from, m] of strays) assert.equal(st.accept(from, m), 'ignored', `${from} ${JSON.stringify({ ...m, data: m.data.length })}`);
  assert.equal(st.received, 0);
  assert.deepEqual(st.nextRequest(), { kind: 'sync-pull', vid, target, offset: 0 });

  assert.equal(st.accept(source, chunk(snapshot, 0, size)), 'more');
  assert.equal(st.accept(source, chunk(snapshot, 0, size)), 'ignored', 'a duplicate of the chunk just taken');
  assert.equal(st.accept(source, chunk(snapshot, 2 * size, size)), 'ignored', 'a chunk from further on');
  assert.equal(st.accept('other:1', chunk(snapshot, size, size)), 'ignored', 'the right chunk from the wrong node');
  assert.equal(st.received, size);
  assert.deepEqual(st.nextRequest(), { kind: 'sync-pull', vid, target, offset: size });

  let p: string = 'more';
  while (p === 'more') p = st.accept(source, chunk(snapshot, st.received, size));
  assert.equal(p, 'complete');
  assert.ok(Buffer.from(st.result()).equals(Buffer.from(snapshot)), 'the strays left no trace in the result');
});

test('result() before the pull is complete is an invariant violation', () => {
  // Nobody may install half a snapshot.
  const snapshot = encodeSnapshot(target, sampleTable(), bytes(1000));
  const st = new StateTransfer(vid, source, target);
  assert.throws(() => st.result(), InvariantViolation, 'before any chunk');
  assert.equal(st.accept(source, chunk(snapshot, 0, 64)), 'more');
  assert.throws(() => st.result(), InvariantViolation, 'after one chunk of many');
});

test('a zero-length snapshot completes with its one empty chunk and yields zero bytes', () => {
  // chunkOf of nothing is an empty chunk of total 0, which completes the pull.
  const empty = new Uint8Array(0);
  const m = chunk(empty, 0, 1024);
  assert.deepEqual({ offset: m.offset, total: m.total, length: m.data.length }, { offset: 0, total: 0, length: 0 });
  const st = new StateTransfer(vid, source, target);
  assert.equal(st.accept(source, m), 'complete');
  assert.equal(st.result().length, 0);
  assert.equal(st.received, 0);
});

test('chunkOf past the end of the snapshot answers an empty chunk at the end, which does not complete a pull that is behind', () => {
  // An offset beyond the snapshot is clamped; an empty chunk never moves a pull forward.
  const snapshot = bytes(50);
  const m = chunk(snapshot, 80, 10);
  assert.deepEqual({ offset: m.offset, total: m.total, length: m.data.length }, { offset: 50, total: 50, length: 0 });
  const st = new StateTransfer(vid, source, target);
  assert.equal(st.accept(source, chunk(snapshot, 0, 10)), 'more');
  assert.equal(st.accept(source, { ...chunk(snapshot, 10, 10), data: new Uint8Array(0) }), 'ignored', 'an empty chunk short of the total');
  assert.equal(st.received, 10);
});

test('whenever accept() says complete, result() returns the announced total (even for a chunk that overruns it)', () => {
  // A chunk is checked by the codec field by field only; a chunk whose data runs past its own
  // total must not make the pull say 'complete' and then trip an invariant in result() (which
  // would stop the node on a bad network message).
  const st = new StateTransfer(vid, source, target);
  const overrun: Chunk = { kind: 'sync-chunk', vid, target, offset: 0, total: 4, data: new Uint8Array([1, 2, 3, 4, 5, 6]) };
  const p = st.accept(source, overrun);
  if (p === 'complete') {
    assert.doesNotThrow(() => st.result());
    assert.equal(st.result().length, 4);
  } else {
    assert.equal(p, 'ignored');
  }
});
