// The primary re-sends an unacknowledged invoke only after its backup's retransmit timeout, with
// each re-send of it doubling its wait, within a bounded window per backup and timer period.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReturnAddress } from '../../src/env/transport.js';
import { defaultRsmOptions, rsmOptions } from '../../src/options.js';
import { Retransmitter, type Unacked } from '../../src/rsm/retransmit.js';
import { append, drivenPrimary } from './hand-driven.js';

const options = { invokeRetryMs: 50, invokeRetryMaxMs: 800, maxRetransmitInvokes: 64, maxRetransmitBytes: 1 << 20 };

/** `n` requests of `bytes` each, seqnos 1..n, sent and in flight. */
function unacked(n: number, bytes = 10): Unacked[] {
  return Array.from({ length: n }, (_, i) => ({ seqno: i + 1, bytes }));
}

test('an invoke is re-sent only once it has waited a whole period, and only to the backup that did not acknowledge it', () => {
  // The minimum timeout is invokeRetryMs, counted from the send, never from the timer's phase.
  const p = drivenPrimary(['b1', 'b2'], { options: { invokeRetryMs: 50 } });
  p.call(new ReturnAddress('1'), append(1, 'x'));
  p.ack('b1', 1);
  assert.deepEqual(p.tick(), [], 'first firing: it may have waited less than 50 ms');
  assert.deepEqual(p.tick(), [['b2', 1]], 'second firing: it waited at least 50 ms; b1 had acknowledged');
});

test('every re-send of the same invoke doubles its wait, up to invokeRetryMaxMs', () => {
  // A backup that never answers costs a logarithmic number of copies, then one per max timeout.
  const r = new Retransmitter(['b'], options);
  const entries = unacked(1);
  r.sent('b', 1);
  const resentAt: number[] = [];
  for (let t = 1; t <= 60; t++) if (r.onTick(entries).length > 0) resentAt.push(t);
  // Waits in periods: 1, then doubling (the link's own backoff and the invoke's) to the cap of 16.
  const gaps = resentAt.map((t, i) => t - (resentAt[i - 1] ?? 0));
  assert.ok(gaps.every((g, i) => i === 0 || g >= gaps[i - 1]!), `waits never shrink: ${gaps.join(' ')}`);
  assert.ok(gaps.every((g) => g <= 17), `never more than invokeRetryMaxMs (16 periods) plus one: ${gaps.join(' ')}`);
  assert.equal(gaps.at(-1), 17);
  assert.ok(resentAt.length <= 6, `${resentAt.length} copies in 60 periods (the old rule: 60)`);
});

test('the timeout adapts to a slow backup: once its acknowledgements are measured, nothing is re-sent before they come', () => {
  // A backup whose acks take 3 periods: after warming up, every invoke goes once.
  const r = new Retransmitter(['slow'], options);
  const inFlight = new Map<number, Unacked>();
  const due = new Map<number, number[]>(); // tick → seqnos acknowledged then
  let resent = 0;
  let seqno = 0;
  for (let t = 1; t <= 200; t++) {
    resent += r.onTick([...inFlight.values()]).length;
    for (const s of due.get(t) ?? []) {
      r.acked('slow', s);
      r.forget(s);
      inFlight.delete(s);
    }
    seqno++; // one new invoke per period, acknowledged 3 periods later
    inFlight.set(seqno, { seqno, bytes: 10 });
    r.sent('slow', seqno);
    due.set(t + 3, [...(due.get(t + 3) ?? []), seqno]);
    if (t === 100) resent = 0; // measure after the warm-up
  }
  assert.equal(resent, 0, 'no copies once the timeout is learned');
  assert.ok(r.timeoutMs('slow') >= 3 * 50, `timeout ${r.timeoutMs('slow')} ms covers the 3-period acknowledgements`);
});

test('at most maxRetransmitInvokes invokes go to one backup per period, lowest seqno first', () => {
  // The window: a backup that lost much is fed what it needs next, a bounded amount at a time.
  const r = new Retransmitter(['b1', 'b2'], { ...options, maxRetransmitInvokes: 3 });
  const entries = unacked(10);
  for (const e of entries) for (const b of ['b1', 'b2', 'b']) r.sent(b, e.seqno);
  r.acked('b2', 1);
  r.onTick(entries);
  const resends = r.onTick(entries);
  assert.deepEqual(resends.filter((x) => x.to === 'b1').map((x) => x.seqno), [1, 2, 3]);
  assert.deepEqual(resends.filter((x) => x.to === 'b2').map((x) => x.seqno), [2, 3, 4]);
  assert.deepEqual(r.onTick(entries).filter((x) => x.to === 'b1').map((x) => x.seqno), [4, 5, 6], 'the rest follow in the next periods');
});

test('at most maxRetransmitBytes go to one backup per period, but always one invoke however large', () => {
  // The byte window, and its one exception so that a large request is never stuck.
  const r = new Retransmitter(['b'], { ...options, maxRetransmitBytes: 1000 });
  const entries = unacked(4, 600);
  for (const e of entries) for (const b of ['b1', 'b2', 'b']) r.sent(b, e.seqno);
  r.onTick(entries);
  assert.deepEqual(r.onTick(entries).map((x) => x.seqno), [1]);
  const huge = unacked(1, 5000);
  const r2 = new Retransmitter(['b'], { ...options, maxRetransmitBytes: 1000 });
  r2.sent('b', 1);
  r2.onTick(huge);
  assert.deepEqual(r2.onTick(huge).map((x) => x.seqno), [1]);
});

test('with the resend-whole-window mutation every unacknowledged invoke goes again every period (the rule the checker must catch)', () => {
  // The old behaviour, kept as a mutation: the slow-backup simulation shows its traffic multiplying.
  // Three batches in flight (of one request each), so that all three requests were sent.
  const options = { maxInvokeBatchesInFlight: 3 };
  const p = drivenPrimary(['b'], { options, mutations: { resendWholeWindow: true } });
  for (let k = 1; k <= 3; k++) p.call(new ReturnAddress(`${k}`), append(k, `x${k}`));
  assert.equal(p.tick().length, 3);
  assert.equal(p.tick().length, 3);
  const normal = drivenPrimary(['b'], { options });
  for (let k = 1; k <= 3; k++) normal.call(new ReturnAddress(`${k}`), append(k, `x${k}`));
  assert.equal(normal.tick().length, 0);
});

test('RSM options that cannot work are refused where a node is composed, naming the option', () => {
  // rsmOptions checks the new limits against each other; the defaults pass.
  assert.deepEqual(rsmOptions(undefined), defaultRsmOptions);
  assert.throws(() => rsmOptions({ clientInFlightShare: 1.5 }), /rsm\.clientInFlightShare must be at most 1/);
  assert.throws(() => rsmOptions({ clientInFlightShare: 0 }), /rsm\.clientInFlightShare must be a positive number/);
  assert.throws(() => rsmOptions({ invokeRetryMs: 200, invokeRetryMaxMs: 100 }), /invokeRetryMaxMs must not be below rsm\.invokeRetryMs/);
  assert.throws(() => rsmOptions({ maxRetransmitInvokes: 2.5 }), /rsm\.maxRetransmitInvokes must be a positive integer/);
  assert.throws(() => rsmOptions({ maxInFlightBytes: -1 }), /rsm\.maxInFlightBytes must be a positive number/);
});
