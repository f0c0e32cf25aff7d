// Proves, with real `synod node --app test` processes, that peers are who they say: every node
// reports the one cluster id the first node made; a control request naming another cluster or
// id is refused, and a Propose that breaks the view rules too; a forged `decided` from an unknown
// sender is refused before it is persisted and bricks nobody; a node restarted with another live
// member as --first rejoins; and a cluster re-created on the same addresses while an old process
// lives forms and restarts, the old process refused and running on in its own world.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { NodeProcess, cliPath, eventually, killAll } from '../../tools/harness/node-process.js';
import { freePortPairs } from '../../tools/harness/ports.js';
import { runSynod } from '../../tools/harness/cli-run.js';
import { queryStatus } from '../../src/cli/admin.js';
import { controlService } from '../../src/node/control-server.js';
import type { NodeStatus } from '../../src/node/status.js';
import { paxosCodec } from '../../src/paxos/codec.js';
import type { PaxosMessage } from '../../src/paxos/messages.js';
import { RpcError, UnaryClient } from '../../src/runtime/grpc-client.js';
import { serviceDefinition } from '../../src/runtime/proto.js';
import type { Fields } from '../../src/env/validate.js';
import { defaultControlAddress, isLoopbackAddress } from '../../src/node/synod-node.js';

const paxosDeliver = serviceDefinition(paxosCodec.service)['Deliver'] as MethodDefinition<Fields, object, Fields, object>;

/** Delivers one hand-made Paxos envelope to `to` as `from` would (no transport checks on this side). */
function forge(to: string, from: string, cluster: string, clusterId: string, msg: PaxosMessage): Promise<grpc.status> {
  const client = new grpc.Client(to, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(paxosDeliver.path, paxosDeliver.requestSerialize, paxosDeliver.responseDeserialize,
      { ...paxosCodec.encode(msg), from, to, cluster, cluster_id: clusterId }, { deadline: Date.now() + 5000 }, (err) => {
        client.close();
        resolve(err === null ? grpc.status.OK : err.code);
      });
  });
}

const sorted = (list: readonly string[]): string => JSON.stringify([...list].sort());

test('the test control service listens on loopback by default, whatever address the node has', () => {
  assert.equal(defaultControlAddress('10.1.2.3:7001'), '127.0.0.1:7002');
  assert.equal(defaultControlAddress('node1.example:7001'), '127.0.0.1:7002');
  for (const a of ['127.0.0.1:1', '127.9.0.3:1', '[::1]:1', 'localhost:1']) assert.equal(isLoopbackAddress(a), true, a);
  for (const a of ['0.0.0.0:1', '10.0.0.1:1', '[::]:1', 'node1.example:1', '128.0.0.1:1']) assert.equal(isLoopbackAddress(a), false, a);
});

