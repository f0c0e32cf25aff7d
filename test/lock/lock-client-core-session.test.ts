// Scripted tests of LockClientCore's session (Chubby's, issue 14): a cached grant is handed out
// only while the session is confirmed on the client's clock; at the lapse free grants go back and
// held ones are lost (final); a lost subscription alone takes nothing away.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppRejectedError } from '../../src/client/errors.js';
import { Driver, holding } from './lock-core-driver.js';

const notHeld = { ok: false as const, error: new AppRejectedError('not-held', 'expired') };

test('at the lapse a free cached grant goes back and a held one is lost: its holder is told, and its next release and check get LockLostError', () => {
  // Proves the lapse: no cached grant outlives the confirmed bound, and the holder learns it.
  const d = holding('u1', 7, new Driver({ confirmedUntil: 1000 }));
  d.acquire('u1', 'b');
  d.take();
  d.granted(8, 'b');
  d.release('u1', 'b'); // b: free (cached)
  d.acquire('u2', 'a'); // u2 waits behind u1
  d.takeEvents();
  assert.equal(d.sessionTimerMs, 1000, 'the session timer is armed at the bound');
  d.time = 1000;
  d.fireSession();
  assert.deepEqual(d.takeEvents(), ['u1 lost a@7 at 1000']);
  assert.equal(d.core.status('b'), 'releasing', 'a free grant is given back');
  assert.equal(d.core.status('a'), 'releasing', 'a lost grant is given back too (the server may still hold it)');
  assert.deepEqual(d.core.waiters('a'), ['u2'], 'waiters stay');
  assert.equal(d.check('u1'), 'LockLostError');
  assert.equal(d.check('u1'), 'LockLostError', 'check does not consume it');
  const r = d.release('u1');
  assert.ok(!r.ok && r.error.name === 'LockLostError', 'the next release rejects with LockLostError');
  assert.equal(d.check('u1'), 'LockUsageError', 'after the release the user holds nothing');
  d.runDue();
  assert.deepEqual(d.take(), ['release a', 'release b']);
  d.releaseReply('b');
  d.releaseReply('a', notHeld);
  assert.deepEqual(d.take(), [], 'u2 does not ask the server again while the session is not valid');
  assert.equal(d.core.status('a'), 'acquiring');
  d.confirm(5000);
  assert.deepEqual(d.take(), ['acquire a'], 'a confirmation sends the acquire held back');
  d.granted(9);
  assert.deepEqual(d.takeEvents(), ['u2 got a@9']);
});

test('a late session timer does not matter: every hand-out checks the bound against the clock first', () => {
  // Proves validity is checked synchronously at acquire on a free lock and at the local hand-over in release.
  const free = holding('u1', 7, new Driver({ confirmedUntil: 1000 }));
  free.release('u1');
  free.time = 1001; // the timer has not fired
  free.acquire('u2');
  assert.deepEqual(free.takeEvents(), [], 'no cached hand-out past the bound');
  assert.equal(free.core.status('a'), 'releasing');
  assert.deepEqual(free.core.waiters('a'), ['u2']);

  const handover = holding('u1', 7, new Driver({ confirmedUntil: 1000 }));
  handover.acquire('u2');
  handover.time = 1500;
  const r = handover.release('u1');
  assert.ok(!r.ok && r.error.name === 'LockLostError', 'the holder\'s release is its first use after the bound');
  assert.deepEqual(handover.takeEvents(), ['u1 lost a@7 at 1500'], 'no local hand-over to u2');
  assert.equal(handover.check('u2'), 'LockUsageError');
});

test('a granted reply to an acquire sent before a lapse, or arriving while invalid, is given back and the waiters ask again once valid', () => {
  // Proves a grant is trusted only within the run of validity its acquire was sent in (the server may have expired the session in a gap).
  const d = new Driver({ confirmedUntil: 1000 });
  d.acquire('u1');
  assert.deepEqual(d.take(), ['acquire a']);
  d.time = 1200;
  d.granted(5); // arrives after the bound: the session lapses first
  assert.deepEqual(d.takeEvents(), []);
  assert.equal(d.core.status('a'), 'releasing');
  d.runDue();
  assert.deepEqual(d.take(), ['release a'], 'given back by its token');
  d.confirm(3000); // valid again while the release is in flight
  d.releaseReply();
  assert.deepEqual(d.take(), ['acquire a']);
  d.granted(6);
  assert.deepEqual(d.takeEvents(), ['u1 got a@6']);

  const gap = new Driver({ confirmedUntil: 1000 });
  gap.acquire('u1');
  gap.take();
  gap.time = 1100;
  gap.confirm(4000); // a new run of validity: the acquire was sent in the old one
  gap.granted(5);
  assert.deepEqual(gap.takeEvents(), [], 'not handed out though the session is valid now');
  assert.equal(gap.core.status('a'), 'releasing');
});

test('without any confirmation nothing is handed out: a grant is given back and the users wait for the session', () => {
  // Proves the safe side without keepalives: the first acquire goes out (so refusals reach users), its grant is not trusted.
  const d = new Driver({ confirmedUntil: null });
  d.acquire('u1');
  assert.deepEqual(d.take(), ['acquire a']);
  d.granted(3);
  assert.deepEqual(d.takeEvents(), []);
  d.runDue();
  assert.deepEqual(d.take(), ['release a']);
  d.releaseReply();
  assert.deepEqual(d.take(), [], 'not asked again before the session is valid');
  d.retry();
  d.confirm(2000);
  assert.deepEqual(d.take(), ['acquire a']);
  d.granted(4);
  assert.deepEqual(d.takeEvents(), ['u1 got a@4']);
});

test('lost is final: a later confirmation never revives the grant', () => {
  const d = holding('u1', 7, new Driver({ confirmedUntil: 1000 }));
  d.time = 1000;
  d.fireSession();
  d.confirm(9000);
  assert.equal(d.check('u1'), 'LockLostError');
  assert.equal(d.core.status('a'), 'releasing');
  d.runDue();
  d.releaseReply();
  assert.equal(d.core.status('a'), 'none');
  assert.equal(d.check('u1'), 'LockLostError', 'still lost until the user releases');
});

test('a subscription that ends and is re-opened within the bound keeps every grant (the grace period)', () => {
  // Proves losing the stream alone revokes nothing; a confirmation in time extends the held grant.
  const d = holding('u1', 7, new Driver({ confirmedUntil: 1000 }));
  d.acquire('u1', 'b');
  d.take();
  d.granted(8, 'b');
  d.release('u1', 'b');
  d.takeEvents();
  d.time = 400;
  d.subscriptionEnded();
  assert.deepEqual([d.core.status('a'), d.core.status('b')], ['locked', 'free']);
  d.resubscribed();
  d.time = 900;
  d.confirm(2000);
  d.time = 1500;
  d.fireSession(); // the timer armed for 1000 fires late: the bound moved
  d.acquire('u2', 'b');
  assert.deepEqual(d.takeEvents(), ['u2 got b@8'], 'the cached grant is still good');
  assert.equal(d.check('u1'), 7);
  assert.deepEqual(d.take(), []);
  assert.deepEqual(d.due, []);
});

test('under the cache-past-session mutation the bound is ignored and holders are never told', () => {
  // The mutation the strict local-holds check must catch.
  const d = holding('u1', 7, new Driver({ confirmedUntil: null, cachePastSession: true }));
  d.release('u1');
  d.time = 1e9;
  d.fireSession();
  d.acquire('u2');
  assert.deepEqual(d.takeEvents(), ['u2 got a@7']);
});
