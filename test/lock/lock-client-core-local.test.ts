// Scripted tests of LockClientCore's local side (design §6): first acquires, local handovers
// under one token, waiting users, several locks, refusals, misuse, close.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppRejectedError } from '../../src/client/errors.js';
import { LockClientClosedError, LockUsageError } from '../../src/apps/lock/lock-errors.js';
import { LockClientOutbox } from '../../src/apps/lock/lock-client-core.js';
import { Driver, holding } from './lock-core-driver.js';

test('a first acquire asks the server; a cached lock is handed over locally with the same token and no server call', () => {
  // Proves caching: one server grant serves successive local users.
  const d = new Driver();
  d.acquire('u1');
  assert.equal(d.core.status('a'), 'acquiring');
  assert.deepEqual(d.take(), ['acquire a']);
  d.granted(7);
  assert.deepEqual(d.takeEvents(), ['u1 got a@7']);
  assert.equal(d.core.status('a'), 'locked');
  assert.deepEqual(d.release('u1'), { ok: true });
  assert.equal(d.core.status('a'), 'free');
  d.acquire('u2');
  assert.deepEqual(d.takeEvents(), ['u2 got a@7']);
  assert.equal(d.core.holder('a'), 'u2');
  d.release('u2');
  d.acquire('u1');
  assert.deepEqual(d.takeEvents(), ['u1 got a@7']);
  assert.deepEqual(d.take(), [], 'no server call after the first');
  assert.deepEqual(d.due, []);
});

test('local users waiting for one lock get it in the order they asked, each from the one before', () => {
  // Proves the FIFO local queue, both behind an acquire in flight and behind a local holder.
  const d = new Driver();
  d.acquire('u1');
  d.acquire('u2');
  d.acquire('u3');
  assert.deepEqual(d.take(), ['acquire a'], 'one acquire for all local users');
  d.granted(3);
  d.acquire('u4');
  assert.deepEqual(d.core.waiters('a'), ['u2', 'u3', 'u4']);
  for (const u of ['u1', 'u2', 'u3', 'u4']) d.release(u);
  assert.deepEqual(d.takeEvents(), ['u1 got a@3', 'u2 got a@3', 'u3 got a@3', 'u4 got a@3']);
  assert.equal(d.core.status('a'), 'free');
  assert.deepEqual(d.take(), []);
});

test('after a release is confirmed, local users that waited behind it acquire from the server again', () => {
  // Proves local waiters do not jump the server's queue: they ask like any other client.
  const d = holding('u1', 7);
  d.revoke('a', 7);
  d.acquire('u2');
  d.release('u1');
  d.acquire('u3');
  d.runDue();
  assert.deepEqual(d.take(), ['release a']);
  assert.deepEqual(d.takeEvents(), []);
  d.releaseReply();
  assert.equal(d.core.status('a'), 'acquiring');
  assert.deepEqual(d.take(), ['acquire a']);
  d.notGranted();
  d.retry();
  assert.deepEqual(d.take(), ['acquire a']);
  d.granted(11);
  d.release('u2');
  assert.deepEqual(d.takeEvents(), ['u2 got a@11', 'u3 got a@11']);
});

test('several locks are independent: each has its own state, calls, revokes and retries', () => {
  // Proves per-lock state: a revoke or retry of one lock does not touch another.
  const d = new Driver();
  d.acquire('u1', 'a');
  d.acquire('u1', 'b');
  d.acquire('u2', 'c');
  assert.deepEqual(d.take(), ['acquire a', 'acquire b', 'acquire c']);
  d.granted(1, 'a');
  d.notGranted('b');
  d.retry('c'); // c's reply still in flight
  d.granted(2, 'c');
  d.revoke('c', 2);
  assert.deepEqual(d.takeEvents(), ['u1 got a@1', 'u2 got c@2']);
  assert.deepEqual([d.core.status('a'), d.core.status('b'), d.core.status('c')], ['locked', 'acquiring', 'locked']);
  d.release('u2', 'c');
  d.runDue();
  assert.deepEqual(d.take(), ['release c']);
  d.retry('b');
  assert.deepEqual(d.take(), ['acquire b']);
  d.granted(3, 'b');
  d.releaseReply('c');
  assert.deepEqual([d.core.status('a'), d.core.status('b'), d.core.status('c')], ['locked', 'locked', 'none']);
  assert.deepEqual(d.takeEvents(), ['u1 got b@3']);
});

test('an acquire the server refuses fails every local waiter; a bad name fails locally', () => {
  // Proves refusals end the waits with the server's typed error instead of retrying forever.
  const d = new Driver();
  d.acquire('u1');
  d.acquire('u2');
  d.take();
  d.acquireReply('a', { ok: false, error: new AppRejectedError('bad-args', 'owner is longer than 128 characters') });
  assert.deepEqual(d.takeEvents(), ['u1 failed a: AppRejectedError', 'u2 failed a: AppRejectedError']);
  assert.equal(d.core.status('a'), 'none');
  d.acquire('u1', '');
  d.acquire('u1', 'x'.repeat(257));
  assert.deepEqual(d.takeEvents(), ['u1 failed : InvalidArgumentError', `u1 failed ${'x'.repeat(257)}: InvalidArgumentError`]);
  assert.deepEqual(d.take(), []);
});

test('local misuse is refused with LockUsageError and changes nothing', () => {
  // Proves the one-holder rule cannot be broken from outside: no re-entrant acquire, no foreign release.
  const d = holding('u1', 7);
  d.acquire('u1');
  d.acquire('u2');
  d.acquire('u2');
  const r = d.release('u2');
  assert.ok(!r.ok && r.error instanceof LockUsageError);
  const r2 = d.release('u1', 'b');
  assert.ok(!r2.ok && r2.error instanceof LockUsageError);
  assert.deepEqual(d.takeEvents(), ['u1 failed a: LockUsageError', 'u2 failed a: LockUsageError']);
  assert.equal(d.core.holder('a'), 'u1');
  assert.deepEqual(d.core.waiters('a'), ['u2']);
});

test('closing fails every waiting local user and ignores what comes after', () => {
  // Proves close ends every wait with LockClientClosedError.
  const d = holding('u1', 7);
  d.acquire('u2');
  d.acquire('u3', 'b');
  d.take();
  const out = new LockClientOutbox();
  d.core.close(out);
  for (const call of out.upcalls) call();
  assert.deepEqual(d.takeEvents(), ['u2 failed a: LockClientClosedError', 'u3 failed b: LockClientClosedError']);
  d.granted(8, 'b');
  d.revoke('a', 7);
  d.acquire('u4');
  assert.deepEqual(d.takeEvents(), ['u4 failed a: LockClientClosedError']);
  assert.deepEqual([...d.take(), ...d.due], []);
  assert.ok(new LockClientClosedError() instanceof Error);
});
