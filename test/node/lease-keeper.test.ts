// The lease keeper on a fake replica and a manual clock: a lease not renewed for its TTL under one
// primary lease is expired by a node's own request; renewals restart its clock; no primary lease, no
// expiry; a new primary gives every lease its whole TTL again. The last test runs the real KV app.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Executor } from '../../src/env/executor.js';
import { silentLogger } from '../../src/env/logger.js';
import { type AppLease, LeaseKeeper, leaseClientId } from '../../src/node/lease-keeper.js';
import type { LeaseStatus } from '../../src/rsm/lease.js';
import type { ClientAnswer, Request } from '../../src/rsm/messages.js';
import type { Json } from '../../src/rsm/app.js';
import { appProcedure } from '../../src/rsm/app.js';
import { kvApp } from '../../src/apps/kv/kv-app.js';
import { kvLeaseSpec } from '../../src/apps/kv/kv-lease-spec.js';
import type { KvState } from '../../src/apps/kv/kv-state.js';
import { ManualClock } from '../support/manual-clock.js';

const checkIntervalMs = 100;
const held: LeaseStatus = { state: 'held', remainingMs: 500 };

interface FakeState { leases: AppLease[] }

function setup(leases: AppLease[], options: { maxExpiringLeases?: number } = {}) {
  const clock = new ManualClock();
  const replica: { lease: LeaseStatus; state: FakeState | null } = { lease: held, state: { leases } };
  const submitted: Array<{ at: number; request: Request; answer: (a: ClientAnswer) => void }> = [];
  const keeper = new LeaseKeeper<FakeState>({
    self: 'n1',
    executor: new Executor((err) => { throw err; }),
    clock,
    logger: silentLogger,
    replica,
    submit: (request, answer) => {
      submitted.push({ at: clock.now(), request, answer });
      return () => {};
    },
    spec: { leases: (s) => s.leases, expire: ({ id, renewals }) => ({ proc: 'leaseExpire', args: { id, renewals } }) },
    options: { checkIntervalMs, ...options },
    firstSeq: 0,
  });
  keeper.start();
  return { clock, replica, submitted, keeper };
}

const executed = (r: Request, value: Json): ClientAnswer => ({ kind: 'executed', clientId: r.clientId, seq: r.seq, outcome: { ok: true, value } });

test('a lease not renewed for its TTL is expired once, by a node\'s own request naming the renewals it saw', () => {
  const { clock, submitted, keeper } = setup([{ id: 7, ttlMs: 1000, renewals: 3, grant: 1 }]);
  clock.advance(1000); // first seen at 100: due at 1100
  assert.equal(submitted.length, 0);
  clock.advance(100);
  assert.deepEqual(submitted.map((e) => [e.at, e.request.proc, e.request.args, e.request.clientId]), [[1100, 'leaseExpire', { id: 7, renewals: 3 }, leaseClientId('n1')]]);
  clock.advance(500);
  assert.equal(submitted.length, 1, 'one expiry in flight per lease');
  assert.deepEqual(keeper.expiring, [7]);
});

test('each renewal restarts the lease\'s clock', () => {
  const lease = { id: 1, ttlMs: 1000, renewals: 0, grant: 1 };
  const { clock, replica, submitted } = setup([lease]);
  for (let i = 1; i <= 5; i++) {
    clock.advance(800);
    replica.state = { leases: [{ ...lease, renewals: i }] };
  }
  assert.equal(submitted.length, 0, '4 s of renewals every 800 ms: never silent for the TTL');
  clock.advance(1100);
  assert.deepEqual(submitted.map((e) => e.request.args), [{ id: 1, renewals: 5 }]);
});

