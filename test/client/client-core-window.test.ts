// Many calls in flight per client (ClientCore): calls start in order up to maxCallsInFlight, each
// request says the lowest number still in flight, the window of the client table bounds how far
// numbers may run ahead of it, failures and answers reach the call they belong to, and an expiry
// settles every number the client used before.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClientExpiredError } from '../../src/client/errors.js';
import { limits } from '../../src/options.js';
import { clientTimers } from '../../src/client/client-calls.js';
import { Driver, a, clientId, executed } from './client-driver.js';

const known = (d: Driver): void => {
  // Makes the client know the table holds it (its first call answered), so later calls go unmarked.
  d.submit('hello');
  d.answer(a, executed(d.takeOne().request.seq));
};

test('calls start at once up to maxCallsInFlight, in order; each says the lowest number still in flight', () => {
  const d = new Driver({ options: { maxCallsInFlight: 3 } });
  for (let i = 1; i <= 5; i++) d.submit(`call${i}`);
  assert.deepEqual(d.take().map((s) => [s.request.seq, s.request.answeredBelow]), [[1, 1], [2, 1], [3, 1]]);
  assert.equal(d.core.inFlight, 3);
  assert.equal(d.core.pending, 5);
  d.answer(a, executed(2, 'two'));
  assert.deepEqual(d.take().map((s) => [s.request.seq, s.request.answeredBelow]), [[4, 1]], '1 is still in flight');
  d.answer(a, executed(1, 'one'));
  assert.deepEqual(d.take().map((s) => [s.request.seq, s.request.answeredBelow]), [[5, 3]]);
  assert.deepEqual(d.results.map((r) => (r.ok ? r.value : null)), ['two', 'one']);
});

test('a number never runs limits.maxClientWindow ahead of the lowest in flight: later calls wait until it ends', () => {
  const d = new Driver({ options: { maxCallsInFlight: 2 } });
  d.submit('stuck');
  assert.equal(d.takeOne().request.seq, 1);
  for (let seq = 2; seq < 1 + limits.maxClientWindow; seq++) {
    d.submit('quick');
    const s = d.takeOne();
    assert.equal(s.request.seq, seq);
    d.answer(a, executed(seq));
  }
  d.submit('waits');
  assert.equal(d.take().length, 0, `number ${1 + limits.maxClientWindow} would leave the window from 1`);
  d.answer(a, executed(1));
  const s = d.takeOne();
  assert.deepEqual([s.request.seq, s.request.answeredBelow], [1 + limits.maxClientWindow, 1 + limits.maxClientWindow]);
});

test('a failure report reaches the call whose request failed, not the others', () => {
  const d = new Driver({ options: { maxCallsInFlight: 2 } });
  d.submit('one');
  d.submit('two');
  d.take();
  d.failed(a, { kind: 'invalid-request', detail: 'bad' }, 2);
  assert.equal(d.results.length, 1, 'only call 2 ended');
  assert.equal(d.core.inFlight, 1);
  d.answer(a, executed(1, 'one'));
  assert.deepEqual(d.results.at(-1), { ok: true, value: 'one' });
});

test('told it expired on a call\'s only attempt, the client sends that call again marked, above every number used, and settles all below; another call in flight ends with its outcome unknown', () => {
  const d = new Driver({ options: { maxCallsInFlight: 4 } });
  known(d);
  d.submit('x');
  d.submit('y');
  assert.deepEqual(d.take().map((s) => [s.request.seq, s.request.first]), [[2, false], [3, false]]);
  d.answer(a, { kind: 'executed', clientId, seq: 2, outcome: { ok: false, code: 'client-expired', message: 'gone' } });
  // Call 3 went out before the client knew: it may have run before the entry went, or may still.
  assert.equal(d.results.length, 2);
  const ended = d.results.at(-1)!;
  assert.ok(!ended.ok && ended.error instanceof ClientExpiredError && ended.error.message.includes('3'), 'call 3 ends, outcome unknown');
  const again = d.takeOne();
  assert.deepEqual([again.request.seq, again.request.first, again.request.answeredBelow, again.request.proc], [4, true, 4, 'x']);
  d.answer(a, { kind: 'stale', clientId, seq: 3 });
  assert.equal(d.results.length, 2, 'a late answer to the ended call changes nothing');
  d.submit('z');
  const z = d.takeOne();
  assert.deepEqual([z.request.seq, z.request.first, z.request.answeredBelow], [5, true, 4], 'marked until the table answers');
  d.answer(a, executed(4, 'x done'));
  assert.deepEqual(d.results.at(-1), { ok: true, value: 'x done' });
  d.fire(clientTimers.attempt);
  assert.equal(d.take().length, 1, 'call z retried');
});
