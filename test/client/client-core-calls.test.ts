// ClientCore (design §5), one call from start to end: its (clientId, seq), deadline, typed
// results, queueing, and answers that arrive late or for someone else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientTimers } from '../../src/client/client-core.js';
import { AppRejectedError, BusyError, DeadlineExceededError, InvalidArgumentError, NotPrimaryError, UnavailableError } from '../../src/client/errors.js';
import { defaultClientOptions } from '../../src/options.js';
import type { ClientAnswer } from '../../src/rsm/messages.js';
import type { Json } from '../../src/rsm/app.js';
import { Driver, a, b, busy, clientId, executed, failed, notPrimary } from './client-driver.js';

test('a call is sent at once with seq 1, arming the attempt and deadline timers', () => {
  // Starting a call: one invoke, the (clientId, seq) key, the two timers with their documented delays.
  const d = new Driver();
  d.submit('acquire', { lock: 'x' }, 2000);
  assert.deepEqual(d.takeOne(), { to: a, request: { clientId, seq: 1, proc: 'acquire', args: { lock: 'x' }, argsText: '{"lock":"x"}', first: true, answeredBelow: 1 } });
  assert.equal(d.timers.get(clientTimers.deadline), 2000);
  assert.equal(d.timers.get(clientTimers.attempt), defaultClientOptions.attemptTimeoutMs);
  assert.equal(d.core.pending, 1);
  d.answer(a, executed(1, { granted: true }));
  assert.deepEqual(d.results, [{ ok: true, value: { granted: true } }]);
  assert.equal(d.core.primary, a, 'the replica that executed is the primary now');
  assert.equal(d.timers.size, 0, 'every timer cancelled when the call ends');
  assert.equal(d.core.pending, 0);
});

test('every retry of one call carries the same (clientId, seq), and the next call seq + 1', () => {
  // Redirects, BUSY, unreachable replicas and attempt timeouts all resend the very same request.
  const d = new Driver();
  d.submit('op', [1, 'x']);
  const all = [d.takeOne()];
  d.answer(a, notPrimary(1, b));
  all.push(...d.take());
  d.answer(b, busy(1, 0));
  d.fire(clientTimers.retry);
  all.push(...d.take());
  d.failed(b);
  all.push(...d.take());
  d.fire(clientTimers.attempt);
  all.push(...d.take());
  assert.ok(all.length >= 5, `${all.length} sends`);
  for (const s of all) assert.deepEqual(s.request, { clientId, seq: 1, proc: 'op', args: [1, 'x'], argsText: '[1,"x"]', first: true, answeredBelow: 1 });
  d.answer(all.at(-1)!.to, executed(1));
  d.submit('op2', { n: 2 });
  assert.deepEqual(d.takeOne().request, { clientId, seq: 2, proc: 'op2', args: { n: 2 }, argsText: '{"n":2}', first: false, answeredBelow: 2 }, 'the table knows this client now');
});

test('the deadline ends the call with DeadlineExceededError carrying the last error and the attempt count', () => {
  // Giving up says why (here a BusyError) and how often the request was sent; the request may have executed.
  const d = new Driver();
  d.submit('p', null, 1234);
  d.take();
  d.answer(a, busy(1, 10));
  d.fire(clientTimers.retry);
  d.take();
  d.answer(a, busy(1, 20));
  d.fire(clientTimers.deadline);
  const err = failed(d.results[0]);
  assert.ok(err instanceof DeadlineExceededError);
  assert.equal(err.deadlineMs, 1234);
  assert.equal(err.attempts, 2);
  assert.ok(err.lastError instanceof BusyError);
  assert.equal(err.lastError.retryAfterMs, 20);
  assert.equal(err.lastError.replica, a);
  assert.equal(d.timers.size, 0, 'no timer survives the call');
  assert.equal(d.take().length, 0);
});

