// Sessions in the simulator (deterministic, virtual time), as every simulated node runs them
// (NodeStack: the callback hub on the transport's stream service, and the session keeper): the
// serving primary expires a holder that has no callback stream through its own RSM
// (RsmLayer.submitInternal), every replica executes the expiry, the waiter's stream gets retry; a
// new primary starts every owner's clock when it starts serving; backups never expire anyone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallResult } from '../../src/client/client-core.js';
import type { RsmClient } from '../../src/client/rsm-client.js';
import type { ClientStream, StreamEnd } from '../../src/env/streams.js';
import type { NodeId } from '../../src/env/types.js';
import { type LockState, lockApp } from '../../src/apps/lock/lock-app.js';
import { lockSessions } from '../../src/apps/lock/lock-sessions.js';
import { sessionClientId } from '../../src/node/sessions.js';
import type { Json } from '../../src/rsm/app.js';
import { type KeepAlive, callbacksCodec } from '../../src/rsm/callbacks-wire.js';
import { type ClientAnswer, type Request, newRequest } from '../../src/rsm/messages.js';
import type { Replica } from '../../src/rsm/replica.js';
import { SimCluster } from '../../tools/sim/cluster.js';

const ids = ['n1', 'n2', 'n3'];
const sessionTimeoutMs = 1000;
const checkIntervalMs = 100;
const keepaliveIntervalMs = 200;
const lockDelayMs = 500;

/** One owner's callback stream, opened from a machine of its own. */
interface Stream {
  readonly received: Array<{ at: number; message: Json }>;
  readonly keepalives: Array<{ at: number; keepalive: KeepAlive }>;
  accepted: boolean;
  end: StreamEnd | null;
  readonly stream: ClientStream;
}

class Scenario {
  readonly cluster: SimCluster<LockState>;
  readonly executed: Array<{ node: NodeId; request: Request }> = [];
  #machines = 0;

  constructor(seed: number) {
    this.cluster = new SimCluster<LockState>({
      seed,
      ids,
      app: lockApp,
      callbacks: { sessions: lockSessions, options: { sessionTimeoutMs, checkIntervalMs, keepaliveIntervalMs, lockDelayMs } },
      replicaObserver: (node) => ({ executed: (_vs, request) => this.executed.push({ node, request }) }),
    });
  }

  replica(id: NodeId): Replica<LockState> | null {
    return this.cluster.node(id).process?.stack.rsm?.core ?? null;
  }

  /** The serving primary, once it holds its lease (before, it accepts no stream). */
  primary(): NodeId | null {
    return ids.find((id) => {
      const r = this.replica(id);
      return r !== null && r.isPrimary && r.status === 'normal' && r.lease.state === 'held';
    }) ?? null;
  }

  /** Whether the live nodes all serve one view with a serving primary. */
  serving(live: readonly NodeId[]): boolean {
    const p = this.primary();
    return p !== null && live.every((id) => this.replica(id)?.status === 'normal' && this.replica(id)?.primaryOf() === p &&
      this.cluster.view(id)?.members.length === live.length);
  }

  /** Opens `owner`'s callback stream for client `clientId` at `server` and runs until the server accepted it. */
  subscribe(owner: string, clientId: string, server: NodeId): Stream {
    const s = this.open(owner, clientId, server);
    assert.ok(s.accepted, `${owner}'s stream accepted (ended ${JSON.stringify(s.end)})`);
    return s;
  }

  /** Opens `owner`'s callback stream for client `clientId` at `server` and runs until the server accepted or ended it. */
  open(owner: string, clientId: string, server: NodeId): Stream {
    const machine = this.cluster.sim.addNode(`s${++this.#machines}`, () => ({}));
    machine.start();
    const s: { -readonly [K in keyof Stream]: Stream[K] } = { received: [], keepalives: [], accepted: false, end: null, stream: { close() {} } };
    s.stream = machine.clientTransport.openStream(callbacksCodec, server, { owner, clientId }, {
      accepted: () => void (s.accepted = true),
      message: (m) => {
        const at = this.cluster.sim.now;
        if (m.kind === 'callback') s.received.push({ at, message: m.message });
        else s.keepalives.push({ at, keepalive: { sinceAcceptMs: m.sinceAcceptMs, leaseRemainingMs: m.leaseRemainingMs, sessionTimeoutMs: m.sessionTimeoutMs, maxDriftPpm: m.maxDriftPpm, intervalMs: m.intervalMs } });
      },
      ended: (end) => void (s.end = end),
    });
    assert.ok(this.cluster.runUntil(() => s.accepted || s.end !== null, 1000), `${owner}'s stream answered`);
    return s;
  }

