// RSM scenarios on the simulator (design §4 and §7, issue: RSM layer). Each test starts a fresh
// seeded cluster of full node stacks running the test app on a calm network, drives clients
// through the simulated network, and ends with the same audit (`RsmScenario.finish`): every
// acknowledged item is at its acknowledged index on every member of the final view, no item
// appears twice, the members hold byte-equal state, and no checker reported a failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallResult } from '../../src/client/client-core.js';
import type { ClientCall } from '../../src/rsm/messages.js';
import { RsmScenario, viewChangeMs } from './support.js';

test('a backup that dies under load is removed; the survivors serve on and lose nothing', () => {
  // Proves that a backup's death only costs a view change: load resumes in [n1,n2] and every acknowledged item survives.
  const s = new RsmScenario(101);
  s.growTo(['n1', 'n2', 'n3']);
  const load = s.load(['c1', 'c2', 'c3']).start();
  load.waitMoreAcked(30);
  s.cluster.crash('n3');
  s.waitServing(['n1', 'n2']);
  assert.equal(s.primaryOf('n2'), 'n1', 'the primary stays');
  load.waitEveryClientAcked(5);
  s.finish(load, ['n1', 'n2']);
});

test('a primary that dies under load is replaced by the first surviving member; clients follow it', () => {
  // Proves the primary rule (first member of the previous view still present) and that clients find the new primary by themselves.
  const s = new RsmScenario(102);
  s.growTo(['n1', 'n2', 'n3']);
  const load = s.load(['c1', 'c2', 'c3']).start();
  load.waitMoreAcked(30);
  s.cluster.crash('n1');
  s.waitServing(['n2', 'n3']);
  assert.equal(s.primaryOf('n3'), 'n2');
  assert.ok(s.core('n2').isPrimary && !s.core('n3').isPrimary);
  load.waitEveryClientAcked(5);
  for (const client of load.clients.values()) assert.equal(client.core.primary, 'n2', `${client.clientId} follows the new primary`);
  s.finish(load, ['n2', 'n3']);
});

test('breakpoint 1 on the primary: a request only a backup executed runs exactly once after the client retries it', () => {
  // Proves at-most-once execution across a failover: the retry (same clientId and seq) is answered from the client table.
  const s = new RsmScenario(103, ['n1', 'n2', 'n3'], { keepTrace: true });
  s.growTo(['n1', 'n2', 'n3']);
  const load = s.load(['c1', 'c2']).start();
  load.waitMoreAcked(20);
  load.stop();
  assert.ok(s.cluster.runUntil(() => load.pending === 0, 1000));
  const item = 'c1:probe';
  const sends: Array<{ to: string; seq: number }> = [];
  s.sim.network.taps.push((from, to, _service, msg) => {
    const m = msg as ClientCall;
    if (from === 'c1' && m.kind === 'invoke' && (m.request.args as { item?: string }).item === item) sends.push({ to, seq: m.request.seq });
  });
  const oldVid = s.core('n1').vid;
  s.arm('n1', 1);
  let result: CallResult | null = null;
  load.call('c1', item, (r) => (result = r));
  assert.ok(s.cluster.runUntil(() => s.cluster.node('n1').status === 'down', 100), `breakpoint 1 did not fire: ${s.describe()}`);
  assert.match(s.crashReason('n1')!, /^halt: breakpoint 1: primary n1 dies after backup n[23] executed/);
  const before = s.executionsOf(item);
  assert.ok(before.length >= 1, 'a backup executed the request before the primary died');
  assert.ok(before.every((e) => e.node !== 'n1' && e.vs.vid === oldVid), `executed by the backups of view ${oldVid} only: ${JSON.stringify(before)}`);
  assert.equal(result, null, 'the client got no answer from the dead primary');
  s.waitServing(['n2', 'n3']);
  assert.ok(s.cluster.runUntil(() => result !== null, 5000), `the call never completed: ${s.describe()}`);
  const r = result as CallResult | null;
  assert.ok(r?.ok === true, `the retried call failed: ${r?.ok === false ? r.error.message : 'no result'}`);
  assert.ok(sends.length >= 2 && sends[0]!.to === 'n1', `the client retried: ${JSON.stringify(sends)}`);
  assert.ok(sends.every((x) => x.seq === sends[0]!.seq), 'every retry carries the same seq');
  // The retry was answered from the client table: nothing ran it in the new view (it may be
  // stamped there, and is then answered from the table when it executes). (The other backup may
  // still run it at its old viewstamp: an invoke the primary sent before dying.)
  const all = s.executionsOf(item, true);
  const at = before[0]!.vs;
  assert.ok(all.every((e) => e.vs.vid === at.vid && e.vs.seqno === at.seqno), `run again after the view change: ${JSON.stringify(all)}`);
  assert.equal(new Set(all.map((e) => e.node)).size, all.length, 'a replica ran it twice');
  for (const id of ['n2', 'n3']) {
    const list = s.core(id).state!.list;
    assert.equal(list.filter((x) => x === item).length, 1, `${id} holds ${item} once`);
    assert.equal(list.indexOf(item), r.value, `${id} holds ${item} at the index the client was told`);
  }
  load.start();
  load.waitEveryClientAcked(5);
  s.finish(load, ['n2', 'n3']);
});

