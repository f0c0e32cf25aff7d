// connectLockService, the lock service's front-door client: it finds the cluster from an address
// that is not the first node, a plain script acquires, prints and exits by itself, and two
// scripts in a row get strictly growing fencing tokens.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NodeProcess, cliPath } from '../../tools/harness/node-process.js';
import { freePortPairs } from '../../tools/harness/ports.js';

const script = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'lock-script.js');
const root = mkdtempSync(join(tmpdir(), 'synod-lock-service-'));
let nodes: NodeProcess[] = [];

before(async () => {
  const ports = await freePortPairs(3);
  const first = `127.0.0.1:${ports[0]}`;
  nodes = ports.map((port, i) => new NodeProcess({ port, first, dataDir: join(root, `n${i + 1}`), logLevel: 'warn', entry: [cliPath, 'lock-server'] }));
  for (const n of nodes) await n.start();
});

after(async () => {
  await Promise.allSettled(nodes.map((n) => n.kill('SIGKILL')));
  rmSync(root, { recursive: true, force: true });
});

test('a plain script takes a lock through connectLockService, prints its token and exits by itself', () => {
  const tokens: number[] = [];
  for (let run = 0; run < 2; run++) {
    const r = spawnSync(process.execPath, [script, nodes[2]!.address], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, `run ${run}: exit ${r.status} ${r.signal ?? ''}\n${r.stderr}`);
    const m = /^token (\d+) owner \S+ cluster synod@(\S+)$/m.exec(r.stdout);
    assert.ok(m !== null, r.stdout);
    assert.equal(m[2], nodes[0]!.address, 'the cluster name was found');
    tokens.push(Number(m[1]));
  }
  assert.ok(tokens[1]! > tokens[0]!, `fencing tokens grow: ${tokens.join(', ')}`);
});