  call(client: RsmClient, proc: string, args: Json): Json {
    let result: CallResult | null = null;
    client.submit(proc, args, { deadlineMs: 5000 }, (r) => (result = r));
    assert.ok(this.cluster.runUntil(() => result !== null, 5000), `${proc} ${JSON.stringify(args)} did not complete`);
    const r = result as CallResult | null;
    assert.ok(r?.ok === true, `${proc} failed: ${r?.ok === false ? r.error.message : ''}`);
    return r.value;
  }
}

const isRetry = (lock: string) => (r: { message: Json }): boolean =>
  typeof r.message === 'object' && r.message !== null && !Array.isArray(r.message) && r.message['kind'] === 'retry' && r.message['lock'] === lock;

test('a holder without a stream is expired by the serving primary through its RSM, on every replica, and its waiter\'s stream gets retry', () => {
  const s = new Scenario(501);
  s.cluster.start();
  assert.ok(s.cluster.runUntil(() => s.serving(ids), 10_000), 'three nodes serving');
  const primary = s.primary()!;
  const cx = s.cluster.addClient('cx');
  const cy = s.cluster.addClient('cy');
  const y = s.subscribe('y', 'cy', primary); // y keeps its stream; x never opens one
  assert.deepEqual(s.call(cx, 'acquire', { lock: 'L', owner: 'x' }), { granted: true, token: 1 });
  assert.deepEqual(s.call(cy, 'acquire', { lock: 'L', owner: 'y' }), { granted: false });
  const start = s.cluster.sim.now;
  s.cluster.runFor(sessionTimeoutMs - 2 * checkIntervalMs);
  assert.equal(s.replica(primary)!.state!.locks.get('L')!.holder, 'x', 'not expired before the timeout');
  assert.ok(s.cluster.runUntil(() => y.received.some(isRetry('L')), 2000), 'y was sent retry');
  const retry = y.received.find(isRetry('L'))!;
  assert.ok(retry.at - start >= sessionTimeoutMs - checkIntervalMs, `expired after ${retry.at - start} ms`);
  s.cluster.runFor(500);
  for (const id of ids) {
    assert.deepEqual(s.replica(id)!.state!.locks.get('L'), { holder: null, token: 1, waiters: ['y'] }, `${id} executed the expiry`);
  }
  const expiries = s.executed.filter((e) => e.request.proc === 'expire');
  assert.deepEqual([...new Set(expiries.map((e) => e.request.clientId))], [sessionClientId(primary)], 'submitted by the primary alone');
  assert.equal(new Set(expiries.map((e) => e.node)).size, 3, 'executed once by each replica');
  assert.equal(expiries.length, 3);
  assert.deepEqual(s.call(cy, 'acquire', { lock: 'L', owner: 'y' }), { granted: true, token: 2 });
  // y holds L and keeps its stream: no expiry however long it holds it.
  s.cluster.runFor(3 * sessionTimeoutMs);
  assert.equal(s.replica(primary)!.state!.locks.get('L')!.holder, 'y');
  for (const id of ids) assert.deepEqual(s.cluster.node(id).process!.stack.sessions!.expiring, []);
  assert.equal(y.end, null, 'y\'s stream is still open');
  assert.deepEqual(s.cluster.sim.failures, []);
});

test('a new primary starts every owner\'s session clock when it starts serving, so clients have the whole timeout to re-subscribe', () => {
  const s = new Scenario(502);
  s.cluster.start();
  assert.ok(s.cluster.runUntil(() => s.serving(ids), 10_000), 'three nodes serving');
  const cx = s.cluster.addClient('cx');
  const old = s.primary()!;
  const x = s.subscribe('x', 'cx', old);
  assert.deepEqual(s.call(cx, 'acquire', { lock: 'L', owner: 'x' }), { granted: true, token: 1 });
  s.cluster.runFor(3 * sessionTimeoutMs);
  assert.equal(s.replica(s.primary()!)!.state!.locks.get('L')!.holder, 'x', 'a connected holder is never expired');
  // The primary dies; x's stream ends, and x does not come back.
  s.cluster.crash(old);
  assert.ok(s.cluster.runUntil(() => x.end !== null, 5000), 'x hears its stream end');
  assert.equal(x.end?.kind, 'unreachable');
  const live = ids.filter((id) => id !== old);
  assert.ok(s.cluster.runUntil(() => s.serving(live), 10_000), 'the survivors serve');
  const served = s.cluster.sim.now;
  const primary = s.primary()!;
  assert.ok(s.cluster.runUntil(() => !s.replica(primary)!.state!.owners.has('x'), 3 * sessionTimeoutMs), 'x expired');
  const after = s.cluster.sim.now - served;
  assert.ok(after >= sessionTimeoutMs - checkIntervalMs, `expired ${after} ms after the new primary served: its clock started then`);
  assert.ok(after <= sessionTimeoutMs + 3 * checkIntervalMs + 200, `expired ${after} ms after the new primary served`);
  assert.deepEqual(s.cluster.sim.failures, []);
});

