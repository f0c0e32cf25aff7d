import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LoadedRecord } from '../../src/env/durable-log.js';
import { crc32 } from '../../src/runtime/crc32.js';
import {
  type LogScan,
  batchHeaderBytes,
  encodeBatch,
  fileLogMagic,
  frameRecord,
  groupIntoBatches,
  recordHeaderBytes,
  scanLog,
} from '../../src/runtime/file-log-format.js';
import { patterned, text } from './file-log-support.js';

// The log's format on byte arrays alone, without a file: how a batch is laid out, and what the
// scan makes of a log image torn or damaged at every place a crash or a bad disk can hit.

/** Generous enough for every record below; the limit's own checks pass a smaller one. */
const maxRecordBytes = 1 << 20;

/** The unit a torn write loses or keeps: a page of the page cache. */
const pageBytes = 4096;

interface LogImage {
  readonly bytes: Uint8Array;
  /** Where each batch starts; `starts[i]` holds `batches[i]`. */
  readonly starts: readonly number[];
  /** The records of each batch as the scan reports them. */
  readonly records: ReadonlyArray<readonly LoadedRecord[]>;
}

/** The header, then one batch per entry of `batches`, as `FileLog` writes them. */
function logImage(batches: ReadonlyArray<readonly Uint8Array[]>): LogImage {
  const parts: Uint8Array[] = [fileLogMagic];
  const starts: number[] = [];
  const records: LoadedRecord[][] = [];
  let at = fileLogMagic.length;
  for (const batch of batches) {
    starts.push(at);
    const inBatch: LoadedRecord[] = [];
    let offset = at + batchHeaderBytes;
    for (const data of batch) {
      inBatch.push({ offset, data });
      offset += recordHeaderBytes + data.length;
    }
    records.push(inBatch);
    const encoded = encodeBatch(batch.map(frameRecord));
    parts.push(encoded);
    at += encoded.length;
  }
  return { bytes: concat(parts), starts, records };
}

/** Three small batches and a last one of about 4.5 pages, the last batch starting in page 0. */
function threeAndABigOne(): LogImage {
  return logImage([
    [text('alpha')],
    [patterned(50, 1), text('')],
    [patterned(40, 2)],
    [patterned(7000, 3), patterned(6000, 4), patterned(5000, 5)],
  ]);
}

/** The records of the first `count` batches, in order. */
function recordsOf(image: LogImage, count: number): LoadedRecord[] {
  return image.records.slice(0, count).flat();
}

function assertTornAt(scan: LogScan, validEnd: number, survivors: readonly LoadedRecord[], context: string): void {
  assert.equal(scan.kind, 'torn-tail', `${context}: ${JSON.stringify(scan.kind === 'damaged' ? scan : scan.kind)}`);
  assert.ok(scan.kind === 'torn-tail');
  assert.equal(scan.validEnd, validEnd, context);
  assertSameRecords(scan.records, survivors, context);
}

function assertDamagedAt(scan: LogScan, offset: number, reason: RegExp, context: string): void {
  assert.equal(scan.kind, 'damaged', `${context}: got ${scan.kind}`);
  assert.ok(scan.kind === 'damaged');
  assert.equal(scan.offset, offset, context);
  assert.match(scan.reason, reason, context);
}

function assertSameRecords(actual: readonly LoadedRecord[], expected: readonly LoadedRecord[], context: string): void {
  const show = (records: readonly LoadedRecord[]): string[] =>
    records.map((r) => `${r.offset}:${Buffer.from(r.data).toString('hex')}`);
  assert.deepEqual(show(actual), show(expected), context);
}

