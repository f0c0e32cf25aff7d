// The checker with the lock service's model: grants, FIFO queues, fencing tokens, refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkLinearizable } from '../../tools/lincheck/check.js';
import { type LockInput, type LockOutput, lockModel, lockTokenConflict } from '../../tools/lincheck/models.js';
import { HistoryBuilder } from './support.js';

/** A lock history written one operation per line; every call takes one time unit. */
class Locks {
  readonly h = new HistoryBuilder<LockInput, LockOutput>();
  #t = 0;

  acquire(owner: string, out: number | 'queued' | '?', lock = 'a'): number {
    const input: LockInput = { proc: 'acquire', lock, owner };
    if (out === '?') return this.h.unknown(owner, input, this.#tick());
    return this.#done(owner, input, out === 'queued' ? { granted: false } : { granted: true, token: out });
  }

  release(owner: string, out: 'released' | 'not-held', token?: number, lock = 'a'): number {
    const input: LockInput = token === undefined ? { proc: 'release', lock, owner } : { proc: 'release', lock, owner, token };
    return this.#done(owner, input, out === 'released' ? { released: true } : { error: 'not-held' });
  }

  stat(client: string, holder: string | null, token: number, waiters: string[] = [], lock = 'a'): number {
    return this.#done(client, { proc: 'stat', lock }, { holder, token, waiters });
  }

  /** Two calls at once: both called before either returns. */
  overlapping(first: (h: HistoryBuilder<LockInput, LockOutput>, call: number, ret: number) => void, second: typeof first): void {
    const t = this.#tick(10);
    first(this.h, t, t + 9);
    second(this.h, t + 1, t + 8);
  }

  check() {
    return checkLinearizable(this.h.history, lockModel);
  }

  #done(client: string, input: LockInput, output: LockOutput): number {
    const call = this.#tick();
    return this.h.done(client, input, output, call, call + 0.5);
  }

  #tick(by = 1): number {
    const t = this.#t;
    this.#t += by;
    return t;
  }
}

test('a hand-over in FIFO order with increasing tokens, checked by stats, is linearizable', () => {
  // Proves the model accepts what the lock service does: queue, release, next in line, forget.
  const l = new Locks();
  l.acquire('x', 1);
  l.acquire('y', 'queued');
  l.acquire('z', 'queued');
  l.stat('s', 'x', 1, ['y', 'z']);
  l.release('x', 'released');
  l.stat('s', null, 1, ['y', 'z']);
  l.acquire('z', 'queued'); // y is first in line
  l.acquire('y', 4); // tokens skip (one counter for every lock), but go up
  l.acquire('y', 4); // asked again: the same grant
  l.stat('s', 'y', 4, ['z']);
  l.release('y', 'released', 4);
  l.acquire('z', 9);
  l.release('z', 'released');
  l.stat('s', null, 0, []); // free and nobody waits: forgotten
  assert.equal(l.check().verdict, 'ok');
});

test('a fencing token that goes backwards is a violation', () => {
  // Proves tokens of one lock increase strictly.
  const l = new Locks();
  l.acquire('x', 5);
  l.release('x', 'released');
  const late = l.acquire('y', 3);
  const r = l.check();
  assert.equal(r.verdict, 'violation');
  assert.ok(r.verdict === 'violation' && r.failedOp === late);
});

test('two holders at once are a violation', () => {
  // Proves mutual exclusion: y is granted while x still holds the lock.
  const l = new Locks();
  l.acquire('x', 1);
  const second = l.acquire('y', 2);
  const r = l.check();
  assert.ok(r.verdict === 'violation' && r.failedOp === second);
});

test('two overlapping acquires: one granted and one queued is fine, both granted is not', () => {
  // Proves concurrency: the queued one must come after the grant; two grants fit no order.
  const ok = new Locks();
  ok.overlapping(
    (h, call, ret) => h.done('x', { proc: 'acquire', lock: 'a', owner: 'x' }, { granted: true, token: 1 }, call, ret),
    (h, call, ret) => h.done('y', { proc: 'acquire', lock: 'a', owner: 'y' }, { granted: false }, call, ret),
  );
  ok.stat('s', 'x', 1, ['y']);
  assert.equal(ok.check().verdict, 'ok');
  const bad = new Locks();
  bad.overlapping(
    (h, call, ret) => h.done('x', { proc: 'acquire', lock: 'a', owner: 'x' }, { granted: true, token: 2 }, call, ret),
    (h, call, ret) => h.done('y', { proc: 'acquire', lock: 'a', owner: 'y' }, { granted: true, token: 1 }, call, ret),
  );
  assert.equal(bad.check().verdict, 'violation');
});

test('a release by a non-holder that succeeds is a violation; refused, it is fine', () => {
  // Proves only the holder can free a lock.
  const refused = new Locks();
  refused.acquire('x', 1);
  refused.release('y', 'not-held');
  refused.release('x', 'not-held', 7); // names another grant
  refused.stat('s', 'x', 1);
  assert.equal(refused.check().verdict, 'ok');
  const freed = new Locks();
  freed.acquire('x', 1);
  freed.release('y', 'released');
  assert.equal(freed.check().verdict, 'violation');
});

test('a release by the holder under its grant that is refused is a violation', () => {
  // Proves not-held is only for those who do not hold the lock.
  const l = new Locks();
  l.acquire('x', 1);
  l.release('x', 'not-held', 1);
  assert.equal(l.check().verdict, 'violation');
});

