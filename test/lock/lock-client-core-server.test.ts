// Scripted tests of LockClientCore against the server's side (design §6): revokes and retries
// in any order with replies, unknown outcomes, not-held, grants it did not know of, and the
// subscription ending and re-opening.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppRejectedError, DeadlineExceededError, UnavailableError } from '../../src/client/errors.js';
import { defaultLockClientOptions } from '../../src/options.js';
import { Driver, holding, owner } from './lock-core-driver.js';

test('a revoke of a cached free lock makes a release due, and the background step, not the callback, sends it', () => {
  // Proves "release on revoke from a background task, never inside the callback".
  const d = holding('u1', 7);
  d.release('u1');
  d.revoke('a', 7);
  assert.equal(d.core.status('a'), 'releasing');
  assert.deepEqual(d.take(), [], 'nothing sent inside the callback');
  assert.deepEqual(d.due, ['a']);
  d.runDue();
  assert.deepEqual(d.take(), ['release a']);
  d.releaseReply();
  assert.equal(d.core.status('a'), 'none');
  d.acquire('u2');
  assert.deepEqual(d.take(), ['acquire a'], 'after the release a new local user asks the server');
});

test('a revoke while a local user holds the lock gives it back only after that user releases it', () => {
  // Proves mutual exclusion under revoke: the holder keeps the lock until it is done.
  const d = holding('u1', 7);
  d.acquire('u2');
  d.revoke('a', 7);
  assert.equal(d.core.status('a'), 'locked');
  assert.deepEqual([...d.take(), ...d.due], []);
  d.release('u1');
  assert.deepEqual(d.takeEvents(), [], 'no local handover of a revoked lock');
  assert.equal(d.core.status('a'), 'releasing');
  assert.deepEqual(d.due, ['a']);
  d.runDue();
  assert.deepEqual(d.take(), ['release a']);
});

test('a revoke that arrives before the grant reply is applied once the grant is known', () => {
  // Proves a callback overtaking its reply is not lost: the grant it names is revoked at once.
  const d = new Driver();
  d.acquire('u1');
  d.take();
  d.revoke('a', 9); // the server granted 9, someone else asked, the revoke outran the reply
  assert.equal(d.core.status('a'), 'acquiring');
  d.granted(9);
  assert.deepEqual(d.takeEvents(), ['u1 got a@9'], 'the user still gets the grant');
  d.release('u1');
  assert.equal(d.core.status('a'), 'releasing', 'and it goes back right after');
  d.runDue();
  assert.deepEqual(d.take(), ['release a']);
});

test('a revoke naming an older grant than the one in force is stale and ignored', () => {
  // Proves tokens tell late callbacks apart: in free, locked, acquiring, and after a release.
  const d = holding('u1', 7);
  d.revoke('a', 6);
  assert.equal(d.core.status('a'), 'locked');
  d.release('u1');
  d.revoke('a', 5);
  assert.equal(d.core.status('a'), 'free');
  assert.deepEqual([...d.take(), ...d.due], []);
  d.acquire('u2');
  assert.deepEqual(d.takeEvents(), ['u2 got a@7'], 'still cached');
  d.release('u2');

  // A revoke of an earlier grant that comes while acquiring does not revoke the next grant.
  d.revoke('a', 7);
  d.runDue();
  assert.deepEqual(d.take(), ['release a']);
  d.releaseReply();
  d.acquire('u3');
  d.take();
  d.revoke('a', 7); // duplicate of the old revoke, late
  d.granted(12);
  d.release('u3');
  assert.equal(d.core.status('a'), 'free', 'the old revoke did not touch grant 12');

  // A late revoke of a grant given back, arriving when the lock is none, is ignored too.
  d.revoke('a', 12);
  d.runDue();
  d.take();
  d.releaseReply();
  assert.equal(d.core.status('a'), 'none');
  d.revoke('a', 12);
  assert.equal(d.core.status('a'), 'none');
  assert.deepEqual([...d.take(), ...d.due], []);
});

