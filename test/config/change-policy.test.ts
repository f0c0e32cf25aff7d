import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../src/env/logger.js';
import { type ChangeContext, chooseViewChange } from '../../src/config/change-policy.js';
import { FailureDetector } from '../../src/config/failure-detector.js';
import type { SelfStatus } from '../../src/config/ports.js';

// The choice of the next view change for restarted and replaced members, by itself: with durable
// state a restarted member gets a refresh (the same members, a new view), without it a removal; a
// member whose data directory was replaced is removed and counts as dead meanwhile.

const members = ['a', 'b', 'c'];
const vid = 4;

/** A detector at `a` that has heard b and c in view 4 with incarnations b1 and c1. */
function detector(): FailureDetector {
  const fd = new FailureDetector('a', 5, silentLogger, true);
  fd.track(members);
  for (const m of ['b', 'c']) fd.heard(m, { vid, incarnation: `${m}1`, stale: false }, vid);
  return fd;
}

function choose(health: FailureDetector, durableAbove: boolean, status: SelfStatus = 'member', self = 'a'): ReturnType<typeof chooseViewChange> {
  const ctx: ChangeContext = {
    self, members, status, health, suspectAfterMissed: 5, staleMayRemoveDead: true, durableAbove, joiner: undefined, admits: () => true,
  };
  return chooseViewChange(ctx);
}

test('a member restarted on its disk gets a refresh with durable state, a removal without', () => {
  const fd = detector();
  fd.heard('b', { vid, incarnation: 'b2', stale: true }, vid);
  assert.deepEqual(choose(fd, true), { change: 'refresh', node: 'b', reason: 'new incarnation: a new view for its durable state' });
  assert.deepEqual(choose(fd, false), { change: 'remove', node: 'b', reason: 'new incarnation' });
});

test('a member whose data directory was replaced is removed, and counts as dead for every other change', () => {
  const fd = detector();
  fd.replaced('b', 'b@2');
  assert.deepEqual(choose(fd, true), { change: 'remove', node: 'b', reason: 'its data directory was replaced' });
  // With c silent too, a and the replaced b are no live majority: nothing is proposed.
  const quiet = detector();
  quiet.replaced('b', 'b@2');
  for (let i = 0; i < 6; i++) quiet.advance();
  assert.equal(choose(quiet, true), null);
});

test('when every member restarted, a stale member proposes a refresh of its own view', () => {
  const fd = detector();
  for (const m of ['b', 'c']) fd.heard(m, { vid, incarnation: `${m}2`, stale: true }, vid);
  assert.deepEqual(choose(fd, true, 'stale'), { change: 'refresh', node: 'a', reason: 'every member restarted: a new view for their durable states' });
  assert.equal(choose(fd, false, 'stale'), null, 'without durable state a stale member waits to be removed');
});
