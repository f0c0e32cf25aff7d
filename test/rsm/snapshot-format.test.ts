// The replicated state as a stream (snapshot-format.ts): written a line at a time, read back a
// line at a time, deterministic, and every malformed or oversized stream refused as invalid input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidMessageError } from '../../src/env/errors.js';
import { ClientTable, type TableLimits } from '../../src/rsm/client-table.js';
import { SnapshotEncoder, SnapshotReader, encodeWhole, maxLineBytes } from '../../src/rsm/snapshot-format.js';
import type { Viewstamp } from '../../src/rsm/viewstamp.js';

const limits: TableLimits = { retentionMs: 1000, maxClients: 10, evictableAfterMs: 100 };
const target: Viewstamp = { vid: 6, seqno: 42 };
const text = new TextEncoder();

function sampleTable(): ClientTable {
  const t = new ClientTable(limits);
  t.sweep(5000, limits);
  // An own `__proto__` key (as JSON.parse makes it) and a newline inside a key survive the trip.
  t.record({ clientId: 'client-b', seq: 3, first: false }, 'digest-b', { ok: true, value: JSON.parse('{"x":[1,"two",null],"__proto__":"kept","\\n":"a newline key"}') });
  t.record({ clientId: 'client-a', seq: 9, first: false }, 'digest-a', { ok: false, code: 'NOPE', message: 'refused\nwith a newline' });
  return t;
}

/** Deterministic pseudo-random bytes (every byte value occurs, newlines included). */
function bytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = 0x12345678;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** Reads `stream` in pieces of `size` bytes. */
function readBack(stream: Uint8Array, size: number, maxBytes = Number.MAX_SAFE_INTEGER) {
  const r = new SnapshotReader(maxBytes);
  for (let at = 0; at < stream.length; at += size) r.push(stream.subarray(at, at + size));
  return r;
}

const rows = (t: ClientTable) => JSON.stringify([...t.entries()].map(([id, e]) => [id, e.floor, e.expired, e.activeMs, [...e.slots]]));

for (const [appBytes, size] of [[0, 1], [0, 7], [3000, 13], [100_000, 4096], [3 * 1024 * 1024 + 17, 256 * 1024]] as const) {
  test(`a state with ${appBytes} app bytes read back in pieces of ${size} bytes is the same state`, () => {
    // Proves the stream carries the viewstamp, the table (entries, order, clock, limits) and the app's bytes exactly.
    const table = sampleTable();
    const app = bytes(appBytes);
    const r = readBack(encodeWhole(target, table, app), size);
    assert.ok(r.complete);
    const back = r.result();
    assert.deepEqual(back.last, target);
    assert.equal(rows(back.table), rows(table));
    assert.equal(back.table.clockMs, 5000);
    assert.deepEqual(back.table.limits, limits);
    assert.ok(Buffer.from(back.app).equals(Buffer.from(app)));
  });
}

test('the encoder writes chunks of at most the size asked for, and the stream is the same whatever the sizes', () => {
  // Proves a source never builds more than a chunk (plus one line) at a time, and states compare by their bytes.
  const table = sampleTable();
  const app = bytes(5000);
  const whole = encodeWhole(target, table, app);
  for (const size of [1, 3, 64, 1000]) {
    const e = new SnapshotEncoder(target, table, app);
    const parts: Buffer[] = [];
    while (!e.done) {
      const part = e.read(size);
      assert.ok(part.length <= size);
      parts.push(Buffer.from(part));
    }
    assert.ok(Buffer.concat(parts).equals(Buffer.from(whole)), `pieces of ${size}`);
    assert.equal(e.position, whole.length);
  }
});

test('a state with an empty table and no app bytes round-trips', () => {
  // Proves the smallest stream (a header line only) is complete.
  const r = readBack(encodeWhole({ vid: 0, seqno: 0 }, new ClientTable(limits), new Uint8Array(0)), 5);
  assert.ok(r.complete);
  assert.equal(r.result().table.size, 0);
  assert.equal(r.result().table.clockMs, null);
});

test('a stream cut short is not complete and has no result', () => {
  // Proves nobody installs half a state.
  const whole = encodeWhole(target, sampleTable(), bytes(100));
  for (const cut of [0, 10, whole.length - 101, whole.length - 1]) {
    const r = readBack(whole.subarray(0, cut), 7);
    assert.equal(r.complete, false);
    assert.throws(() => r.result(), InvalidMessageError);
  }
});

function refuses(push: (r: SnapshotReader) => void, pattern: RegExp, maxBytes = Number.MAX_SAFE_INTEGER): void {
  const r = new SnapshotReader(maxBytes);
  assert.throws(() => push(r), (e: unknown) => e instanceof InvalidMessageError && pattern.test(e.message), String(pattern));
}

const headerLine = (h: object): Uint8Array =>
  text.encode(`${JSON.stringify({ synod: 'replicated-state', version: 1, last: target, clockMs: 10, limits, clients: 1, appBytes: 0, ...h })}\n`);

test('a stream beyond maxBytes is refused as soon as it passes the bound, also when its header announces more', () => {
  // Proves a source cannot make a puller collect without bound (RsmOptions.maxStateTransferBytes).
  const whole = encodeWhole(target, sampleTable(), bytes(1000));
  refuses((r) => readBack(whole, 100, whole.length - 1), /maxStateTransferBytes/);
  assert.ok(readBack(whole, 100, whole.length).complete, 'exactly the bound is accepted');
  refuses((r) => r.push(headerLine({ appBytes: 2000 })), /appBytes.*maxStateTransferBytes/, 1000);
});