test('a retry that arrives before the not-granted reply is not lost: acquire is sent again when the reply comes', () => {
  // Proves the retry/reply race: the server queued us, freed the lock and said retry before we heard "not granted".
  const d = new Driver();
  d.acquire('u1');
  d.take();
  d.retry();
  assert.deepEqual(d.take(), [], 'one acquire in flight per lock');
  d.notGranted();
  assert.deepEqual(d.take(), ['acquire a']);
  d.granted(4);
  assert.deepEqual(d.takeEvents(), ['u1 got a@4']);
});

test('a retry while waiting after a not-granted reply sends acquire again at once; a retry when not acquiring is ignored', () => {
  // Proves onRetry re-asks only while acquiring.
  const d = new Driver();
  d.acquire('u1');
  d.take();
  d.notGranted();
  assert.deepEqual(d.take(), [], 'queued at the server: wait for the retry');
  d.retry();
  assert.deepEqual(d.take(), ['acquire a']);
  d.granted(5);
  d.retry();
  d.release('u1');
  d.retry();
  d.retry('b');
  assert.deepEqual(d.take(), [], 'stale retries change nothing');
  assert.equal(d.core.status('a'), 'free');
  assert.equal(d.core.status('b'), 'none');
});

test('a not-held answer to a release means the server let the lock go: the lock is none, or waiters ask anew', () => {
  // Proves session expiry (the server released it first) is not an error for the client.
  const d = holding('u1', 7);
  d.release('u1');
  d.revoke('a', 7);
  d.runDue();
  d.take();
  d.releaseReply('a', { ok: false, error: new AppRejectedError('not-held', `${owner} does not hold a`) });
  assert.equal(d.core.status('a'), 'none');
  assert.deepEqual(d.take(), []);

  const e = holding('u1', 7);
  e.revoke('a', 7);
  e.acquire('u2');
  e.release('u1');
  e.runDue();
  e.take();
  e.releaseReply('a', { ok: false, error: new AppRejectedError('not-held', `${owner} does not hold a`) });
  assert.deepEqual(e.take(), ['acquire a'], 'the waiter asks the server');
});

test('a server call with an unknown outcome is sent again after serverRetryMs, or at once on a retry', () => {
  // Proves failed calls (deadline, unavailable) are repeated: acquire and release are idempotent.
  const d = new Driver();
  d.acquire('u1');
  d.take();
  d.acquireReply('a', { ok: false, error: new DeadlineExceededError(10_000, 5, null) });
  assert.deepEqual(d.take(), []);
  assert.equal(d.timers.get('a'), defaultLockClientOptions.serverRetryMs);
  d.fire('a');
  assert.deepEqual(d.take(), ['acquire a']);
  d.acquireReply('a', { ok: false, error: new UnavailableError('n1:1', 'refused') });
  d.retry();
  assert.deepEqual(d.take(), ['acquire a'], 'a retry does not wait for the timer');
  assert.equal(d.timers.has('a'), false, 'and cancels it');
  d.granted(3);
  d.release('u1');
  d.revoke('a', 3);
  d.runDue();
  d.take();
  d.releaseReply('a', { ok: false, error: new UnavailableError('n1:1', 'refused') });
  d.fire('a');
  assert.deepEqual(d.take(), ['release a']);
  d.releaseReply('a');
  assert.equal(d.core.status('a'), 'none');
});

test('a revoke of a grant the client does not know of (an earlier life of the owner id) gives the lock back', () => {
  // Proves a restarted client under the same owner id does not keep a lock stuck.
  const d = new Driver();
  d.revoke('a', 3);
  assert.equal(d.core.status('a'), 'releasing');
  d.acquire('u1');
  d.runDue();
  assert.deepEqual(d.take(), ['release a']);
  d.releaseReply();
  assert.deepEqual(d.take(), ['acquire a'], 'the local user then asks for it');
});

test('after the subscription was re-opened, locks waiting for a retry ask again (a retry may have been lost)', () => {
  // Proves a lost retry cannot leave a waiter stuck across a re-subscription.
  const d = new Driver();
  d.acquire('u1', 'a');
  d.acquire('u1', 'b');
  d.take();
  d.notGranted('a');
  d.resubscribed();
  assert.deepEqual(d.take(), ['acquire a']);
  d.notGranted('b');
  assert.deepEqual(d.take(), ['acquire b'], 'the one in flight is asked again when its reply comes');
});
