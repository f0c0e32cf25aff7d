// ClientCore and the bounded client table: the new-client mark and its window, and the table's
// two refusals (client-expired, client-table-full) as the client handles them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientTimers } from '../../src/client/client-core.js';
import { BusyError, ClientExpiredError, DeadlineExceededError, InvalidArgumentError } from '../../src/client/errors.js';
import { defaultClientOptions } from '../../src/options.js';
import type { ClientAnswer } from '../../src/rsm/messages.js';
import { Driver, a, b, clientId, executed, failed } from './client-driver.js';

const refused = (seq: number, code: 'client-expired' | 'client-table-full'): ClientAnswer =>
  ({ kind: 'executed', clientId, seq, outcome: { ok: false, code, message: `refused: ${code}` } });

/** A driver whose client the table knows: its first call was executed. */
function known(): Driver {
  const d = new Driver();
  d.submit('p');
  d.take();
  d.answer(a, executed(1));
  return d;
}

test('a new client marks every attempt of its call as a new client\'s until newClientWindowMs has passed', () => {
  // Proves the mark, and that a call retried past the window goes unmarked (a marked request must never arrive late).
  const d = new Driver();
  d.submit('p');
  assert.equal(d.takeOne().request.first, true);
  assert.equal(d.timers.get(clientTimers.newClientWindow), defaultClientOptions.newClientWindowMs);
  d.fire(clientTimers.attempt);
  assert.equal(d.takeOne().request.first, true, 'a retry within the window');
  d.fire(clientTimers.newClientWindow);
  d.fire(clientTimers.attempt);
  const late = d.takeOne().request;
  assert.deepEqual({ seq: late.seq, first: late.first }, { seq: 1, first: false }, 'the same request, unmarked');
});

test('a client whose call was executed sends its next calls unmarked, with no window timer', () => {
  // Proves the mark stops once the table holds the client.
  const d = known();
  d.submit('q');
  assert.equal(d.takeOne().request.first, false);
  assert.equal(d.timers.has(clientTimers.newClientWindow), false);
});

test('a call refused as client-expired on its only attempt is sent again under the next number, marked, and succeeds', () => {
  // Proves an idle client's call after its entry expired costs one round trip, not an error: the refused request never ran.
  const d = known();
  d.submit('q', { x: 1 }, 5000);
  const first = d.takeOne();
  assert.deepEqual({ seq: first.request.seq, first: first.request.first }, { seq: 2, first: false });
  d.answer(a, refused(2, 'client-expired'));
  const again = d.takeOne();
  assert.deepEqual({ to: again.to, seq: again.request.seq, first: again.request.first, args: again.request.args }, { to: a, seq: 3, first: true, args: { x: 1 } });
  assert.equal(d.timers.get(clientTimers.deadline), 5000, 'the call\'s deadline keeps running');
  d.answer(a, refused(2, 'client-expired'));
  assert.equal(d.take().length, 0, 'a late copy of the old number\'s answer changes nothing');
  d.answer(a, executed(3, 'ok'));
  assert.deepEqual(d.results.at(-1), { ok: true, value: 'ok' });
  d.submit('r');
  assert.deepEqual({ seq: d.takeOne().request.seq }, { seq: 4 });
});

test('a call refused as client-expired after more than one attempt ends with ClientExpiredError, and the next call is marked', () => {
  // Proves the client never resends what may have run: an earlier attempt may have executed before the entry went.
  const d = known();
  d.submit('q');
  d.take();
  d.fire(clientTimers.attempt);
  const retry = d.takeOne();
  d.answer(retry.to, refused(2, 'client-expired'));
  const err = failed(d.results.at(-1));
  assert.ok(err instanceof ClientExpiredError);
  assert.deepEqual({ clientId: err.clientId, seq: err.seq, attempts: err.attempts }, { clientId, seq: 2, attempts: 2 });
  assert.match(err.message, /may or may not have been executed/);
  d.submit('r');
  const next = d.takeOne().request;
  assert.deepEqual({ seq: next.seq, first: next.first }, { seq: 3, first: true });
});

test('a new client refused as client-table-full backs off as on BUSY and asks again with the same number', () => {
  // Proves a full table delays new clients (nothing ran), and the call keeps its at-most-once key.
  const d = new Driver();
  d.submit('p', null, 10_000);
  d.take();
  d.answer(b, refused(1, 'client-table-full'));
  assert.equal(d.take().length, 0, 'an answer from a replica the call is not waiting for is ignored');
  d.answer(a, refused(1, 'client-table-full'));
  assert.ok(d.timers.has(clientTimers.retry), 'backing off');
  d.fire(clientTimers.retry);
  const again = d.takeOne().request;
  assert.deepEqual({ seq: again.seq, first: again.first }, { seq: 1, first: true });
  d.answer(a, refused(1, 'client-table-full'));
  d.fire(clientTimers.deadline);
  const err = failed(d.results[0]);
  assert.ok(err instanceof DeadlineExceededError && err.lastError instanceof BusyError && /client-table-full/.test(err.lastError.reason));
});

test('a procedure of synod itself is refused at the client, never sent', () => {
  // Proves clients cannot submit the client table's sweep.
  const d = new Driver();
  d.submit('synod:sweep-clients', { nowMs: 1 });
  assert.equal(d.take().length, 0);
  const err = failed(d.results[0]);
  assert.ok(err instanceof InvalidArgumentError && err.field === 'proc');
});