test('a stat showing the waiters out of order, or a wrong token, is a violation', () => {
  // Proves stats are checked exactly: queue order and token.
  const base = (): Locks => {
    const l = new Locks();
    l.acquire('x', 1);
    l.acquire('y', 'queued');
    l.acquire('z', 'queued');
    return l;
  };
  const right = base();
  right.stat('s', 'x', 1, ['y', 'z']);
  assert.equal(right.check().verdict, 'ok');
  const swapped = base();
  swapped.stat('s', 'x', 1, ['z', 'y']);
  assert.equal(swapped.check().verdict, 'violation');
  const token = base();
  token.stat('s', 'x', 2, ['y', 'z']);
  assert.equal(token.check().verdict, 'violation');
});

test('a free lock nobody waits for is forgotten: a stat showing its old token is a violation', () => {
  // Proves the model follows the app: a forgotten lock shows token 0.
  const l = new Locks();
  l.acquire('x', 3);
  l.release('x', 'released');
  l.stat('s', null, 3);
  assert.equal(l.check().verdict, 'violation');
});

test('the FIFO rule: the second in line is not granted a freed lock before the first', () => {
  // Proves queue order: z jumps the queue past y.
  const l = new Locks();
  l.acquire('x', 1);
  l.acquire('y', 'queued');
  l.acquire('z', 'queued');
  l.release('x', 'released');
  const jump = l.acquire('z', 2);
  const r = l.check();
  assert.ok(r.verdict === 'violation' && r.failedOp === jump);
});

test('an acquire that timed out explains a later holder and token, and binds later tokens', () => {
  // Proves unknown outcomes: x was granted (token 7, unseen until the stat), so y waits and later tokens exceed 7.
  const l = new Locks();
  l.acquire('x', '?');
  l.acquire('y', 'queued');
  l.stat('s', 'x', 7, ['y']);
  l.release('x', 'released', 7);
  l.acquire('y', 8);
  assert.equal(l.check().verdict, 'ok');
  const back = new Locks();
  back.acquire('x', '?');
  back.stat('s', 'x', 7);
  back.release('x', 'released');
  back.acquire('y', 7);
  assert.equal(back.check().verdict, 'violation', 'a token is never granted twice');
});

test('an acquire that timed out may never have taken effect', () => {
  // Proves an unknown grant may be left out: y gets the lock, and after y it is free again.
  const l = new Locks();
  l.acquire('x', '?');
  l.acquire('y', 1);
  l.release('y', 'released');
  l.stat('s', null, 0);
  assert.equal(l.check().verdict, 'ok');
});

test('an acquire that timed out may take effect after its client moved on', () => {
  // Proves late effects: x saw the lock free, and so did s after x called again, yet y is
  // queued behind x: x's first acquire took effect only then.
  const l = new Locks();
  l.acquire('x', '?');
  l.stat('x', null, 0);
  l.stat('s', null, 0);
  l.acquire('y', 'queued');
  l.stat('s', 'x', 5, ['y']);
  assert.equal(l.check().verdict, 'ok');
});

test('an unknown grant asked again pins its token: a later stat must agree', () => {
  // Proves the model learns an unknown grant's token from a repeated acquire.
  const l = new Locks();
  l.acquire('x', '?');
  l.acquire('x', 3);
  l.stat('s', 'x', 4);
  assert.equal(l.check().verdict, 'violation');
});

test('a violation on one lock is reported as that lock\'s part, the others being fine', () => {
  // Proves partitioning by lock name.
  const l = new Locks();
  l.acquire('x', 1, 'a');
  l.acquire('x', 2, 'b');
  l.acquire('y', 'queued', 'a');
  const bad = l.acquire('y', 3, 'b');
  l.acquire('x', 4, 'c');
  const r = l.check();
  assert.ok(r.verdict === 'violation');
  assert.equal(r.parts, 3);
  assert.equal(r.part, 1);
  assert.equal(r.failedOp, bad);
});

test('one token for two locks, or for two holders, is caught by the side check across locks (the per-lock check cannot see it)', () => {
  // Each lock on its own is fine, so only the service-wide token rule shows the clash.
  const twoLocks = new Locks();
  twoLocks.acquire('p', 5, 'a');
  twoLocks.acquire('q', 5, 'b');
  assert.equal(checkLinearizable(twoLocks.h.history, lockModel).verdict, 'ok');
  assert.match(lockTokenConflict(twoLocks.h.history) ?? '', /token 5 names two grants/);

  const twoHolders = new Locks();
  twoHolders.acquire('p', 7);
  twoHolders.stat('x', 'q', 7);
  assert.match(lockTokenConflict(twoHolders.h.history) ?? '', /token 7 names two grants/);

  // The same grant seen again (the holder asking again, a stat, the lock free with its last token) is one grant.
  const fine = new Locks();
  fine.acquire('p', 3);
  fine.acquire('p', 3);
  fine.stat('x', 'p', 3);
  fine.acquire('q', 'queued');
  fine.release('p', 'released', 3);
  fine.stat('x', null, 3, ['q']);
  fine.acquire('q', 4);
  fine.stat('x', 'q', 4, [], 'a');
  fine.stat('x', null, 0, [], 'b');
  assert.equal(lockTokenConflict(fine.h.history), null);
  assert.equal(checkLinearizable(fine.h.history, lockModel).verdict, 'ok');
});
