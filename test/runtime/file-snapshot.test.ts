import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { silentLogger } from '../../src/env/logger.js';
import { CorruptSnapshotError } from '../../src/env/snapshot-file.js';
import { crc32 } from '../../src/runtime/crc32.js';
import {
  FileSnapshot,
  checkSnapshot,
  snapshotHeader,
  snapshotHeaderBytes,
  snapshotMagic,
  snapshotTmpPath,
} from '../../src/runtime/file-snapshot.js';
import { type LogLine, capturingLogger, flipByte, patterned, text, withTempDir } from './file-log-support.js';
import { SnapshotProcess, writeSteps } from './file-snapshot-support.js';

// FileSnapshot's own behaviour beyond the shared SnapshotFile suite: its format, damage refused
// with CorruptSnapshotError, disk errors and deaths at every step of a write, stale .tmp files.

/** Writes `data` through a fresh FileSnapshot and waits for it; rejects on an error. */
async function writeSnapshot(path: string, data: Uint8Array): Promise<void> {
  const error = await writeWith(new FileSnapshot(path, { logger: silentLogger }), data);
  if (error !== undefined) throw error;
}

/** Issues one write on `file` and resolves with what its `done` got. */
function writeWith(file: FileSnapshot, data: Uint8Array): Promise<Error | undefined> {
  return new Promise((resolve) => file.write(data, resolve));
}

function readSnapshot(path: string, logger = silentLogger): Uint8Array | null {
  return new FileSnapshot(path, { logger }).read();
}

function hexOf(data: Uint8Array | null): string | null {
  return data === null ? null : Buffer.from(data).toString('hex');
}

/** Asserts that `read` refuses the file with a CorruptSnapshotError naming it, and leaves it as it was. */
async function assertRefused(path: string, reason: RegExp): Promise<void> {
  const before = await readFile(path);
  assert.throws(
    () => readSnapshot(path),
    (err: unknown) => {
      assert.ok(err instanceof CorruptSnapshotError, `a CorruptSnapshotError, got ${String(err)}`);
      assert.equal(err.file, path);
      assert.match(err.reason, reason);
      assert.ok(err.message.includes(path), 'the message names the file');
      return true;
    },
  );
  assert.ok((await readFile(path)).equals(before), 'the damaged file is left untouched');
}

describe('FileSnapshot format', () => {
  test('the file is the magic, the payload length, its CRC-32, and the payload', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'rsm.snapshot');
      const payload = patterned(300, 1);
      await writeSnapshot(path, payload);
      const contents = await readFile(path);
      assert.equal(contents.length, snapshotHeaderBytes + payload.length);
      assert.equal(contents.subarray(0, 8).toString('latin1'), 'SYNODSN1');
      assert.equal(contents.readUInt32LE(8), payload.length);
      assert.equal(contents.readUInt32LE(12), crc32(payload));
      assert.ok(contents.subarray(snapshotHeaderBytes).equals(payload));
      assert.deepEqual(snapshotHeader(payload.length, crc32(payload)), new Uint8Array(contents.subarray(0, snapshotHeaderBytes)));
    });
  });

  test('an empty payload is a valid snapshot: the header alone', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'rsm.snapshot');
      await writeSnapshot(path, new Uint8Array(0));
      assert.equal((await stat(path)).size, snapshotHeaderBytes);
      assert.equal(hexOf(readSnapshot(path)), '');
    });
  });

  test('checkSnapshot accepts exactly what a write produces', () => {
    const payload = text('state');
    const file = new Uint8Array([...snapshotHeader(payload.length, crc32(payload)), ...payload]);
    const check = checkSnapshot(file);
    assert.ok(check.ok);
    assert.equal(hexOf(check.payload), hexOf(payload));
    assert.deepEqual(snapshotMagic, new TextEncoder().encode('SYNODSN1'));
  });
});