test('breakpoint 1 on a backup: it dies after executing a request; the others go on without loss or duplicates', () => {
  // Proves that a backup dying between executing and acknowledging costs a view change and nothing else.
  const s = new RsmScenario(104, ['n1', 'n2', 'n3'], { keepTrace: true });
  s.growTo(['n1', 'n2', 'n3']);
  const load = s.load(['c1', 'c2', 'c3']).start();
  load.waitMoreAcked(20);
  s.arm('n3', 1);
  assert.ok(s.cluster.runUntil(() => s.cluster.node('n3').status === 'down', 100), `breakpoint 1 did not fire: ${s.describe()}`);
  assert.match(s.crashReason('n3')!, /^halt: breakpoint 1: backup n3 dies after executing/);
  const last = s.executions.filter((e) => e.node === 'n3').at(-1)!;
  s.waitServing(['n1', 'n2']);
  // The request n3 executed last (and never acknowledged) is executed once by the survivors, or not at all.
  const item = (last.request.args as { item: string }).item;
  for (const id of ['n1', 'n2']) assert.ok(s.core(id).state!.list.filter((x) => x === item).length <= 1);
  load.waitEveryClientAcked(5);
  s.finish(load, ['n1', 'n2']);
  assert.ok(load.acked.has(item), `${item}, interrupted by the breakpoint, was acknowledged once the clients retried`);
});

test('breakpoint 2 on a backup of 5: one view change fires it, a second one removes it, the survivors serve', () => {
  // Proves two cascading view changes under load: n5 dies, n4 dies committing [n1..n4], and [n1,n2,n3] serves with nothing lost.
  const s = new RsmScenario(105, ['n1', 'n2', 'n3', 'n4', 'n5'], { keepTrace: true });
  s.growTo(s.cluster.ids);
  const load = s.load(['c1', 'c2', 'c3']).start();
  load.waitMoreAcked(30);
  const vid = s.cluster.view('n1')!.vid;
  s.arm('n4', 2);
  s.cluster.crash('n5');
  s.waitServing(['n1', 'n2', 'n3'], 2 * viewChangeMs);
  assert.match(s.crashReason('n4')!, /^halt: breakpoint 2: n4 dies committing view \d+/);
  assert.deepEqual(s.history('n1').slice(vid), ['n1,n2,n3,n4', 'n1,n2,n3'], 'two view changes: -n5, then -n4');
  assert.equal(s.primaryOf('n2'), 'n1');
  load.waitEveryClientAcked(5);
  s.finish(load, ['n1', 'n2', 'n3']);
});

test('breakpoint 2 on the primary of 5: it dies committing the next view; the next member takes over and serves', () => {
  // Proves the cascade when the primary itself dies mid view change: n2 (first survivor of [n1..n4]) becomes primary with every acknowledged item.
  const s = new RsmScenario(115, ['n1', 'n2', 'n3', 'n4', 'n5'], { keepTrace: true });
  s.growTo(s.cluster.ids);
  const load = s.load(['c1', 'c2', 'c3']).start();
  load.waitMoreAcked(30);
  const vid = s.cluster.view('n1')!.vid;
  s.arm('n1', 2);
  s.cluster.crash('n5');
  s.waitServing(['n2', 'n3', 'n4'], 2 * viewChangeMs);
  assert.match(s.crashReason('n1')!, /^halt: breakpoint 2: n1 dies committing view \d+/);
  assert.deepEqual(s.history('n2').slice(vid), ['n1,n2,n3,n4', 'n2,n3,n4'], 'two view changes: -n5, then -n1');
  assert.equal(s.primaryOf('n3'), 'n2');
  load.waitEveryClientAcked(5);
  s.finish(load, ['n2', 'n3', 'n4']);
});

