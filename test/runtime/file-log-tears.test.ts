import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import type { LoadedRecord } from '../../src/env/durable-log.js';
import { silentLogger } from '../../src/env/logger.js';
import { FileLog } from '../../src/runtime/file-log.js';
import { batchHeaderBytes, recordHeaderBytes } from '../../src/runtime/file-log-format.js';
import {
  type LogLine,
  assertRecords,
  batchOf,
  capturingLogger,
  flipByte,
  patterned,
  syncOnce,
  text,
  withTempDir,
  writeLog,
  zeroRange,
} from './file-log-support.js';

// What a crash mid-write leaves at the end of a log is cut off, reported, and the log goes on.

describe('FileLog on disk: torn tails', () => {
  // Three records, one batch each; the damage goes to the last batch (or after it), as a crash
  // mid-write leaves it.
  const tornTails: ReadonlyArray<{
    form: string;
    damage: (path: string, last: LoadedRecord) => Promise<void>;
    survivors: number;
    /** Where the cut begins, given the last record and the file size before loading. */
    cutAt: (last: LoadedRecord, size: number) => number;
  }> = [
    {
      form: 'a batch header cut short',
      damage: (path, last) => truncate(path, batchOf(last) + 5),
      survivors: 2,
      cutAt: (last) => batchOf(last),
    },
    {
      form: 'a batch cut short',
      damage: (path, last) => truncate(path, batchOf(last) + batchHeaderBytes + 10),
      survivors: 2,
      cutAt: (last) => batchOf(last),
    },
    {
      form: 'a checksum mismatch in the last batch',
      damage: (path, last) => flipByte(path, last.offset + recordHeaderBytes + 3),
      survivors: 2,
      cutAt: (last) => batchOf(last),
    },
    {
      form: 'a zero-filled tail',
      damage: (path) => appendFile(path, Buffer.alloc(4096)),
      survivors: 3,
      cutAt: (_last, size) => size - 4096,
    },
    {
      // A torn write whose first page never reached the disk while a later one did.
      form: 'zeros, then one non-zero byte',
      damage: (path) => appendFile(path, Buffer.concat([Buffer.alloc(4096), Buffer.from([0x01])])),
      survivors: 3,
      cutAt: (_last, size) => size - 4097,
    },
    {
      // Damage confined to the last batch cannot be told from a tear, header or payload alike.
      form: "the last batch's header damaged, followed by its payload",
      damage: (path, last) => flipByte(path, batchOf(last) + 1),
      survivors: 2,
      cutAt: (last) => batchOf(last),
    },
  ];

  for (const { form, damage, survivors, cutAt } of tornTails) {
    test(`a torn tail (${form}) is cut off and reported, and records appended afterwards load`, async () => {
      await withTempDir(async (dir) => {
        const path = join(dir, 'torn.log');
        const records = [text('alpha'), patterned(50, 1), patterned(40, 2)];
        const written = await writeLog(path, records);
        await damage(path, written[2]!);
        const sizeBefore = (await stat(path)).size;
        await assertTornTailCut(path, records.slice(0, survivors), cutAt(written[2]!, sizeBefore), sizeBefore);
      });
    });
  }

  // A crash tears the one write of a multi-page batch: one page of it reads back as zeros, while
  // a later page of the same write reached the disk. Nothing in the batch was acknowledged.
  const tornPages: ReadonlyArray<{ form: string; zeroed: (batch: number) => [number, number] }> = [
    {
      form: 'a page in the middle of the batch',
      zeroed: (batch) => [pageAfter(batch) + pageBytes, pageAfter(batch) + 2 * pageBytes],
    },
    {
      // The page also holds earlier, durable batches; only the torn batch's part of it is lost.
      form: 'the page holding the batch header',
      zeroed: (batch) => [batch, pageAfter(batch)],
    },
  ];

  for (const { form, zeroed } of tornPages) {
    const name =
      'a batch torn in its middle by a crash (a zeroed page followed by persisted bytes) ' +
      `is cut off as a torn tail and the node starts (${form})`;
    test(name, async () => {
      await withTempDir(async (dir) => {
        const path = join(dir, 'torn-page.log');
        const durable = [text('alpha'), patterned(50, 1)];
        await writeLog(path, durable);
        // One flush of about 4.5 pages: a single batch, written with a single write.
        const unacknowledged = [patterned(7000, 3), patterned(6000, 4), patterned(5000, 5)];
        const loaded = await appendBatch(path, unacknowledged);
        const batch = batchOf(loaded[durable.length]!);
        const sizeBefore = (await stat(path)).size;
        const [from, to] = zeroed(batch);
        assert.ok(from >= batch && to + pageBytes <= sizeBefore, 'a whole later page of the batch persisted');
        await zeroRange(path, from, to);

        await assertTornTailCut(path, durable, batch, sizeBefore);
      });
    });
  }
});

/** Appends `records` to the log at `path` in one flush (one batch); returns everything the log then holds. */
async function appendBatch(path: string, records: readonly Uint8Array[]): Promise<LoadedRecord[]> {
  const log = new FileLog(path, { logger: silentLogger });
  const before = log.load();
  for (const record of records) log.append(record);
  await log.close();
  const reader = new FileLog(path, { logger: silentLogger });
  const loaded = reader.load();
  await reader.close();
  assertRecords(loaded, [...before.map((record) => record.data), ...records]);
  return loaded;
}

/** The unit a torn write loses or keeps: a page of the page cache. */
const pageBytes = 4096;

/** The first page boundary after `offset`. */
function pageAfter(offset: number): number {
  return (Math.floor(offset / pageBytes) + 1) * pageBytes;
}

/**
 * Loads the log at `path` (of `sizeBefore` bytes) and checks that it holds `survivors`, that the
 * bytes from `cutAt` on were cut off with one warning naming file, offset and size, and that
 * the log goes on: a record appended afterwards loads, without a warning.
 */
async function assertTornTailCut(path: string, survivors: readonly Uint8Array[], cutAt: number, sizeBefore: number): Promise<void> {
  const lines: LogLine[] = [];
  const log = new FileLog(path, { logger: capturingLogger(lines) });
  assertRecords(log.load(), survivors);
  const warnings = lines.filter((line) => line.level === 'warn');
  assert.equal(warnings.length, 1, 'one warning');
  assert.equal(warnings[0]!.fields['file'], path);
  assert.equal(warnings[0]!.fields['offset'], cutAt);
  assert.equal(warnings[0]!.fields['bytes'], sizeBefore - cutAt);
  assert.equal((await stat(path)).size, cutAt, 'the tail is gone from the file');

  log.append(text('after the cut'));
  await syncOnce(log);
  await log.close();

  const linesAfter: LogLine[] = [];
  const reopened = new FileLog(path, { logger: capturingLogger(linesAfter) });
  assertRecords(reopened.load(), [...survivors, text('after the cut')]);
  assert.deepEqual(linesAfter.filter((line) => line.level === 'warn'), [], 'a clean log loads without warnings');
}
