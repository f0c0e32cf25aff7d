import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CorruptLogError, type LoadedRecord } from '../../src/env/durable-log.js';
import { silentLogger } from '../../src/env/logger.js';
import { limits } from '../../src/options.js';
import { crc32 } from '../../src/runtime/crc32.js';
import { FileLog } from '../../src/runtime/file-log.js';
import { batchHeaderBytes, recordHeaderBytes } from '../../src/runtime/file-log-format.js';
import {
  type LogLine,
  batchOf,
  capturingLogger,
  flipByte,
  patterned,
  text,
  withTempDir,
  writeLog,
  zeroRange,
} from './file-log-support.js';

// Damage before the end of a log, and files that are not this version's log, are refused with a
// CorruptLogError naming the file and the offset; nothing is cut.

describe('FileLog on disk: damage before the end', () => {
  // The damage goes to the middle batch of three, so that valid data follows it.
  const middleDamage: ReadonlyArray<{
    form: string;
    damage: (path: string, record: LoadedRecord) => Promise<void>;
    reason: RegExp;
    /** Where the error points: the batch, or the record inside a batch whose checksum holds. */
    at: (record: LoadedRecord) => number;
  }> = [
    {
      form: 'a flipped payload byte',
      damage: (path, record) => flipByte(path, record.offset + recordHeaderBytes + 7),
      reason: /^batch checksum mismatch$/,
      at: batchOf,
    },
    {
      form: 'a flipped header checksum byte',
      damage: (path, record) => flipByte(path, batchOf(record) + 5),
      reason: /^damaged batch header$/,
      at: batchOf,
    },
    {
      form: 'a flipped payload checksum byte',
      damage: (path, record) => flipByte(path, batchOf(record) + 9),
      reason: /^batch checksum mismatch$/,
      at: batchOf,
    },
    {
      form: 'a flipped low bit in the length',
      damage: (path, record) => flipByte(path, batchOf(record), 0x01),
      reason: /^damaged batch header$/,
      at: batchOf,
    },
    {
      form: 'a zeroed header',
      damage: (path, record) => zeroRange(path, batchOf(record), batchOf(record) + batchHeaderBytes),
      reason: /^damaged batch header$/,
      at: batchOf,
    },
    {
      // With a batch checksum that matches, as a log written with a larger limit has.
      form: 'a record length beyond maxRecordBytes',
      damage: (path, record) => rewriteRecordLength(path, record, limits.maxLogRecordBytes + 1),
      reason: /exceeds maxRecordBytes/,
      at: (record) => record.offset,
    },
    {
      form: 'a record length that runs past the end of its batch',
      damage: (path, record) => rewriteRecordLength(path, record, record.data.length + 1),
      reason: /runs past the end of its batch/,
      at: (record) => record.offset,
    },
  ];

  for (const { form, damage, reason, at } of middleDamage) {
    const name = `a middle batch with ${form} is refused with a CorruptLogError naming the file and the offset`;
    test(name, async () => {
      await withTempDir(async (dir) => {
        const path = join(dir, 'corrupt.log');
        const written = await writeLog(path, [text('alpha'), patterned(50, 1), patterned(40, 2)]);
        const bad = written[1]!;
        await damage(path, bad);
        await assertCorrupt(path, at(bad), reason);
      });
    });
  }

  const pastTheEnd =
    'a middle batch whose length field is damaged to point past the end of the file ' +
    'is refused with CorruptLogError, not truncated';
  test(pastTheEnd, async () => {
    // Trusted, such a length would pass for a batch cut short by a crash, and the cut would drop batch 2.
    await withTempDir(async (dir) => {
      const path = join(dir, 'length.log');
      const written = await writeLog(path, [text('alpha'), patterned(50, 1), patterned(40, 2)]);
      const bad = batchOf(written[1]!);
      const size = (await stat(path)).size;
      await rewriteBatchLength(path, bad, size); // the batch would end at bad + 12 + size, past the end
      await assertCorrupt(path, bad, /^damaged batch header$/);
      assert.equal((await stat(path)).size, size, 'the file size is unchanged');
    });
  });

  // A header whose checksum fails is a torn tail only when no valid batch follows it.
  const damagedHeaders: ReadonlyArray<{ form: string; after: (lastBatch: Buffer) => Buffer }> = [
    { form: 'a zero-filled hole, then a valid batch', after: (lastBatch) => Buffer.concat([Buffer.alloc(4096), lastBatch]) },
    { form: 'a page of garbage, then a valid batch', after: (lastBatch) => Buffer.concat([Buffer.from(patterned(4096, 9)), lastBatch]) },
  ];

  for (const { form, after } of damagedHeaders) {
    test(`damage followed by a valid batch is corruption, not a torn tail (${form})`, async () => {
      await withTempDir(async (dir) => {
        const path = join(dir, 'header.log');
        const written = await writeLog(path, [text('alpha'), patterned(50, 1), patterned(40, 2)]);
        const size = (await stat(path)).size;
        const lastBatch = (await readFile(path)).subarray(batchOf(written[2]!));
        await appendFile(path, after(lastBatch));
        await assertCorrupt(path, size, /^damaged batch header$/);
      });
    });
  }

  test('a record longer than a lowered maxRecordBytes is refused with a CorruptLogError', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'big.log');
      const written = await writeLog(path, [patterned(2000, 4), text('after')]);
      const err = catchError(() => new FileLog(path, { logger: silentLogger, maxRecordBytes: 1024 }).load());
      assert.ok(err instanceof CorruptLogError, `expected a CorruptLogError, got ${String(err)}`);
      assert.equal(err.offset, written[0]!.offset);
      assert.match(err.reason, /maxRecordBytes 1024/);
    });
  });

  test('a file with the wrong magic header is refused with a CorruptLogError at offset 0', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'magic.log');
      await writeLog(path, [text('alpha')]);
      await flipByte(path, 3);
      const err = catchError(() => new FileLog(path, { logger: silentLogger }).load());
      assert.ok(err instanceof CorruptLogError, `expected a CorruptLogError, got ${String(err)}`);
      assert.equal(err.file, path);
      assert.equal(err.offset, 0);
    });
  });

  // Earlier versions, each a magic followed by one record in that version's framing.
  const oldVersions: ReadonlyArray<{ version: string; frame: (payload: Buffer) => Buffer }> = [
    {
      // Version 1: [u32 length][u32 crc32(length bytes + payload)][payload].
      version: '1',
      frame: (payload) => Buffer.concat([u32(payload.length), u32(crc32(payload, crc32(u32(payload.length)))), payload]),
    },
    {
      // Version 2: [u32 length][u32 crc32(length bytes)][u32 crc32(payload)][payload], per record.
      version: '2',
      frame: (payload) => Buffer.concat([u32(payload.length), u32(crc32(u32(payload.length))), u32(crc32(payload)), payload]),
    },
  ];

  for (const { version, frame } of oldVersions) {
    test(`a SYNODLG${version} file is refused as an unsupported format version`, async () => {
      await withTempDir(async (dir) => {
        const path = join(dir, `v${version}.log`);
        const old = Buffer.concat([Buffer.from(`SYNODLG${version}`), frame(Buffer.from('alpha'))]);
        await writeFile(path, old);

        const err = catchError(() => new FileLog(path, { logger: silentLogger }).load());
        assert.ok(err instanceof CorruptLogError, `expected a CorruptLogError, got ${String(err)}`);
        assert.equal(err.file, path);
        assert.equal(err.offset, 0);
        assert.match(err.reason, new RegExp(`format version "${version}" is not supported`));
        assert.match(err.reason, /SYNODLG3/);
        assert.deepEqual(await readFile(path), old, 'the file is left untouched');
      });
    });
  }

  test('a non-empty file shorter than the header is refused with a CorruptLogError at offset 0', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'short.log');
      await writeFile(path, 'SYN');
      const err = catchError(() => new FileLog(path, { logger: silentLogger }).load());
      assert.ok(err instanceof CorruptLogError, `expected a CorruptLogError, got ${String(err)}`);
      assert.equal(err.offset, 0);
    });
  });
});

