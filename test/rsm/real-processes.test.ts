// Proves the RSM end to end over real gRPC between real processes: three replicas of the test
// app, a client (RsmClient on GrpcClientTransport) appending under load, the primary killed with
// SIGKILL, the client carrying on with the new primary, nothing acknowledged lost or executed
// twice; bad input refused with typed errors, nothing executed, no replica harmed; and a client
// given only the primary's address learning the members and surviving that primary's death.
// Issue 12's attacks leave every node up: 400 KB of nested arguments, prototype keys as counter
// names, a reused (clientId, seq) in flight.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { NodeProcess, eventually, sleep, killAll } from '../../tools/harness/node-process.js';
import { type ProbeResult, callReplica, describeProbe } from '../../tools/harness/client-probe.js';
import { freePortPairs } from '../../tools/harness/ports.js';
import { StatusReader } from '../../tools/harness/status.js';
import { RsmClient } from '../../src/client/rsm-client.js';
import { InvalidArgumentError } from '../../src/client/errors.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { realClock } from '../../src/runtime/real-clock.js';
import { serviceDefinition } from '../../src/runtime/proto.js';
import { defaultClusterName } from '../../src/env/cluster-name.js';
import type { NodeStatus } from '../../src/node/status.js';
import type { Json } from '../../src/rsm/app.js';
import type { ClientAnswer } from '../../src/rsm/messages.js';

type Fields = Record<string, unknown>;

