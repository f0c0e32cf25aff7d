// ClientCore (design §5), when a replica cannot serve: BUSY and overload back off, a failed or
// silent replica is left for the next, every transport failure kind has its reaction.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientTimers } from '../../src/client/client-core.js';
import { InvalidArgumentError, WrongClusterError } from '../../src/client/errors.js';
import { defaultClientOptions } from '../../src/options.js';
import { Prng } from '../../tools/sim/prng.js';
import { Driver, a, b, busy, c, ceiling, constant, executed, failed, notPrimary } from './client-driver.js';

test('a BUSY answer backs off: no resend until the retry timer fires, after at least retryAfterMs', () => {
  // BUSY arms the retry timer (never less than the server asked), cancels the attempt timer, and the retry goes to the same replica.
  const d = new Driver({ random: constant(0) });
  d.submit();
  d.take();
  d.answer(a, busy(1, 200));
  assert.equal(d.take().length, 0, 'nothing resent before the timer');
  assert.ok(d.timers.get(clientTimers.retry)! >= 200);
  assert.equal(d.timers.has(clientTimers.attempt), false, 'no attempt timeout while backing off');
  d.fire(clientTimers.retry);
  const again = d.takeOne();
  assert.equal(again.to, a);
  assert.equal(again.request.seq, 1);
  assert.equal(d.timers.get(clientTimers.attempt), defaultClientOptions.attemptTimeoutMs);
});

test('consecutive BUSY answers back off within [0.5, 1] × the documented ceiling, growing until it caps', () => {
  // The n-th consecutive BUSY waits in [0.5, 1] × min(retryMaxMs, retryBaseMs × 2^(n-1)), at least retryAfterMs.
  for (const [name, random] of [['bottom', constant(0)], ['top', constant(0.999999)], ['prng', new Prng(7)]] as const) {
    const d = new Driver({ random });
    d.submit();
    let target = d.takeOne().to;
    const delays: number[] = [];
    for (let n = 1; n <= 12; n++) {
      d.answer(target, busy(1, 1)); // only the replica asked can make the client back off
      const delay = d.timers.get(clientTimers.retry)!;
      delays.push(delay);
      const ceil = ceiling(n);
      assert.ok(delay >= Math.max(1, 0.5 * ceil) && delay <= Math.max(1, ceil), `${name}: busy #${n}: ${delay} ms outside [${0.5 * ceil}, ${ceil}]`);
      d.fire(clientTimers.retry);
      target = d.takeOne().to;
    }
    if (name !== 'prng') {
      // With fixed jitter the delays double until the cap, then stay there.
      for (let n = 1; n < delays.length; n++) {
        if (ceiling(n + 1) > ceiling(n)) assert.ok(delays[n]! > delays[n - 1]!, `${name}: ${delays.join(', ')}`);
        else assert.equal(delays[n], delays[n - 1]);
      }
      assert.ok(delays.at(-1)! >= 0.5 * defaultClientOptions.retryMaxMs && delays.at(-1)! <= defaultClientOptions.retryMaxMs);
    }
  }
});

test('a BUSY asking for more than the backoff ceiling is waited out in full', () => {
  // retryAfterMs is a floor: the client never retries sooner than the server asked.
  const d = new Driver({ random: constant(0.999999) });
  d.submit();
  d.answer(d.takeOne().to, busy(1, 5000));
  assert.equal(d.timers.get(clientTimers.retry), 5000);
});

test('consecutive NOT_PRIMARY answers that name no primary back off with growing delays', () => {
  // Replicas that know no primary (all joining, or mid view change) are a failure like BUSY: the client must not hammer them at the base delay forever.
  const d = new Driver({ random: constant(0) });
  d.submit();
  let to = d.takeOne().to;
  const delays: number[] = [];
  for (let n = 1; n <= 8; n++) {
    d.answer(to, notPrimary(1, null));
    delays.push(d.timers.get(clientTimers.retry)!);
    d.fire(clientTimers.retry);
    to = d.takeOne().to;
  }
  assert.ok(delays.at(-1)! >= 0.5 * ceiling(8), `delays ${delays.join(', ')} ms do not grow`);
});

test('an overloaded server is backed off from as BUSY, and the same replica is asked again', () => {
  // Overload may mean an executed request's answer was too large, or too many calls waiting: never "not executed".
  const d = new Driver();
  d.submit();
  d.take();
  d.failed(a, { kind: 'overloaded', detail: 'RESOURCE_EXHAUSTED: too many calls waiting' });
  assert.equal(d.results.length, 0);
  assert.ok(d.timers.has(clientTimers.retry));
  d.fire(clientTimers.retry);
  assert.equal(d.takeOne().to, a);
});

test('an unreachable replica makes the client try the next one at once', () => {
  // A failure report (onFailed) moves on without waiting for the attempt timeout.
  const d = new Driver();
  d.submit();
  assert.equal(d.takeOne().to, a);
  d.failed(a);
  const next = d.takeOne();
  assert.notEqual(next.to, a);
  assert.equal(next.request.seq, 1);
  assert.equal(d.timers.has(clientTimers.retry), false);
});

test('an unreachable report from a replica that is not the current target is ignored', () => {
  // A late failure of an earlier attempt does not move the call again.
  const d = new Driver();
  d.submit();
  d.take();
  d.failed(a);
  const next = d.takeOne().to;
  d.failed(a);
  assert.equal(d.take().length, 0);
  d.answer(next, executed(1));
  assert.equal(d.results.length, 1);
});

