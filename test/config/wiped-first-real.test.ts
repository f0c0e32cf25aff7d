// Proves a lost disk of the cluster's *first* node is recognised too, on real processes: the first
// node (also the primary) is SIGKILLed, its data directory deleted, and restarted with its usual
// --me/--first (itself) plus --join a live member. It joins as a new member (its new disk id)
// instead of creating a second, empty cluster, the members remove its old id, and it serves again
// with the whole state: a lock granted before keeps its holder and token, and a new grant's token
// is above it.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeProcess, eventually, killAll } from '../../tools/harness/node-process.js';
import { freePortPairs } from '../../tools/harness/ports.js';
import { StatusReader } from '../../tools/harness/status.js';
import { RsmClient } from '../../src/client/rsm-client.js';
import { defaultClusterName } from '../../src/env/cluster-name.js';
import { silentLogger } from '../../src/env/logger.js';
import { addressOf } from '../../src/env/types.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { realClock } from '../../src/runtime/real-clock.js';

/** How long one step may take (a call, a view change, a state transfer), with room for a loaded machine. */
const stepTimeoutMs = 15_000;

type Grant = { granted?: boolean; token?: number };

const root = mkdtempSync(join(tmpdir(), 'synod-wiped-first-'));
let nodes: NodeProcess[] = [];
after(async () => {
  await killAll(nodes);
  rmSync(root, { recursive: true, force: true });
});

test('the first node restarted on a wiped data directory with --join rejoins as a new member, and nothing acknowledged is lost', async () => {
  const ports = await freePortPairs(3);
  const first = `127.0.0.1:${ports[0]}`;
  const cluster = defaultClusterName(first);
  const args = ['--app', 'lock'];
  nodes = ports.map((port, i) => new NodeProcess({ port, first, dataDir: join(root, `n${i + 1}`), logLevel: 'info' }));
  const status = new StatusReader(cluster);
  const transport = new GrpcClientTransport({ cluster, logger: silentLogger });
  const serving = async () => {
    const all = await Promise.all(nodes.map((n) => status.status(n.address)));
    const ok = all.every((s) => s.replicaStatus === 'normal' && s.configStatus === 'member' && !s.refusing && s.vid === all[0]!.vid && s.members.length === 3);
    return ok ? all : undefined;
  };
  try {
    for (let k = 1; k <= 3; k++) {
      await nodes[k - 1]!.start(args);
      await eventually(async () => ((await status.status(nodes[k - 1]!.address)).replicaStatus === 'normal' ? true : undefined), stepTimeoutMs, `node ${k} serving`, 20);
    }
    const before = await eventually(serving, stepTimeoutMs, 'three serving', 20);
    assert.equal(before[0]!.member, first, 'the first node is listed by its address');
    const client = new RsmClient({ members: nodes.map((n) => n.address), transport, clock: realClock });
    const g1 = (await client.invoke('acquire', { lock: 'before', owner: 'keeper' }, { deadlineMs: stepTimeoutMs })) as Grant;
    assert.ok(g1.granted === true);

    const victim = nodes[0]!;
    await victim.kill('SIGKILL');
    rmSync(victim.dataDir, { recursive: true, force: true });
    await victim.start([...args, '--join', nodes[1]!.address]);

    const back = await eventually(async () => {
      const s = await serving();
      return s !== undefined && s[0]!.member !== first ? s : undefined;
    }, 2 * stepTimeoutMs, 'the first node serving again under a new member id', 20);
    assert.equal(addressOf(back[0]!.member), first);
    assert.equal(back[0]!.clusterId, before[0]!.clusterId, 'it joined the cluster; it made no new one');
    for (const s of back) assert.ok(!s.memberIds.includes(first) && s.memberIds.includes(back[0]!.member), `${s.node}: ${s.memberIds.join(',')}`);
    const stat = (await client.invoke('stat', { lock: 'before' })) as { holder: string | null; token: number };
    assert.deepEqual([stat.holder, stat.token], ['keeper', g1.token]);
    const g2 = (await client.invoke('acquire', { lock: 'after', owner: 'keeper' }, { deadlineMs: stepTimeoutMs })) as Grant;
    assert.ok(g2.granted === true && g2.token! > g1.token!, `token ${g2.token} after ${g1.token}`);
    client.close();
  } finally {
    await transport.close();
    await status.close();
  }
});
