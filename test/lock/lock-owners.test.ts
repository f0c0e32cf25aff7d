// Proves issue 12's lock-owner bullet between three real `synod lock-server` processes: an owner
// belongs to the client that first used it. A second client that names the first one's owner
// cannot release its lock (not even with the token stat shows), queue it, give back or expire its
// locks, pass for a node, or take its callback stream; the first keeps its lock and its revokes.
// The first client's own give-back and a restart under its own client id work as before.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeProcess, cliPath, eventually, withTimeout, killAll } from '../../tools/harness/node-process.js';
import { freePortPairs } from '../../tools/harness/ports.js';
import { StatusReader } from '../../tools/harness/status.js';
import { GrpcLockClient } from '../../src/apps/lock/grpc-lock-client.js';
import { AppRejectedError, InvalidArgumentError } from '../../src/client/errors.js';
import { RsmClient } from '../../src/client/rsm-client.js';
import { defaultClusterName } from '../../src/env/cluster-name.js';
import { silentLogger } from '../../src/env/logger.js';
import type { NodeStatus } from '../../src/node/status.js';
import { sessionClientId } from '../../src/node/sessions.js';
import type { Json } from '../../src/rsm/app.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { realClock } from '../../src/runtime/real-clock.js';
import { TestSubscriber } from './subscriber.js';

/** How long one step may take (a call, a revoke, a hand-over), with room for a loaded machine. */
const stepTimeoutMs = 15_000;

const refusedWith = (code: string) => (e: unknown): boolean => e instanceof AppRejectedError && e.code === code;