describe('FileSnapshot refuses a damaged file with CorruptSnapshotError naming it', () => {
  const damages: Array<{ name: string; reason: RegExp; damage: (path: string, size: number) => Promise<void> }> = [
    { name: 'a file cut short in its payload', reason: /^truncated: the header announces 1000 payload bytes, the file holds 999$/, damage: (p, size) => truncate(p, size - 1) },
    { name: 'a file cut short in its header', reason: /^truncated: 10 bytes, shorter than the 16-byte header$/, damage: (p) => truncate(p, 10) },
    { name: 'a file cut short inside its magic', reason: /^truncated: 5 bytes/, damage: (p) => truncate(p, 5) },
    { name: 'a flipped byte in the payload', reason: /^checksum mismatch: the payload's CRC-32 is 0x[0-9a-f]{8}, the header says 0x[0-9a-f]{8}$/, damage: (p) => flipByte(p, snapshotHeaderBytes + 500, 0x01) },
    { name: 'a flipped byte in the checksum', reason: /^checksum mismatch/, damage: (p) => flipByte(p, 12) },
    { name: 'a damaged length', reason: /^truncated: the header announces/, damage: (p) => flipByte(p, 10, 0x01) },
    { name: 'bytes after the payload', reason: /^3 bytes after the 1000-byte payload/, damage: async (p) => writeFile(p, new Uint8Array([1, 2, 3]), { flag: 'a' }) },
    { name: 'bad magic', reason: /^bad magic: the file does not start with SYNODSN1 \(not a synod snapshot\)$/, damage: (p) => flipByte(p, 0) },
    { name: 'a format version this build does not read', reason: /^bad magic: format version "2" is not supported/, damage: (p) => flipByte(p, 7, '1'.charCodeAt(0) ^ '2'.charCodeAt(0)) },
    { name: 'an empty file', reason: /^empty file/, damage: (p) => truncate(p, 0) },
  ];
  for (const { name, reason, damage } of damages) {
    test(name, async () => {
      await withTempDir(async (dir) => {
        const path = join(dir, 'rsm.snapshot');
        await writeSnapshot(path, patterned(1000, 2));
        await damage(path, snapshotHeaderBytes + 1000);
        await assertRefused(path, reason);
      });
    });
  }

  test('a file that is not a snapshot at all', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'rsm.snapshot');
      await writeFile(path, '{"state": "json written by hand"}');
      await assertRefused(path, /^bad magic/);
    });
  });
});

describe('FileSnapshot writes', () => {
  test('write returns before any file-system call and writes one at a time, in order', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'rsm.snapshot');
      const disk = new SnapshotProcess();
      const file = new FileSnapshot(path, { logger: silentLogger, fs: disk.fs });
      const first = writeWith(file, text('one'));
      const second = writeWith(file, text('two'));
      assert.deepEqual(disk.steps, [], 'nothing touched the disk inside write');
      assert.deepEqual(await Promise.all([first, second]), [undefined, undefined]);
      assert.deepEqual(disk.steps, [...writeSteps, ...writeSteps], 'the second write started after the first ended');
      assert.equal(hexOf(readSnapshot(path)), hexOf(text('two')));
      await assert.rejects(stat(snapshotTmpPath(path)), { code: 'ENOENT' }, 'no .tmp is left');
    });
  });

  test('a write whose fsync fails reports the error to done, is logged, and leaves the old contents readable', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'rsm.snapshot');
      await writeSnapshot(path, text('old'));
      const lines: LogLine[] = [];
      const disk = new SnapshotProcess();
      const file = new FileSnapshot(path, { logger: capturingLogger(lines), fs: disk.fs });
      assert.equal(hexOf(file.read()), hexOf(text('old')));
      disk.inject({ step: 'sync', kind: 'fail' });
      const error = await writeWith(file, text('new'));
      assert.equal((error as NodeJS.ErrnoException | undefined)?.code, 'EIO');
      assert.equal(hexOf(readSnapshot(path)), hexOf(text('old')));
      const failures = lines.filter((line) => line.level === 'error');
      assert.equal(failures.length, 1);
      assert.equal(failures[0]!.fields['file'], path);
      assert.equal(failures[0]!.fields['err'], error);
    });
  });

  test('after a failed write every later write reports the same error and touches nothing', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'rsm.snapshot');
      await writeSnapshot(path, text('old'));
      const disk = new SnapshotProcess();
      const file = new FileSnapshot(path, { logger: silentLogger, fs: disk.fs });
      disk.inject({ step: 'sync', kind: 'fail' });
      const results = await Promise.all([writeWith(file, text('a')), writeWith(file, text('b'))]);
      const stepsAfterFailure = disk.steps.length;
      results.push(await writeWith(file, text('c')));
      assert.ok(results[0] !== undefined);
      assert.deepEqual(results, [results[0], results[0], results[0]], 'the first error, each time');
      assert.equal(disk.steps.length, stepsAfterFailure, 'no file-system call after the failure');
      assert.deepEqual(disk.steps, ['open', 'payload', 'sync', 'close']);
      assert.equal(hexOf(readSnapshot(path)), hexOf(text('old')));
    });
  });

  for (const step of writeSteps) {
    const replaced = step === 'syncDir';
    const outcome = replaced ? 'the new contents are in place (renamed, not proven durable)' : 'the old contents stay';
    test(`a disk error at ${step} is reported to done and ${outcome}`, async () => {
      await withTempDir(async (dir) => {
        const path = join(dir, 'rsm.snapshot');
        await writeSnapshot(path, patterned(4000, 3));
        const disk = new SnapshotProcess();
        disk.inject({ step, kind: 'fail' });
        const error = await writeWith(new FileSnapshot(path, { logger: silentLogger, fs: disk.fs }), patterned(5000, 4));
        assert.equal((error as NodeJS.ErrnoException | undefined)?.code, 'EIO');
        assert.equal(hexOf(readSnapshot(path)), hexOf(replaced ? patterned(5000, 4) : patterned(4000, 3)));
      });
    });
  }

  for (const step of writeSteps) {
    const renamed = step === 'syncDir';
    test(`a process that dies at ${step} leaves ${renamed ? 'the new contents (the rename was done)' : 'the old contents'} to the next one`, async () => {
      await withTempDir(async (dir) => {
        const path = join(dir, 'rsm.snapshot');
        await writeSnapshot(path, patterned(4000, 5));
        const dying = new SnapshotProcess();
        dying.inject({ step, kind: 'die' });
        await writeWith(new FileSnapshot(path, { logger: silentLogger, fs: dying.fs }), patterned(5000, 6));
        assert.ok(dying.dead);
        const lines: LogLine[] = [];
        assert.equal(hexOf(readSnapshot(path, capturingLogger(lines))), hexOf(renamed ? patterned(5000, 6) : patterned(4000, 5)));
        // Death at `open` comes before the .tmp is created; at `syncDir`, after it was renamed.
        const tmpLeft = step === 'open' || renamed ? 0 : 1;
        assert.equal(lines.filter((line) => line.msg.includes('interrupted by a crash')).length, tmpLeft, 'a .tmp left behind is removed, with a warning');
        await assert.rejects(stat(snapshotTmpPath(path)), { code: 'ENOENT' });
      });
    });
  }

  test('a payload too large for the format is refused through done, touching nothing', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'rsm.snapshot');
      const disk = new SnapshotProcess();
      const file = new FileSnapshot(path, { logger: silentLogger, fs: disk.fs });
      // Only its length is looked at before the refusal; 4 GiB need not be allocated.
      const huge = { length: 2 ** 32 } as Uint8Array;
      let returned = false;
      const error = await new Promise<Error | undefined>((resolve) => {
        file.write(huge, (err) => {
          assert.ok(returned, 'not called back inside write');
          resolve(err);
        });
        returned = true;
      });
      assert.ok(error instanceof RangeError);
      assert.match(error.message, /does not fit the format/);
      assert.deepEqual(disk.steps, []);
    });
  });
});

