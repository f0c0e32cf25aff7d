import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppRejectedError, DeadlineExceededError, UnavailableError } from '../../src/client/errors.js';
import { silentLogger } from '../../src/env/logger.js';
import { LockClientClosedError, LockUsageError } from '../../src/apps/lock/lock-errors.js';
import {
  type AcquireResult,
  LockClientCore,
  LockClientOutbox,
  type ReleaseResult,
  type ServerResult,
} from '../../src/apps/lock/lock-client-core.js';
import { defaultLockClientOptions } from '../../src/options.js';

// Scripted tests of LockClientCore (design §6): the test plays the server and the shell. It drives
// the core through a LockClientOutbox, collects the server calls it asks for, runs the due
// (background) releases and fires timers by hand, and feeds replies and callbacks in any order.

const owner = 'owner-1';

type Call = `${'acquire' | 'release'} ${string}`;

class Driver {
  readonly core = new LockClientCore({ owner, logger: silentLogger });
  /** Server calls asked for, oldest first, as `proc lock`. */
  readonly calls: Call[] = [];
  /** Locks whose release is due (the background step not yet run). */
  readonly due: string[] = [];
  /** Armed retry timers: lock → delay. */
  readonly timers = new Map<string, number>();
  /** Grants and failures upcalled to local users, in order. */
  readonly events: string[] = [];

  acquire(user: string, lock = 'a'): void {
    this.#run((out) => this.core.acquire(user, lock, (r: AcquireResult) => this.events.push(r.ok ? `${user} got ${lock}@${r.token}` : `${user} failed ${lock}: ${r.error.name}`), out));
  }

  release(user: string, lock = 'a'): ReleaseResult {
    let result: ReleaseResult | undefined;
    this.#run((out) => this.core.release(user, lock, (r) => (result = r), out));
    assert.ok(result !== undefined, 'release answers at once');
    return result;
  }

  revoke(lock: string, token: number): void {
    this.#run((out) => this.core.onRevoke(lock, token, out));
  }

  subscriptionEnded(): void {
    this.#run((out) => this.core.onSubscriptionEnded(out));
  }

  resubscribed(): void {
    this.#run((out) => this.core.onResubscribed(out));
  }

  retry(lock = 'a'): void {
    this.#run((out) => this.core.onRetry(lock, out));
  }

  acquireReply(lock: string, result: ServerResult): void {
    this.#run((out) => this.core.onAcquireResult(lock, result, out));
  }

  granted(token: number, lock = 'a'): void {
    this.acquireReply(lock, { ok: true, value: { granted: true, token } });
  }

  notGranted(lock = 'a'): void {
    this.acquireReply(lock, { ok: true, value: { granted: false } });
  }

  releaseReply(lock = 'a', result: ServerResult = { ok: true, value: { released: true } }): void {
    this.#run((out) => this.core.onReleaseResult(lock, result, out));
  }

  /** Runs the background step of every due release (what the shell does in a later task). */
  runDue(): void {
    for (const lock of this.due.splice(0)) this.#run((out) => this.core.onReleaseDue(lock, out));
  }

  fire(lock: string): void {
    assert.ok(this.timers.has(lock), `timer of ${lock} armed`);
    this.timers.delete(lock);
    this.#run((out) => this.core.onTimer(lock, out));
  }

  take(): Call[] {
    return this.calls.splice(0);
  }

  takeEvents(): string[] {
    return this.events.splice(0);
  }

  #run(handler: (out: LockClientOutbox) => void): void {
    const out = new LockClientOutbox();
    handler(out);
    for (const { lock, delayMs } of out.timers) {
      if (delayMs === null) this.timers.delete(lock);
      else this.timers.set(lock, delayMs);
    }
    for (const c of out.calls) {
      const { token, ...rest } = c.args as { token?: unknown };
      assert.deepEqual(rest, { lock: c.lock, owner }, 'every call names the lock and this owner');
      // A release names the grant it gives back (a positive token); an acquire names none.
      if (c.proc === 'release') assert.ok(typeof token === 'number' && token > 0, `release of ${c.lock} names its grant`);
      else assert.equal(token, undefined);
      this.calls.push(`${c.proc} ${c.lock}` as Call);
    }
    this.due.push(...out.releasesDue);
    for (const call of out.upcalls) call();
  }
}

/** A driver with `a` granted to `user` at `token` (one acquire, answered). */
function holding(user = 'u1', token = 7): Driver {
  const d = new Driver();
  d.acquire(user);
  assert.deepEqual(d.take(), ['acquire a']);
  d.granted(token);
  assert.deepEqual(d.takeEvents(), [`${user} got a@${token}`]);
  return d;
}

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

test('when the subscription ends, cached grants are no longer handed out locally: they go back to the server', () => {
  // Proves the client stops trusting grants its session may lose while it has no stream (session expiry).
  const d = holding('u1', 7); // a: locked by u1
  d.acquire('u1', 'b');
  d.take();
  d.granted(8, 'b');
  d.release('u1', 'b'); // b: free (cached)
  d.acquire('u2', 'a');
  d.subscriptionEnded();
  assert.equal(d.core.status('b'), 'releasing', 'a free grant is given back');
  assert.equal(d.core.status('a'), 'locked', 'a held one stays with its user');
  d.release('u1', 'a');
  assert.deepEqual(d.takeEvents(), ['u1 got b@8'], 'no local handover of a to u2');
  d.runDue();
  assert.deepEqual(d.take(), ['release b', 'release a']);
  d.releaseReply('a', { ok: false, error: new AppRejectedError('not-held', 'expired') });
  assert.deepEqual(d.take(), ['acquire a'], 'u2 asks the server');
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
