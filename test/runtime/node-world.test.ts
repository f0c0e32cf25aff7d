import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { silentLogger } from '../../src/env/logger.js';
import { type ProductionWorld, createProductionWorld } from '../../src/runtime/node-world.js';
import { withTempDir } from './file-log-support.js';
import { freePort, sleep } from './grpc-support.js';

// The production world's storage: logs found and removed by name, snapshot files beside them.

/** A production world on a free loopback port (retried: a free port can be taken before the bind). */
async function productionWorld(dataDir: string): Promise<ProductionWorld> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      return await createProductionWorld({
        self: `127.0.0.1:${await freePort()}`,
        cluster: 'test-cluster',
        clusterId: 'test-cluster-id',
        dataDir,
        logger: silentLogger,
        stop: (reason) => assert.fail(`the world stopped: ${reason}`),
      });
    } catch (err) {
      lastError = err;
      await sleep(50);
    }
  }
  throw lastError;
}

test('hasLog tells whether <name>.log exists, and removeLog deletes it', async () => {
  await withTempDir(async (dataDir) => {
    const prod = await productionWorld(dataDir);
    try {
      const { world } = prod;
      assert.equal(world.hasLog('rsm-1'), false, 'no log before one is opened');
      const log = world.durableLog('rsm-1');
      log.load(); // creates the file
      await log.close();
      assert.equal(world.hasLog('rsm-1'), true);
      assert.ok((await readdir(dataDir)).includes('rsm-1.log'));

      world.removeLog('rsm-1');
      assert.equal(world.hasLog('rsm-1'), false);
      assert.ok(!(await readdir(dataDir)).includes('rsm-1.log'), 'the file is gone');
      world.removeLog('rsm-1'); // nothing there: nothing happens
      world.removeLog('never-opened');
    } finally {
      await prod.close();
    }
  });
});

test('snapshotFile(name) is <name>.snapshot in the data directory, beside the logs', async () => {
  await withTempDir(async (dataDir) => {
    const first = await productionWorld(dataDir);
    try {
      const snapshot = first.world.snapshotFile('rsm');
      assert.equal(snapshot.read(), null);
      const error = await new Promise<Error | undefined>((resolve) => snapshot.write(new TextEncoder().encode('state'), resolve));
      assert.equal(error, undefined);
      assert.deepEqual((await readdir(dataDir)).filter((name) => name.startsWith('rsm')), ['rsm.snapshot']);
      assert.equal(first.world.hasLog('rsm'), false, 'a snapshot is not a log');
    } finally {
      await first.close();
    }
    const second = await productionWorld(dataDir);
    try {
      assert.equal(new TextDecoder().decode(second.world.snapshotFile('rsm').read() ?? undefined), 'state');
    } finally {
      await second.close();
    }
  });
});