test('a lease ended and granted again under the same id is another lease: its clock starts afresh, and the old expiry names the old grant', () => {
  const { clock, replica, submitted } = setup([{ id: 7, ttlMs: 1000, renewals: 0, grant: 1 }]);
  clock.advance(900);
  replica.state = { leases: [{ id: 7, ttlMs: 1000, renewals: 0, grant: 2 }] }; // revoked and granted again within a check
  clock.advance(900);
  assert.equal(submitted.length, 0, 'the new grant is 900 ms old, not 1800');
  clock.advance(200);
  assert.equal(submitted.length, 1);
  assert.ok(submitted[0]!.at >= 1000 + 1000, `expired at ${submitted[0]!.at}: a whole TTL after the new grant was first seen`);
});

test('no expiry without the primary lease, however long; when it is held again every lease gets its whole TTL', () => {
  const { clock, replica, submitted } = setup([{ id: 1, ttlMs: 1000, renewals: 0, grant: 1 }]);
  clock.advance(900);
  replica.lease = { state: 'lapsed', why: 'no grant from n2' };
  clock.advance(5000);
  assert.equal(submitted.length, 0);
  replica.lease = held; // a new primary, or this one serving again: the clock starts at the next check
  clock.advance(1000);
  assert.equal(submitted.length, 0, 'the whole TTL again');
  clock.advance(100);
  assert.equal(submitted.length, 1);
  assert.ok(submitted[0]!.at >= 5900 + 1000);
});

test('an expiry not executed (not primary) is decided again; one executed clears the clock; at most maxExpiringLeases in flight', () => {
  const leases = [1, 2, 3].map((id) => ({ id, ttlMs: 500, renewals: 0, grant: 1 }));
  const { clock, replica, submitted, keeper } = setup(leases, { maxExpiringLeases: 2 });
  clock.advance(600);
  assert.deepEqual(submitted.map((e) => (e.request.args as { id: number }).id), [1, 2], 'the third waits for room');
  submitted[0]!.answer({ kind: 'not-primary', clientId: 'x', seq: 1, primary: null, vid: 2 });
  submitted[1]!.answer(executed(submitted[1]!.request, { expired: true, deleted: 0, revision: 1 }));
  replica.state = { leases: [leases[0]!, leases[2]!] };
  clock.advance(100);
  assert.deepEqual(submitted.slice(2).map((e) => (e.request.args as { id: number }).id), [1, 3]);
  assert.deepEqual(keeper.expiring, [1, 3]);
});

test('with the KV store: the keeper expires a lease that got no keepalive and its keys vanish in one revision; a kept-alive lease stays', () => {
  const clock = new ManualClock();
  const state: KvState = kvApp.initialState();
  const run = (proc: string, args: Json, internal = false): Json => appProcedure(kvApp, proc)!(state, args, { clientId: internal ? leaseClientId('n1') : 'c', internal });
  run('leaseGrant', { ttl: 2, id: 1 });
  run('leaseGrant', { ttl: 2, id: 2 });
  run('put', { key: 'a', value: '1', lease: 1 });
  run('put', { key: 'b', value: '1', lease: 1 });
  run('put', { key: 'c', value: '1', lease: 2 });
  const keeper = new LeaseKeeper<KvState>({
    self: 'n1', executor: new Executor((err) => { throw err; }), clock, logger: silentLogger,
    replica: { lease: held, state },
    // As `RsmLayer.submitInternal`: the request runs as the node's own (`HandlerContext.internal`).
    submit: (request, answer) => {
      answer(executed(request, run(request.proc, request.args, true)));
      return () => {};
    },
    spec: kvLeaseSpec, options: { checkIntervalMs }, firstSeq: 0,
  });
  keeper.start();
  for (let t = 0; t < 3000; t += 500) {
    clock.advance(500);
    run('leaseKeepAlive', { id: 2 });
  }
  assert.deepEqual(run('leases', null), { leases: [{ id: 2, ttl: 2 }] });
  assert.deepEqual((run('range', { key: '', prefix: true }) as { kvs: { key: string }[] }).kvs.map((kv) => kv.key), ['c']);
  assert.equal(state.revision, 5, 'puts at 2, 3, 4; the expiry deleted a and b at 5');
  keeper.stop();
});