describe('FileLog format: encoding and reading back', () => {
  test('a batch is its payload length, the checksum of those 4 bytes, the payload checksum, then the records behind their lengths', () => {
    const batch = encodeBatch([frameRecord(text('ab')), frameRecord(new Uint8Array(0))]);
    const payload = Uint8Array.from([2, 0, 0, 0, 0x61, 0x62, 0, 0, 0, 0]);
    const header = new DataView(batch.buffer, batch.byteOffset, batchHeaderBytes);
    assert.equal(header.getUint32(0, true), payload.length);
    assert.equal(header.getUint32(4, true), crc32(Uint8Array.from([payload.length, 0, 0, 0])));
    assert.equal(header.getUint32(8, true), crc32(payload));
    assert.deepEqual([...batch.subarray(batchHeaderBytes)], [...payload]);
  });

  test('a framed record is a copy: changing the input afterwards changes nothing', () => {
    const data = text('abc');
    const frame = frameRecord(data);
    data[0] = 0x7a;
    assert.deepEqual([...frame], [3, 0, 0, 0, 0x61, 0x62, 0x63]);
  });

  test('a log holding only the header scans as intact and empty', () => {
    assert.deepEqual(scanLog(fileLogMagic, maxRecordBytes), { kind: 'intact', records: [], validEnd: fileLogMagic.length });
  });

  test('every record of every batch scans back byte-exact at its own offset, and the log is intact', () => {
    const image = threeAndABigOne();
    const scan = scanLog(image.bytes, maxRecordBytes);
    assert.equal(scan.kind, 'intact');
    assert.ok(scan.kind === 'intact');
    assert.equal(scan.validEnd, image.bytes.length);
    assertSameRecords(scan.records, recordsOf(image, 4), 'all four batches');
  });

  test('a flush is grouped into batches of at most the target size, a larger record alone, in order', () => {
    const frames = [4, 4, 4, 20, 4].map((length) => new Uint8Array(length));
    const groups = groupIntoBatches(frames, 10);
    assert.deepEqual(groups, [[frames[0], frames[1]], [frames[2]], [frames[3]], [frames[4]]]);
    assert.ok(groups.flat().every((frame, i) => frame === frames[i]), 'the same frames, in order');
    const oversized = new Uint8Array(20);
    assert.deepEqual(groupIntoBatches([oversized], 10), [[oversized]], 'no empty batch before a frame that is larger alone');
    assert.deepEqual(groupIntoBatches([], 10), []);
  });
});

describe('FileLog format: torn tails', () => {
  test('a log cut at every byte inside its last batch is a torn tail at that batch, keeping every earlier record', () => {
    const image = threeAndABigOne();
    const last = image.starts[3]!;
    const survivors = recordsOf(image, 3);
    for (let cut = last + 1; cut < image.bytes.length; cut++) {
      assertTornAt(scanLog(image.bytes.subarray(0, cut), maxRecordBytes), last, survivors, `cut at ${cut}`);
    }
    const atBoundary = scanLog(image.bytes.subarray(0, last), maxRecordBytes);
    assert.equal(atBoundary.kind, 'intact', 'a cut between batches leaves a whole log');
  });

  test('one zeroed page anywhere in a multi-page last batch is a torn tail at that batch', () => {
    // A crash tears the batch's one write: a page reads back as zeros while later pages persisted.
    const image = threeAndABigOne();
    const last = image.starts[3]!;
    const survivors = recordsOf(image, 3);
    let pages = 0;
    for (let page = Math.floor(last / pageBytes) * pageBytes; page < image.bytes.length; page += pageBytes) {
      // Only the batch's part of the page is lost: the part before it holds earlier, durable batches.
      const from = Math.max(page, last);
      const bytes = Uint8Array.from(image.bytes).fill(0, from, page + pageBytes);
      assertTornAt(scanLog(bytes, maxRecordBytes), last, survivors, `page at ${page} zeroed from ${from}`);
      pages++;
    }
    assert.ok(pages >= 5, `the last batch spans ${pages} pages`);
  });

  test('any one damaged byte in the last batch is a torn tail at that batch: damage there cannot be told from a tear', () => {
    const image = threeAndABigOne();
    const last = image.starts[3]!;
    const survivors = recordsOf(image, 3);
    for (let at = last; at < image.bytes.length; at++) {
      assertTornAt(scanLog(flipped(image.bytes, at), maxRecordBytes), last, survivors, `byte ${at} flipped`);
    }
  });

  test('bytes after the last batch that hold no valid batch are a torn tail at its end', () => {
    const image = threeAndABigOne();
    const all = recordsOf(image, 4);
    const tails: ReadonlyArray<{ tail: Uint8Array; reason: RegExp }> = [
      // An all-zero header never passes its checksum: crc32 of four zero bytes is not 0.
      { tail: new Uint8Array(pageBytes), reason: /^zero-filled tail$/ },
      { tail: new Uint8Array(5), reason: /^zero-filled tail$/ },
      { tail: Uint8Array.from([1, 2, 3]), reason: /^batch header cut short$/ },
      { tail: concat([new Uint8Array(pageBytes), Uint8Array.of(1)]), reason: /^damaged batch header, and no valid batch after it$/ },
      { tail: patterned(pageBytes, 9), reason: /^damaged batch header, and no valid batch after it$/ },
    ];
    for (const { tail, reason } of tails) {
      const scan = scanLog(concat([image.bytes, tail]), maxRecordBytes);
      assertTornAt(scan, image.bytes.length, all, `${tail.length} bytes appended`);
      assert.ok(scan.kind === 'torn-tail');
      assert.match(scan.reason, reason);
    }
  });
});

