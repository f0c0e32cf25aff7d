// Proves issue 12's first attack is gone, against three real `synod lock-server` processes and
// the ordinary client: every Object.prototype key (`constructor`, `toString`, `__proto__`, …) as
// a lock name and as an owner is granted, queued, revoked over the callback stream, released and
// expired like any other name, and afterwards every node is up and other clients are served.
// (Before, `acquire({ lock: 'constructor' })` killed the primary, and the next such call the next one.)
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeProcess, cliPath, eventually, sleep, killAll } from '../../tools/harness/node-process.js';
import { freePortPairs } from '../../tools/harness/ports.js';
import { StatusReader } from '../../tools/harness/status.js';
import { RsmClient } from '../../src/client/rsm-client.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { realClock } from '../../src/runtime/real-clock.js';
import { silentLogger } from '../../src/env/logger.js';
import { defaultClusterName } from '../../src/env/cluster-name.js';
import type { NodeStatus } from '../../src/node/status.js';
import type { Json } from '../../src/rsm/app.js';
import { type TestSubscriber, subscribeToPrimary } from './subscriber.js';

const prototypeKeys = Object.getOwnPropertyNames(Object.prototype);
/** The keys that wait for the locks (the holders are `constructor` and `__proto__`). */
const waiters = prototypeKeys.filter((k) => k !== 'constructor' && k !== '__proto__');
/** Small, so that the owners without a stream expire within the test. */
const sessionTimeoutMs = 1500;

describe('every Object.prototype key as lock name and owner, against three real lock servers', () => {
  let root: string;
  let nodes: NodeProcess[];
  let cluster: string;
  let status: StatusReader;
  let transport: GrpcClientTransport;
  let client: RsmClient;
  let waiter: RsmClient;
  const subscribers: TestSubscriber[] = [];

  const invoke = (c: RsmClient, proc: string, args: Json): Promise<Json> => c.invoke(proc, args, { deadlineMs: 10_000 });
  const serving = async (): Promise<NodeStatus[] | undefined> => {
    const all = await Promise.all(nodes.map((n) => status.status(n.address)));
    const ok = all.every((s) => s.replicaStatus === 'normal' && s.vid === all[0]!.vid && s.members.length === nodes.length && !s.refusing);
    return ok ? all : undefined;
  };

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'synod-lock-keys-'));
    const ports = await freePortPairs(3);
    const first = `127.0.0.1:${ports[0]}`;
    cluster = defaultClusterName(first);
    nodes = ports.map((port, i) => new NodeProcess({ port, first, dataDir: join(root, `n${i + 1}`), entry: [cliPath, 'lock-server'] }));
    for (const n of nodes) await n.start(['--session-timeout-ms', String(sessionTimeoutMs)]);
    status = new StatusReader(cluster);
    await eventually(serving, 15_000, 'three lock servers serving', 20);
    transport = new GrpcClientTransport({ cluster, logger: silentLogger });
    client = new RsmClient({ members: nodes.map((n) => n.address), transport, clock: realClock });
    waiter = new RsmClient({ members: nodes.map((n) => n.address), transport, clock: realClock });
  });

  after(async () => {
    for (const s of subscribers) s.close();
    client?.close();
    waiter?.close();
    await transport?.close();
    await status?.close();
    await killAll(nodes);
    rmSync(root, { recursive: true, force: true });
  });

  test('each key is granted, queued behind, revoked, released and expired like any name; every node stays up', async () => {
    const primary = (await eventually(serving, 5000, 'serving', 20))[0]!.primary!;
    // Two owners named by prototype keys keep a callback stream open (callbacks are keyed by owner).
    const streams = new Map<string, TestSubscriber>();
    for (const owner of ['constructor', '__proto__']) {
      const s = await subscribeToPrimary(primary, nodes.map((n) => n.address).filter((a) => a !== primary), cluster, owner, client.clientId);
      subscribers.push(s);
      streams.set(owner, s);
    }
    const tokens: number[] = [];
    for (const [i, lock] of prototypeKeys.entries()) {
      const owner = i % 2 === 0 ? 'constructor' : '__proto__';
      const grant = (await invoke(client, 'acquire', { lock, owner })) as { granted: boolean; token: number };
      assert.equal(grant.granted, true, `${lock} granted to ${owner}`);
      tokens.push(grant.token);
      // Another owner, itself a prototype key, waits: the holder is sent revoke over its stream.
      const other = waiters[i % waiters.length]!;
      assert.deepEqual(await invoke(waiter, 'acquire', { lock, owner: other }), { granted: false });
      await streams.get(owner)!.next((m) => typeof m === 'object' && m !== null && !Array.isArray(m) && m['kind'] === 'revoke' && m['lock'] === lock,
        5000, `revoke of ${lock} to ${owner}`);
      assert.deepEqual(await invoke(client, 'stat', { lock }), { holder: owner, token: grant.token, waiters: [other] });
      assert.deepEqual(await invoke(client, 'release', { lock, owner, token: grant.token }), { released: true });
    }
    assert.ok(tokens.every((t, i) => i === 0 || t > tokens[i - 1]!), `tokens increase: ${tokens.join(',')}`);
    // The waiters have no stream: their sessions expire (expire({ owner }) for prototype-key owners).
    await sleep(sessionTimeoutMs);
    await eventually(async () => {
      const stats = await Promise.all(prototypeKeys.map((lock) => invoke(client, 'stat', { lock })));
      return stats.every((s) => JSON.stringify(s) === '{"holder":null,"token":0,"waiters":[]}') ? true : undefined;
    }, 10_000, 'every waiter expired and every lock forgotten', 100);

    assert.ok(nodes.every((n) => n.running), 'every node is up');
    await eventually(serving, 5000, 'every replica serving', 20);
    // Other clients are served, and the replicas agree on what they executed.
    const plain = new RsmClient({ members: nodes.map((n) => n.address), transport, clock: realClock });
    try {
      const g = (await invoke(plain, 'acquire', { lock: 'plain', owner: 'plain-owner' })) as { granted: boolean; token: number };
      assert.equal(g.granted, true);
      assert.ok(g.token > tokens[tokens.length - 1]!);
      assert.deepEqual(await invoke(plain, 'release', { lock: 'plain', owner: 'plain-owner', token: g.token }), { released: true });
    } finally {
      plain.close();
    }
    await eventually(async () => {
      const all = await Promise.all(nodes.map((n) => status.status(n.address)));
      return all.every((s) => JSON.stringify(s.lastExecuted) === JSON.stringify(all[0]!.lastExecuted)) ? true : undefined;
    }, 5000, 'every replica executed the same requests', 20);
  });
});
