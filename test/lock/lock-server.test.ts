// Proves the lock service's callbacks end to end between three real `synod lock-server`
// processes: revoke and retry reach the subscribed owners over the callback stream; only the
// serving primary accepts streams; a primary killed before its revoke reached the holder is
// replaced by one that sends it as soon as the holder subscribes; a holder without a stream is
// expired after the session timeout and its waiter gets retry; tokens increase across failover.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeProcess, cliPath, eventually, killAll } from '../../tools/harness/node-process.js';
import { freePortPairs } from '../../tools/harness/ports.js';
import { StatusReader } from '../../tools/harness/status.js';
import { RsmClient } from '../../src/client/rsm-client.js';
import { AppRejectedError } from '../../src/client/errors.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { realClock } from '../../src/runtime/real-clock.js';
import { silentLogger } from '../../src/env/logger.js';
import { defaultClusterName } from '../../src/env/cluster-name.js';
import type { NodeStatus } from '../../src/node/status.js';
import type { StreamEnd } from '../../src/env/streams.js';
import type { Json } from '../../src/rsm/app.js';
import { lockLimits } from '../../src/apps/lock/lock-app.js';
import { TestSubscriber, subscribeToPrimary } from './subscriber.js';

/** Small, so that the expiry test is fast; every other test keeps its owners subscribed. */
const sessionTimeoutMs = 1500;

const isRevoke = (lock: string, token?: number) => (m: Json): boolean =>
  typeof m === 'object' && m !== null && !Array.isArray(m) && m['kind'] === 'revoke' && m['lock'] === lock &&
  (token === undefined || m['token'] === token);
const isRetry = (lock: string) => (m: Json): boolean =>
  typeof m === 'object' && m !== null && !Array.isArray(m) && m['kind'] === 'retry' && m['lock'] === lock;

interface Grant {
  readonly granted: boolean;
  readonly token?: number;
}

