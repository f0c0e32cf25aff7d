// Session clocks follow the primary lease (fake replica view whose lease the test sets, manual
// clock): they run only while it is held, start over after any check without it, and never expire
// an owner sooner than the session timeout after the last keepalive sent to it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Executor } from '../../src/env/executor.js';
import { silentLogger } from '../../src/env/logger.js';
import { SessionKeeper } from '../../src/node/sessions.js';
import type { LeaseStatus } from '../../src/rsm/lease.js';
import type { Request } from '../../src/rsm/messages.js';
import { ManualClock } from '../support/manual-clock.js';

const sessionTimeoutMs = 1000;
const checkIntervalMs = 100;

function setup(owners: string[]) {
  const clock = new ManualClock();
  const replica: { lease: LeaseStatus; state: { owners: string[] } | null } = { lease: { state: 'held', remainingMs: 500 }, state: { owners } };
  const submitted: Array<{ at: number; request: Request }> = [];
  const confirmed = new Map<string, number>();
  const keeper = new SessionKeeper<{ owners: string[] }>({
    self: 'n1',
    executor: new Executor((err) => { throw err; }),
    clock,
    logger: silentLogger,
    replica,
    submit: (request) => {
      submitted.push({ at: clock.now(), request });
      return () => {};
    },
    connected: () => false,
    confirmedAt: (owner) => confirmed.get(owner) ?? null,
    spec: { owners: (s) => s.owners, expire: (owner) => ({ proc: 'expire', args: { owner } }) },
    options: { sessionTimeoutMs, checkIntervalMs },
    firstSeq: 0,
  });
  keeper.start();
  return { clock, replica, submitted, confirmed, keeper };
}

test('session clocks run only while the lease is held, and every owner\'s silence starts over at the next check that has it', () => {
  const { clock, replica, submitted } = setup(['x']);
  clock.advance(800); // x's clock started at the first check (100)
  replica.lease = { state: 'lapsed', why: 'no grant from n2 for 520 ms' };
  clock.advance(2000);
  assert.equal(submitted.length, 0, 'no expiry without the lease, however long');
  replica.lease = { state: 'held', remainingMs: 500 };
  clock.advance(100); // the clock starts over here (2900)
  replica.lease = { state: 'none' }; // a view change: stops them again
  clock.advance(300);
  replica.lease = { state: 'held', remainingMs: 500 };
  clock.advance(sessionTimeoutMs); // starts over at 3300; not yet due at 4200
  assert.equal(submitted.length, 0);
  clock.advance(100);
  assert.deepEqual(submitted.map((e) => [e.at, e.request.proc, e.request.args]), [[4300, 'expire', { owner: 'x' }]]);
});

test('an owner is never expired sooner than the session timeout after the last keepalive sent to it, even if no check saw its stream', () => {
  const { clock, confirmed, submitted } = setup(['x']);
  clock.advance(500);
  confirmed.set('x', 750); // a keepalive went out between checks; the stream ended before the next
  clock.advance(650); // at 1150: 1050 ms since x was first seen, 400 since the keepalive
  assert.equal(submitted.length, 0);
  clock.advance(700); // due at 1750: the check at 1800 expires it
  assert.deepEqual(submitted.map((e) => e.at), [1800]);
  assert.ok(submitted[0]!.at - 750 >= sessionTimeoutMs);
});
