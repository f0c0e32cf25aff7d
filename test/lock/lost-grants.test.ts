// The lock client's ledger of lost grants: what a user's next use of a lost lock gets, bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultLockClientOptions } from '../../src/options.js';
import { LockLostError } from '../../src/apps/lock/lock-errors.js';
import { LostGrants } from '../../src/apps/lock/lost-grants.js';

const lost = (lock: string, user: string): LockLostError => new LockLostError(lock, user, 1, 'session', 0);

test('a loss is kept until its user gives it up; peeking keeps it', () => {
  const g = new LostGrants(defaultLockClientOptions.maxRememberedLosses);
  g.record(lost('a', 'u1'));
  assert.equal(g.peek('a', 'u1')?.user, 'u1');
  assert.equal(g.peek('a', 'u2'), undefined);
  assert.equal(g.take('a', 'u1')?.lock, 'a');
  assert.equal(g.take('a', 'u1'), undefined, 'given up once');
  assert.equal(g.size, 0);
});

test('names that would run together stay apart', () => {
  const g = new LostGrants(8);
  g.record(lost('a b', 'c'));
  assert.equal(g.peek('a', 'b c'), undefined);
  assert.equal(g.peek('a b', 'c')?.lock, 'a b');
});

test('at maxRememberedLosses the oldest loss is forgotten, and a loss recorded again counts as new', () => {
  const g = new LostGrants(3);
  for (const l of ['a', 'b', 'c']) g.record(lost(l, 'u'));
  g.record(lost('a', 'u')); // again: now the newest
  g.record(lost('d', 'u'));
  assert.equal(g.size, 3);
  assert.equal(g.peek('b', 'u'), undefined, 'the oldest went');
  assert.deepEqual(['a', 'c', 'd'].map((l) => g.peek(l, 'u')?.lock), ['a', 'c', 'd']);
});
