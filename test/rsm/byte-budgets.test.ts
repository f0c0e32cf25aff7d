// The primary's in-flight budget in bytes, each client's fair share of it, and a backup's
// bounded buffer of early invokes: every refusal made to happen, and nothing lost by one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReturnAddress } from '../../src/env/transport.js';
import { InFlightBudget } from '../../src/rsm/in-flight-budget.js';
import { type ClientAnswer, newRequest } from '../../src/rsm/messages.js';
import { requestBytes } from '../../src/rsm/request-bytes.js';
import { append, drivenBackup, drivenPrimary } from './hand-driven.js';

const KiB = 1024;

function busyReason(answers: ReadonlyArray<{ readonly answer: ClientAnswer }>): string {
  const [a] = answers.map((x) => x.answer);
  assert.ok(a?.kind === 'busy', `expected BUSY, got ${JSON.stringify(a)}`);
  assert.ok(a.retryAfterMs > 0, 'BUSY carries a retry hint');
  return a.reason;
}

test('a request counts the bytes of its arguments as JSON text, its client id and its procedure name', () => {
  // What the budgets count: the text a request is held and sent as.
  assert.equal(requestBytes(newRequest('abc', 1, 'append', { item: 'x' })), '{"item":"x"}'.length + 3 + 6);
  assert.equal(requestBytes(newRequest('c', 1, 'length', null)), 4 + 1 + 6);
});

test('a request that would take the primary above maxInFlightBytes gets BUSY naming the limit, and is admitted once bytes are freed', () => {
  // The budget in bytes is checked where requests are held; executing one frees its bytes.
  const p = drivenPrimary(['b'], { options: { maxInFlightBytes: 100 * KiB, clientInFlightShare: 1 } });
  assert.equal(p.call(new ReturnAddress('1'), append(1, 'a', 'c1', 60 * KiB)).sends.length, 1);
  const refused = p.call(new ReturnAddress('2'), append(1, 'b', 'c2', 60 * KiB));
  assert.equal(refused.sends.length, 0, 'nothing stamped');
  assert.match(busyReason(refused.answers), /maxInFlightBytes 102400/);
  assert.ok(p.replica.inFlightBytes > 60 * KiB && p.replica.inFlightBytes < 61 * KiB, `${p.replica.inFlightBytes} bytes held`);
  assert.equal(p.ack('b', 1)[0]?.kind, 'executed');
  assert.equal(p.replica.inFlightBytes, 0, 'executing released the bytes');
  assert.equal(p.call(new ReturnAddress('2'), append(1, 'b', 'c2', 60 * KiB)).sends.length, 1, 'admitted now');
});

test('the count limit maxInFlight still holds beside the bytes', () => {
  // Many tiny requests: the count refuses before the bytes would.
  const p = drivenPrimary(['b'], { options: { maxInFlight: 2, clientInFlightShare: 1 } });
  p.call(new ReturnAddress('1'), append(1, 'a', 'c1'));
  p.call(new ReturnAddress('2'), append(1, 'b', 'c2'));
  assert.match(busyReason(p.call(new ReturnAddress('3'), append(1, 'c', 'c3')).answers), /2 requests in flight \(maxInFlight 2\)/);
});

test('one client id cannot take more than its share of the in-flight bytes, while other clients are still admitted', () => {
  // The fair share: a flooding client is refused at its share; a newcomer finds room.
  const p = drivenPrimary(['b'], { options: { maxInFlightBytes: 400 * KiB, clientInFlightShare: 0.25 } });
  assert.equal(p.call(new ReturnAddress('f1'), append(1, 'f1', 'flood', 60 * KiB)).sends.length, 1);
  const second = p.call(new ReturnAddress('f2'), append(2, 'f2', 'flood', 60 * KiB));
  assert.match(busyReason(second.answers), /client flood has \d+ request bytes in flight; \d+ more, its share is 102400 \(clientInFlightShare\)/);
  for (let k = 1; k <= 4; k++) {
    // Admitted: not answered at once (its invoke leaves when a batch slot is free).
    assert.deepEqual(p.call(new ReturnAddress(`o${k}`), append(1, `o${k}`, `other${k}`, 60 * KiB)).answers, [], `other${k} admitted`);
  }
  // A client already at its share is refused without its request being measured.
  const p2 = drivenPrimary(['b'], { options: { maxInFlightBytes: 100 * KiB, clientInFlightShare: 0.5 } });
  p2.call(new ReturnAddress('1'), append(1, 'big', 'flood', 80 * KiB));
  assert.match(busyReason(p2.call(new ReturnAddress('2'), append(2, 'tiny', 'flood')).answers), /client flood has \d+ request bytes in flight, its share is 51200/);
});

