import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { silentLogger } from '../../src/env/logger.js';
import { limits } from '../../src/options.js';
import { FileLog, type LogFile } from '../../src/runtime/file-log.js';
import { batchHeaderBytes, fileLogMagic, recordHeaderBytes } from '../../src/runtime/file-log-format.js';
import {
  type LogLine,
  assertRecords,
  capturingLogger,
  patterned,
  syncOnce,
  text,
  withTempDir,
} from './file-log-support.js';

// How FileLog writes: the records of a flush as one batch, large flushes as several, syncs
// sharing a datasync, and a failed datasync poisoning the log.

describe('FileLog on disk: batches and group commit', () => {
  test('the records of one flush form one batch; each flush adds a batch', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'batches.log');
      const log = new FileLog(path, { logger: silentLogger });
      log.load();
      const first = [text('a'), text(''), patterned(30, 1)];
      for (const record of first) log.append(record);
      await syncOnce(log);
      log.append(text('second flush'));
      await log.close();

      const contents = await readFile(path);
      const firstPayload = first.reduce((sum, r) => sum + recordHeaderBytes + r.length, 0);
      const second = fileLogMagic.length + batchHeaderBytes + firstPayload;
      assert.equal(contents.readUInt32LE(fileLogMagic.length), firstPayload, 'the first batch holds the three records');
      assert.equal(contents.readUInt32LE(second), recordHeaderBytes + 'second flush'.length);
      assert.equal(contents.length, second + batchHeaderBytes + recordHeaderBytes + 'second flush'.length);
      const loaded = new FileLog(path, { logger: silentLogger }).load();
      assertRecords(loaded, [...first, text('second flush')]);
      assert.deepEqual(
        loaded.map((record) => record.offset),
        [20, 25, 29, second + batchHeaderBytes],
        'each record is reported at its own offset',
      );
    });
  });

  test('a flush of more than 64 MiB is written as several batches, each durable before the next is written', async () => {
    // Only the last batch in a file may be torn; recovery relies on it.
    await withTempDir(async (dir) => {
      const path = join(dir, 'split.log');
      const disk = new InstrumentedDisk();
      const log = new FileLog(path, { logger: silentLogger, openForWrite: disk.openForWrite });
      log.load();
      const records = Array.from({ length: 5 }, (_, i) => new Uint8Array(limits.maxLogRecordBytes).fill(i + 1));
      for (const record of records) log.append(record);
      await syncOnce(log);
      await log.close();

      assert.deepEqual(disk.operations, ['write', 'datasync', 'write', 'datasync']);
      const contents = await readFile(path);
      const frame = recordHeaderBytes + limits.maxLogRecordBytes;
      assert.equal(contents.readUInt32LE(fileLogMagic.length), 3 * frame, 'the first batch holds three records');
      assert.equal(contents.readUInt32LE(fileLogMagic.length + batchHeaderBytes + 3 * frame), 2 * frame);
      const loaded = new FileLog(path, { logger: silentLogger }).load();
      assert.deepEqual(loaded.map((record) => [record.data.length, record.data[0]]), records.map((r) => [r.length, r[0]]));
    });
  });

  test('syncs issued while a write is in flight share the next datasync', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'batch.log');
      const disk = new InstrumentedDisk();
      const log = new FileLog(path, { logger: silentLogger, openForWrite: disk.openForWrite });
      log.load();
      const release = disk.holdWrites();
      const order: number[] = [];
      const results: Array<Promise<Error | undefined>> = [];
      const syncNumbered = (n: number): void => {
        results.push(new Promise((resolve) => log.sync((err) => {
          order.push(n);
          resolve(err);
        })));
      };

      log.append(text('record 0'));
      syncNumbered(0);
      await disk.writeStarted(); // the first batch is now in flight
      const n = 10;
      for (let i = 1; i <= n; i++) {
        log.append(text(`record ${i}`));
        syncNumbered(i);
      }
      release();

      assert.deepEqual(await Promise.all(results), Array<undefined>(n + 1).fill(undefined));
      assert.deepEqual(order, Array.from({ length: n + 1 }, (_, i) => i));
      assert.equal(disk.datasyncs, 2, 'one datasync for record 0, one for the ten syncs batched behind it');
      await log.close();
      const loaded = new FileLog(path, { logger: silentLogger }).load();
      assertRecords(loaded, Array.from({ length: n + 1 }, (_, i) => text(`record ${i}`)));
    });
  });

  test('a sync with nothing appended since the flush in flight took its batch is answered with that flush, not the next', async () => {
    // What lets a message sent ahead of a batch's records leave once the earlier ones are durable.
    await withTempDir(async (dir) => {
      const path = join(dir, 'rider.log');
      const disk = new InstrumentedDisk();
      const log = new FileLog(path, { logger: silentLogger, openForWrite: disk.openForWrite });
      log.load();
      const releaseFirst = disk.holdWrites();
      const order: number[] = [];
      const synced = (n: number): Promise<Error | undefined> => new Promise((resolve) => log.sync((err) => {
        order.push(n);
        resolve(err);
      }));
      log.append(text('record 0'));
      const first = synced(0);
      await disk.writeStarted();
      const rider = synced(1); // nothing appended since the flush in flight took record 0
      log.append(text('record 2'));
      const next = synced(2);
      const releaseNext = disk.holdWrites();
      releaseFirst();
      await disk.writeStarted(); // the next flush (record 2) is writing, held
      assert.deepEqual(order, [0, 1], 'the rider was answered with the first flush');
      releaseNext();
      assert.deepEqual(await Promise.all([first, rider, next]), [undefined, undefined, undefined]);
      assert.deepEqual(order, [0, 1, 2]);
      assert.equal(disk.datasyncs, 2);
      await log.close();
    });
  });

  test('a failed datasync poisons the log: waiting syncs, later syncs and close all get the error', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'poison.log');
      const disk = new InstrumentedDisk();
      const lines: LogLine[] = [];
      const log = new FileLog(path, { logger: capturingLogger(lines), openForWrite: disk.openForWrite });
      log.load();
      const diskError = new Error('EIO: simulated disk failure');
      disk.failNextDatasync = diskError;
      const release = disk.holdWrites();

      log.append(text('one'));
      const first = new Promise<Error | undefined>((resolve) => log.sync(resolve));
      await disk.writeStarted();
      log.append(text('two'));
      const second = new Promise<Error | undefined>((resolve) => log.sync(resolve)); // waits behind the failing write
      release();
      assert.equal(await first, diskError);
      assert.equal(await second, diskError);

      let later: Error | undefined | 'not called' = 'not called';
      log.sync((err) => {
        later = err;
      });
      assert.equal(later, diskError, 'a later sync gets the error at once');
      log.append(text('three'));
      assert.equal(await new Promise((resolve) => log.sync(resolve)), diskError);
      await assert.rejects(log.close(), (err) => err === diskError);
      assert.equal(disk.datasyncs, 1, 'nothing is written after the failure');

      const errors = lines.filter((line) => line.level === 'error');
      assert.equal(errors.length, 1);
      assert.equal(errors[0]!.fields['file'], path);
    });
  });
});