test('a partitioned primary is replaced, cannot answer its clients, and rejoins as a backup after healing', () => {
  // Proves a deposed primary never acknowledges anything (it cannot collect the new view's acks) and comes back with the new view's state.
  const s = new RsmScenario(106);
  s.growTo(['n1', 'n2', 'n3']);
  const load = s.load(['c1', 'c2']).start();
  const lonely = s.load(['cx'], { members: ['n1'] }).start(); // knows only n1, and will be on n1's side
  load.waitMoreAcked(20);
  lonely.waitMoreAcked(3);
  const vid = s.core('n1').vid;
  s.sim.network.split(['n1', 'cx'], ['n2', 'n3', 'c1', 'c2']);
  const cutAt = s.sim.now;
  const lonelyAcked = lonely.ackedCount;
  s.waitServing(['n2', 'n3']);
  assert.equal(s.primaryOf('n3'), 'n2');
  load.waitEveryClientAcked(10);
  // The old primary still believes it is the primary of its view, yet executed and answered nothing since the cut
  // (a request fully acknowledged just before the cut may be answered within one message delay).
  assert.equal(s.core('n1').vid, vid);
  assert.ok(s.core('n1').isPrimary);
  assert.deepEqual(s.executions.filter((e) => e.node === 'n1' && e.atMs > cutAt + 2), [], 'the deposed primary executed requests');
  assert.equal(lonely.ackedCount, lonelyAcked, 'the client on the old primary\'s side got an answer');
  assert.ok(lonely.pending === 1, 'its call is still waiting');
  s.cluster.heal();
  // n1 learns it was removed, asks to join, and is added back at the end as a backup.
  s.waitServing(['n2', 'n3', 'n1']);
  assert.deepEqual(s.history('n2').slice(vid), ['n2,n3', 'n2,n3,n1']);
  assert.ok(!s.core('n1').isPrimary);
  lonely.waitEveryClientAcked(3); // and its client follows the hints to the new primary
  s.finish([load, lonely], ['n2', 'n3', 'n1']);
});

test('a primary cut off with one backup (a minority of 5) cannot answer clients, though that backup acknowledges its invokes', () => {
  // Proves the "all backups of the view" rule: a deposed primary holding some acks still never answers, so the majority loses nothing.
  const s = new RsmScenario(116, ['n1', 'n2', 'n3', 'n4', 'n5']);
  s.growTo(s.cluster.ids);
  const load = s.load(['c1', 'c2']).start();
  const lonely = s.load(['cx'], { members: ['n1'] }).start();
  load.waitMoreAcked(20);
  lonely.waitMoreAcked(3);
  const vid = s.core('n1').vid;
  s.sim.network.split(['n1', 'n2', 'cx'], ['n3', 'n4', 'n5', 'c1', 'c2']);
  const cutAt = s.sim.now;
  const lonelyAcked = lonely.ackedCount;
  // One member changes per view: n1 and n2 are removed one after the other (either first); then n3 serves.
  s.waitServing(['n3', 'n4', 'n5'], 2 * viewChangeMs);
  assert.ok(['n1,n3,n4,n5', 'n2,n3,n4,n5'].includes(s.history('n3')[vid]!), s.history('n3').join(' | '));
  assert.deepEqual(s.history('n3').slice(vid + 1), ['n3,n4,n5']);
  load.waitEveryClientAcked(10);
  assert.ok(s.core('n1').isPrimary && s.core('n1').vid === vid, 'n1 still believes it is the primary');
  assert.ok(s.executions.some((e) => e.node === 'n2' && e.vs.vid === vid && e.atMs > cutAt + 2), 'the backup on n1\'s side executed requests after the cut');
  assert.deepEqual(s.executions.filter((e) => e.node === 'n1' && e.atMs > cutAt + 2), [], 'the deposed primary executed requests');
  assert.equal(lonely.ackedCount, lonelyAcked, 'the client on the old primary\'s side got an answer');
  s.cluster.heal();
  // Both rejoin at the end, one per view, in whichever order their requests are admitted.
  const rejoined = (): boolean => s.cluster.view('n3')?.members.length === 5 && s.serving(s.cluster.view('n3')!.members);
  assert.ok(s.cluster.runUntil(rejoined, 2 * viewChangeMs), s.describe());
  assert.deepEqual(s.cluster.view('n3')!.members.slice(0, 3), ['n3', 'n4', 'n5']);
  lonely.waitEveryClientAcked(3);
  s.finish([load, lonely], s.cluster.view('n3')!.members);
});