describe('FileSnapshot and a stale .tmp', () => {
  test('read ignores and removes a stale .tmp, even one holding a whole newer snapshot', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'rsm.snapshot');
      await writeSnapshot(path, text('durable'));
      // A whole, valid file that was never renamed into place: its write never called back.
      const unacknowledged = text('never acknowledged');
      await writeFile(snapshotTmpPath(path), new Uint8Array([...snapshotHeader(unacknowledged.length, crc32(unacknowledged)), ...unacknowledged]));
      const lines: LogLine[] = [];
      assert.equal(hexOf(readSnapshot(path, capturingLogger(lines))), hexOf(text('durable')));
      await assert.rejects(stat(snapshotTmpPath(path)), { code: 'ENOENT' });
      const warning = lines.find((line) => line.level === 'warn');
      assert.equal(warning?.fields['file'], snapshotTmpPath(path));
    });
  });

  test('with only a stale .tmp there is no snapshot', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'rsm.snapshot');
      await writeFile(snapshotTmpPath(path), 'half a write');
      assert.equal(readSnapshot(path), null);
      await assert.rejects(stat(snapshotTmpPath(path)), { code: 'ENOENT' });
    });
  });

  test('a write without a read first writes over a longer stale .tmp', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'rsm.snapshot');
      await writeFile(snapshotTmpPath(path), patterned(100_000, 7));
      await writeSnapshot(path, text('short'));
      assert.equal(hexOf(readSnapshot(path)), hexOf(text('short')));
    });
  });
});

describe('FileSnapshot read', () => {
  test('read may be called once, before any write', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'rsm.snapshot');
      const once = new FileSnapshot(path, { logger: silentLogger });
      assert.equal(once.read(), null);
      assert.throws(() => once.read(), /read\(\) after read\(\) or write\(\)/);
      const writer = new FileSnapshot(path, { logger: silentLogger });
      const written = writeWith(writer, text('x'));
      assert.throws(() => writer.read(), /read\(\) after read\(\) or write\(\)/);
      assert.equal(await written, undefined);
    });
  });

  test('read returns a plain Uint8Array of the payload alone', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'rsm.snapshot');
      await writeSnapshot(path, text('payload'));
      const data = readSnapshot(path);
      assert.ok(data !== null);
      assert.equal(Object.getPrototypeOf(data), Uint8Array.prototype);
      assert.equal(hexOf(data), hexOf(text('payload')));
    });
  });
});
