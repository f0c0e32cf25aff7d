import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, open, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CorruptLogError, type DurableLog, type LoadedRecord } from '../../src/env/durable-log.js';
import { silentLogger, type Logger } from '../../src/env/logger.js';
import { limits } from '../../src/options.js';
import { crc32 } from '../../src/runtime/crc32.js';
import { FileLog, fileLogMagic, frameHeaderBytes, type LogFile } from '../../src/runtime/file-log.js';
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
  test('a missing file becomes a fresh log holding only the header', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'fresh.log');
      const log = new FileLog(path, { logger: silentLogger });
      assert.deepEqual(log.load(), []);
      assert.deepEqual(await readFile(path), Buffer.from(fileLogMagic));
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

  // Three records; the damage goes to the last one (or after it), as a crash mid-write leaves it.
  const tornTails: ReadonlyArray<{
    form: string;
    damage: (path: string, last: LoadedRecord) => Promise<void>;
    survivors: number;
    /** Where the cut begins, given the last record and the file size before loading. */
    cutAt: (last: LoadedRecord, size: number) => number;
  }> = [
    {
      form: 'a frame header cut short',
      damage: (path, last) => truncate(path, last.offset + 5),
      survivors: 2,
      cutAt: (last) => last.offset,
    },
    {
      form: 'a payload cut short',
      damage: (path, last) => truncate(path, last.offset + frameHeaderBytes + 10),
      survivors: 2,
      cutAt: (last) => last.offset,
    },
    {
      form: 'a checksum mismatch in the last record',
      damage: (path, last) => flipByte(path, last.offset + frameHeaderBytes + 3),
      survivors: 2,
      cutAt: (last) => last.offset,
    },
    {
      form: 'a zero-filled tail',
      damage: (path) => appendFile(path, Buffer.alloc(4096)),
      survivors: 3,
      cutAt: (_last, size) => size - 4096,
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
        const expectedCut = cutAt(written[2]!, sizeBefore);

        const lines: LogLine[] = [];
        const log = new FileLog(path, { logger: capturingLogger(lines) });
        assertRecords(log.load(), records.slice(0, survivors));
        const warnings = lines.filter((line) => line.level === 'warn');
        assert.equal(warnings.length, 1, 'one warning');
        assert.equal(warnings[0]!.fields['file'], path);
        assert.equal(warnings[0]!.fields['offset'], expectedCut);
        assert.equal(warnings[0]!.fields['bytes'], sizeBefore - expectedCut);
        assert.equal((await stat(path)).size, expectedCut, 'the tail is gone from the file');

        log.append(text('after the cut'));
        await syncOnce(log);
        await log.close();

        const linesAfter: LogLine[] = [];
        const reopened = new FileLog(path, { logger: capturingLogger(linesAfter) });
        assertRecords(reopened.load(), [...records.slice(0, survivors), text('after the cut')]);
        assert.deepEqual(linesAfter.filter((line) => line.level === 'warn'), [], 'a clean log loads without warnings');
      });
    });
  }

  // The damage goes to the middle record of three, so that valid data follows it.
  const middleDamage: ReadonlyArray<{
    form: string;
    damage: (path: string, record: LoadedRecord) => Promise<void>;
    reason: RegExp;
  }> = [
    {
      form: 'a flipped payload byte',
      damage: (path, record) => flipByte(path, record.offset + frameHeaderBytes + 7),
      reason: /^payload checksum mismatch$/,
    },
    {
      form: 'a flipped checksum byte',
      damage: (path, record) => flipByte(path, record.offset + 5),
      reason: /^damaged record header$/,
    },
    {
      form: 'a flipped payload checksum byte',
      damage: (path, record) => flipByte(path, record.offset + 9),
      reason: /^payload checksum mismatch$/,
    },
    {
      form: 'a flipped low bit in the length',
      damage: (path, record) => flipByte(path, record.offset, 0x01),
      reason: /^damaged record header$/,
    },
    {
      // With a header checksum that matches, as a log written with a larger limit has.
      form: 'a length beyond maxRecordBytes',
      damage: (path, record) => rewriteLength(path, record.offset, limits.maxLogRecordBytes + 1, 'matching'),
      reason: /exceeds maxRecordBytes/,
    },
  ];

  for (const { form, damage, reason } of middleDamage) {
    const name = `a middle record with ${form} is refused with a CorruptLogError naming the file and the record's offset`;
    test(name, async () => {
      await withTempDir(async (dir) => {
        const path = join(dir, 'corrupt.log');
        const written = await writeLog(path, [text('alpha'), patterned(50, 1), patterned(40, 2)]);
        const bad = written[1]!;
        await damage(path, bad);
        const before = await readFile(path);

        const err = catchError(() => new FileLog(path, { logger: silentLogger }).load());
        assert.ok(err instanceof CorruptLogError, `expected a CorruptLogError, got ${String(err)}`);
        assert.equal(err.file, path);
        assert.equal(err.offset, bad.offset);
        assert.match(err.reason, reason);
        assert.ok(err.message.includes(path), err.message);
        assert.ok(err.message.includes(`offset ${bad.offset}`), err.message);
        assert.deepEqual(await readFile(path), before, 'the file is left untouched');
      });
    });
  }

  const pastTheEnd =
    'a middle record whose length field is damaged to point past the end of the file ' +
    'is refused with CorruptLogError, not truncated';
  test(pastTheEnd, async () => {
    // Trusted, such a length would pass for a payload cut short by a crash, and the cut would drop record 2.
    await withTempDir(async (dir) => {
      const path = join(dir, 'length.log');
      const written = await writeLog(path, [text('alpha'), patterned(50, 1), patterned(40, 2)]);
      const bad = written[1]!;
      const size = (await stat(path)).size;
      const damagedLength = size; // the payload would end at bad.offset + 12 + size, past the end
      assert.ok(damagedLength <= limits.maxLogRecordBytes, 'within maxRecordBytes: only the checksum can tell');
      await rewriteLength(path, bad.offset, damagedLength, 'stale');
      const before = await readFile(path);

      const lines: LogLine[] = [];
      const err = catchError(() => new FileLog(path, { logger: capturingLogger(lines) }).load());
      assert.ok(err instanceof CorruptLogError, `expected a CorruptLogError, got ${String(err)}`);
      assert.equal(err.file, path);
      assert.equal(err.offset, bad.offset);
      assert.equal(err.reason, 'damaged record header');
      assert.equal((await stat(path)).size, size, 'the file size is unchanged');
      assert.deepEqual(await readFile(path), before, 'the file is left untouched');
      assert.deepEqual(lines.filter((line) => line.level === 'warn'), [], 'no torn tail reported');
    });
  });

  // A header whose checksum fails is a torn tail only when nothing but zeros follows it.
  const damagedHeaders: ReadonlyArray<{
    form: string;
    damage: (path: string, last: LoadedRecord) => Promise<void>;
    at: (last: LoadedRecord, size: number) => number;
  }> = [
    {
      form: 'zeros, then one non-zero byte',
      damage: (path) => appendFile(path, Buffer.concat([Buffer.alloc(4096), Buffer.from([0x01])])),
      at: (_last, size) => size,
    },
    {
      form: "the last record's header, followed by its payload",
      damage: (path, last) => flipByte(path, last.offset + 1),
      at: (last) => last.offset,
    },
  ];

  for (const { form, damage, at } of damagedHeaders) {
    test(`a damaged header followed by non-zero bytes is corruption, not a torn tail (${form})`, async () => {
      await withTempDir(async (dir) => {
        const path = join(dir, 'header.log');
        const written = await writeLog(path, [text('alpha'), patterned(50, 1), patterned(40, 2)]);
        const size = (await stat(path)).size;
        await damage(path, written[2]!);
        const before = await readFile(path);

        const lines: LogLine[] = [];
        const err = catchError(() => new FileLog(path, { logger: capturingLogger(lines) }).load());
        assert.ok(err instanceof CorruptLogError, `expected a CorruptLogError, got ${String(err)}`);
        assert.equal(err.file, path);
        assert.equal(err.offset, at(written[2]!, size));
        assert.equal(err.reason, 'damaged record header');
        assert.deepEqual(await readFile(path), before, 'the file is left untouched');
        assert.deepEqual(lines.filter((line) => line.level === 'warn'), [], 'no torn tail reported');
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

  test('a SYNODLG1 file is refused as an unsupported format version', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'v1.log');
      // Version 1: the magic, then frames [u32 length][u32 crc32(length bytes + payload)][payload].
      const payload = Buffer.from('alpha');
      const length = Buffer.alloc(4);
      length.writeUInt32LE(payload.length);
      const checksum = Buffer.alloc(4);
      checksum.writeUInt32LE(crc32(payload, crc32(length)));
      const v1 = Buffer.concat([Buffer.from('SYNODLG1'), length, checksum, payload]);
      await writeFile(path, v1);

      const err = catchError(() => new FileLog(path, { logger: silentLogger }).load());
      assert.ok(err instanceof CorruptLogError, `expected a CorruptLogError, got ${String(err)}`);
      assert.equal(err.file, path);
      assert.equal(err.offset, 0);
      assert.match(err.reason, /format version "1" is not supported/);
      assert.match(err.reason, /SYNODLG2/);
      assert.deepEqual(await readFile(path), v1, 'the file is left untouched');
    });
  });

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
        this.#writeStarted?.();
        await this.#gate;
        return handle.write(buffer, offset, length, position);
      },
      datasync: async () => {
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

/** Writes `records` to a new log at `path`, closes it, and returns them as loaded (with offsets). */
async function writeLog(path: string, records: readonly Uint8Array[]): Promise<LoadedRecord[]> {
  const log = new FileLog(path, { logger: silentLogger });
  log.load();
  for (const record of records) log.append(record);
  await log.close();
  const reader = new FileLog(path, { logger: silentLogger });
  const loaded = reader.load();
  await reader.close();
  assertRecords(loaded, records);
  return loaded;
}

function syncOnce(log: DurableLog): Promise<void> {
  return new Promise((resolve, reject) => log.sync((err) => (err === undefined ? resolve() : reject(err))));
}

async function flipByte(path: string, offset: number, mask = 0xff): Promise<void> {
  const contents = await readFile(path);
  assert.ok(offset < contents.length, `offset ${offset} is inside the file`);
  contents[offset] = contents[offset]! ^ mask;
  await writeFile(path, contents);
}

/**
 * Overwrites a frame's length field. `matching` also rewrites the header checksum to fit it (as
 * if the writer had put that length there); `stale` leaves the old checksum (damage).
 */
async function rewriteLength(
  path: string,
  frameOffset: number,
  length: number,
  checksum: 'matching' | 'stale',
): Promise<void> {
  const contents = await readFile(path);
  assert.ok(frameOffset + frameHeaderBytes <= contents.length, `a frame header at ${frameOffset} is inside the file`);
  contents.writeUInt32LE(length, frameOffset);
  if (checksum === 'matching') {
    contents.writeUInt32LE(crc32(contents.subarray(frameOffset, frameOffset + 4)), frameOffset + 4);
  }
  await writeFile(path, contents);
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
