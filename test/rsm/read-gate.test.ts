// Queries at the serving primary, driven by hand: answered alone under the lease, after a confirm
// round without it, never for a client the table does not know, and bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReturnAddress } from '../../src/env/transport.js';
import { defaultRsmOptions } from '../../src/options.js';
import { type ClientAnswer, newRequest } from '../../src/rsm/messages.js';
import { rsmTimers } from '../../src/rsm/replica.js';
import type { RsmOutbox } from '../../src/rsm/replica-deps.js';
import { append, drivenPrimary } from './hand-driven.js';

const leaseMs = defaultRsmOptions.leaseMs;

/** A primary of [p, b, c] whose client k is known to the table (its append 1 executed), with the lease held at time 0. */
function setUp(options: Partial<typeof defaultRsmOptions> = {}) {
  let now = 0;
  const p = drivenPrimary(['b', 'c'], { now: () => now, options });
  p.call(new ReturnAddress('w'), append(1, 'x', 'k'));
  p.ack('b', 1);
  p.ack('c', 1);
  const grant = (round: number): RsmOutbox[] => ['b', 'c'].map((b) => p.run((o) => p.replica.onMessage(b, { kind: 'lease-grant', vid: 1, round }, o)));
  const renew = (): number => {
    const out = p.run((o) => p.replica.onTimer(rsmTimers.leaseRenew, o));
    return out.volatileSends.find((s) => s.msg.kind === 'lease-ask')!.msg.kind === 'lease-ask' ? (out.volatileSends[0]!.msg as { round: number }).round : -1;
  };
  const r = renew();
  grant(r);
  assert.equal(p.replica.lease.state, 'held');
  return { p, grant, renew, setNow: (t: number) => void (now = t), executedBefore: p.executed.length };
}

const length = (seq: number, client = 'k') => newRequest(client, seq, 'length', null, false);

test('under the lease a query of a known client is answered at once, without an invoke or an execution', () => {
  const { p, executedBefore } = setUp();
  const out = p.call(new ReturnAddress('q'), length(2));
  assert.deepEqual(out.answers.map((a) => a.answer), [{ kind: 'executed', clientId: 'k', seq: 2, outcome: { ok: true, value: 1 } }]);
  assert.equal(out.sends.length, 0, 'nothing replicated');
  assert.equal(p.executed.length, executedBefore, 'nothing executed');
  // Not recorded: the client's next write numbers above it and runs.
  p.call(new ReturnAddress('w'), append(3, 'y', 'k'));
  assert.deepEqual(p.ack('c', 2), []);
  assert.deepEqual(p.ack('b', 2).map((a) => a.kind), ['executed']);
});

test('a query of a client the table does not know is replicated (so the table records it)', () => {
  const { p } = setUp();
  const out = p.call(new ReturnAddress('q'), newRequest('stranger', 1, 'length', null, true));
  assert.equal(out.answers.length, 0);
  assert.deepEqual(out.sends.map((s) => s.msg.kind), ['invoke', 'invoke']);
});

test('without the lease a query waits for a confirm round asked after it arrived; one round answers the batch', () => {
  const { p, grant, setNow } = setUp();
  setNow(leaseMs); // the lease ran out
  assert.equal(p.replica.lease.state, 'lapsed');
  const first = p.call(new ReturnAddress('q1'), length(2));
  assert.equal(first.answers.length, 0, 'waits');
  const asks = first.volatileSends.filter((s) => s.msg.kind === 'lease-ask');
  assert.deepEqual(asks.map((s) => s.to), ['b', 'c'], 'a confirm round at once');
  const round = (asks[0]!.msg as { round: number }).round;
  const second = p.call(new ReturnAddress('q2'), length(3));
  assert.equal(second.volatileSends.length, 0, 'no second round while one is out');
  // The confirm round completes: the first query is answered; the second arrived after it was asked.
  const [, last] = grant(round);
  assert.deepEqual(last!.answers.map((a) => (a.answer as Extract<ClientAnswer, { kind: 'executed' }>).seq), [2]);
  const next = last!.volatileSends.filter((s) => s.msg.kind === 'lease-ask');
  assert.equal(next.length, 2, 'the next round is opened for the query still waiting');
  const [, done] = grant((next[0]!.msg as { round: number }).round);
  assert.deepEqual(done!.answers.map((a) => (a.answer as Extract<ClientAnswer, { kind: 'executed' }>).seq), [3]);
});

test('a query whose confirm round gets no answer within leaseMs is sent elsewhere, naming no primary', () => {
  const { p, setNow } = setUp();
  setNow(leaseMs);
  p.call(new ReturnAddress('q'), length(2));
  setNow(2 * leaseMs);
  const tick = p.run((o) => p.replica.onTimer(rsmTimers.leaseRenew, o));
  assert.deepEqual(tick.answers.map((a) => a.answer), [{ kind: 'not-primary', clientId: 'k', seq: 2, primary: null, vid: 1 }]);
});

test('at most maxPendingQueries wait for a confirmation; more get BUSY', () => {
  const { p, setNow } = setUp({ maxPendingQueries: 2 });
  setNow(leaseMs);
  p.call(new ReturnAddress('q1'), length(2));
  p.call(new ReturnAddress('q2'), length(3));
  const third = p.call(new ReturnAddress('q3'), length(4)).answers[0]!.answer;
  assert.ok(third.kind === 'busy' && /rsm.maxPendingQueries/.test(third.reason), JSON.stringify(third));
});

test('a view change tells every waiting query to retry', () => {
  const { p, setNow } = setUp();
  setNow(leaseMs);
  p.call(new ReturnAddress('q'), length(2));
  const next = p.nextView(['p', 'b']);
  assert.deepEqual(next.answers.map((a) => a.answer.kind), ['busy']);
});

test('a query of a client the table forgot (unmarked) runs instead of being refused expired (a read may run again), without re-creating the client\'s entry', () => {
  const { p } = setUp();
  const out = p.call(new ReturnAddress('q'), newRequest('forgotten', 9, 'length', null, false));
  assert.deepEqual(out.sends.map((s) => s.msg.kind), ['invoke', 'invoke'], 'replicated');
  const seqno = (out.sends[0]!.msg as { firstSeqno: number }).firstSeqno;
  p.ack('b', seqno);
  const answer = p.ack('c', seqno)[0]!;
  assert.deepEqual(answer, { kind: 'executed', clientId: 'forgotten', seq: 9, outcome: { ok: true, value: 1 } });
  // Still unknown (recording it would let an older in-flight write of this client run again):
  // its next query is replicated too.
  assert.equal(p.call(new ReturnAddress('q'), newRequest('forgotten', 10, 'length', null, false)).sends.length, 2);
});
