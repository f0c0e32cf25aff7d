// The primary lease, driven by hand: when it holds, when it lapses, and why a new view's primary
// waits for the promises the previous primary's backups made.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReturnAddress } from '../../src/env/transport.js';
import { defaultRsmOptions, leaseWaitMs } from '../../src/options.js';
import { PrimaryLease } from '../../src/rsm/lease.js';
import type { ClientAnswer, ReplicaMessage } from '../../src/rsm/messages.js';
import { rsmTimers } from '../../src/rsm/replica.js';
import type { RsmOutbox } from '../../src/rsm/replica-deps.js';
import { drivenBackup, drivenPrimary, drivenReplica } from './hand-driven.js';

const leaseMs = defaultRsmOptions.leaseMs;
const waitMs = leaseWaitMs(defaultRsmOptions);
/** What a primary with the default options says in its ask. */
const asked = { leaseMs, maxDriftPpm: defaultRsmOptions.maxClockDriftPpm };

function asks(out: RsmOutbox): Array<[string, number]> {
  return out.volatileSends.flatMap((s) => (s.msg.kind === 'lease-ask' ? [[s.to, s.msg.round] as [string, number]] : []));
}

test('the lease holds while every backup granted within leaseMs of the ask, on the primary\'s clock', () => {
  let now = 1000;
  const lease = new PrimaryLease({ vid: 3, backups: ['b', 'c'], leaseMs, now: () => now, alwaysHeld: false });
  const r1 = lease.open();
  assert.deepEqual(lease.status('p'), { state: 'none' }, 'being acquired: not lapsed');
  lease.grant('b', r1);
  assert.equal(lease.validUntil, Number.NEGATIVE_INFINITY, 'c has not granted');
  now = 1040;
  assert.ok(lease.grant('c', r1));
  assert.equal(lease.validUntil, 1000 + leaseMs, 'measured from the ask, not the grant');
  now = 1100;
  const r2 = lease.open();
  now = 1130;
  lease.grant('b', r2);
  assert.equal(lease.validUntil, 1000 + leaseMs, 'the oldest of the latest grants counts');
  assert.equal(lease.grant('b', r1), false, 'an older round never lowers a grant');
  assert.equal(lease.grant('x', r2), false, 'not a backup');
  assert.equal(lease.grant('c', 99), false, 'a round never asked');
  now = 1000 + leaseMs;
  const s = lease.status('p');
  assert.equal(s.state, 'lapsed');
  assert.match(s.state === 'lapsed' ? s.why : '', /p lost its primary lease of view 3: no recent grant from c \(500 ms ago\)/);
  assert.equal(lease.lapsedNews('p') !== null, true, 'news once');
  assert.equal(lease.lapsedNews('p'), null);
  lease.grant('c', r2);
  assert.deepEqual(lease.status('p'), { state: 'held', remainingMs: 100 });
});

test('old rounds are forgotten: a grant of a round asked more than leaseMs ago is no use', () => {
  let now = 0;
  const lease = new PrimaryLease({ vid: 1, backups: ['b'], leaseMs, now: () => now, alwaysHeld: false });
  const r1 = lease.open();
  now = leaseMs + 1;
  lease.open();
  assert.equal(lease.grant('b', r1), false);
  assert.equal(lease.status('p').state, 'lapsed');
});

test('a serving primary asks at once and every leaseRenewMs; grants make it held; a lapse makes it stop naming itself', () => {
  let now = 0;
  const p = drivenPrimary(['b', 'c'], { now: () => now });
  assert.equal(p.replica.lease.state, 'none');
  // The first round left when it started serving: find it by renewing once and counting.
  const renew = p.run((o) => p.replica.onTimer(rsmTimers.leaseRenew, o));
  const round = asks(renew);
  assert.deepEqual(round.map(([to]) => to), ['b', 'c']);
  assert.deepEqual(renew.timers.find((t) => t.key === rsmTimers.leaseRenew)?.delayMs, defaultRsmOptions.leaseRenewMs);
  const r = round[0]![1];
  for (const b of ['b', 'c']) p.run((o) => p.replica.onMessage(b, { kind: 'lease-grant', vid: 1, round: r }, o));
  assert.deepEqual(p.replica.lease, { state: 'held', remainingMs: leaseMs });
  const members = (): ClientAnswer => p.run((o) => p.replica.onClientCall(new ReturnAddress('m'), { kind: 'members' }, o)).answers[0]!.answer;
  assert.deepEqual(members(), { kind: 'members', vid: 1, members: ['p', 'b', 'c'], primary: 'p' });
  now = leaseMs;
  assert.equal(p.replica.lease.state, 'lapsed');
  assert.deepEqual(members(), { kind: 'members', vid: 1, members: ['p', 'b', 'c'], primary: null });
  // A grant from another view, or from a node not its backup, changes nothing.
  p.run((o) => p.replica.onMessage('b', { kind: 'lease-grant', vid: 2, round: r }, o));
  assert.equal(p.replica.lease.state, 'lapsed');
});

