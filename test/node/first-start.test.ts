// A first node whose first start fails before it could serve (its port is taken) must still
// create the cluster at its next start: the data directory's first life begins only once the
// node holds its address.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkIdentity } from '../../src/node/identity.js';
import { runSynod } from '../../tools/harness/cli-run.js';
import { NodeProcess, cliPath, eventually } from '../../tools/harness/node-process.js';
import { freePortPairs } from '../../tools/harness/ports.js';

test('an identity is only a first life until it is recorded', () => {
  const dir = mkdtempSync(join(tmpdir(), 'synod-identity-'));
  try {
    const who = { me: 'h:1', first: 'h:1', cluster: 'c', app: null, newClusterId: () => 'c-1' };
    assert.equal(checkIdentity(dir, who).firstLife, true);
    assert.equal(checkIdentity(dir, who).firstLife, true, 'nothing was recorded: still new');
    checkIdentity(dir, who).record();
    assert.equal(checkIdentity(dir, who).firstLife, false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a first node that could not bind its port at its first start creates the cluster at the next one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'synod-first-start-'));
  const [port] = await freePortPairs(1);
  const me = `127.0.0.1:${port}`;
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
  const node = new NodeProcess({ port: port!, first: me, dataDir: join(dir, 'n1'), entry: [cliPath, 'node', '--app', 'test'] });
  try {
    const refused = await runSynod('node', '--app', 'test', '--me', me, '--first', me, '--data-dir', join(dir, 'n1'), '--log-level', 'silent');
    assert.equal(refused.code, 1, refused.stderr);
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
    await node.start();
    const status = await eventually(async () => {
      const r = await runSynod('status', me, '--json');
      return r.code === 0 ? JSON.parse(r.stdout) as { replicaStatus: string; refusing: boolean } : undefined;
    }, 10_000, `${me} serving`);
    assert.equal(status.replicaStatus, 'normal');
    assert.equal(status.refusing, false);
  } finally {
    await node.kill('SIGKILL');
    blocker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
