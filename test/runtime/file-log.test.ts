import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { access, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { silentLogger } from '../../src/env/logger.js';
import { FileLog } from '../../src/runtime/file-log.js';
import { fileLogMagic } from '../../src/runtime/file-log-format.js';
import { fileLogTmpPath } from '../../src/runtime/file-log-load.js';
import { type LogLine, assertRecords, capturingLogger, syncOnce, text, withTempDir } from './file-log-support.js';

// Creating a log, opening it again, and the calls a log refuses. Beside this file: file-log-commit
// (batches and group commit), -tears (torn tails), -corruption (damage before the end),
// -conformance (the DurableLog contract), all sharing file-log-support; and -format, the same
// rules on byte arrays without a file.

describe('FileLog on disk: creating and opening', () => {
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
});

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