test('the deadline with nothing heard carries an UnavailableError or null, and a NOT_PRIMARY last error as such', () => {
  // lastError names the last obstacle, whatever it was.
  const silent = new Driver();
  silent.submit('p', null, 100);
  silent.fire(clientTimers.deadline);
  const e1 = failed(silent.results[0]);
  assert.ok(e1 instanceof DeadlineExceededError);
  assert.equal(e1.attempts, 1);
  assert.equal(e1.lastError, null);

  const d = new Driver();
  d.submit();
  d.fire(clientTimers.attempt);
  d.fire(clientTimers.deadline);
  const e2 = failed(d.results[0]);
  assert.ok(e2 instanceof DeadlineExceededError && e2.lastError instanceof UnavailableError);
  assert.equal(e2.attempts, 2);

  const r = new Driver();
  r.submit();
  r.answer(a, notPrimary(1, b, 9));
  r.fire(clientTimers.deadline);
  const e3 = failed(r.results[0]);
  assert.ok(e3 instanceof DeadlineExceededError && e3.lastError instanceof NotPrimaryError);
  assert.equal(e3.lastError.vid, 9);
  assert.equal(e3.lastError.primary, b);
});

test('the default deadline applies when the caller sets none; a non-positive one is refused at once', () => {
  // defaultDeadlineMs is armed; a deadline of 0 or below is an InvalidArgumentError without a send.
  const d = new Driver();
  d.submit();
  assert.equal(d.timers.get(clientTimers.deadline), defaultClientOptions.defaultDeadlineMs);
  const e = new Driver();
  e.submit('p', null, 0);
  e.submit('p', null, -5);
  assert.equal(e.take().length, 0);
  assert.equal(e.results.length, 2);
  for (const r of e.results) assert.ok(failed(r) instanceof InvalidArgumentError);
  assert.equal(e.core.pending, 0);
});

test('an app error ends the call with AppRejectedError carrying code and message, without a retry', () => {
  // executed with ok=false was executed: it is final.
  const d = new Driver();
  d.submit();
  d.take();
  d.answer(a, { kind: 'executed', clientId, seq: 1, outcome: { ok: false, code: 'LOCK_HELD', message: 'lock x is held by y' } });
  const err = failed(d.results[0]);
  assert.ok(err instanceof AppRejectedError);
  assert.equal(err.code, 'LOCK_HELD');
  assert.equal(err.detail, 'lock x is held by y');
  assert.equal(d.take().length, 0);
  assert.equal(d.timers.size, 0);
});

test('an invalid answer ends the call with InvalidArgumentError, without a retry', () => {
  // Bad input is not retried.
  const d = new Driver();
  d.submit();
  d.take();
  d.answer(a, { kind: 'invalid', clientId, seq: 1, field: 'proc', reason: 'unknown procedure "p"' });
  const err = failed(d.results[0]);
  assert.ok(err instanceof InvalidArgumentError);
  assert.equal(err.field, 'proc');
  assert.equal(err.reason, 'unknown procedure "p"');
  assert.equal(d.take().length, 0);
  assert.equal(d.timers.size, 0);
});

test('a request larger than the limit is refused before it is sent, certainly not executed', () => {
  // The client checks the size itself, so that a refusal by size is never ambiguous.
  const d = new Driver({ maxRequestBytes: 10 });
  d.submit('append', { item: 'far too long for ten' });
  assert.ok(failed(d.results[0]) instanceof InvalidArgumentError);
  assert.equal(d.take().length, 0);
});

test('arguments nested deeper than limits.maxJsonDepth, or not JSON, are refused before they are sent, naming why', () => {
  // Written by a loop: a value 100 000 deep is refused without overflowing the caller's stack.
  const d = new Driver();
  let deep: Json = [];
  for (let i = 0; i < 100_000; i++) deep = [deep];
  d.submit('append', deep);
  d.submit('append', { n: 1n } as unknown as Json);
  d.submit('append', { toJSON: () => { throw new Error('no JSON here'); } } as unknown as Json);
  const [tooDeep, bigint, throwing] = d.results.map(failed);
  assert.ok(tooDeep instanceof InvalidArgumentError && /nested deeper than 64 levels.*limits\.maxJsonDepth/.test(tooDeep.message), String(tooDeep));
  assert.ok(bigint instanceof InvalidArgumentError && /a bigint at \$\.n/.test(bigint.message), String(bigint));
  assert.ok(throwing instanceof InvalidArgumentError && /cannot be written as JSON: no JSON here/.test(throwing.message), String(throwing));
  assert.equal(d.take().length, 0);
});

