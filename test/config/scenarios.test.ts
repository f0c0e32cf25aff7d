// Config layer scenarios on the simulator (design §3, issue: config layer). Each test starts a
// fresh seeded cluster and drives it through one story; failures print every node's belief.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimCluster, sameList } from '../../tools/sim/cluster.js';
import type { Members } from '../../src/env/types.js';

/** Generous bound for one view change in a quiet simulated network (detection is ~0.5 s). */
const viewChangeMs = 3000;

function cluster(ids: string[] = ['n1', 'n2', 'n3'], seed = 1): SimCluster {
  return new SimCluster({ seed, ids });
}

/** Starts the nodes one at a time, each joining before the next starts: views grow in order. */
function growTo(c: SimCluster, ids: readonly string[]): void {
  for (let k = 0; k < ids.length; k++) {
    c.start(ids[k]!);
    const want = ids.slice(0, k + 1);
    assert.ok(c.runUntil(() => c.allSee(want), viewChangeMs), `${want.join(',')} did not form: ${c.describe()}`);
  }
}

function expectView(c: SimCluster, members: Members, on: readonly string[] = members): void {
  assert.ok(c.runUntil(() => c.allSee(members, on), viewChangeMs), `expected [${members.join(',')}] on ${on.join(',')}: ${c.describe()}`);
  assert.deepEqual(c.sim.failures, []);
}

function history(c: SimCluster, id: string): string[] {
  return c.node(id).process!.stack.config.core.views().map((v) => v.members.join(','));
}

test('startup: every node sees the views [n1], [n1,n2], [n1,n2,n3]', () => {
  // Proves that nodes join one by one, at the end of the list, and that every node holds the same history.
  const c = cluster();
  growTo(c, c.ids);
  for (const id of c.ids) assert.deepEqual(history(c, id), ['n1', 'n1,n2', 'n1,n2,n3'], `history of ${id}`);
  assert.deepEqual(c.sim.failures, []);
});

test('a backup that dies is removed: the next view lacks it on every survivor', () => {
  // Proves failure detection and removal of a member that is not first in the list.
  const c = cluster();
  growTo(c, c.ids);
  const before = c.sim.now;
  c.crash('n3');
  expectView(c, ['n1', 'n2']);
  assert.ok(c.sim.now - before < 2000, `removal took ${c.sim.now - before} ms`);
});

test('the first node dying is removed by the others', () => {
  // Proves the cluster does not depend on its first node once others have joined.
  const c = cluster();
  growTo(c, c.ids);
  c.crash('n1');
  expectView(c, ['n2', 'n3']);
});

test('a removed node restarts, replays its views from its log, and is added back at the end', () => {
  // Proves durable views survive a crash and that a returning node rejoins through the join protocol.
  const c = cluster();
  growTo(c, c.ids);
  c.crash('n2');
  expectView(c, ['n1', 'n3']);
  c.start('n2');
  // Right after the restart, before any message: the views it knew come from its own log.
  assert.deepEqual(history(c, 'n2'), ['n1', 'n1,n2', 'n1,n2,n3']);
  expectView(c, ['n1', 'n3', 'n2']);
  assert.deepEqual(history(c, 'n2'), ['n1', 'n1,n2', 'n1,n2,n3', 'n1,n3', 'n1,n3,n2']);
});

test('without a majority of the current view alive no view is decided; when one returns, progress resumes', () => {
  // Proves that view changes need a majority of the previous view, and that the cluster recovers.
  const c = cluster();
  growTo(c, c.ids);
  const vid = c.view('n1')!.vid;
  c.crash('n2', 'n3');
  c.runFor(5000);
  assert.equal(c.view('n1')!.vid, vid, `a view was decided without a majority: ${c.describe()}`);
  assert.deepEqual(c.view('n1')!.members, ['n1', 'n2', 'n3']);
  c.start('n2');
  // n3 is dead: removed; n2 restarted while listed: removed and re-added.
  expectView(c, ['n1', 'n2'], ['n1', 'n2']);
  assert.ok(c.view('n1')!.vid > vid);
});

test('breakpoint 3: a proposer that dies between prepare and accept leaves nothing behind; the next proposal wins once a majority is back', () => {
  // Proves a round cut off after phase 1 cannot decide anything, and that the survivors then decide their own change.
  const c = cluster(['n1', 'n2', 'n3', 'n4']);
  growTo(c, c.ids);
  const vid = c.view('n1')!.vid;
  c.crash('n4');
  c.armBreakpoint('n1', 3);
  assert.ok(c.node('n1').process!.stack.config.remove('n4', vid));
  c.runFor(50);
  assert.equal(c.node('n1').status, 'down', 'breakpoint 3 fired');
  // n2 and n3 alone are not a majority of four.
  c.runFor(3000);
  assert.equal(c.view('n2')!.vid, vid);
  c.start('n4');
  // The survivors' own proposal (remove the first dead member, n1) wins; nothing of n1's round remains.
  expectView(c, ['n2', 'n3', 'n4'].slice(0, 2), ['n2', 'n3']);
  const views = history(c, 'n2');
  assert.equal(views[vid], 'n2,n3,n4', `view ${vid + 1} should be the survivors' proposal: ${views.join(' | ')}`);
});

