// Proves the config layer over real gRPC between real processes: nodes join into one view, a
// member killed with SIGKILL is removed by the survivors within the documented detection time,
// and a restarted node is added back.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeProcess, eventually } from '../../tools/harness/node-process.js';
import { freePortPairs } from '../../tools/harness/ports.js';
import { defaultConfigOptions } from '../../src/options.js';

interface Status { vid?: number; members?: string[]; status?: string }

/** The documented worst case for removing a dead member on loopback (issue: well under 2 s). */
const removalBudgetMs = 2000;

const status = (n: NodeProcess): Promise<Status> => n.control<Status>('Status', {});

async function seeView(nodes: NodeProcess[], members: NodeProcess[], timeoutMs: number): Promise<void> {
  const want = members.map((m) => m.address);
  for (const n of nodes) {
    await eventually(async () => {
      const s = await status(n);
      return s.status === 'member' && JSON.stringify(s.members) === JSON.stringify(want) ? true : undefined;
    }, timeoutMs, `${n.address} sees [${want.join(',')}]`, 10);
  }
}

describe('config layer between three real node processes', () => {
  let root: string;
  let a: NodeProcess;
  let b: NodeProcess;
  let c: NodeProcess;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'synod-config-'));
    const [pa, pb, pc] = await freePortPairs(3);
    const first = `127.0.0.1:${pa}`;
    a = new NodeProcess({ port: pa!, first, dataDir: join(root, 'a') });
    b = new NodeProcess({ port: pb!, first, dataDir: join(root, 'b') });
    c = new NodeProcess({ port: pc!, first, dataDir: join(root, 'c') });
  });

  after(async () => {
    for (const n of [a, b, c]) {
      n.closeClient();
      await n.kill('SIGKILL');
    }
    rmSync(root, { recursive: true, force: true });
  });

  test('nodes started one after another join into the view [a, b, c]', async () => {
    await a.start();
    await b.start();
    await seeView([a, b], [a, b], 5000);
    await c.start();
    await seeView([a, b, c], [a, b, c], 5000);
  });

  test(`a member killed with SIGKILL is removed by the survivors within ${removalBudgetMs} ms`, async () => {
    const killed = Date.now();
    await c.kill('SIGKILL');
    await seeView([a, b], [a, b], removalBudgetMs);
    const took = Date.now() - killed;
    const detection = defaultConfigOptions.heartbeatIntervalMs * defaultConfigOptions.suspectAfterMissed;
    console.log(`removal took ${took} ms (detection after ${detection} ms of silence)`);
    // Suspicion counts heartbeat ticks, so it comes between (threshold - 1) and threshold intervals after
    // the last heartbeat, which itself came up to one interval before the kill.
    const earliest = detection - 2 * defaultConfigOptions.heartbeatIntervalMs;
    assert.ok(took >= earliest, `removed after ${took} ms, before it could have been suspected (${earliest} ms)`);
  });

  test('the killed node restarts and is added back at the end', async () => {
    await c.start();
    await seeView([a, b, c], [a, b, c], 5000);
  });

  test('the first node killed is removed too; the others go on without it', async () => {
    await a.kill('SIGKILL');
    await seeView([b, c], [b, c], removalBudgetMs);
  });
});