test('a joiner under load receives the full state and ends byte-equal with the others', () => {
  // Proves state transfer to a new member while clients keep appending: the joiner's list is the others' list.
  const s = new RsmScenario(107, ['n1', 'n2', 'n3', 'n4']);
  s.growTo(['n1', 'n2', 'n3']);
  const load = s.load(['c1', 'c2', 'c3']).start();
  load.waitMoreAcked(50);
  s.cluster.start('n4');
  assert.equal(s.core('n4').status, 'joining');
  s.waitServing(['n1', 'n2', 'n3', 'n4']);
  assert.ok(s.core('n4').lastExecuted !== null && s.core('n4').state!.list.length >= 50, 'the joiner holds the state it was sent');
  load.waitEveryClientAcked(5);
  s.finish(load, ['n1', 'n2', 'n3', 'n4']);
});

test('a restarted process still listed as a member comes back with its durable state, gets a new view of the same members, and ends equal', () => {
  // Proves durability at the RSM level for one node: the restarted backup replays its own disk at
  // once (its state is not empty), yet it serves no view it was not synced in: it is stale until a
  // new view (a refresh: the same members, no removal), and ends byte-equal with the others.
  const s = new RsmScenario(108);
  s.growTo(['n1', 'n2', 'n3']);
  const load = s.load(['c1', 'c2']).start();
  load.waitMoreAcked(30);
  const vid = s.cluster.view('n1')!.vid;
  s.cluster.crash('n2');
  s.cluster.start('n2'); // back before anybody noticed it was gone
  assert.equal(s.cluster.view('n2')!.status, 'stale');
  const restored = s.core('n2').state;
  assert.ok(restored !== null && restored.list.length >= 30, `the restarted process replayed its durable state: ${restored?.list.length ?? 'none'} items`);
  assert.equal(s.core('n2').status, 'joining');
  assert.ok(s.cluster.runUntil(() => s.cluster.view('n1')!.vid > vid, 3000), s.describe());
  s.waitServing(['n1', 'n2', 'n3']);
  assert.deepEqual(s.history('n1').slice(vid), ['n1,n2,n3'], 'one new view of the same members: no removal');
  load.waitEveryClientAcked(5);
  s.finish(load, ['n1', 'n2', 'n3']);
});