test('breakpoint 4: a value accepted by a majority before its proposer died wins over a later proposal', () => {
  // Proves the classic Paxos case: a later proposer must adopt the value a majority already accepted.
  const c = cluster(['n1', 'n2', 'n3', 'n4']);
  growTo(c, c.ids);
  const vid = c.view('n1')!.vid;
  c.crash('n4');
  c.armBreakpoint('n1', 4);
  assert.ok(c.node('n1').process!.stack.config.remove('n4', vid));
  c.runFor(50);
  assert.equal(c.node('n1').status, 'down', 'breakpoint 4 fired');
  c.runFor(3000);
  assert.equal(c.view('n2')!.vid, vid, 'two of four decided nothing');
  // n2 and n3 want to remove n1 ([n2,n3,n4]); n1's accepted value [n1,n2,n3] must win instead.
  c.start('n4');
  assert.ok(c.runUntil(() => (c.view('n2')?.vid ?? 0) > vid, viewChangeMs), c.describe());
  assert.equal(history(c, 'n2')[vid], 'n1,n2,n3', 'the accepted value won');
  expectView(c, ['n2', 'n3', 'n4'], ['n2', 'n3', 'n4']);
});

test('breakpoint 4 with the acceptors restarted: the accepted value is still the one that wins', () => {
  // Proves acceptances are durable: acceptors that crash and restart still report them.
  const c = cluster(['n1', 'n2', 'n3', 'n4']);
  growTo(c, c.ids);
  const vid = c.view('n1')!.vid;
  c.crash('n4');
  c.armBreakpoint('n1', 4);
  assert.ok(c.node('n1').process!.stack.config.remove('n4', vid));
  c.runFor(50);
  assert.equal(c.node('n1').status, 'down');
  c.crash('n2', 'n3');
  c.start('n2', 'n3', 'n4');
  assert.ok(c.runUntil(() => (c.view('n2')?.vid ?? 0) > vid, viewChangeMs), c.describe());
  assert.equal(history(c, 'n2')[vid], 'n1,n2,n3', 'the accepted value won');
  // Everybody restarted (stale) except nobody: they carry on and end up as members together.
  assert.ok(c.runUntil(() => ['n2', 'n3', 'n4'].every((id) => c.view(id)?.status === 'member' && !c.view(id)!.members.includes('n1')), 10_000), c.describe());
  assert.deepEqual(c.sim.failures, []);
});

test('a restarted process that is still listed (new incarnation) is removed and re-added', () => {
  // Proves the fix for the classic hang: a node that lost its memory is never trusted as the member it was.
  const c = cluster();
  growTo(c, c.ids);
  const vid = c.view('n1')!.vid;
  c.crash('n2');
  c.start('n2'); // back before anybody noticed it was gone
  assert.equal(c.view('n2')!.status, 'stale');
  expectView(c, ['n1', 'n3', 'n2']);
  assert.deepEqual(history(c, 'n1').slice(vid), ['n1,n3', 'n1,n3,n2'], 'removed, then re-added at the end');
});

test('a partitioned node catches up on every view it missed after healing, then rejoins', () => {
  // Proves learner catch-up across several missed views and the join that follows it.
  const c = cluster(['n1', 'n2', 'n3', 'n4']);
  growTo(c, ['n1', 'n2', 'n3']);
  c.isolate('n3');
  expectView(c, ['n1', 'n2'], ['n1', 'n2']);
  c.start('n4');
  expectView(c, ['n1', 'n2', 'n4'], ['n1', 'n2', 'n4']);
  const missed = history(c, 'n1');
  assert.equal(c.view('n3')!.vid, 3, 'the isolated node learned nothing');
  c.heal();
  expectView(c, ['n1', 'n2', 'n4', 'n3']);
  assert.deepEqual(history(c, 'n3').slice(0, missed.length), missed, 'every missed view learned');
});

test('a member that misses fewer heartbeats than the threshold is not removed', () => {
  // Proves there is no churn from a few lost heartbeats (a short pause here).
  const c = cluster();
  growTo(c, c.ids);
  const vid = c.view('n1')!.vid;
  c.pause('n3');
  c.runFor(250); // 2.5 heartbeat intervals, suspicion needs 5
  c.resume('n3');
  c.runFor(3000);
  assert.equal(c.view('n1')!.vid, vid, c.describe());
  assert.ok(sameList(c.view('n1')!.members, ['n1', 'n2', 'n3']));
});