describe('peers are who they say, with real node processes', () => {
  let root: string;
  let nodes: NodeProcess[];
  let cluster: string;
  let oldId: string;

  const statusOf = async (n: NodeProcess): Promise<NodeStatus> => (await queryStatus(n.address, { cluster })).status;
  /** Waits until every node of `on` is a normal replica of one view of `members` (any order); returns one status. */
  const serving = (members: NodeProcess[], on: NodeProcess[], timeoutMs = 15_000): Promise<NodeStatus> => eventually(async () => {
    const all = await Promise.all(on.map(statusOf));
    const ok = all.every((s) => s.configStatus === 'member' && s.replicaStatus === 'normal' && s.vid === all[0]!.vid &&
      sorted(s.members) === sorted(members.map((m) => m.address)));
    return ok ? all[0] : undefined;
  }, timeoutMs, `[${members.map((m) => m.address).join(', ')}] serving on ${on.map((n) => n.address).join(', ')}`, 50);

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'synod-peers-'));
    const ports = await freePortPairs(3);
    const first = `127.0.0.1:${ports[0]}`;
    cluster = `synod@${first}`;
    nodes = ports.map((port, i) => new NodeProcess({
      port, first, dataDir: join(root, `n${i + 1}`), logLevel: 'info', entry: [cliPath, 'node', '--app', 'test'],
    }));
    for (const n of nodes) await n.start();
    await serving(nodes, nodes);
  });

  after(async () => {
    await killAll(nodes);
    if (root !== undefined) rmSync(root, { recursive: true, force: true });
  });

  test('every node reports the one cluster id the first node made, kept in its identity.json and shown by synod status', async () => {
    const statuses = await Promise.all(nodes.map(statusOf));
    oldId = statuses[0]!.clusterId!;
    assert.match(oldId, /^[0-9a-f-]{36}$/, 'a random UUID');
    for (const [i, s] of statuses.entries()) {
      assert.equal(s.clusterId, oldId, s.node);
      assert.equal((JSON.parse(readFileSync(join(nodes[i]!.dataDir, 'identity.json'), 'utf8')) as { clusterId: string }).clusterId, oldId);
    }
    const shown = await runSynod('status', nodes[2]!.address);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, new RegExp(`^cluster id +${oldId}$`, 'm'));
  });

  test('a control request naming another cluster or id is refused naming both; a Propose that breaks the view rules is refused', async () => {
    const a = nodes[0]!;
    const client = new UnaryClient(controlService, a.controlAddress);
    try {
      const refusal = (request: Fields) => client.call('Heal', request, 5000).then(() => assert.fail('accepted'), (e: unknown) => e as RpcError);
      const wrongId = await refusal({ cluster, cluster_id: 'not-this-one' });
      assert.equal(wrongId.code, grpc.status.FAILED_PRECONDITION);
      assert.match(wrongId.details, new RegExp(`for cluster "${cluster}" \\(id "not-this-one"\\) reached ${a.address} of cluster "${cluster}" \\(id "${oldId}"\\)`));
      assert.deepEqual(wrongId.named, { cluster, clusterId: oldId });
      assert.equal((await refusal({})).code, grpc.status.FAILED_PRECONDITION, 'a request naming nothing');
      assert.equal((await refusal({ cluster: 'other', cluster_id: oldId })).code, grpc.status.FAILED_PRECONDITION);
      // The view as Paxos decided it: joiners are listed with their disk ids (`memberIds`), not by address.
      const { vid, memberIds } = await statusOf(a);
      const twoAway = [...memberIds, '127.0.0.1:1', '127.0.0.1:2'];
      const propose = await client.call('Propose', { cluster, cluster_id: oldId, instance: vid + 1, members: twoAway }, 5000)
        .then(() => assert.fail('proposed'), (e: unknown) => e as RpcError);
      assert.equal(propose.code, grpc.status.INVALID_ARGUMENT);
      assert.match(propose.details, /members: not proposed: .* is 2 changes away from the previous view/);
    } finally {
      client.close();
    }
    const wrongCluster = await runSynod('control', a.controlAddress, '--cluster', 'other', 'breakpoint', 'off');
    assert.equal(wrongCluster.code, 1);
    assert.match(wrongCluster.stderr, new RegExp(`is a node of cluster "${cluster}", not "other"`));
    const ok = await runSynod('control', a.controlAddress, 'breakpoint', 'off');
    assert.equal(ok.code, 0, ok.stderr);
    await eventually(async () => /control: request refused/.test(a.output) || undefined, 5000, 'the refusals logged at warn');
    await serving(nodes, nodes);
  });

  test('a forged decided from an unknown sender is refused before it is persisted; the node runs on and restarts', async () => {
    const b = nodes[1]!;
    const { vid, members } = await statusOf(b);
    const stranger = '127.0.0.1:3';
    const oneAway = [...members, stranger];
    // Right cluster name and id (the id is no secret): only Paxos' own checks stand in the way.
    assert.equal(await forge(b.address, stranger, cluster, oldId, { kind: 'decided', instance: vid + 1, value: oneAway }), grpc.status.OK);
    assert.equal(await forge(b.address, stranger, cluster, oldId, { kind: 'decisions', first: vid + 1, values: [[stranger]] }), grpc.status.OK);
    assert.equal(await forge(b.address, members[0]!, cluster, 'a-re-created-cluster', { kind: 'decided', instance: vid + 1, value: [stranger] }),
      grpc.status.FAILED_PRECONDITION, 'another id is refused by the transport');
    await eventually(async () => (/refused a decision that breaks the value rule \(127\.0\.0\.1:3 is not a member of the previous view/.test(b.output) &&
      /refused a decision that breaks the value rule \(\[127\.0\.0\.1:3\] shares no member/.test(b.output) &&
      /message refused: sent by a node of another cluster id/.test(b.output)) || undefined, 5000, 'the three refusals logged');
    const after1 = await statusOf(b);
    assert.ok(after1.views.every((v) => !v.members.includes(stranger)), JSON.stringify(after1.views));
    await b.kill('SIGKILL');
    await b.restart();
    const back = await serving(nodes, nodes);
    assert.ok(back.views.every((v) => !v.members.includes(stranger)));
    assert.ok(b.running);
  });

  test('--control-address on a non-loopback address is warned about at start-up', async () => {
    // The node cannot start (its address is taken by a running node): the warning comes first all the same.
    const [port] = await freePortPairs(1);
    const me = nodes[0]!.address;
    const run = await runSynod('node', '--me', me, '--first', me, '--data-dir', join(root, 'warned'), '--control-address', `0.0.0.0:${port}`,
      '--log-level', 'warn');
    assert.equal(run.code, 1);
    assert.match(run.stdout, /"controlAddress":"0\.0\.0\.0:\d+".*test control service .* listens on a non-loopback address/);
  });

  test('a node restarted with another live member as --first rejoins; the data directory keeps the cluster', async () => {
    const [, b, c] = nodes as [NodeProcess, NodeProcess, NodeProcess];
    await c.kill('SIGTERM');
    c.closeClient();
    const again = new NodeProcess({ port: Number(c.address.split(':')[1]), first: b.address, dataDir: c.dataDir, logLevel: 'info',
      entry: [cliPath, 'node', '--app', 'test'] });
    nodes[2] = again;
    await again.start();
    await serving(nodes, nodes);
    assert.match(again.output, /the data directory names the cluster's first node; the --first given is a contact only/);
    assert.equal((await statusOf(again)).clusterId, oldId);
  });

  test('a cluster re-created on the same addresses while an old process lives forms and restarts; the old process is refused and runs on', async () => {
    const [a, b, c] = nodes as [NodeProcess, NodeProcess, NodeProcess];
    for (const n of [a, b]) {
      await n.kill('SIGKILL');
      rmSync(n.dataDir, { recursive: true, force: true });
    }
    await a.start();
    await b.start();
    const fresh = await serving([a, b], [a, b], 20_000);
    assert.ok(fresh.clusterId !== null && fresh.clusterId !== oldId, `a new id: ${fresh.clusterId}`);
    await eventually(async () => /message refused: sent by a node of another cluster id/.test(a.output) || undefined, 10_000, 'the old process refused');
    assert.ok(c.running, 'the old process runs on');
    // It keeps its own world: asked under its (old) id, it still tells its old views.
    assert.equal((await statusOf(c)).clusterId, oldId);
    // Every process restarts from its data directory; the new cluster serves again.
    await a.kill('SIGKILL');
    await a.restart();
    await c.kill('SIGKILL');
    await c.restart();
    const again = await serving([a, b], [a, b], 20_000);
    assert.equal(again.clusterId, fresh.clusterId);
    assert.ok(again.views.every((v) => !v.members.includes(c.address)), JSON.stringify(again.views));
    assert.ok(c.running);
  });
});