test('answers for an old seq or another client id are ignored', () => {
  // Late answers to finished calls, and answers meant for someone else, change nothing.
  const d = new Driver();
  d.submit();
  d.take();
  d.answer(a, executed(1, 'first'));
  d.submit();
  assert.equal(d.takeOne().request.seq, 2);
  const before = [...d.timers];
  for (const late of [executed(1, 'again'), busy(1), notPrimary(1, b), { kind: 'invalid', clientId, seq: 1, field: 'f', reason: 'r' } as ClientAnswer,
    executed(2, 'not mine', 'client-2'), { ...busy(2), clientId: 'client-2' }, executed(3, 'future')]) {
    d.answer(a, late);
  }
  assert.equal(d.results.length, 1);
  assert.equal(d.take().length, 0);
  assert.deepEqual([...d.timers], before);
  d.answer(a, executed(2, 'second'));
  assert.deepEqual(d.results.map((r) => r.ok && r.value), ['first', 'second']);
});

test('answers and timers arriving with no call in flight are ignored', () => {
  // An idle client does nothing on stray input.
  const d = new Driver();
  d.answer(a, executed(1));
  d.rawTimers.set(`${clientTimers.attempt}#1`, 1);
  d.fire(clientTimers.attempt);
  d.failed(a);
  assert.equal(d.take().length, 0);
  assert.equal(d.results.length, 0);
});

test('calls queue and run one at a time, in submission order', () => {
  // One request outstanding per client id: the second is sent only after the first is answered.
  const d = new Driver();
  const order: string[] = [];
  for (const name of ['one', 'two', 'three']) d.submit(name, name, undefined, (r) => order.push(`${name}:${r.ok ? String(r.value) : r.error.name}`));
  assert.equal(d.core.pending, 3);
  assert.deepEqual(d.take().map((s) => [s.request.proc, s.request.seq]), [['one', 1]]);
  d.answer(a, executed(1, 'one'));
  assert.deepEqual(d.take().map((s) => [s.request.proc, s.request.seq]), [['two', 2]]);
  assert.equal(d.core.pending, 2);
  d.answer(a, { kind: 'executed', clientId, seq: 2, outcome: { ok: false, code: 'E', message: 'm' } });
  assert.deepEqual(d.take().map((s) => [s.request.proc, s.request.seq]), [['three', 3]]);
  d.fire(clientTimers.deadline);
  assert.equal(d.take().length, 0);
  assert.deepEqual(order, ['one:one', 'two:AppRejectedError', 'three:DeadlineExceededError']);
  assert.equal(d.core.pending, 0);
});

test('each queued call gets its own deadline, counted from when it starts', () => {
  // The deadline timer is re-armed for the next call with that call's own deadline.
  const d = new Driver();
  d.submit('one', null, 1000);
  d.submit('two', null, 3000);
  assert.equal(d.timers.get(clientTimers.deadline), 1000);
  d.answer(a, executed(1));
  assert.equal(d.timers.get(clientTimers.deadline), 3000);
});

test('a stale answer ends the call with InvalidArgumentError naming the client id', () => {
  // A newer request of this client id was executed: two clients share the id; retrying cannot help.
  const d = new Driver();
  d.submit();
  d.take();
  d.answer(a, { kind: 'stale', clientId, seq: 1 });
  const err = failed(d.results[0]);
  assert.ok(err instanceof InvalidArgumentError);
  assert.equal(err.field, 'clientId');
});

test('a client needs at least one replica address', () => {
  // An empty member list is refused at construction.
  assert.throws(() => new Driver({ members: [] }), RangeError);
});