test('a joiner that asks while the view is still syncing is told to retry, and is admitted once the view serves', () => {
  // Proves the admission rule: a primary whose view has not finished state transfer admits nobody.
  const s = new RsmScenario(109, ['n1', 'n2', 'n3', 'n4', 'n5']);
  s.growTo(['n1', 'n2', 'n3']);
  const load = s.load(['c1', 'c2']).start();
  load.waitMoreAcked(20);
  // Watch the wire: every answer to n5's join requests, and every Paxos accept of a view that adds n5.
  const replies: Array<{ from: string; outcome: string; primaryStatus: string }> = [];
  const admissions: Array<{ from: string; status: string; isPrimary: boolean }> = [];
  s.sim.network.taps.push((from, to, _service, msg) => {
    const m = msg as { kind: string; outcome?: string; value?: readonly string[] };
    if (to === 'n5' && m.kind === 'join-reply') replies.push({ from, outcome: m.outcome!, primaryStatus: s.replica('n1')?.status ?? 'down' });
    if (m.kind === 'accept' && m.value?.includes('n5') === true && !admissions.some((a) => a.from === from)) {
      const r = s.replica(from);
      admissions.push({ from, status: r?.status ?? 'down', isPrimary: r?.isPrimary ?? false });
    }
  });
  // n4 joins; the moment n1 commits the view that adds it, n4 is paused before it hears of that view: it cannot
  // report its state or copy n1's, so the view stays syncing until n1 removes the silent n4.
  s.cluster.start('n4');
  assert.ok(s.cluster.runUntil(() => s.cluster.view('n1')?.members.includes('n4') === true, viewChangeMs), s.describe());
  s.cluster.pause('n4');
  const syncingVid = s.cluster.view('n1')!.vid;
  assert.notEqual(s.cluster.view('n4')?.vid, syncingVid, 'n4 learned of the view before it was paused');
  assert.equal(s.core('n1').status, 'syncing');
  s.cluster.start('n5');
  s.cluster.runFor(300); // less than failure detection (5 heartbeats, ~0.5 s): n4 is not removed yet
  assert.equal(s.core('n1').status, 'syncing', `n1 still waits for n4: ${s.describe()}`);
  assert.equal(s.cluster.view('n1')!.vid, syncingVid, 'no view change while the view syncs');
  assert.ok(replies.some((r) => r.from === 'n1' && r.outcome === 'retry' && r.primaryStatus === 'syncing'),
    `n5 was told to retry by the syncing primary: ${JSON.stringify(replies)}`);
  assert.equal(s.cluster.view('n5')?.status ?? 'outside', 'outside');
  // n1 removes the silent n4, the view [n1,n2,n3] syncs at once, and then n5 is admitted.
  s.waitServing(['n1', 'n2', 'n3', 'n5']);
  assert.deepEqual(s.history('n1').slice(syncingVid - 1), ['n1,n2,n3,n4', 'n1,n2,n3', 'n1,n2,n3,n5']);
  assert.ok(admissions.length > 0 && admissions.every((a) => a.from === 'n1' && a.status === 'normal' && a.isPrimary),
    `only the serving primary proposed to add n5: ${JSON.stringify(admissions)}`);
  s.cluster.resume('n4');
  s.waitServing(['n1', 'n2', 'n3', 'n5', 'n4']);
  load.waitEveryClientAcked(5);
  s.finish(load, ['n1', 'n2', 'n3', 'n5', 'n4']);
});