describe('lock owners belong to their client, between three real lock servers', () => {
  let root: string;
  let nodes: NodeProcess[];
  let cluster: string;
  let status: StatusReader;
  let transport: GrpcClientTransport;
  const closers: Array<() => unknown> = [];

  const addresses = (): string[] => nodes.map((n) => n.address);
  const lockClient = (owner: string, clientId?: string): GrpcLockClient => {
    const c = new GrpcLockClient({ cluster, members: addresses(), owner, ...(clientId === undefined ? {} : { clientId }), logger: silentLogger });
    closers.push(() => c.close());
    return c;
  };
  const rsmClient = (clientId?: string): RsmClient => {
    const c = new RsmClient({ members: addresses(), transport, clock: realClock, ...(clientId === undefined ? {} : { clientId }) });
    closers.push(() => c.close());
    return c;
  };
  const servingPrimary = (): Promise<NodeStatus> => eventually(async () => {
    const all = await Promise.all(nodes.map((n) => status.status(n.address)));
    const p = all.find((s) => s.node === s.primary && s.replicaStatus === 'normal');
    const agree = all.every((s) => s.primary === p?.node && s.vid === p?.vid && s.replicaStatus === 'normal');
    return p !== undefined && agree && p.members.length === all.length ? p : undefined;
  }, stepTimeoutMs, 'a serving primary', 20);

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'synod-lock-owners-'));
    const ports = await freePortPairs(3);
    const first = `127.0.0.1:${ports[0]}`;
    cluster = defaultClusterName(first);
    nodes = ports.map((port, i) => new NodeProcess({ port, first, dataDir: join(root, `n${i + 1}`), logLevel: 'info', entry: [cliPath, 'lock-server'] }));
    for (const n of nodes) await n.start();
    status = new StatusReader(cluster);
    transport = new GrpcClientTransport({ cluster, logger: silentLogger });
    await servingPrimary();
  });

  after(async () => {
    for (const close of closers.reverse()) await close();
    await transport?.close();
    await status?.close();
    await killAll(nodes);
    rmSync(root, { recursive: true, force: true });
  });

  test('a second client naming the first one\'s owner can neither release, queue, give back, expire nor take its stream; the first keeps its lock', async () => {
    const alice = lockClient('alice');
    const { token } = await withTimeout(alice.lock.acquire('L', 'u'), stepTimeoutMs, 'alice acquires L');
    const thief = rsmClient();
    const stat = async (): Promise<Json> => thief.invoke('stat', { lock: 'L' });
    assert.deepEqual(await stat(), { holder: 'alice', token, waiters: [] }, 'stat shows the owner and its token to anyone');

    await assert.rejects(thief.invoke('release', { lock: 'L', owner: 'alice', token }), refusedWith('owner-taken'), 'release with the right token');
    await assert.rejects(thief.invoke('acquire', { lock: 'L', owner: 'alice' }), refusedWith('owner-taken'), 'the grant asked again');
    await assert.rejects(thief.invoke('acquire', { lock: 'other', owner: 'alice' }), refusedWith('owner-taken'), 'a place in another queue');
    await assert.rejects(thief.invoke('giveBack', { owner: 'alice' }), refusedWith('owner-taken'));
    await assert.rejects(thief.invoke('expire', { owner: 'alice' }), refusedWith('internal-only'));
    // Passing for a node's session keeper is refused at the edge, before any procedure runs.
    const node = rsmClient(sessionClientId(nodes[0]!.address));
    await assert.rejects(node.invoke('expire', { owner: 'alice' }), (e: unknown) => e instanceof InvalidArgumentError && /reserved for the nodes/.test(e.message));
    assert.deepEqual(await stat(), { holder: 'alice', token, waiters: [] }, 'nothing changed');
    assert.deepEqual(await thief.invoke('stat', { lock: 'other' }), { holder: null, token: 0, waiters: [] });

    // The thief's stream for alice is refused; alice's own stream still carries her revoke.
    const primary = (await servingPrimary()).node;
    const stolen = new TestSubscriber(primary, cluster, 'alice', thief.clientId);
    const end = await withTimeout(stolen.ended, stepTimeoutMs, 'the thief\'s stream answered');
    stolen.close();
    assert.equal(end.kind, 'owner-taken', JSON.stringify(end));
    const bob = lockClient('bob');
    const bobGets = bob.lock.acquire('L', 'u');
    await eventually(async () => {
      const s = (await stat()) as { waiters: string[] };
      return s.waiters.includes('bob') ? true : undefined;
    }, stepTimeoutMs, 'bob waits for L', 20);
    assert.equal(alice.lock.core.status('L'), 'locked', 'alice still holds L');
    await alice.lock.release('L', 'u'); // revoked meanwhile: the lock client gives it back now
    const bobs = await withTimeout(bobGets, stepTimeoutMs, 'bob is granted L once alice gave it back');
    assert.ok(bobs.token > token, 'with a higher token');
    await bob.lock.release('L', 'u');
    assert.ok(nodes.every((n) => n.running), 'every node is up');
  });

  test('a restarted client takes its owner over only under its own client id; its give-back releases its own locks', async () => {
    const carol = lockClient('carol');
    const { token } = await withTimeout(carol.lock.acquire('K', 'u'), stepTimeoutMs, 'carol acquires K');
    await carol.lock.release('K', 'u'); // still cached: carol holds K at the server
    await carol.close(); // no give-back: the server keeps K for carol until her session expires
    const stranger = lockClient('carol');
    await assert.rejects(withTimeout(stranger.lock.acquire('K', 'u'), stepTimeoutMs, 'a stranger asks'), refusedWith('owner-taken'));
    const again = lockClient('carol', carol.rsm.clientId);
    // Under the same client id it is granted: the same grant, or (if the reply came before the new
    // client's session was first confirmed, so the client gave that grant back) a fresh one.
    assert.ok((await withTimeout(again.lock.acquire('K', 'u'), stepTimeoutMs, 'carol again')).token >= token, 'granted under the same client id');
    await again.lock.release('K', 'u');
    await again.close({ giveBack: true });
    const checker = rsmClient();
    assert.deepEqual(await checker.invoke('stat', { lock: 'K' }), { holder: null, token: 0, waiters: [] }, 'given back');
  });
});
