// ClientCore (design §5), finding the primary: NOT_PRIMARY hints, and the member list it learns
// from the cluster and keeps current.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientTimers } from '../../src/client/client-core.js';
import { defaultClientOptions } from '../../src/options.js';
import { maxHintedReplicas } from '../../src/client/known-replicas.js';
import { Driver, a, b, busy, c, executed, notPrimary } from './client-driver.js';

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

test('a members answer teaches the client the primary and new members', () => {
  // The primary named in a members answer is where the next call goes.
  const d = new Driver({ members: [a] });
  d.answer(a, { kind: 'members', vid: 4, members: [a, 'e:1'], primary: 'e:1' });
  assert.equal(d.core.primary, 'e:1');
  d.submit();
  assert.equal(d.takeOne().to, 'e:1');
});

test('the first call asks the replica it tries for the members of its view, alongside the request', () => {
  // Learning the members costs the call nothing: one invoke and one members request, to the same replica, at once.
  const d = new Driver({ members: [a] });
  d.submit();
  assert.equal(d.takeOne().to, a);
  assert.deepEqual(d.takeAsked(), [a]);
  d.answer(a, { kind: 'members', vid: 2, members: [a, b, c], primary: a });
  assert.deepEqual(d.core.replicas, [a, b, c]);
  d.answer(a, executed(1));
  d.submit();
  assert.equal(d.takeOne().to, a);
  assert.deepEqual(d.takeAsked(), [], 'not asked again while the primary serves');
});

test('the client asks for the members again whenever it fails over, and follows the current view', () => {
  // A replica that failed, or a primary that is no longer one, makes the next replica tried tell the members.
  const d = new Driver({ members: [a, b, c] });
  d.submit();
  d.take();
  d.answer(a, { kind: 'members', vid: 2, members: [a, b, c], primary: a });
  d.takeAsked();
  d.failed(a);
  const next = d.takeOne().to;
  assert.deepEqual(d.takeAsked(), [next], 'the replica tried after the failure is asked');
  d.answer(next, { kind: 'members', vid: 3, members: [b, c, 'd:1'], primary: 'd:1' });
  assert.deepEqual(d.core.replicas.slice(0, 3), [b, c, 'd:1'], 'the current view first');
  assert.equal(d.core.primary, 'd:1');
  d.answer(next, notPrimary(1, 'd:1'));
  assert.equal(d.takeOne().to, 'd:1');
  assert.deepEqual(d.takeAsked(), [], 'following a hint to the known primary is no failover');
  d.answer('d:1', notPrimary(1, c));
  assert.equal(d.takeOne().to, c);
  assert.deepEqual(d.takeAsked(), [c], 'the primary it knew said it is not: asked again');
});

test('a members answer of an older view than the one learned is ignored', () => {
  // A replica that is behind must not take the client back to departed members.
  const d = new Driver({ members: [a] });
  d.answer(a, { kind: 'members', vid: 5, members: [b, c], primary: b });
  d.answer(a, { kind: 'members', vid: 4, members: [a, 'x:1'], primary: a });
  assert.deepEqual(d.core.replicas, [b, c, a]);
  assert.equal(d.core.primary, b);
});

test('a client given only the primary survives its death: it tries the learned members, the given address only once they failed', () => {
  // Design §5: the member list is kept current, and the given addresses remain the fallback.
  const d = new Driver({ members: [a] });
  d.submit();
  d.take();
  d.answer(a, { kind: 'members', vid: 2, members: [a, b, c], primary: a });
  d.answer(a, executed(1));
  // The primary dies; the cluster moves to [b, c].
  d.submit();
  d.failed(d.takeOne().to);
  const second = d.takeOne().to;
  assert.ok([b, c].includes(second), `a learned member is tried next, got ${second}`);
  d.answer(second, { kind: 'members', vid: 3, members: [b, c], primary: b });
  if (second !== b) {
    d.answer(second, notPrimary(2, b));
    assert.equal(d.takeOne().to, b);
  }
  d.answer(b, executed(2));
  assert.deepEqual(d.results.map((r) => r.ok), [true, true]);
  // Every learned member fails: only then is the given address tried again.
  d.submit();
  const tried = [d.takeOne().to];
  d.failed(tried[0]!);
  tried.push(d.takeOne().to);
  d.failed(tried[1]!);
  tried.push(d.takeOne().to);
  assert.deepEqual(tried, [b, c, a]);
});

test('addresses heard only in hints are bounded; the oldest is forgotten first', () => {
  // A server naming ever new primaries cannot make the client grow without bound.
  const d = new Driver({ members: [a] });
  d.submit();
  d.take();
  for (let i = 0; i < maxHintedReplicas + 10; i++) {
    d.answer(d.sent.length > 0 ? d.take()[0]!.to : a, notPrimary(1, `h${i}:1`));
    if (d.timers.has(clientTimers.retry)) d.fire(clientTimers.retry);
  }
  const known = d.core.replicas;
  assert.equal(known.length, maxHintedReplicas + 1, 'the hints kept, and the given address');
  assert.ok(!known.includes('h0:1') && known.includes(`h${maxHintedReplicas + 9}:1`));
});
