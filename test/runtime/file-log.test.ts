import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { access, appendFile, mkdtemp, open, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CorruptLogError, type DurableLog, type LoadedRecord } from '../../src/env/durable-log.js';
import { silentLogger, type Logger } from '../../src/env/logger.js';
import { limits } from '../../src/options.js';
import { crc32 } from '../../src/runtime/crc32.js';
import { FileLog, type LogFile } from '../../src/runtime/file-log.js';
import { batchHeaderBytes, fileLogMagic, recordHeaderBytes } from '../../src/runtime/file-log-format.js';
import { fileLogTmpPath } from '../../src/runtime/file-log-load.js';
import { durableLogConformance, type DurableLogHarness } from '../conformance/durable-log.suite.js';

durableLogConformance('FileLog', makeFileLogHarness);

describe('crc32', () => {
  test('crc32 gives the standard check values', () => {
    assert.equal(crc32(text('123456789')), 0xcbf43926);
    assert.equal(crc32(new Uint8Array(0)), 0);
    assert.equal(crc32(new Uint8Array(4)), 0x2144df1c);
  });

  test('crc32 of a sequence can be computed in pieces', () => {
    const whole = text('The quick brown fox jumps over the lazy dog');
    assert.equal(crc32(whole), 0x414fa339);
    assert.equal(crc32(whole.subarray(10), crc32(whole.subarray(0, 10))), 0x414fa339);
  });
});

describe('FileLog on disk', () => {
  test('a missing file becomes a fresh log holding only the header, and no .tmp file is left', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'fresh.log');
      const log = new FileLog(path, { logger: silentLogger });
      assert.deepEqual(log.load(), []);
      assert.deepEqual(await readFile(path), Buffer.from(fileLogMagic));
      assert.equal(await exists(fileLogTmpPath(path)), false, 'the .tmp file was renamed into place');
      await log.close();
    });
  });

  test('an empty file is a fresh log', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'empty.log');
      await writeFile(path, '');
      assert.deepEqual(new FileLog(path, { logger: silentLogger }).load(), []);
      assert.deepEqual(await readFile(path), Buffer.from(fileLogMagic));
    });
  });

  // A crash while a log is being created leaves only `<path>.tmp`, in any state of being written.
  const interruptedCreations: ReadonlyArray<{ form: string; tmp: Uint8Array }> = [
    { form: 'an empty .tmp file', tmp: new Uint8Array(0) },
    { form: 'a .tmp file holding part of the header', tmp: fileLogMagic.subarray(0, 5) },
    { form: 'a .tmp file holding the whole header', tmp: fileLogMagic },
  ];

  for (const { form, tmp } of interruptedCreations) {
    test(`an interrupted log creation (only a .tmp file) is cleaned up and a fresh log starts (${form})`, async () => {
      await withTempDir(async (dir) => {
        const path = join(dir, 'created.log');
        await writeFile(fileLogTmpPath(path), tmp);

        const lines: LogLine[] = [];
        const log = new FileLog(path, { logger: capturingLogger(lines) });
        assert.deepEqual(log.load(), []);
        assert.equal(await exists(fileLogTmpPath(path)), false, 'the leftover .tmp file is gone');
        assert.deepEqual(await readFile(path), Buffer.from(fileLogMagic), 'a fresh log holding only the header');
        const warnings = lines.filter((line) => line.level === 'warn');
        assert.equal(warnings.length, 1, 'one warning');
        assert.equal(warnings[0]!.fields['file'], fileLogTmpPath(path));
        assert.equal(warnings[0]!.fields['bytes'], tmp.length);

        log.append(text('first'));
        await syncOnce(log);
        await log.close();
        assertRecords(new FileLog(path, { logger: silentLogger }).load(), [text('first')]);
      });
    });
  }

  test('a second load is refused', async () => {
    await withTempDir(async (dir) => {
      const log = new FileLog(join(dir, 'twice.log'), { logger: silentLogger });
      log.load();
      assert.throws(() => log.load(), /exactly once/);
    });
  });

  test('append after close is refused', async () => {
    await withTempDir(async (dir) => {
      const log = new FileLog(join(dir, 'closed.log'), { logger: silentLogger });
      log.load();
      await log.close();
      assert.throws(() => log.append(text('late')), /after close/);
    });
  });

  test('a record longer than maxRecordBytes is refused at append', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'limit.log');
      const log = new FileLog(path, { logger: silentLogger, maxRecordBytes: 10 });
      log.load();
      log.append(new Uint8Array(10));
      assert.throws(() => log.append(new Uint8Array(11)), RangeError);
      await log.close();
      assertRecords(new FileLog(path, { logger: silentLogger }).load(), [new Uint8Array(10)]);
    });
  });

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
 * A real file in a fresh temp directory. A crash abandons the open `FileLog` and closes its file
 * handle, after which the abandoned log can no longer touch the file (as a dead process could
 * not). The suite crashes only with no sync in flight; a write already inside the kernel when
 * `crash` runs would otherwise still land after it.
 */