test('a serving backup grants its primary at once (not behind this batch\'s records), and nobody else', () => {
  const b = drivenBackup();
  const out = b.run((o) => b.replica.onMessage('p', { kind: 'lease-ask', vid: 1, round: 7, ...asked }, o));
  assert.deepEqual(out.aheadSends.map((s) => [s.to, s.msg]), [['p', { kind: 'lease-grant', vid: 1, round: 7 }]]);
  for (const [from, vid] of [['x', 1], ['p', 2]] as const) {
    assert.equal(b.run((o) => b.replica.onMessage(from, { kind: 'lease-ask', vid, round: 8, ...asked }, o)).aheadSends.length, 0, `${from} ${vid}`);
  }
});

/** Backup `b` of view 1 = [p, b, c], serving, that granted p a lease at time 0; then view 2 = [b, c] with primary b. */
function deposedPrimaryView(now: () => number) {
  const h = drivenReplica('b', ['p', 'b', 'c'], { now });
  h.run((o) => h.replica.onViewCommitted(o));
  h.run((o) => h.replica.onMessage('p', { kind: 'sync-reply', vid: 1, action: 'up-to-date', target: { vid: 0, seqno: 0 } }, o));
  h.run((o) => h.replica.onMessage('p', { kind: 'lease-ask', vid: 1, round: 1, ...asked }, o));
  h.nextView(['b', 'c']);
  assert.equal(h.replica.primaryOf(), 'b');
  return h;
}

const status = (leaseWait: number): ReplicaMessage => ({ kind: 'sync-status', vid: 2, last: { vid: 0, seqno: 0 }, complete: true, syncedVid: 1, leaseWaitMs: leaseWait });

test('a new view\'s primary serves only once every backup\'s promise to the previous primary ran out, and its own', () => {
  let now = 0;
  const h = deposedPrimaryView(() => now);
  // c still keeps its promise to p: told to wait, not up to date.
  const early = h.run((o) => h.replica.onMessage('c', status(300), o));
  assert.ok(early.sends.every((s) => s.msg.kind === 'sync-reply' && s.msg.action === 'wait'), 'only waits');
  assert.equal(h.replica.status, 'syncing');
  now = 300;
  h.run((o) => h.replica.onMessage('c', status(0), o));
  // c is done; b itself granted p at time 0: it waits out its own promise, clients hear why.
  assert.equal(h.replica.status, 'syncing');
  const busy = h.run((o) => h.replica.onClientCall(new ReturnAddress('x'), { kind: 'invoke', request: { clientId: 'k', seq: 1, proc: 'append', args: { item: 'a' }, argsText: '{"item":"a"}', first: true } }, o)).answers[0]!.answer;
  assert.ok(busy.kind === 'busy' && /waiting out the lease granted to the previous primary p/.test(busy.reason), JSON.stringify(busy));
  now = waitMs - 1;
  h.run((o) => h.replica.onTimer(rsmTimers.leaseWait, o));
  assert.equal(h.replica.status, 'syncing', 'not a millisecond early');
  now = waitMs;
  h.run((o) => h.replica.onTimer(rsmTimers.leaseWait, o));
  assert.ok(h.replica.isPrimary && (h.replica.status as string) === 'normal');
});

test('the mutation new-primary-without-waiting serves at once', () => {
  const h = drivenReplica('b', ['p', 'b', 'c'], { now: () => 0, mutations: { newPrimaryWithoutWaiting: true } });
  h.run((o) => h.replica.onViewCommitted(o));
  h.run((o) => h.replica.onMessage('p', { kind: 'sync-reply', vid: 1, action: 'up-to-date', target: { vid: 0, seqno: 0 } }, o));
  h.run((o) => h.replica.onMessage('p', { kind: 'lease-ask', vid: 1, round: 1, ...asked }, o));
  h.nextView(['b', 'c']);
  h.run((o) => h.replica.onMessage('c', status(0), o));
  assert.equal(h.replica.status as string, 'normal');
});