test('growth from 3 to 5, then the 3 originals die one after another before any state transfer completes: nothing acknowledged is lost', (t) => {
  // Proves the cascade of design §4: the cluster either serves every acknowledged item or refuses to serve; never a state lacking one.
  const s = new RsmScenario(110, ['n1', 'n2', 'n3', 'n4', 'n5']);
  s.growTo(['n1', 'n2', 'n3']);
  const load = s.load(['c1', 'c2', 'c3']).start();
  load.waitMoreAcked(30);
  // Both joiners ask at once. The first one added is cut off from the state source (n1) for 200 ms right after
  // it is added, so its transfer is held up: a primary that admitted during a transfer would add the second then.
  s.cluster.start('n4', 'n5');
  const size = (): number => s.cluster.view('n1')?.members.length ?? 0;
  assert.ok(s.cluster.runUntil(() => size() === 4, viewChangeMs), s.describe());
  const first = s.cluster.view('n1')!.members[3]!;
  const second = first === 'n4' ? 'n5' : 'n4';
  s.sim.network.split([first], ['n1']);
  s.cluster.runFor(200);
  s.cluster.heal();
  assert.ok(s.cluster.runUntil(() => size() === 5, viewChangeMs), s.describe());
  // The 5-member view is committed on n1; no transfer to the second joiner has started.
  const firstHeldState = s.core(first).status === 'normal';
  assert.equal(s.core(second).state, null);
  const ackedBefore = load.ackedCount;
  let vid = s.cluster.view('n1')!.vid;
  const stages: string[] = [];
  for (const original of ['n1', 'n2', 'n3']) {
    // The dying original is the primary of the newest view, just committed: its transfer cannot have finished.
    const knower = s.cluster.ids.find((id) => s.cluster.view(id)?.vid === vid)!;
    stages.push(`v${vid}:[${s.cluster.view(knower)!.members.join(',')}] primary ${s.core(knower).primaryOf(vid)!}`);
    assert.notEqual(s.replica(original)?.status, 'normal', `${original} finished syncing view ${vid} before dying: ${s.describe()}`);
    s.cluster.crash(original);
    const live = s.cluster.ids.filter((id) => s.cluster.node(id).up);
    assert.ok(s.cluster.runUntil(() => live.some((id) => (s.cluster.view(id)?.vid ?? 0) > vid), 2 * viewChangeMs), `no view after ${original} died: ${s.describe()}`);
    vid = Math.max(...live.map((id) => s.cluster.view(id)?.vid ?? 0));
    assert.notEqual(s.core(second).status, 'normal', 'a transfer to the second joiner completed during the cascade');
  }
  const final = [first, second];
  assert.ok(s.cluster.runUntil(() => s.serving(final) || s.replica(first)?.refusing === true, 2 * viewChangeMs),
    `neither serving nor refusing after the cascade (${stages.join(' | ')}): ${s.describe()}`);
  assert.deepEqual(s.history(first).slice(-4), [['n1', 'n2', 'n3', first, second], ['n2', 'n3', first, second], ['n3', first, second], final].map((m) => m.join(',')));
  if (s.serving(final)) {
    // Outcome 1: the first joiner, synced before the second was admitted, is the new primary and holds everything.
    assert.equal(s.primaryOf(second), first);
    t.diagnostic(`outcome: serving; first joiner ${first} held the state: ${firstHeldState}; ${stages.join(' | ')}; ${load.ackedCount} items acknowledged, ${ackedBefore} before the cascade`);
    load.waitEveryClientAcked(3);
    s.finish(load, final);
  } else {
    // Outcome 2: no member holds a complete state; the view refuses, and no call succeeds any more.
    t.diagnostic(`outcome: refusing; first joiner ${first} held the state: ${firstHeldState}; ${stages.join(' | ')}; ${load.ackedCount} items acknowledged`);
    assert.ok(!firstHeldState, 'refused although the first joiner held the state before the second was added');
    const acked = load.ackedCount;
    s.cluster.runFor(3000);
    assert.ok(s.core(first).refusing && s.core(first).status !== 'normal', s.describe());
    assert.equal(load.ackedCount, acked, 'a call succeeded on a view that refuses');
    assert.deepEqual(s.sim.failures, []);
  }
});

test('a power cut: every process crashes at once, and the cluster comes back serving every acknowledged request', () => {
  // Proves the durable state end to end on the simulator: all three processes die together (each
  // disk keeps what was synced), restart on their disks, make a new view among themselves (the
  // last member is removed and rejoins), and serve again with nothing acknowledged lost.
  const s = new RsmScenario(111);
  s.growTo(['n1', 'n2', 'n3']);
  const load = s.load(['c1', 'c2'], { deadlineMs: 1500 }).start();
  load.waitMoreAcked(20);
  const vid = s.cluster.view('n1')!.vid;
  s.cluster.crash('n1', 'n2', 'n3');
  s.cluster.start('n1', 'n2', 'n3');
  for (const id of s.cluster.ids) {
    assert.ok((s.core(id).state?.list.length ?? 0) > 0, `${id} replayed its durable state`);
    assert.equal(s.cluster.view(id)!.status, 'stale', `${id} waits for a new view`);
  }
  s.waitServing(['n1', 'n2', 'n3']);
  assert.deepEqual(s.history('n1').slice(vid), ['n1,n2,n3'], 'one new view of the same members: no removal');
  load.waitMoreAcked(10);
  s.finish(load, ['n1', 'n2', 'n3']);
});