describe('lock server callbacks between three real processes', () => {
  let root: string;
  let nodes: NodeProcess[];
  let cluster: string;
  let status: StatusReader;
  let transport: GrpcClientTransport;
  const clients: RsmClient[] = [];
  const subscribers: TestSubscriber[] = [];
  /** Every token granted, in grant order: they must strictly increase. */
  const tokens: number[] = [];

  /** The token of each grant in force, by `lock/owner`, for the release that gives it back. */
  const held = new Map<string, number>();

  const live = (): NodeProcess[] => nodes.filter((n) => n.running);
  /** Each owner belongs to a client of its own: `client-<owner>` (the id its stream names too). */
  const clientIdOf = (owner: string): string => `client-${owner}`;
  const client = (owner: string): RsmClient => {
    const c = new RsmClient({ members: live().map((n) => n.address), transport, clock: realClock, clientId: clientIdOf(owner) });
    clients.push(c);
    return c;
  };
  const acquire = async (c: RsmClient, lock: string, owner: string): Promise<Grant> => {
    const g = (await c.invoke('acquire', { lock, owner }, { deadlineMs: 10_000 })) as unknown as Grant;
    if (g.granted) {
      tokens.push(g.token!);
      held.set(`${lock}/${owner}`, g.token!);
    }
    return g;
  };
  const release = (c: RsmClient, lock: string, owner: string): Promise<Json> =>
    c.invoke('release', { lock, owner, token: held.get(`${lock}/${owner}`) ?? 1 }, { deadlineMs: 10_000 });
  const subscribe = async (owner: string): Promise<TestSubscriber> => {
    const [first, ...rest] = live().map((n) => n.address);
    const s = await subscribeToPrimary(first!, rest, cluster, owner, clientIdOf(owner));
    subscribers.push(s);
    return s;
  };
  /** The serving primary of the live nodes, once they all agree on one that serves. */
  const servingPrimary = async (): Promise<NodeStatus> => eventually(async () => {
    const all = await Promise.all(live().map((n) => status.status(n.address)));
    const p = all.find((s) => s.node === s.primary && s.replicaStatus === 'normal');
    const agree = all.every((s) => s.primary === p?.node && s.vid === p?.vid && s.replicaStatus === 'normal');
    return p !== undefined && agree && p.members.length === all.length ? p : undefined;
  }, 15_000, 'a serving primary', 20);

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'synod-lock-'));
    const ports = await freePortPairs(3);
    const first = `127.0.0.1:${ports[0]}`;
    cluster = defaultClusterName(first);
    nodes = ports.map((port, i) => new NodeProcess({
      port, first, dataDir: join(root, `n${i + 1}`), logLevel: 'info', entry: [cliPath, 'lock-server'],
    }));
    for (const n of nodes) await n.start(['--session-timeout-ms', String(sessionTimeoutMs)]);
    status = new StatusReader(cluster);
    transport = new GrpcClientTransport({ cluster, logger: silentLogger });
    await servingPrimary();
  });

  after(async () => {
    for (const s of subscribers) s.close();
    for (const c of clients) c.close();
    await transport?.close();
    await status?.close();
    await killAll(nodes);
    rmSync(root, { recursive: true, force: true });
  });

  test('the holder is sent revoke when another owner queues, and the waiter retry when the lock is released', async () => {
    const x = await subscribe('x');
    const y = await subscribe('y');
    const cx = client('x');
    const cy = client('y');
    const gx = await acquire(cx, 'a', 'x');
    assert.equal(gx.granted, true);
    assert.deepEqual(await acquire(cy, 'a', 'y'), { granted: false });
    const revoke = await x.next(isRevoke('a'), 3000, 'revoke of a');
    assert.deepEqual(revoke.message, { kind: 'revoke', lock: 'a', token: gx.token });
    assert.equal(y.messages.length, 0, 'the waiter got nothing yet');
    await release(cx, 'a', 'x');
    await y.next(isRetry('a'), 3000, 'retry of a');
    const gy = await acquire(cy, 'a', 'y');
    assert.equal(gy.granted, true);
    assert.ok(gy.token! > gx.token!, 'the next grant has a higher token');
    await release(cy, 'a', 'y');
    assert.ok(!x.messages.some(isRetry('a')), 'the holder never got a retry');
  });

  test('a stream subscribed late still gets the outstanding callback of its owner', async () => {
    const cp = client('p');
    const cq = client('q');
    await acquire(cp, 'late', 'p');
    const q = await subscribe('q');
    assert.deepEqual(await acquire(cq, 'late', 'q'), { granted: false });
    // p subscribes only now: the revoke was dropped when emitted, and is sent on subscription.
    const p = await subscribe('p');
    await p.next(isRevoke('late'), 1000, 'outstanding revoke of late');
    await release(cp, 'late', 'p');
    await q.next(isRetry('late'), 3000, 'retry of late');
    await acquire(cq, 'late', 'q');
    await release(cq, 'late', 'q');
  });

  test('a node that is not the primary refuses a stream with not-primary, naming the primary', async () => {
    const primary = (await servingPrimary()).node;
    const backup = live().find((n) => n.address !== primary)!;
    const s = new TestSubscriber(backup.address, cluster, 'someone', clientIdOf('someone'));
    const end = await s.ended;
    s.close();
    assert.equal(end.kind, 'not-primary');
    assert.equal(end.kind === 'not-primary' ? end.primary : undefined, primary);
  });

  test('a stream of another cluster, or with a bad owner id, is refused', async () => {
    const primary = (await servingPrimary()).node;
    const other = new TestSubscriber(primary, 'some-other-cluster', 'x', clientIdOf('x'));
    const end = await other.ended;
    other.close();
    assert.deepEqual(end.kind === 'wrong-cluster' ? [end.expected, end.actual] : end, ['some-other-cluster', cluster]);
    for (const owner of ['', 'o'.repeat(lockLimits.maxOwnerLength + 1)]) {
      const bad = new TestSubscriber(primary, cluster, owner, clientIdOf('bad'));
      const e = await bad.ended;
      bad.close();
      assert.equal(e.kind, 'invalid-request', `owner of ${owner.length} characters`);
      assert.match(e.detail, /owner/);
    }
  });

  test('a newer stream of the same owner replaces the older, which ends replaced; keepalives cross gRPC on both', async () => {
    const first = await subscribe('dup');
    // --session-timeout-ms 1500 alone: keepalives every 300 ms (a fifth of it), one at accept.
    await eventually(async () => (first.keepalives.length >= 3 ? true : undefined), 5000, 'three keepalives on the first stream');
    const k = first.keepalives;
    assert.equal(k[0]!.sinceAcceptMs < 300, true, `the first right after accepting (${k[0]!.sinceAcceptMs} ms)`);
    for (const x of k) assert.deepEqual([x.sessionTimeoutMs, x.maxDriftPpm], [sessionTimeoutMs, 10_000]);
    assert.ok(k[2]!.sinceAcceptMs > k[1]!.sinceAcceptMs && k[1]!.sinceAcceptMs > k[0]!.sinceAcceptMs, 'the time since accepting grows');
    const second = await subscribe('dup');
    const end = await first.ended;
    assert.equal(end.kind, 'replaced');
    await eventually(async () => (second.keepalives.length >= 1 ? true : undefined), 5000, 'a keepalive on the newer stream');
  });

  test('a holder that never subscribes is expired after the session timeout, and its waiter gets retry', async () => {
    const cz = client('z');
    const cw = client('w');
    const w = await subscribe('w');
    const start = Date.now();
    const gz = await acquire(cz, 'm', 'z'); // z never subscribes
    assert.equal(gz.granted, true);
    assert.deepEqual(await acquire(cw, 'm', 'w'), { granted: false });
    const retry = await w.next(isRetry('m'), sessionTimeoutMs + 3000, 'retry of m after z expired');
    assert.ok(retry.at - start >= sessionTimeoutMs - 100, `expired after ${retry.at - start} ms, not before the timeout`);
    const gw = await acquire(cw, 'm', 'w');
    assert.equal(gw.granted, true);
    assert.ok(gw.token! > gz.token!);
    await assert.rejects(release(cz, 'm', 'z'), (e: unknown) => e instanceof AppRejectedError && e.code === 'not-held');
    await release(cw, 'm', 'w');
  });

  test('a holder whose stream closes is expired after the session timeout, and its waiter gets retry', async () => {
    const cv = client('v');
    const cu = client('u');
    const v = await subscribe('v');
    const u = await subscribe('u');
    await acquire(cv, 'n', 'v');
    assert.deepEqual(await acquire(cu, 'n', 'u'), { granted: false });
    await v.next(isRevoke('n'), 3000, 'revoke of n');
    const closed = Date.now();
    v.close(); // the client vanishes without releasing
    const retry = await u.next(isRetry('n'), sessionTimeoutMs + 3000, 'retry of n after v expired');
    assert.ok(retry.at - closed >= sessionTimeoutMs - 100, `expired ${retry.at - closed} ms after the stream closed`);
    const stat = (await cu.invoke('stat', { lock: 'n' })) as { holder: string | null; waiters: string[] };
    assert.equal(stat.holder, null);
    assert.deepEqual(stat.waiters, ['u']);
    await acquire(cu, 'n', 'u');
    await release(cu, 'n', 'u');
  });

  test('the primary killed before its revoke reached the holder: the new primary sends it at once, tokens keep increasing', async () => {
    const before = await servingPrimary();
    const primary = nodes.find((n) => n.address === before.node)!;
    const cx = client('fx');
    const cy = client('fy');
    const y = await subscribe('fy');
    const gx = await acquire(cx, 'f', 'fx'); // fx is not subscribed: the revoke below goes nowhere
    assert.equal(gx.granted, true);
    assert.deepEqual(await acquire(cy, 'f', 'fy'), { granted: false });
    await primary.kill('SIGKILL');
    const yEnd = await y.ended;
    assert.equal(yEnd.kind, 'unreachable', 'the dead primary\'s streams end');

    const after = await servingPrimary();
    const serving = Date.now();
    assert.ok(after.vid > before.vid && after.node !== before.node, 'a new primary');
    // Both owners (re)subscribe, as lock clients do on a new primary.
    const subscribing = Date.now();
    const x = await subscribe('fx');
    const y2 = await subscribe('fy');
    const revoke = await x.next(isRevoke('f', gx.token), 3000, 'revoke of f from the new primary');
    assert.ok(revoke.at - serving < 3000, `revoke ${revoke.at - serving} ms after the new primary served`);
    // Sent on subscription, not by some later request or expiry (the session timeout is longer).
    assert.ok(revoke.at - subscribing < 1000, `revoke ${revoke.at - subscribing} ms after fx subscribed`);
    await release(cx, 'f', 'fx');
    await y2.next(isRetry('f'), 3000, 'retry of f');
    const gy = await acquire(cy, 'f', 'fy');
    assert.equal(gy.granted, true);
    assert.ok(gy.token! > gx.token!, 'the grant after the failover has a higher token');
    await release(cy, 'f', 'fy');
    for (let i = 1; i < tokens.length; i++) assert.ok(tokens[i]! > tokens[i - 1]!, `tokens strictly increase: ${tokens.join(',')}`);
    // The old primary comes back (as a backup) for the tests below.
    await primary.start(['--session-timeout-ms', String(sessionTimeoutMs)]);
    assert.equal((await servingPrimary()).members.length, 3);
  });

  test('a primary cut off from its peers ends its streams when its lease lapses, naming why', async () => {
    const before = await servingPrimary();
    const old = live().find((n) => n.address === before.node)!;
    const others = live().filter((n) => n !== old);
    const s = await subscribe('deposed');
    // Cut the primary off from its peers only: its clients still reach it, and it does not know yet.
    await old.control('Partition', { peers: others.map((n) => n.address) });
    let next: NodeStatus;
    let end: StreamEnd;
    try {
      // While the cut lasts the old primary cannot learn of a new view: what ends the stream is
      // its lease lapsing (after the cut it would be told not-primary instead).
      end = await eventually(async () => s.endedWith ?? undefined, 10_000, 'the stream ended while the cut lasts', 20);
      next = await eventually(async () => {
        const all = await Promise.all(others.map((n) => status.status(n.address)));
        const p = all[0]!.primary;
        return p !== before.node && all.every((x) => x.primary === p && x.replicaStatus === 'normal' && x.vid > before.vid) ? all[0] : undefined;
      }, 10_000, 'the others serve without the old primary', 20);
    } finally {
      await old.control('Heal', {});
    }
    assert.equal(end.kind, 'unavailable', JSON.stringify(end));
    assert.match(end.detail, new RegExp(`${before.node} lost its primary lease of view ${before.vid}: no recent grant from`));
    assert.notEqual(next.primary, before.node);
    await servingPrimary();
  });

  test('an isolated primary ends its streams with unavailable and refuses new ones', async () => {
    const p = (await servingPrimary()).node;
    const node = live().find((n) => n.address === p)!;
    const s = await subscribe('iso');
    await node.control('Partition', { isolate: true });
    try {
      const end = await s.ended;
      assert.equal(end.kind, 'unavailable');
      assert.match(end.detail, /isolated/);
      const again = new TestSubscriber(p, cluster, 'iso', clientIdOf('iso'));
      const e = await again.ended;
      again.close();
      assert.equal(e.kind, 'unavailable');
    } finally {
      await node.control('Heal', {});
    }
  });
});