describe('FileLog format: damage before the end', () => {
  test("any one damaged byte in a batch before the last is damage at that batch's offset", () => {
    const image = threeAndABigOne();
    for (let batch = 0; batch < 3; batch++) {
      const start = image.starts[batch]!;
      for (let at = start; at < image.starts[batch + 1]!; at++) {
        const reason = at < start + 8 ? /^damaged batch header$/ : /^batch checksum mismatch$/;
        assertDamagedAt(scanLog(flipped(image.bytes, at), maxRecordBytes), start, reason, `byte ${at} of batch ${batch}`);
      }
    }
  });

  test('a zeroed page inside a batch with a valid batch after it is damage at the batch it hit', () => {
    const image = logImage([[text('alpha')], [patterned(9000, 6)], [text('omega')]]);
    const middle = image.starts[1]!;
    const page = Math.floor(middle / pageBytes) * pageBytes;
    // The page holding the middle batch's header, and the page after it, inside its payload.
    const headerZeroed = Uint8Array.from(image.bytes).fill(0, middle, page + pageBytes);
    assertDamagedAt(scanLog(headerZeroed, maxRecordBytes), middle, /^damaged batch header$/, 'header page');
    const payloadZeroed = Uint8Array.from(image.bytes).fill(0, page + pageBytes, page + 2 * pageBytes);
    assertDamagedAt(scanLog(payloadZeroed, maxRecordBytes), middle, /^batch checksum mismatch$/, 'payload page');
  });

  test('a payload whose checksum holds but does not split into records is damage at the offending record', () => {
    const start = fileLogMagic.length;
    const cases: ReadonlyArray<{ payload: Uint8Array; at: number; reason: RegExp; limit?: number }> = [
      { payload: Uint8Array.of(5, 0, 0, 0, 1, 2), at: start + batchHeaderBytes, reason: /^record of 5 bytes runs past the end of its batch$/ },
      {
        payload: concat([frameRecord(text('ok')), Uint8Array.of(1, 2)]),
        at: start + batchHeaderBytes + recordHeaderBytes + 2,
        reason: /^record header cut short inside a batch whose checksum holds$/,
      },
      {
        payload: concat([frameRecord(text('ok')), frameRecord(text('four'))]),
        at: start + batchHeaderBytes + recordHeaderBytes + 2,
        reason: /^record length 4 exceeds maxRecordBytes 3$/,
        limit: 3,
      },
      { payload: new Uint8Array(0), at: start, reason: /^empty batch/ },
    ];
    for (const { payload, at, reason, limit } of cases) {
      // Followed by a valid batch, and alone at the end: a batch whose checksum holds is never a tear.
      for (const after of [[], [encodeBatch([frameRecord(text('next'))])]]) {
        const bytes = concat([fileLogMagic, encodeBatch([payload]), ...after]);
        assertDamagedAt(scanLog(bytes, limit ?? maxRecordBytes), at, reason, `${reason}, ${after.length} batch after`);
      }
    }
  });

  test("a file that does not start with this version's header is damage at offset 0", () => {
    const cases: ReadonlyArray<{ bytes: Uint8Array; reason: RegExp }> = [
      { bytes: concat([text('SYNODLG2'), encodeBatch([frameRecord(text('alpha'))])]), reason: /format version "2" is not supported.*SYNODLG3/ },
      { bytes: text('SYNODLGX'), reason: /format version "X" is not supported/ },
      { bytes: concat([text('NOTALOG!'), encodeBatch([frameRecord(text('alpha'))])]), reason: /does not start with the SYNODLG3 header/ },
      { bytes: text('SYN'), reason: /does not start with the SYNODLG3 header/ },
      { bytes: new Uint8Array(0), reason: /does not start with the SYNODLG3 header/ },
    ];
    for (const { bytes, reason } of cases) {
      assertDamagedAt(scanLog(bytes, maxRecordBytes), 0, reason, `${bytes.length} bytes`);
    }
  });
});

/** A copy of `bytes` with every bit of the byte at `at` inverted. */
function flipped(bytes: Uint8Array, at: number): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[at] = copy[at]! ^ 0xff;
  return copy;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