test("one client id cannot take more than its share of maxInFlight either", () => {
  // The share applies to the count as well: tiny requests cannot fill the pipeline from one id.
  const p = drivenPrimary(['b'], { options: { maxInFlight: 8, clientInFlightShare: 0.25 } });
  p.call(new ReturnAddress('1'), append(1, 'a', 'flood'));
  p.call(new ReturnAddress('2'), append(2, 'b', 'flood'));
  assert.match(busyReason(p.call(new ReturnAddress('3'), append(3, 'c', 'flood')).answers), /client flood has 2 requests in flight, its share of 2/);
  assert.deepEqual(p.call(new ReturnAddress('4'), append(1, 'd', 'other')).answers, [], 'admitted');
  assert.equal(p.replica.inFlight, 3);
});

test('a request larger than the whole budget still runs when nothing else is in flight', () => {
  // Progress for every accepted size: the exceptions of InFlightBudget.
  const p = drivenPrimary(['b'], { options: { maxInFlightBytes: 10 * KiB, clientInFlightShare: 0.5 } });
  assert.equal(p.call(new ReturnAddress('1'), append(1, 'huge', 'c1', 50 * KiB)).sends.length, 1);
  assert.match(busyReason(p.call(new ReturnAddress('2'), append(1, 'small', 'c2')).answers), /maxInFlightBytes/);
  assert.equal(p.ack('b', 1)[0]?.kind, 'executed');
  assert.deepEqual(p.replica.state!.list.length, 1);
});

test('a retry of a request in flight joins it without taking budget, even when the budget is full', () => {
  // The request is held once however many calls wait for it; both are answered.
  const p = drivenPrimary(['b'], { options: { maxInFlightBytes: 64 * KiB, clientInFlightShare: 1 } });
  p.call(new ReturnAddress('first'), append(1, 'x', 'c', 60 * KiB));
  const retry = p.call(new ReturnAddress('retry'), append(1, 'x', 'c', 60 * KiB));
  assert.deepEqual([retry.sends, retry.answers], [[], []]);
  assert.deepEqual(p.ack('b', 1).map((a) => a.kind), ['executed', 'executed']);
});

test('the budget frees what is released, forgets everything when the view is left, and never releases what it does not hold', () => {
  // The accounting itself: admitted bytes come back exactly; a wrong release is a broken invariant.
  const budget = new InFlightBudget({ maxInFlight: 10, maxInFlightBytes: 1000, clientInFlightShare: 0.5 });
  assert.deepEqual(budget.admit('a', () => 400), { admitted: true, bytes: 400 });
  assert.equal(budget.admit('a', () => 200).admitted, false, "over a's share of 500");
  assert.deepEqual(budget.admit('b', () => 500), { admitted: true, bytes: 500 });
  assert.equal(budget.admit('c', () => 200).admitted, false, 'over the budget of 1000');
  budget.release('a', 400);
  assert.deepEqual(budget.admit('c', () => 200), { admitted: true, bytes: 200 });
  budget.clear();
  assert.deepEqual([budget.count, budget.bytes], [0, 0]);
  assert.throws(() => budget.release('b', 500), /releasing 500 bytes client b does not hold/);
});

test('a backup drops early invokes beyond maxBufferedBytes and executes them once the primary re-sends them', () => {
  // A full buffer loses nothing: what was dropped is not acknowledged, so it comes again.
  const b = drivenBackup({ options: { maxBufferedBytes: 100 * KiB } });
  const big = (seq: number): ReturnType<typeof append> => append(seq, `i${seq}`, 'c', 40 * KiB);
  for (const seqno of [2, 3, 4]) assert.deepEqual(b.invoke(seqno, big(seqno)), [], `${seqno} is early: no ack`);
  assert.equal(b.replica.buffered.count, 2, 'the third early invoke did not fit in 100 KiB');
  assert.ok(b.replica.buffered.bytes <= 100 * KiB);
  assert.deepEqual(b.invoke(1, big(1)), [3], 'the next invoke runs on arrival and releases the buffered ones: one cumulative ack');
  assert.deepEqual(b.replica.buffered, { count: 0, bytes: 0 });
  assert.deepEqual(b.invoke(4, big(4)), [4], 'the dropped one, re-sent, executes');
  assert.deepEqual(b.executed, [1, 2, 3, 4]);
});

test('a backup buffers at most maxBufferedInvokes early invokes, and a duplicate of a buffered one is not counted twice', () => {
  // The count bound, and duplicates (the network and re-sends make them) cost nothing.
  const b = drivenBackup({ options: { maxBufferedInvokes: 2 } });
  b.invoke(2, append(2, 'b'));
  b.invoke(2, append(2, 'b'));
  b.invoke(3, append(3, 'c'));
  b.invoke(4, append(4, 'd'));
  assert.equal(b.replica.buffered.count, 2);
  assert.deepEqual(b.invoke(1, append(1, 'a')), [3]);
  assert.deepEqual(b.invoke(2, append(2, 'b')), [3], 'a duplicate of an executed invoke is acknowledged again (cumulatively)');
});