/** Loading the log at `path` throws a CorruptLogError naming it and `offset`, reports no torn tail, changes nothing. */
async function assertCorrupt(path: string, offset: number, reason: RegExp): Promise<void> {
  const before = await readFile(path);
  const lines: LogLine[] = [];
  const err = catchError(() => new FileLog(path, { logger: capturingLogger(lines) }).load());
  assert.ok(err instanceof CorruptLogError, `expected a CorruptLogError, got ${String(err)}`);
  assert.equal(err.file, path);
  assert.equal(err.offset, offset);
  assert.match(err.reason, reason);
  assert.ok(err.message.includes(path), err.message);
  assert.ok(err.message.includes(`offset ${offset}`), err.message);
  assert.deepEqual(await readFile(path), before, 'the file is left untouched');
  assert.deepEqual(lines.filter((line) => line.level === 'warn'), [], 'no torn tail reported');
}

/** Overwrites a batch's length field and leaves its header checksum stale (damage). */
async function rewriteBatchLength(path: string, batch: number, length: number): Promise<void> {
  const contents = await readFile(path);
  assert.ok(batch + batchHeaderBytes <= contents.length, `a batch header at ${batch} is inside the file`);
  contents.writeUInt32LE(length, batch);
  await writeFile(path, contents);
}

/**
 * Overwrites the length field of `record`, the first of its batch, and rewrites the batch
 * checksum to fit: as if the writer had put that length there.
 */
async function rewriteRecordLength(path: string, record: LoadedRecord, length: number): Promise<void> {
  const contents = await readFile(path);
  const batch = batchOf(record);
  const end = batch + batchHeaderBytes + contents.readUInt32LE(batch);
  assert.ok(end <= contents.length, `a batch at ${batch} is inside the file`);
  contents.writeUInt32LE(length, record.offset);
  contents.writeUInt32LE(crc32(contents.subarray(batch + batchHeaderBytes, end)), batch + 8);
  await writeFile(path, contents);
}

function u32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32LE(value);
  return out;
}

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  assert.fail('expected an exception');
}