test('an internal request on a backup is answered not-primary and executes nothing', () => {
  const s = new Scenario(503);
  s.cluster.start();
  assert.ok(s.cluster.runUntil(() => s.serving(ids), 10_000), 'three nodes serving');
  const backup = ids.find((id) => id !== s.primary())!;
  const node = s.cluster.node(backup);
  const answers: ClientAnswer[] = [];
  node.world!.executor.submit(() => {
    node.process!.stack.rsm!.submitInternal(newRequest('synod:test', 1, 'stat', { lock: 'L' }), (a) => answers.push(a));
  });
  s.cluster.runFor(100);
  assert.deepEqual(answers.map((a) => a.kind), ['not-primary']);
  assert.equal(s.executed.length, 0);
});

test('a stream is served only to the client its owner is bound to: another client\'s is refused, or ended, and keeps no session alive', () => {
  // Proves issue 12's "one callback stream per owner, taken over only by the same client" on the
  // simulated stream service: no client takes another's revokes or keeps its locks from expiring.
  const s = new Scenario(504);
  s.cluster.start();
  assert.ok(s.cluster.runUntil(() => s.serving(ids), 10_000), 'three nodes serving');
  const primary = s.primary()!;
  const [cx, cz, cq, cw] = ['cx', 'cz', 'cq', 'cw'].map((id) => s.cluster.addClient(id)) as [RsmClient, RsmClient, RsmClient, RsmClient];
  const isRevoke = (r: { message: Json }): boolean => typeof r.message === 'object' && r.message !== null && !Array.isArray(r.message) && r.message['kind'] === 'revoke';

  // Bound first: a thief's stream for x is refused at once.
  assert.deepEqual(s.call(cx, 'acquire', { lock: 'X', owner: 'x' }), { granted: true, token: 1 });
  const refused = s.open('x', 'thief', primary);
  assert.equal(refused.accepted, false);
  assert.equal(refused.end?.kind, 'owner-taken', JSON.stringify(refused.end));
  assert.match(refused.end?.detail ?? '', /owner x is not this client's/);

  // Streaming before the owner was bound: the thief's stream is accepted, then ended once z's own client binds z.
  const squat = s.subscribe('z', 'thief', primary);
  assert.deepEqual(s.call(cz, 'acquire', { lock: 'Z', owner: 'z' }), { granted: true, token: 2 });
  assert.deepEqual(s.call(cw, 'acquire', { lock: 'Z', owner: 'w' }), { granted: false }); // z is sent a revoke: not to the thief
  assert.ok(s.cluster.runUntil(() => squat.end !== null, 2 * checkIntervalMs + 100), 'the thief\'s stream ends');
  assert.equal(squat.end?.kind, 'owner-taken');
  assert.ok(!squat.received.some(isRevoke), 'the thief never got z\'s revoke');

  // A thief's open stream does not hold the owner's session: z (no stream of its own) expires.
  const start = s.cluster.sim.now;
  assert.ok(s.cluster.runUntil(() => !s.replica(primary)!.state!.owners.has('z'), 3 * sessionTimeoutMs), 'z expired');
  assert.ok(s.cluster.sim.now - start <= sessionTimeoutMs + 3 * checkIntervalMs, `z expired ${s.cluster.sim.now - start} ms later`);

  // The owner's own client takes its stream over from a squatter.
  const early = s.subscribe('q', 'thief', primary);
  assert.deepEqual(s.call(cq, 'acquire', { lock: 'Q', owner: 'q' }), { granted: true, token: 3 });
  const own = s.subscribe('q', 'cq', primary);
  assert.ok(s.cluster.runUntil(() => early.end !== null, 100), 'the squatter\'s stream ends');
  assert.equal(early.end?.kind, 'owner-taken');
  assert.equal(own.end, null);
  assert.equal(s.open('q', 'thief', primary).end?.kind, 'owner-taken', 'and it cannot come back');
  assert.deepEqual(s.cluster.sim.failures, []);
});

test('a subscribed stream gets a keepalive at once and then every keepaliveIntervalMs, carrying the node\'s session timeout and drift bound', () => {
  const s = new Scenario(503);
  s.cluster.start();
  assert.ok(s.cluster.runUntil(() => s.serving(ids), 10_000), 'three nodes serving');
  const x = s.subscribe('x', 'cx', s.primary()!);
  const acceptedBy = s.cluster.sim.now;
  s.cluster.runFor(10 * keepaliveIntervalMs);
  const k = x.keepalives;
  assert.ok(k.length >= 10 && k.length <= 11, `${k.length} keepalives in ${10 * keepaliveIntervalMs} ms`);
  assert.equal(k[0]!.keepalive.sinceAcceptMs, 0, 'the first right after accepting');
  assert.ok(k[0]!.at - acceptedBy < keepaliveIntervalMs, `and it arrives with the acceptance (${k[0]!.at - acceptedBy} ms later)`);
  for (let i = 1; i < k.length; i++) {
    const gap = k[i]!.keepalive.sinceAcceptMs - k[i - 1]!.keepalive.sinceAcceptMs;
    assert.ok(gap > 0 && gap <= keepaliveIntervalMs, `keepalive ${i} came ${gap} ms after the one before`);
  }
  for (const { keepalive } of k) {
    assert.equal(keepalive.sessionTimeoutMs, sessionTimeoutMs);
    assert.equal(keepalive.maxDriftPpm, 10_000);
    assert.ok(keepalive.leaseRemainingMs > 0, 'sent under a held lease');
  }
  assert.equal(x.end, null);
  assert.deepEqual(s.cluster.sim.failures, []);
});

/** Whether lock `lock` is delayed on `id` (an expiry freed it and its lock-delay has not ended). */
const delayedOn = (s: Scenario, id: NodeId, lock: string): boolean => s.replica(id)?.state?.locks.get(lock)?.delayed === true;

test('a lock freed by an expiry is not granted for lockDelayMs, across a failover too (the new primary re-arms the delay from its serving time)', () => {
  const s = new Scenario(504);
  s.cluster.start();
  assert.ok(s.cluster.runUntil(() => s.serving(ids), 10_000), 'three nodes serving');
  const cx = s.cluster.addClient('cx');
  const cy = s.cluster.addClient('cy');
  const first = s.primary()!;
  s.subscribe('y', 'cy', first);
  assert.deepEqual(s.call(cx, 'acquire', { lock: 'L', owner: 'x' }), { granted: true, token: 1 }); // x never subscribes
  assert.ok(s.cluster.runUntil(() => delayedOn(s, first, 'L'), 3 * sessionTimeoutMs), 'x expired; L delayed');
  const expiredAt = s.cluster.sim.now;
  assert.deepEqual(s.call(cy, 'acquire', { lock: 'L', owner: 'y' }), { granted: false }, 'delayed: y queues');
  assert.ok(s.cluster.runUntil(() => !delayedOn(s, first, 'L'), 3 * lockDelayMs), 'the delay ends');
  const endedMs = s.cluster.sim.now - expiredAt;
  assert.ok(endedMs >= lockDelayMs - checkIntervalMs && endedMs <= lockDelayMs + 3 * checkIntervalMs, `delay ended ${endedMs} ms after the expiry`);
  assert.deepEqual(s.call(cy, 'acquire', { lock: 'L', owner: 'y' }), { granted: true, token: 2 });

  // Again, and the primary dies during the delay: the survivors' primary holds it delayed a whole lockDelayMs from its serving time.
  assert.deepEqual(s.call(cx, 'acquire', { lock: 'M', owner: 'x' }), { granted: true, token: 3 });
  assert.ok(s.cluster.runUntil(() => delayedOn(s, first, 'M'), 3 * sessionTimeoutMs), 'x expired again; M delayed');
  s.cluster.crash(first);
  const live = ids.filter((id) => id !== first);
  assert.ok(s.cluster.runUntil(() => s.serving(live), 10_000), 'the survivors serve');
  const served = s.cluster.sim.now;
  const second = s.primary()!;
  assert.ok(delayedOn(s, second, 'M'), 'still delayed on the new primary');
  assert.ok(s.cluster.runUntil(() => !delayedOn(s, second, 'M'), 3 * lockDelayMs), 'the new primary ends the delay');
  const afterServing = s.cluster.sim.now - served;
  assert.ok(afterServing >= lockDelayMs - checkIntervalMs, `ended ${afterServing} ms after the new primary served: re-armed from then`);
  // The observer hears of an execution once its records are durable, a moment after the state changed.
  const endsOn = (): Array<{ node: NodeId; request: Request }> => s.executed.filter((e) => e.request.proc === 'endDelay' && e.node === second);
  assert.ok(s.cluster.runUntil(() => endsOn().length === 2, 1000), 'the primary\'s observer heard both');
  const ends = endsOn();
  assert.deepEqual(ends.map((e) => e.request.args), [{ lock: 'L' }, { lock: 'M' }]);
  assert.deepEqual(s.cluster.sim.failures, []);
});