test('the attempt timeout makes the client try the next replica', () => {
  // A silent replica costs one attempt timeout, then the next one is asked.
  const d = new Driver();
  d.submit();
  assert.equal(d.takeOne().to, a);
  d.fire(clientTimers.attempt);
  const next = d.takeOne();
  assert.notEqual(next.to, a);
  assert.equal(next.request.seq, 1);
});

test('after every replica failed the client backs off before trying again', () => {
  // Unreachable and silent replicas alike: once all were tried, a retry timer within the first backoff bounds, then one resend.
  const d = new Driver({ random: new Prng(3) });
  d.submit();
  const tried = [d.takeOne().to];
  d.failed(tried[0]!);
  tried.push(d.takeOne().to);
  d.fire(clientTimers.attempt);
  tried.push(d.takeOne().to);
  assert.deepEqual([...tried].sort(), [a, b, c].sort(), 'each replica tried once');
  d.failed(tried[2]!);
  assert.equal(d.take().length, 0, 'no send while backing off');
  const delay = d.timers.get(clientTimers.retry)!;
  assert.ok(delay >= 0.5 * ceiling(1) && delay <= ceiling(1), `first backoff ${delay}`);
  assert.equal(d.timers.has(clientTimers.attempt), false);
  d.fire(clientTimers.retry);
  const retry = d.takeOne();
  assert.ok([a, b, c].includes(retry.to));
  assert.equal(retry.request.seq, 1);
  // A second full round backs off longer (within its own bounds).
  let to = retry.to;
  for (let i = 0; i < 3; i++) {
    d.failed(to);
    if (i < 2) to = d.takeOne().to;
  }
  assert.equal(d.take().length, 0);
  const second = d.timers.get(clientTimers.retry)!;
  assert.ok(second >= 0.5 * ceiling(2) && second <= ceiling(2), `second backoff ${second}`);
});

test('a request the server refuses as invalid ends the call with InvalidArgumentError', () => {
  // The server's transport refused the request as malformed: no other replica would take it.
  const detail = 'INVALID_ARGUMENT: invalid message: invoke.request.args: not valid JSON';
  const d = new Driver();
  d.submit();
  d.take();
  d.failed(a, { kind: 'invalid-request', detail });
  const err = failed(d.results[0]);
  assert.ok(err instanceof InvalidArgumentError);
  assert.equal(err.reason, detail);
  assert.equal(d.take().length, 0);
  assert.equal(d.timers.size, 0);
});

test('a server of another cluster ends the call at once with WrongClusterError naming both clusters', () => {
  // No replica of the wrong cluster can help: no retry, no other replica, no backoff.
  const d = new Driver();
  d.submit();
  d.take();
  d.failed(a, { kind: 'wrong-cluster', expected: 'ours', actual: 'theirs', detail: 'FAILED_PRECONDITION: another cluster' });
  const err = failed(d.results[0]);
  assert.ok(err instanceof WrongClusterError);
  assert.deepEqual([err.server, err.expected, err.actual], [a, 'ours', 'theirs']);
  assert.match(err.message, /"theirs", not of "ours"/);
  assert.equal(d.take().length, 0);
  assert.equal(d.timers.size, 0);
});

test('once the cluster is known (found by connect, or any replica answered), a node of another cluster is one bad replica: the call moves on', () => {
  for (const confirm of ['at construction', 'by an answer'] as const) {
    const d = new Driver({ clusterConfirmed: confirm === 'at construction' });
    if (confirm === 'by an answer') d.answer(b, { kind: 'members', vid: 1, members: [a, b, c], primary: null });
    d.submit();
    assert.equal(d.takeOne().to, a, confirm);
    d.failed(a, { kind: 'wrong-cluster', expected: 'ours', actual: 'theirs', detail: 'FAILED_PRECONDITION: another cluster' });
    assert.equal(d.results.length, 0, `${confirm}: the call goes on`);
    assert.notEqual(d.takeOne().to, a, `${confirm}: another replica is tried at once`);
  }
});

test('a timeout, a server not serving the service, a server failure or a bad answer each move on to the next replica', () => {
  // Only wrong-cluster, invalid-request and overloaded have reactions of their own; the rest mean "try another".
  for (const failure of [
    { kind: 'timeout', detail: 'DEADLINE_EXCEEDED: deadline passed' },
    { kind: 'unimplemented', detail: 'UNIMPLEMENTED: not served' },
    { kind: 'internal', detail: 'INTERNAL: the server failed' },
    { kind: 'invalid-answer', detail: 'invalid message: executed.outcome: missing' },
  ] as const) {
    const d = new Driver();
    d.submit();
    assert.equal(d.takeOne().to, a);
    d.failed(a, failure);
    assert.equal(d.results.length, 0, failure.kind);
    assert.notEqual(d.takeOne().to, a, `${failure.kind}: the next replica is tried at once`);
  }
});

test("an overloaded server's retry hint is waited out before the same replica is asked again", () => {
  // RESOURCE_EXHAUSTED carries how long to wait (synod-retry-after-ms); the backoff is at least that.
  const d = new Driver();
  d.submit();
  d.take();
  d.failed(a, { kind: 'overloaded', detail: 'RESOURCE_EXHAUSTED: too many call bytes waiting', retryAfterMs: 400 });
  assert.ok(d.timers.get(clientTimers.retry)! >= 400, `retry after ${d.timers.get(clientTimers.retry)} ms`);
  d.fire(clientTimers.retry);
  assert.equal(d.takeOne().to, a);
});