async function makeFileLogHarness(): Promise<DurableLogHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'synod-file-log-'));
  const path = join(dir, 'node.log');
  let current = new FakeProcess();
  const closing: Array<Promise<void>> = [];
  return {
    open: () => current.track(new FileLog(path, { logger: silentLogger, openForWrite: current.openForWrite })),
    crash: () => {
      closing.push(current.die());
      current = new FakeProcess();
    },
    settle: () => current.settled(),
    dispose: async () => {
      closing.push(current.die());
      await Promise.all(closing);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** One run of the node, as far as its log is concerned: its sync callbacks and its file handles. */
class FakeProcess {
  #dead = false;
  #outstandingSyncs = 0;
  #onSettled: Array<() => void> = [];
  readonly #handles: FileHandle[] = [];

  readonly openForWrite = async (path: string): Promise<LogFile> => {
    this.#checkAlive();
    const handle = await open(path, 'r+');
    this.#handles.push(handle);
    this.#checkAlive(); // died while opening: the handle is closed by die()
    return {
      write: (buffer, offset, length, position) => {
        this.#checkAlive();
        return handle.write(buffer, offset, length, position);
      },
      datasync: () => {
        this.#checkAlive();
        return handle.datasync();
      },
      close: () => handle.close(),
    };
  };

  /** Counts outstanding sync callbacks, for `settled`. */
  track(log: DurableLog): DurableLog {
    return {
      load: () => log.load(),
      append: (data) => log.append(data),
      sync: (done) => {
        this.#outstandingSyncs++;
        log.sync((err) => {
          this.#outstandingSyncs--;
          done(err);
          if (this.#outstandingSyncs === 0) for (const wake of this.#onSettled.splice(0)) wake();
        });
      },
      close: () => log.close(),
    };
  }

  settled(): Promise<void> {
    if (this.#outstandingSyncs === 0) return Promise.resolve();
    return new Promise((resolve) => this.#onSettled.push(resolve));
  }

  async die(): Promise<void> {
    this.#dead = true;
    // Closing a closed FileHandle is a no-op, so handles the log closed itself are fine here.
    await Promise.all(this.#handles.map((handle) => handle.close()));
  }

  #checkAlive(): void {
    if (this.#dead) throw new Error('the process crashed');
  }
}

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

interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly fields: Readonly<Record<string, unknown>>;
  readonly msg: string;
}

/** A Logger that keeps every line, with the fields bound by `child` merged in. */
function capturingLogger(lines: LogLine[], bindings: object = {}): Logger {
  const at = (level: LogLine['level']) => (fields: object, msg: string): void => {
    lines.push({ level, fields: { ...bindings, ...fields }, msg });
  };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => capturingLogger(lines, { ...bindings, ...more }),
  };
}

async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'synod-file-log-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Writes `records` to a new log at `path`, one flush (so one batch) each, closes it, and returns
 * them as loaded (with offsets). Each record is thus the first of its batch: see `batchOf`.
 */
async function writeLog(path: string, records: readonly Uint8Array[]): Promise<LoadedRecord[]> {
  const log = new FileLog(path, { logger: silentLogger });
  log.load();
  for (const record of records) {
    log.append(record);
    await syncOnce(log);
  }
  await log.close();
  const reader = new FileLog(path, { logger: silentLogger });
  const loaded = reader.load();
  await reader.close();
  assertRecords(loaded, records);
  return loaded;
}

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

/** The offset of the batch that `record` opens (every record `writeLog` wrote opens its batch). */
function batchOf(record: LoadedRecord): number {
  return record.offset - batchHeaderBytes;
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

function syncOnce(log: DurableLog): Promise<void> {
  return new Promise((resolve, reject) => log.sync((err) => (err === undefined ? resolve() : reject(err))));
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function flipByte(path: string, offset: number, mask = 0xff): Promise<void> {
  const contents = await readFile(path);
  assert.ok(offset < contents.length, `offset ${offset} is inside the file`);
  contents[offset] = contents[offset]! ^ mask;
  await writeFile(path, contents);
}

/** Overwrites the bytes [from, to) with zeros, as a page that never reached the disk reads back. */
async function zeroRange(path: string, from: number, to: number): Promise<void> {
  const contents = await readFile(path);
  assert.ok(from < to && to <= contents.length, `[${from}, ${to}) is inside the file`);
  contents.fill(0, from, to);
  await writeFile(path, contents);
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

function assertRecords(actual: readonly LoadedRecord[], expected: readonly Uint8Array[]): void {
  assert.deepEqual(
    actual.map((record) => Buffer.from(record.data).toString('hex')),
    expected.map((record) => Buffer.from(record).toString('hex')),
  );
}

function text(value: string): Uint8Array {
  return new TextEncoder().encode(value);
}

function patterned(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 17 + 1) & 0xff;
  return out;
}