describe('synod node --app lock', () => {
  test('serves the callback service as lock-server does', async () => {
    // Proves the wiring is the app's, not the command's: any node running the lock app sends callbacks.
    const root = mkdtempSync(join(tmpdir(), 'synod-lock-node-'));
    const [port] = await freePortPairs(1);
    const me = `127.0.0.1:${port}`;
    const cluster = defaultClusterName(me);
    const node = new NodeProcess({ port: port!, first: me, dataDir: join(root, 'n1'), logLevel: 'info' });
    const transport = new GrpcClientTransport({ cluster, logger: silentLogger });
    const c = new RsmClient({ members: [me], transport, clock: realClock });
    let x: TestSubscriber | null = null;
    try {
      await node.start(['--app', 'lock']);
      x = await subscribeToPrimary(me, [], cluster, 'x', c.clientId);
      const g = (await c.invoke('acquire', { lock: 'a', owner: 'x' })) as unknown as Grant;
      assert.equal(g.granted, true);
      assert.deepEqual(await c.invoke('acquire', { lock: 'a', owner: 'y' }), { granted: false });
      await x.next(isRevoke('a', g.token), 3000, 'revoke of a');
    } finally {
      x?.close();
      c.close();
      await transport.close();
      node.closeClient();
      await node.kill('SIGKILL');
      rmSync(root, { recursive: true, force: true });
    }
  });
});
