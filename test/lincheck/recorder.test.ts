// HistoryRecorder: how client calls become operations of a history (what is known, unknown,
// left out), and the call mappings of the test app and the lock service.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppRejectedError, ClientClosedError, DeadlineExceededError, InvalidArgumentError } from '../../src/client/errors.js';
import type { ObservedCall } from '../../src/client/rsm-client.js';
import { appendCalls, lockCalls } from '../../tools/lincheck/mappings.js';
import { HistoryRecorder } from '../../tools/lincheck/recorder.js';
import type { Json } from '../../src/rsm/app.js';

let next = 0;
const call = (clientId: string, proc: string, args: Json): ObservedCall => ({ clientId, call: ++next, proc, args });

test('replies, app errors, refusals, deadlines and calls still running each map as the checker needs', () => {
  const r = new HistoryRecorder(lockCalls);
  const a = call('c1', 'acquire', { lock: 'L', owner: 'o1' });
  const b = call('c2', 'release', { lock: 'L', owner: 'o2', token: 3 });
  const bad = call('c3', 'acquire', { lock: 'L', owner: 'o3' });
  const lost = call('c4', 'acquire', { lock: 'L', owner: 'o4' });
  const closed = call('c5', 'stat', { lock: 'L' });
  const running = call('c6', 'acquire', { lock: 'L', owner: 'o6' });
  const ignored = call('c7', 'expire', { owner: 'o7' });
  for (const [k, c] of [a, b, bad, lost, closed, running, ignored].entries()) r.invoked(c, 10 + k);
  assert.equal(r.running, 6, 'expire is not recorded');
  assert.deepEqual([...r.skipped], [['expire', 1]]);
  r.completed(a, { ok: true, value: { granted: true, token: 1 } }, 20);
  r.completed(b, { ok: false, error: new AppRejectedError('not-held', 'o2 does not hold L') }, 21);
  r.completed(bad, { ok: false, error: new InvalidArgumentError('owner', 'too long') }, 22);
  r.completed(lost, { ok: false, error: new DeadlineExceededError(100, 3, null) }, 23);
  r.completed(closed, { ok: false, error: new ClientClosedError() }, 24);
  r.completed(ignored, { ok: true, value: { released: 0, dequeued: 0 } }, 25);
  assert.equal(r.running, 1);
  const h = r.history();
  assert.deepEqual(h.map((op) => [op.id, op.client, op.output, op.call, op.ret]), [
    [0, 'c1', { granted: true, token: 1 }, 10, 20],
    [1, 'c2', { error: 'not-held' }, 11, 21],
    [2, 'c4', undefined, 13, undefined],
    [3, 'c5', undefined, 14, undefined],
    [4, 'c6', undefined, 15, undefined],
  ]);
  assert.deepEqual(h[1]!.input, { proc: 'release', lock: 'L', owner: 'o2', token: 3 });
});

test('an app error the model does not know is an unknown outcome; one that means no effect is left out', () => {
  const r = new HistoryRecorder(lockCalls);
  const outcomes: Array<[string, string]> = [['c1', 'handler-error'], ['c2', 'bad-args'], ['c3', 'stale'], ['c4', 'unknown-procedure'], ['c5', 'conflict']];
  for (const [k, [client, code]] of outcomes.entries()) {
    const c = call(client, 'acquire', { lock: 'L', owner: client });
    r.invoked(c, 2 * k);
    r.completed(c, { ok: false, error: new AppRejectedError(code, 'no') }, 2 * k + 1);
  }
  // Only the handler error may have had an effect; bad arguments are refused before any change,
  // and the RSM's own codes mean the request never ran.
  assert.deepEqual(r.history().map((op) => [op.client, op.output]), [['c1', undefined]]);
});

test('arguments are recorded as the servers see them, after the JSON trip', () => {
  // A NaN token travels as null: the server sees a release without a token.
  const r = new HistoryRecorder(lockCalls);
  const c = call('c1', 'release', { lock: 'L', owner: 'o', token: Number.NaN });
  r.invoked(c, 1);
  r.completed(c, { ok: true, value: { released: true } }, 2);
  assert.deepEqual(r.history()[0]!.input, { proc: 'release', lock: 'L', owner: 'o' });
});

test('the test app: appends and length reads are recorded, other procedures are not', () => {
  const r = new HistoryRecorder(appendCalls);
  const x = call('c1', 'append', { item: 'x' });
  const n = call('c1', 'length', null);
  r.invoked(x, 1);
  r.completed(x, { ok: true, value: 0 }, 2);
  r.invoked(n, 3);
  r.completed(n, { ok: true, value: 1 }, 4);
  r.invoked(call('c1', 'add', { key: 'k', by: 1 }), 5);
  assert.deepEqual(r.history().map((op) => [op.input, op.output]), [
    [{ proc: 'append', item: 'x' }, { index: 0 }],
    [{ proc: 'length' }, { length: 1 }],
  ]);
  assert.equal(r.skipped.get('add'), 1);
});

test('time stamps follow the order of events, so a completion seen before an invocation at the same clock reading comes first', () => {
  const r = new HistoryRecorder(appendCalls);
  const a = call('c1', 'append', { item: 'a' });
  const b = call('c2', 'append', { item: 'b' });
  const c = call('c3', 'append', { item: 'c' });
  r.invoked(a, 1);
  r.completed(a, { ok: true, value: 0 }, 5);
  r.invoked(b, 5); // after a's completion, at the same reading: a precedes b
  r.invoked(c, 7);
  r.completed(c, { ok: true, value: 1 }, 7); // same reading as its invocation: still after it
  r.completed(b, { ok: true, value: 2 }, 6); // a clock that stepped back: still after everything seen
  const [ha, hb, hc] = r.history();
  assert.ok(ha!.ret! < hb!.call, 'a completed before b was invoked');
  assert.ok(hc!.call < hc!.ret!);
  assert.ok(hb!.ret! > hc!.ret!);
  assert.ok(Math.abs(hb!.call - 5) < 1e-3, 'stamps stay at the clock reading, give or take the tie step');
});