test('every holder of the state is removed, the view refuses; the removed holder comes back, is proven complete by a member that was normal once, and the view serves with nothing lost', () => {
  // Proves completeness from reports (PrimarySync): n2 was normal in view 2, then removed while n1
  // served alone (view 3), re-added and joined by n3 with state transfer blocked; the holder n1 is
  // cut off and removed, and [n2,n3] holds no complete state: it refuses. n1 rejoins; n2 reports it
  // was never normal after view 2, and it was a member of every view since n1's, so none of them
  // served: n1's state is complete and becomes the view's (the membership rule alone cannot see it).
  const s = new RsmScenario(112, ['n1', 'n2', 'n3']);
  s.growTo(['n1', 'n2']);
  const load = s.load(['c1', 'c2'], { deadlineMs: 1500 }).start();
  load.waitMoreAcked(10);
  const n1 = s.cluster.node('n1').process!.stack.config;
  assert.ok(n1.remove('n2', s.cluster.view('n1')!.vid));
  s.waitServing(['n1']);
  load.waitMoreAcked(10); // acknowledged in view [n1] alone: n2 lacks them
  const sync = (msg: unknown): boolean => String((msg as { kind?: unknown }).kind ?? '').startsWith('sync-');
  s.sim.network.blocks.push((from, to, _service, msg) => (from === 'n1') !== (to === 'n1') && sync(msg));
  assert.ok(s.cluster.runUntil(() => s.cluster.view('n1')?.members.includes('n2') === true, 3 * viewChangeMs), `n2 rejoins: ${s.describe()}`);
  s.cluster.start('n3');
  s.cluster.runFor(200);
  assert.ok(n1.add('n3', s.cluster.view('n1')!.vid), 'n1 adds n3 although its view has not synced');
  assert.ok(s.cluster.runUntil(() => s.cluster.view('n3')?.members.length === 3, viewChangeMs), s.describe());
  load.stop();
  assert.ok(s.cluster.runUntil(() => load.pending === 0, 3000));
  s.sim.network.split(['n1'], ['n2', 'n3']);
  assert.ok(s.cluster.runUntil(() => s.replica('n2')?.refusing === true, 3 * viewChangeMs), `[n2,n3] refuses: ${s.describe()}`);
  assert.deepEqual(s.cluster.view('n2')!.members, ['n2', 'n3']);
  s.sim.network.blocks.length = 0;
  s.cluster.heal();
  s.waitServing(['n2', 'n3', 'n1'], 3 * viewChangeMs);
  s.finish(load, ['n2', 'n3', 'n1']);
});

test('a member whose data directory was wiped comes back as a new node: it holds nothing, rejoins, copies the state, and nothing acknowledged is lost', () => {
  // Proves the RSM side of a lost disk: the wiped n3 holds no state (its synced view is none, so it
  // cannot vouch for any view in the completeness proof), is removed and re-added, and ends equal.
  const s = new RsmScenario(113, ['n1', 'n2', 'n3']);
  s.growTo(['n1', 'n2', 'n3']);
  const load = s.load(['c1', 'c2']).start();
  load.waitMoreAcked(20);
  s.cluster.wipe('n3').start('n3');
  assert.equal(s.core('n3').state, null, 'a wiped disk holds no state');
  s.waitServing(['n1', 'n2', 'n3'], 3 * viewChangeMs);
  // The checkers know n3 runs on a new disk (n3@2): its empty history is no lost decision.
  assert.deepEqual(s.sim.failures, []);
  assert.deepEqual(s.cluster.node('n3').process!.stack.config.core.memberIds(), ['n1', 'n2', 'n3@2']);
  s.finish(load, s.cluster.view('n1')!.members);
});

test('two of three members restart at once: a restarted member that a new view lists is a member again, not removed a second time', () => {
  // Proves staleness heals with the view (FailureDetector): the new incarnation is learned afresh,
  // so the cluster goes back to three members in a couple of view changes, never down to one.
  const s = new RsmScenario(114, ['n1', 'n2', 'n3']);
  s.growTo(['n1', 'n2', 'n3']);
  const load = s.load(['c1', 'c2']).start();
  load.waitMoreAcked(20);
  const vid = s.cluster.view('n3')!.vid;
  s.cluster.crash('n1', 'n2');
  s.cluster.start('n1', 'n2');
  const allThree = (): boolean => {
    const v = s.cluster.view('n3');
    return v !== null && v.members.length === 3 && s.serving(v.members);
  };
  assert.ok(s.cluster.runUntil(allThree, 3 * viewChangeMs), s.describe());
  s.cluster.runFor(2000);
  const after = s.history('n3').slice(vid);
  assert.ok(after.length <= 2, `at most one member removed and re-added: ${after.join(' | ')}`);
  assert.ok(after.every((v) => v.split(',').length >= 2), `never down to one member: ${after.join(' | ')}`);
  load.waitMoreAcked(10);
  s.finish(load, s.cluster.view('n3')!.members);
});
