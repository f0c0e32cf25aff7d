import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/env/logger.js';
import { FileSnapshot, snapshotHeaderBytes, snapshotTmpPath } from '../../src/runtime/file-snapshot.js';
import { snapshotFileConformance, type SnapshotFileHarness } from '../conformance/snapshot-file.suite.js';
import { SnapshotProcess } from './file-snapshot-support.js';

// FileSnapshot on a real file against the behaviour every SnapshotFile must have.

snapshotFileConformance('FileSnapshot', makeFileSnapshotHarness);

/**
 * A real file in a fresh temp directory. A crash abandons the open `FileSnapshot` and closes its
 * file handles, after which the abandoned process can no longer touch the disk. The suite crashes
 * only with no write in flight, or through `crashDuringWrite`, where the process dies half-way
 * through writing the `.tmp` (a real crash leaves such a file behind).
 */
async function makeFileSnapshotHarness(): Promise<SnapshotFileHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'synod-file-snapshot-'));
  const path = join(dir, 'rsm.snapshot');
  let current = new SnapshotProcess();
  const dying: Array<Promise<void>> = [];
  const crash = (): void => {
    dying.push(current.die());
    current = new SnapshotProcess();
  };
  return {
    open: () => current.track(new FileSnapshot(path, { logger: silentLogger, fs: current.fs })),
    crash,
    async crashDuringWrite(file, data) {
      assert.ok(data.length >= 2, 'a payload that can be half-written');
      current.inject({ step: 'payload', kind: 'die' });
      const dead = current;
      await new Promise<void>((resolve) => file.write(data, () => resolve()));
      assert.ok(dead.dead, 'the process died during the write');
      const left = await stat(snapshotTmpPath(path));
      assert.ok(left.size > snapshotHeaderBytes && left.size < snapshotHeaderBytes + data.length, 'a half-written .tmp is left');
      crash();
    },
    settle: () => current.settled(),
    dispose: async () => {
      crash();
      await Promise.all(dying);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
