import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Outbox } from '../../src/env/outbox.js';
import { silentLogger } from '../../src/env/logger.js';
import type { Random } from '../../src/env/random.js';
import type { CallFailure } from '../../src/env/transport.js';
import type { NodeId } from '../../src/env/types.js';
import { type CallResult, ClientCore, clientTimers } from '../../src/client/client-core.js';
import {
  AppRejectedError,
  BusyError,
  DeadlineExceededError,
  InvalidArgumentError,
  NotPrimaryError,
  UnavailableError,
  WrongClusterError,
} from '../../src/client/errors.js';
import { type ClientOptions, defaultClientOptions } from '../../src/options.js';
import type { Json } from '../../src/rsm/app.js';
import type { ClientAnswer, ClientCall, Request } from '../../src/rsm/messages.js';
import { Prng } from '../../tools/sim/prng.js';

// Scripted tests of ClientCore (design §5): the test plays the servers. It drives the core
// directly through an Outbox, collects what it sends, fires its timers by hand and feeds answers.

const a = 'a:1';
const b = 'b:1';
const c = 'c:1';
const clientId = 'client-1';

/** A random source that always returns `value` (0 picks the first member; jitter at its bottom). */
const constant = (value: number): Random => ({ next: () => value });

/** The core and everything it did, effects carried out at once as the shell does. */
class Driver {
  readonly core: ClientCore;
  /** Invokes sent, oldest first; tests take them with `take()`. */
  readonly sent: Array<{ to: NodeId; request: Request }> = [];
  /** Armed timers: key → the delay it was (last) armed with. */
  readonly timers = new Map<string, number>();
  /** Every timer arming, in order (key and delay). */
  readonly armed: Array<{ key: string; delayMs: number }> = [];
  readonly results: CallResult[] = [];

  constructor(opts: { members?: NodeId[]; random?: Random; options?: Partial<ClientOptions>; maxRequestBytes?: number } = {}) {
    this.core = new ClientCore({
      clientId,
      members: opts.members ?? [a, b, c],
      random: opts.random ?? constant(0),
      logger: silentLogger,
      maxRequestBytes: opts.maxRequestBytes,
      options: opts.options,
    });
  }

  submit(proc = 'p', args: Json = null, deadlineMs?: number, done?: (r: CallResult) => void): void {
    this.#run((out) => this.core.submit(proc, args, deadlineMs, done ?? ((r) => this.results.push(r)), out));
  }

  answer(server: NodeId, a: ClientAnswer): void {
    this.#run((out) => this.core.onAnswer(server, a, out));
  }

  /** The transport reports that a request to `server` failed (default: nothing listens there). */
  failed(server: NodeId, failure: CallFailure = { kind: 'unreachable', detail: 'UNAVAILABLE: connection refused' }): void {
    this.#run((out) => this.core.onFailed(server, failure, out));
  }

  /** Fires timer `key`; it must be armed (a core only ever sees timers it armed). */
  fire(key: string): void {
    assert.ok(this.timers.has(key), `timer ${key} is armed (armed: ${[...this.timers.keys()].join(', ') || 'none'})`);
    this.timers.delete(key);
    this.#run((out) => this.core.onTimer(key, out));
  }

  /** Takes every invoke sent since the last take. */
  take(): Array<{ to: NodeId; request: Request }> {
    return this.sent.splice(0);
  }

  /** Takes the one invoke sent since the last take (fails if there is not exactly one). */
  takeOne(): { to: NodeId; request: Request } {
    const s = this.take();
    assert.equal(s.length, 1, `exactly one send expected, got ${JSON.stringify(s)}`);
    return s[0]!;
  }

  #run(handler: (out: Outbox<ClientCall, never>) => void): void {
    const out = new Outbox<ClientCall, never>();
    handler(out);
    assert.equal(out.records.length, 0, 'a client persists nothing');
    for (const { key, delayMs } of out.timers) {
      if (delayMs === null) this.timers.delete(key);
      else {
        this.timers.set(key, delayMs);
        this.armed.push({ key, delayMs });
      }
    }
    for (const { to, msg } of [...out.volatileSends, ...out.sends]) {
      assert.equal(msg.kind, 'invoke');
      if (msg.kind === 'invoke') this.sent.push({ to, request: msg.request });
    }
    for (const call of out.upcalls) call();
  }
}

const executed = (seq: number, value: Json = 'done', id = clientId): ClientAnswer => ({ kind: 'executed', clientId: id, seq, outcome: { ok: true, value } });
const busy = (seq: number, retryAfterMs = 50): ClientAnswer => ({ kind: 'busy', clientId, seq, retryAfterMs, reason: 'view change in progress' });
const notPrimary = (seq: number, primary: NodeId | null, vid = 3): ClientAnswer => ({ kind: 'not-primary', clientId, seq, primary, vid });

/** The ceiling of the n-th consecutive backoff, as ClientOptions documents it. */
function ceiling(n: number, o: ClientOptions = defaultClientOptions): number {
  return Math.min(o.retryMaxMs, o.retryBaseMs * 2 ** (n - 1));
}

function failed(r: CallResult | undefined): Error {
  assert.ok(r !== undefined && !r.ok, `a failed result expected, got ${JSON.stringify(r)}`);
  return r.error;
}

