import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fsyncDir, mkdirDurable } from '../../src/runtime/durable-fs.js';

async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'synod-durable-fs-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('mkdirDurable creates every missing directory and reports them outermost first', async () => {
  await withTempDir(async (dir) => {
    const target = join(dir, 'a', 'b', 'c');
    // Each reported directory was fsynced into its parent.
    assert.deepEqual(mkdirDurable(target), [join(dir, 'a'), join(dir, 'a', 'b'), target]);
    assert.ok((await stat(target)).isDirectory());
  });
});

test('mkdirDurable leaves an existing directory alone and reports nothing', async () => {
  await withTempDir(async (dir) => {
    assert.deepEqual(mkdirDurable(dir), []);
    mkdirDurable(join(dir, 'x'));
    assert.deepEqual(mkdirDurable(join(dir, 'x', 'y')), [join(dir, 'x', 'y')]);
  });
});

test('fsyncDir of a missing directory throws', async () => {
  await withTempDir(async (dir) => {
    assert.doesNotThrow(() => fsyncDir(dir));
    assert.throws(() => fsyncDir(join(dir, 'missing')), /ENOENT/);
  });
});
