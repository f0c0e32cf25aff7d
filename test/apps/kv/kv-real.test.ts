// Three real `synod node --app kv` processes over gRPC: reads, txns and old revisions through the real
// client; a lease without keepalives expires by the primary's own request, after the primary is killed
// too (the new primary gives it its whole TTL again), while a kept-alive lease stays; a client cannot
// call leaseExpire. Every node's state ends equal (same revision, same history).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeProcess, eventually, killAll, sleep } from '../../../tools/harness/node-process.js';
import { freePortPairs } from '../../../tools/harness/ports.js';
import { StatusReader } from '../../../tools/harness/status.js';
import { RsmClient } from '../../../src/client/rsm-client.js';
import { AppRejectedError } from '../../../src/client/errors.js';
import { GrpcClientTransport } from '../../../src/runtime/grpc-client-transport.js';
import { realClock } from '../../../src/runtime/real-clock.js';
import { silentLogger } from '../../../src/env/logger.js';
import { defaultClusterName } from '../../../src/env/cluster-name.js';
import type { NodeStatus } from '../../../src/node/status.js';
import type { Json } from '../../../src/rsm/app.js';

let root: string;
let nodes: NodeProcess[];
let status: StatusReader;
let transport: GrpcClientTransport;
let client: RsmClient;

const serving = async (among: NodeProcess[]): Promise<NodeStatus[] | undefined> => {
  const all = await Promise.all(among.map((n) => status.status(n.address).catch(() => null)));
  if (all.some((s) => s === null)) return undefined;
  const ok = all.every((s) => s!.replicaStatus === 'normal' && s!.vid === all[0]!.vid && s!.members.length === among.length && !s!.refusing);
  return ok ? (all as NodeStatus[]) : undefined;
};
const invoke = (proc: string, args: Json): Promise<Json> => client.invoke(proc, args, { deadlineMs: 15_000 });

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'synod-kv-real-'));
  const ports = await freePortPairs(3);
  const first = `127.0.0.1:${ports[0]}`;
  nodes = ports.map((port, i) => new NodeProcess({ port, first, dataDir: join(root, `n${i + 1}`), logLevel: 'info' }));
  for (const n of nodes) await n.start(['--app', 'kv']);
  status = new StatusReader(defaultClusterName(first));
  await eventually(() => serving(nodes), 20_000, 'three kv nodes serving', 50);
  transport = new GrpcClientTransport({ cluster: defaultClusterName(first), logger: silentLogger });
  client = new RsmClient({ members: nodes.map((n) => n.address), transport, clock: realClock });
});

after(async () => {
  client?.close();
  await transport?.close();
  await status?.close();
  await killAll(nodes);
  rmSync(root, { recursive: true, force: true });
});

test('the KV store over real gRPC: revisions, txn, old reads, leases expired by the primary across a failover', async () => {
  assert.deepEqual(await invoke('put', { key: 'config/a', value: '1' }), { revision: 2 });
  assert.deepEqual(await invoke('put', { key: 'constructor', value: 'proto' }), { revision: 3 });
  const txn = await invoke('txn', { compare: [{ key: 'config/a', target: 'version', op: '=', value: 1 }], success: [{ put: { key: 'config/a', value: '2' } }, { put: { key: 'config/b', value: '1' } }] });
  assert.deepEqual(txn, { succeeded: true, revision: 4, responses: [{ put: {} }, { put: {} }] });
  const short = (await invoke('leaseGrant', { ttl: 3 })) as { id: number };
  const kept = (await invoke('leaseGrant', { ttl: 3 })) as { id: number };
  await invoke('put', { key: 'eph/short', value: 'x', lease: short.id }); // 5
  await invoke('put', { key: 'eph/kept', value: 'y', lease: kept.id }); // 6
  await assert.rejects(invoke('leaseExpire', { id: short.id }), (e: unknown) => e instanceof AppRejectedError && e.code === 'internal-only');

  // Keep one lease alive from here on, through the failover.
  let keeping = true;
  const keepalives = (async () => {
    while (keeping) {
      await invoke('leaseKeepAlive', { id: kept.id }).catch(() => undefined);
      await sleep(500);
    }
  })();
  try {
    const before = (await eventually(() => serving(nodes), 5000, 'serving', 20))[0]!;
    const primary = nodes.find((n) => n.address === before.primary)!;
    await primary.kill('SIGKILL');
    const survivors = nodes.filter((n) => n !== primary);
    await eventually(() => serving(survivors), 20_000, 'the survivors serving', 50);
    // The history came through: a read at revision 3 still sees config/a's first value.
    const old = (await invoke('range', { key: 'config/', prefix: true, revision: 3 })) as { kvs: { key: string; value: string }[] };
    assert.deepEqual(old.kvs.map((kv) => `${kv.key}=${kv.value}`), ['config/a=1']);
    await eventually(async () => {
      const r = (await invoke('range', { key: 'eph/', prefix: true })) as { kvs: { key: string }[] };
      return r.kvs.length === 1 ? r : undefined;
    }, 20_000, 'the short lease expired by the new primary', 200);
  } finally {
    keeping = false;
    await keepalives;
  }
  const all = (await invoke('range', { key: '', prefix: true })) as { kvs: { key: string; modRevision: number }[]; revision: number };
  assert.deepEqual(all.kvs.map((kv) => kv.key), ['config/a', 'config/b', 'constructor', 'eph/kept']);
  assert.equal(all.revision, 7, 'the expiry made exactly one revision');
  assert.deepEqual(await invoke('leases', null), { leases: [{ id: kept.id, ttl: 3 }] });
  await assert.rejects(invoke('leaseTimeToLive', { id: short.id }), (e: unknown) => e instanceof AppRejectedError && e.code === 'lease-not-found');
});
