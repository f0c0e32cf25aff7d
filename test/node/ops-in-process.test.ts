// Two single-node clusters in one process, each started by startNode with metrics on (port 0): each
// has a registry of its own, so each /metrics counts only its own requests; /readyz says ready with
// its view; /status.json names the node as primary; a stopped node's endpoint is closed; the
// readiness reasons say why a node is not ready. A KV node's /metrics counts its open feed streams.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { type NodeHandle, connect, defineApp, jsonState, startNode } from '../../src/index.js';
import { readinessOf, roleOf } from '../../src/node/ops-status.js';
import type { NodeStatus } from '../../src/node/status.js';
import { freePortPairs } from '../../tools/harness/ports.js';
import { kvApp } from '../../src/apps/kv/kv-app.js';
import { eventually } from '../../tools/harness/node-process.js';

const counter = defineApp<{ n: number }>({
  name: 'count',
  version: '1.0.0',
  initialState: () => ({ n: 0 }),
  handlers: { add: (s) => ++s.n },
  marshalState: (s) => jsonState.marshal(s),
  unmarshalState: (b) => jsonState.unmarshal(b) as { n: number },
});

const dir = mkdtempSync(join(tmpdir(), 'synod-ops-in-process-'));
const handles: NodeHandle[] = [];
after(async () => {
  await Promise.allSettled(handles.map((h) => h.stop()));
  rmSync(dir, { recursive: true, force: true });
});

/** The value of the sample that starts with `series` (a name and its labels) in `metricsAddress`'s /metrics, 0 when absent. */
async function sample(metricsAddress: string, series: string): Promise<number> {
  const text = await (await fetch(`http://${metricsAddress}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

const requestsCounted = (metricsAddress: string): Promise<number> => sample(metricsAddress, 'synod_requests_total{procedure="add",outcome="ok"}');

test('two nodes in one process keep separate metrics, and their endpoints say ready and who is primary', async () => {
  const [p1, p2] = await freePortPairs(2);
  const nodes = [];
  for (const [i, p] of [p1!, p2!].entries()) {
    const me = `127.0.0.1:${p}`;
    const h = await startNode({ me, first: me, dataDir: join(dir, `n${i}`), app: counter, logLevel: 'silent', metricsAddress: '127.0.0.1:0' });
    handles.push(h);
    await h.ready;
    assert.ok(h.metricsAddress !== null && !h.metricsAddress.endsWith(':0'), 'the bound port is reported');
    nodes.push(h);
  }
  const [a, b] = nodes as [NodeHandle, NodeHandle];
  const client = await connect({ members: [a.address] });
  try {
    for (let i = 0; i < 5; i++) await client.invoke('add');
  } finally {
    await client.close();
  }
  assert.equal(await requestsCounted(a.metricsAddress!), 5);
  assert.equal(await requestsCounted(b.metricsAddress!), 0, 'the other node\'s registry saw none of them');

  const ready = await fetch(`http://${a.metricsAddress}/readyz`);
  assert.equal(ready.status, 200);
  assert.equal(await ready.text(), `ready: serving in view ${a.status().vid}\n`);
  const report = await (await fetch(`http://${a.metricsAddress}/status.json`)).json() as { primary: string; members: Array<{ node: string; role: string }> };
  assert.equal(report.primary, a.address);
  assert.deepEqual(report.members.map((m) => [m.node, m.role]), [[a.address, 'primary']]);
  assert.equal((await fetch(`http://${a.metricsAddress}/metrics`, { method: 'POST' })).status, 405);

  const address = b.metricsAddress!;
  await b.stop();
  await assert.rejects(fetch(`http://${address}/healthz`), 'a stopped node serves no endpoint');
});

test('the readiness reason says what keeps a node from serving', () => {
  const base: NodeStatus = {
    node: 'n1:1', member: 'n1:1', incarnation: 'i', clusterId: null, vid: 3, members: ['n1:1', 'n2:1'], memberIds: ['n1:1', 'n2:1'],
    primary: 'n1:1', views: [], viewsDecided: 3, configStatus: 'member', replicaStatus: 'normal', lastExecuted: null,
    stateComplete: true, refusing: false, inFlight: 0, app: { name: 'count', version: '1.0.0' }, clientPath: { answers: 0, seconds: 0 },
  };
  assert.deepEqual(readinessOf(base), { ready: true, reason: 'serving in view 3' });
  assert.equal(roleOf(base), 'primary');
  assert.equal(roleOf({ ...base, node: 'n2:1', member: 'n2:1' }), 'backup');
  assert.deepEqual(readinessOf({ ...base, replicaStatus: 'syncing' }), { ready: false, reason: 'replica is syncing in view 3' });
  assert.equal(roleOf({ ...base, replicaStatus: 'syncing' }), 'syncing');
  assert.deepEqual(readinessOf({ ...base, replicaStatus: 'syncing', refusing: true }),
    { ready: false, reason: 'view 3 refuses to serve: no member holds a complete state' });
  assert.deepEqual(readinessOf({ ...base, configStatus: 'stale' }), { ready: false, reason: 'not a member of view 3 (stale)' });
  assert.deepEqual(readinessOf({ ...base, vid: 0 }), { ready: false, reason: 'starting: no view yet' });
});

test('a KV node counts its open feed streams', async () => {
  const [p] = await freePortPairs(1);
  const me = `127.0.0.1:${p}`;
  const node = await startNode({ me, first: me, dataDir: join(dir, 'kv'), app: kvApp, logLevel: 'silent', metricsAddress: '127.0.0.1:0' });
  handles.push(node);
  await node.ready;
  assert.equal(await sample(node.metricsAddress!, 'synod_feed_streams'), 0);
  const client = await connect({ members: [me] });
  const reader = client.feed('watch', { key: 'a' });
  try {
    await eventually(async () => (await sample(node.metricsAddress!, 'synod_feed_streams')) === 1 || undefined, 10_000, 'one feed stream');
  } finally {
    await reader.close();
    await client.close();
  }
  await eventually(async () => (await sample(node.metricsAddress!, 'synod_feed_streams')) === 0 || undefined, 10_000, 'no feed stream');
});