test('a call is sent at once with seq 1, arming the attempt and deadline timers', () => {
  // Starting a call: one invoke, the (clientId, seq) key, the two timers with their documented delays.
  const d = new Driver();
  d.submit('acquire', { lock: 'x' }, 2000);
  assert.deepEqual(d.takeOne(), { to: a, request: { clientId, seq: 1, proc: 'acquire', args: { lock: 'x' } } });
  assert.equal(d.timers.get(clientTimers.deadline), 2000);
  assert.equal(d.timers.get(clientTimers.attempt), defaultClientOptions.attemptTimeoutMs);
  assert.equal(d.core.pending, 1);
  d.answer(a, executed(1, { granted: true }));
  assert.deepEqual(d.results, [{ ok: true, value: { granted: true } }]);
  assert.equal(d.core.primary, a, 'the replica that executed is the primary now');
  assert.equal(d.timers.size, 0, 'every timer cancelled when the call ends');
  assert.equal(d.core.pending, 0);
});

test('a NOT_PRIMARY answer naming the primary redirects the call there at once', () => {
  // The hint is followed without a timer: the same request goes to the named primary immediately.
  const d = new Driver();
  d.submit();
  const first = d.takeOne();
  assert.equal(first.to, a);
  d.answer(a, notPrimary(1, c));
  const redirected = d.takeOne();
  assert.equal(redirected.to, c);
  assert.deepEqual(redirected.request, first.request);
  assert.equal(d.timers.has(clientTimers.retry), false, 'no backoff before following a hint');
  assert.equal(d.timers.get(clientTimers.attempt), defaultClientOptions.attemptTimeoutMs);
  assert.equal(d.core.primary, c);
  d.answer(c, executed(1));
  assert.equal(d.results.length, 1);
  // The next call goes straight to the known primary.
  d.submit();
  assert.equal(d.takeOne().to, c);
});

test('a NOT_PRIMARY hint naming a replica the client was not given is followed too', () => {
  // A primary that joined after the client was configured is learned from the hint.
  const d = new Driver({ members: [a] });
  d.submit();
  d.take();
  d.answer(a, notPrimary(1, 'd:1'));
  assert.equal(d.takeOne().to, 'd:1');
});

test('a NOT_PRIMARY hint after several BUSY answers is still followed at once', () => {
  // BUSY answers are not bouncing hints: a primary that was busy during a view change and is then
  // replaced must not make the client wait out a backoff (and wander) before going to the new one.
  const d = new Driver();
  d.submit();
  d.take();
  for (let i = 0; i < 5; i++) {
    d.answer(a, busy(1, 0));
    assert.equal(d.take().length, 0);
    d.fire(clientTimers.retry);
    assert.equal(d.takeOne().to, a);
  }
  d.answer(a, notPrimary(1, c));
  assert.equal(d.timers.has(clientTimers.retry), false, 'no backoff for the first hint');
  assert.deepEqual(d.take().map((s) => s.to), [c]);
});

test('a NOT_PRIMARY hint after every replica was unreachable is still followed at once', () => {
  // After an outage (rounds of unreachable replicas) the first hint of a recovered cluster is followed at once.
  const d = new Driver();
  d.submit();
  for (let round = 0; round < 6; round++) {
    for (let i = 0; i < 3; i++) d.failed(d.takeOne().to);
    d.fire(clientTimers.retry);
  }
  const to = d.takeOne().to;
  const primary = to === c ? b : c;
  d.answer(to, notPrimary(1, primary));
  assert.equal(d.timers.has(clientTimers.retry), false, 'no backoff for the first hint');
  assert.deepEqual(d.take().map((s) => s.to), [primary]);
});

test('hints that keep bouncing between replicas end in a backoff instead of a redirect loop', () => {
  // Two replicas naming each other must not make the client spin without delay.
  const d = new Driver();
  d.submit();
  d.take();
  let at = a;
  let sends = 0;
  for (let i = 0; i < 20 && !d.timers.has(clientTimers.retry); i++) {
    const other = at === a ? b : a;
    d.answer(at, notPrimary(1, other));
    const s = d.take();
    sends += s.length;
    if (s.length === 1) at = s[0]!.to;
  }
  assert.ok(d.timers.has(clientTimers.retry), 'a backoff was armed');
  assert.ok(sends <= 5, `at most a few redirects before backing off, got ${sends}`);
});

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

test('an unreachable replica makes the client try the next one at once', () => {
  // onUnreachable moves on without waiting for the attempt timeout.
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
  for (const s of all) assert.deepEqual(s.request, { clientId, seq: 1, proc: 'op', args: [1, 'x'] });
  d.answer(all.at(-1)!.to, executed(1));
  d.submit('op2', { n: 2 });
  assert.deepEqual(d.takeOne().request, { clientId, seq: 2, proc: 'op2', args: { n: 2 } });
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

test('a request larger than the limit is refused before it is sent, certainly not executed', () => {
  // The client checks the size itself, so that a refusal by size is never ambiguous.
  const d = new Driver({ maxRequestBytes: 10 });
  d.submit('append', { item: 'far too long for ten' });
  assert.ok(failed(d.results[0]) instanceof InvalidArgumentError);
  assert.equal(d.take().length, 0);
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
  d.timers.set(clientTimers.attempt, 1);
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

test('a members answer teaches the client the primary and new members', () => {
  // The primary named in a members answer is where the next call goes.
  const d = new Driver({ members: [a] });
  d.answer(a, { kind: 'members', vid: 4, members: [a, 'e:1'], primary: 'e:1' });
  assert.equal(d.core.primary, 'e:1');
  d.submit();
  assert.equal(d.takeOne().to, 'e:1');
});

test('a client needs at least one replica address', () => {
  // An empty member list is refused at construction.
  assert.throws(() => new Driver({ members: [] }), RangeError);
});