describe('RSM between three real replica processes', () => {
  let root: string;
  let nodes: NodeProcess[];
  let cluster: string;
  let status: StatusReader;
  let transport: GrpcClientTransport;
  let client: RsmClient;
  const acked = new Map<string, number>();

  const statuses = async (ns: NodeProcess[]): Promise<NodeStatus[]> => Promise.all(ns.map((n) => status.status(n.address)));
  const serving = async (ns: NodeProcess[]): Promise<NodeStatus[] | undefined> => {
    const all = await statuses(ns);
    const want = JSON.stringify(ns.map((n) => n.address).sort());
    const ok = all.every((s) => s.replicaStatus === 'normal' && s.vid === all[0]!.vid && JSON.stringify([...s.members].sort()) === want);
    return ok ? all : undefined;
  };
  /** A client call sent raw, with any request fields (RsmClient sends only what it can write); its error, if any. */
  const rawCall = async (target: string, request: Fields): Promise<grpc.ServiceError | null> => {
    const def = serviceDefinition('synod.rsm.Client')['Call'] as MethodDefinition<Fields, Fields>;
    const raw = new grpc.Client(target, grpc.credentials.createInsecure());
    try {
      return await new Promise<grpc.ServiceError | null>((resolve) => raw.makeUnaryRequest(
        def.path, def.requestSerialize, def.responseDeserialize, { cluster, invoke: { request } },
        new grpc.Metadata(), { deadline: Date.now() + 5000 }, (e) => resolve(e)));
    } finally {
      raw.close();
    }
  };
  const append = async (item: string): Promise<void> => {
    acked.set(item, (await client.invoke('append', { item }, { deadlineMs: 10_000 })) as number);
  };

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'synod-rsm-'));
    const ports = await freePortPairs(3);
    const first = `127.0.0.1:${ports[0]}`;
    cluster = defaultClusterName(first);
    nodes = ports.map((port, i) => new NodeProcess({ port, first, dataDir: join(root, `n${i + 1}`) }));
    for (const n of nodes) await n.start(['--app', 'test']);
    status = new StatusReader(cluster);
    await eventually(() => serving(nodes), 10_000, 'three replicas serving', 20);
    transport = new GrpcClientTransport({ cluster, logger: { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } } });
    client = new RsmClient({ members: nodes.map((n) => n.address), transport, clock: realClock, clientId: 'test-client' });
  });

  after(async () => {
    client?.close();
    await transport?.close();
    await status?.close();
    await killAll(nodes);
    rmSync(root, { recursive: true, force: true });
  });

  test('appends are acknowledged with consecutive indexes and every replica executes them', async () => {
    for (let i = 0; i < 20; i++) await append(`a${i}`);
    assert.deepEqual([...acked.values()], Array.from({ length: 20 }, (_, i) => i));
    const all = await eventually(async () => {
      const s = await statuses(nodes);
      return s.every((x) => x.lastExecuted?.seqno === s[0]!.lastExecuted?.seqno && x.lastExecuted?.vid === s[0]!.lastExecuted?.vid) ? s : undefined;
    }, 5000, 'replicas agree', 20);
    assert.equal(all[0]!.stateComplete, true);
  });

  test('the primary killed with SIGKILL under load: the client carries on with the new primary, nothing lost', async () => {
    const before = await status.status(nodes[0]!.address);
    const primary = nodes.find((n) => n.address === before.primary)!;
    const load = (async () => {
      for (let i = 0; i < 30; i++) await append(`b${i}`);
    })();
    await new Promise((r) => setTimeout(r, 30));
    await primary.kill('SIGKILL');
    await load;
    const survivors = nodes.filter((n) => n !== primary);
    const final = await eventually(() => serving(survivors), 10_000, 'survivors serving', 20);
    assert.ok(final[0]!.vid > before.vid, 'a new view');
    assert.notEqual(final[0]!.primary, primary.address);
    const list = (await client.invoke('list')) as string[];
    for (const [item, index] of acked) assert.equal(list[index], item, `${item} acknowledged at ${index}`);
    assert.equal(new Set(list).size, list.length, 'nothing executed twice');
    // Bring the old primary back: it rejoins and catches up.
    await primary.start(['--app', 'test']);
    await eventually(() => serving(nodes), 15_000, 'old primary back as a replica', 20);
  });

  test('bad input gets a typed error, executes nothing, and harms no replica', async () => {
    const lengthBefore = (await client.invoke('length')) as number;
    await assert.rejects(client.invoke('no-such-procedure', {}), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'proc');
    await assert.rejects(client.invoke('append', { item: 'x'.repeat(2 * 1024 * 1024) }), (e: unknown) => e instanceof InvalidArgumentError);

    // Undecodable arguments, sent raw (RsmClient cannot produce them).
    const primary = (await status.status(nodes[0]!.address)).primary!;
    const err = await rawCall(primary, { client_id: 'raw', seq: 1, proc: 'append', args: '{not json' });
    assert.equal(err?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(err?.details ?? '', /args/);

    assert.equal(await client.invoke('length'), lengthBefore, 'nothing was executed');
    await append('after-bad-input');
    const all = await eventually(async () => {
      const s = await statuses(nodes);
      return s.every((x) => x.replicaStatus === 'normal' && x.lastExecuted?.seqno === s[0]!.lastExecuted?.seqno) ? s : undefined;
    }, 5000, 'replicas still agree', 20);
    assert.equal(all.length, 3);
  });
  test('arguments nested 200 000 deep (~400 KB) are refused at the edge naming the limit, three times over; every replica stays up', async () => {
    // Issue 12: such arguments parsed, then overflowed the stack where they were serialised again: three requests, three dead primaries.
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    const lengthBefore = (await client.invoke('length')) as number;
    for (let i = 0; i < 3; i++) {
      const primary = (await status.status(nodes[0]!.address)).primary!;
      const err = await rawCall(primary, { client_id: 'deep', seq: i + 1, proc: 'append', args: deep });
      assert.equal(err?.code, grpc.status.INVALID_ARGUMENT);
      assert.match(err?.details ?? '', /args: JSON nested deeper than 64 levels \(limits\.maxJsonDepth\)/);
    }
    // The ordinary client refuses such a value itself, without overflowing its own stack.
    let value: Json = [];
    for (let i = 0; i < 200_000; i++) value = [value];
    await assert.rejects(client.invoke('append', value), (e: unknown) => e instanceof InvalidArgumentError && /limits\.maxJsonDepth/.test(e.message));
    assert.ok(nodes.every((n) => n.running), 'every node is up');
    await eventually(() => serving(nodes), 5000, 'every replica serving', 20);
    assert.equal(await client.invoke('length'), lengthBefore, 'nothing was executed');
    await append('after-deep-input');
  });

  test('every Object.prototype key is a counter key like any other; every replica stays up', async () => {
    for (const key of Object.getOwnPropertyNames(Object.prototype)) {
      assert.equal(await client.invoke('get', { key }), 0, `${key} starts at 0`);
      assert.equal(await client.invoke('add', { key, by: 2 }), 2, key);
      assert.equal(await client.invoke('get', { key }), 2, key);
    }
    assert.ok(nodes.every((n) => n.running), 'every node is up');
    await eventually(() => serving(nodes), 5000, 'every replica serving', 20);
  });

  test('a reused (clientId, seq) still in flight with other arguments is refused, never answered with the first one\'s outcome', async () => {
    // A paused backup keeps the first request in flight (the primary waits for its acknowledgement).
    const primary = (await eventually(() => serving(nodes), 5000, 'every replica serving', 20))[0]!.primary!;
    const backup = nodes.find((n) => n.address !== primary)!;
    const call = (item: string) => callReplica({ cluster, node: primary, proc: 'append', args: { item }, clientId: 'reuser', seq: 5, deadlineMs: 8000 });
    backup.pause();
    let first: Promise<ProbeResult>;
    let second: ProbeResult;
    try {
      first = call('reused-A');
      await sleep(50);
      second = await call('reused-B');
    } finally {
      backup.resume();
    }
    assert.ok(second.kind === 'answer' && second.answer.kind === 'invalid' && second.answer.field === 'seq' &&
      /another request of client reuser is in flight under this number/.test(second.answer.reason), describeProbe(second));
    const a = await first;
    assert.ok(a.kind === 'answer' && a.answer.kind === 'executed' && a.answer.outcome.ok, describeProbe(a));
    const index = (a.answer as Extract<ClientAnswer, { kind: 'executed' }>).outcome as { ok: true; value: number };
    // Executed now: the same request again is answered from the client table, the other one refused.
    const retry = await call('reused-A');
    assert.ok(retry.kind === 'answer' && retry.answer.kind === 'executed' && JSON.stringify(retry.answer.outcome) === JSON.stringify(index), describeProbe(retry));
    const again = await call('reused-B');
    assert.ok(again.kind === 'answer' && again.answer.kind === 'invalid' && /was executed under this number/.test(again.answer.reason), describeProbe(again));
    const list = (await client.invoke('list')) as string[];
    assert.equal(list[index.value], 'reused-A');
    assert.ok(!list.includes('reused-B'), 'the other request never ran');
    assert.ok(nodes.every((n) => n.running));
    await eventually(() => serving(nodes), 5000, 'every replica serving', 20);
  });

  test('a client given only the primary\'s address learns the members and survives that primary\'s death', async () => {
    // Design §5 over real gRPC: the member list comes from the cluster, not only from hints.
    const primaryAddress = (await status.status(nodes[0]!.address)).primary!;
    const primary = nodes.find((n) => n.address === primaryAddress)!;
    const lone = new RsmClient({ members: [primaryAddress], transport, clock: realClock, clientId: 'lone-client' });
    try {
      await lone.invoke('length');
      const everyone = JSON.stringify(nodes.map((n) => n.address).sort());
      // The members answer travels beside the call's: it may land just after the call's result.
      await eventually(async () => (JSON.stringify([...lone.core.replicas].sort()) === everyone ? true : undefined), 5000, 'the members learned', 20);
      await primary.kill('SIGKILL');
      const index = (await lone.invoke('append', { item: 'lone' }, { deadlineMs: 15_000 })) as number;
      const list = (await lone.invoke('list')) as string[];
      assert.equal(list[index], 'lone');
      assert.notEqual(lone.core.primary, primaryAddress);
    } finally {
      lone.close();
    }
    await primary.start(['--app', 'test']);
    await eventually(() => serving(nodes), 15_000, 'the killed primary back as a replica', 20);
  });
});