/**
 * Files whose writes can be held in flight and whose datasyncs are counted or made to fail,
 * through `FileLogOptions.openForWrite`.
 */
class InstrumentedDisk {
  datasyncs = 0;
  /** Every write and datasync, in the order they were issued. */
  readonly operations: Array<'write' | 'datasync'> = [];
  /** Makes the next datasync reject with this error (without syncing). */
  failNextDatasync: Error | undefined;
  #gate: Promise<void> | undefined;
  #writeStarted: (() => void) | undefined;
  #writeStartedPromise: Promise<void> | undefined;

  /** Holds every write until the returned function is called. */
  holdWrites(): () => void {
    let release!: () => void;
    this.#gate = new Promise((resolve) => (release = resolve));
    this.#writeStartedPromise = new Promise((resolve) => (this.#writeStarted = resolve));
    return release;
  }

  /** Resolves once a write has started after `holdWrites`. */
  writeStarted(): Promise<void> {
    assert.ok(this.#writeStartedPromise !== undefined, 'call holdWrites first');
    return this.#writeStartedPromise;
  }

  readonly openForWrite = async (path: string): Promise<LogFile> => {
    const handle = await open(path, 'r+');
    return {
      write: async (buffer, offset, length, position) => {
        this.operations.push('write');
        this.#writeStarted?.();
        await this.#gate;
        return handle.write(buffer, offset, length, position);
      },
      datasync: async () => {
        this.operations.push('datasync');
        this.datasyncs++;
        const failure = this.failNextDatasync;
        this.failNextDatasync = undefined;
        if (failure !== undefined) throw failure;
        await handle.datasync();
      },
      close: () => handle.close(),
    };
  };
}