test('a view change that keeps the primary waits for nothing: the backups\' promises are to it', () => {
  const now = 0;
  const b = drivenReplica('b', ['p', 'b', 'c'], { now: () => now });
  b.run((o) => b.replica.onViewCommitted(o));
  b.run((o) => b.replica.onMessage('p', { kind: 'sync-reply', vid: 1, action: 'up-to-date', target: { vid: 0, seqno: 0 } }, o));
  b.run((o) => b.replica.onMessage('p', { kind: 'lease-ask', vid: 1, round: 1, ...asked }, o));
  const next = b.nextView(['p', 'b']);
  const report = next.sends.find((s) => s.msg.kind === 'sync-status')!.msg;
  assert.equal(report.kind === 'sync-status' && report.leaseWaitMs, 0);
  const c = drivenReplica('c', ['p', 'b', 'c'], { now: () => now });
  c.run((o) => c.replica.onViewCommitted(o));
  c.run((o) => c.replica.onMessage('p', { kind: 'sync-reply', vid: 1, action: 'up-to-date', target: { vid: 0, seqno: 0 } }, o));
  c.run((o) => c.replica.onMessage('p', { kind: 'lease-ask', vid: 1, round: 1, ...asked }, o));
  const deposing = c.nextView(['b', 'c']);
  const waiting = deposing.sends.find((s) => s.msg.kind === 'sync-status')!.msg;
  assert.equal(waiting.kind === 'sync-status' && waiting.leaseWaitMs, waitMs, 'a view with another primary waits the whole promise');
  assert.deepEqual(deposing.timers.filter((t) => t.key === rsmTimers.syncRetry).at(-1)?.delayMs, defaultRsmOptions.syncRetryMs);
});

/** What backup b of view 1 = [p, b, c] left on its disk after granting p a lease, read back as a restart would. */
function grantedThenRestarted(now: () => number, members: string[] = ['p', 'b', 'c']) {
  const before = drivenReplica('b', members, { now: () => 0 });
  before.run((o) => before.replica.onViewCommitted(o));
  before.run((o) => before.replica.onMessage('p', { kind: 'sync-reply', vid: 1, action: 'up-to-date', target: { vid: 0, seqno: 0 } }, o));
  before.run((o) => before.replica.onMessage('p', { kind: 'lease-ask', vid: 1, round: 1, ...asked }, o));
  const records = before.disk.filter((r) => r.kind !== 'snapshot');
  const after = drivenReplica('b', members, { now, durable: { snapshot: null, records: records as never } });
  after.run((o) => after.replica.onViewCommitted(o));
  return after;
}

test('a restarted node owes every primary but its synced view\'s a whole promise from its start, having forgotten what it granted', () => {
  let now = 1000; // the restarted process's clock
  const h = grantedThenRestarted(() => now);
  const deposing = h.nextView(['b', 'c']); // b is the new primary; p (its synced view's primary) is gone
  assert.equal(h.replica.primaryOf(), 'b');
  h.run((o) => h.replica.onMessage('c', status(0), o));
  assert.equal(h.replica.status, 'syncing', 'waits its restart promise');
  assert.equal(deposing.timers.length > 0, true);
  now = 1000 + waitMs;
  h.run((o) => h.replica.onTimer(rsmTimers.leaseWait, o));
  assert.ok(h.replica.isPrimary && (h.replica.status as string) === 'normal');
});

test('a restarted node owes its synced view\'s primary nothing: a refresh view with the same primary serves at once', () => {
  const h = grantedThenRestarted(() => 1000);
  const refresh = h.nextView(['p', 'b', 'c']);
  const report = refresh.sends.find((s) => s.msg.kind === 'sync-status')!.msg;
  assert.equal(report.kind === 'sync-status' && report.leaseWaitMs, 0);
});

test('a backup configured with a shorter lease promises what covers the lease its primary says it uses', () => {
  let now = 0;
  const b = drivenBackup({ options: { leaseMs: 200, leaseRenewMs: 50 }, now: () => now });
  b.run((o) => b.replica.onMessage('p', { kind: 'lease-ask', vid: 1, round: 1, leaseMs: 2000, maxDriftPpm: 10_000 }, o));
  b.nextView(['b']); // p is gone; b is the primary of a view of one and waits out its promise to p
  now = leaseWaitMs({ leaseMs: 200, maxClockDriftPpm: 10_000 }) + 1; // its own options' wait is over
  b.run((o) => b.replica.onTimer(rsmTimers.leaseWait, o));
  assert.equal(b.replica.status, 'syncing', 'still waiting: p said it uses its lease for 2000 ms');
  now = leaseWaitMs({ leaseMs: 2000, maxClockDriftPpm: 10_000 });
  b.run((o) => b.replica.onTimer(rsmTimers.leaseWait, o));
  assert.equal(b.replica.status as string, 'normal');
});