test('a line longer than any entry can be is refused before it is held whole', () => {
  // Proves a source cannot make a puller hold one endless line.
  const chunk = new Uint8Array(64 * 1024).fill(0x20);
  refuses((r) => {
    for (let sent = 0; sent <= maxLineBytes; sent += chunk.length) r.push(chunk);
  }, /longer than/);
});

test('malformed streams are refused as invalid input: header, entries, nesting, encoding, order and trailing bytes', () => {
  // Proves whatever another replica sends, a puller refuses it with a typed error, never an invariant violation.
  const row = (v: unknown): Uint8Array => text.encode(`${JSON.stringify(v)}\n`);
  const good = ['c', 1, 'd', 10, { ok: true, value: 1 }];
  refuses((r) => r.push(text.encode('{"synod":"other"}\n')), /not a replicated-state stream/);
  refuses((r) => r.push(headerLine({ version: 3 })), /version/);
  refuses((r) => r.push(headerLine({ last: { vid: -1, seqno: 0 } })), /last\.vid/);
  refuses((r) => r.push(headerLine({ limits: { ...limits, maxClients: 0 } })), /limits/);
  refuses((r) => r.push(headerLine({ clients: 1.5 })), /clients/);
  refuses((r) => r.push(text.encode('not json\n')), /not JSON/);
  refuses((r) => r.push(new Uint8Array([0xff, 0xfe, 0x0a])), /UTF-8/);
  refuses((r) => r.push(text.encode(`${'['.repeat(100_000)}${']'.repeat(100_000)}\n`)), /deeper/);
  for (const [bad, pattern] of [
    [['c', 1, 'd', 10], /five fields/],
    [['', 1, 'd', 10, { ok: true, value: 1 }], /client/],
    [['c', -1, 'd', 10, { ok: true, value: 1 }], /seq/],
    [['c', 1, 7, 10, { ok: true, value: 1 }], /digest/],
    [['c', 1, 'd', 11, { ok: true, value: 1 }], /after the clock/],
    [['c', 1, 'd', 10, { ok: false, code: 1, message: '' }], /outcome/],
    [['c', 1, 'd', 10, { ok: true }], /outcome/],
  ] as const) {
    refuses((r) => {
      r.push(headerLine({}));
      r.push(row(bad));
    }, pattern);
  }
  refuses((r) => {
    r.push(headerLine({ clients: 2 }));
    r.push(row(good));
    r.push(row(good));
  }, /twice/);
  refuses((r) => {
    r.push(headerLine({}));
    r.push(row(good));
    r.push(new Uint8Array([1]));
  }, /after the announced end/);
  // Version 2: an entry line, then its slot lines.
  const slot = (seq: number) => [seq, 'd', { ok: true, value: seq }];
  for (const [lines, pattern] of [
    [[['c', 1, 10, 2, 0]], /expired/],
    [[['c', 1, 10, 0, 1025]], /slots/],
    [[['c', 1, 10, 0, 2], slot(3), slot(2)], /out of order/],
    [[['c', 1, 10, 0, 2], slot(3), slot(3)], /out of order/],
    [[['c', 5, 10, 0, 1], slot(4)], /outside the window/],
    [[['c', 5, 10, 0, 1], slot(5 + 1024)], /outside the window/],
    [[['c', 5, 10, 0, 1], [5, 'd']], /three fields/],
  ] as const) {
    refuses((r) => {
      r.push(headerLine({ version: 2 }));
      for (const l of lines) r.push(row(l));
    }, pattern);
  }
});

test('a version 1 stream (one line per client: its last request) is read as entries whose floor is that request, held in their one slot', () => {
  // Proves a node upgraded onto a data directory or a transfer of the previous format keeps every outcome and its at-most-once answers.
  const r = new SnapshotReader(1 << 20);
  r.push(headerLine({ clients: 2 }));
  r.push(text.encode(`${JSON.stringify(['a', 4, 'da', 9, { ok: true, value: 'four' }])}\n${JSON.stringify(['b', 2, 'db', 10, { ok: false, code: 'NO', message: 'm' }])}\n`));
  assert.equal(r.complete, true);
  const t = r.result().table;
  assert.deepEqual([...t.entries()].map(([id, e]) => [id, e.floor, e.expired, e.activeMs, [...e.slots]]), [
    ['a', 4, false, 9, [[4, { digest: 'da', outcome: { ok: true, value: 'four' } }]]],
    ['b', 2, false, 10, [[2, { digest: 'db', outcome: { ok: false, code: 'NO', message: 'm' } }]]],
  ]);
  assert.deepEqual(t.check({ clientId: 'a', seq: 4, first: false }, 'da'), { kind: 'done', outcome: { ok: true, value: 'four' } }, 'a retry of the last request is answered');
  assert.deepEqual(t.check({ clientId: 'a', seq: 3, first: false }, 'dx'), { kind: 'stale' }, 'an earlier one is late');
  assert.deepEqual(t.check({ clientId: 'a', seq: 5, first: false }, 'dx'), { kind: 'new' });
});
