import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { viewRule } from '../../src/config/view-rule.js';
import { learnerTimers } from '../../src/paxos/learner.js';
import { paxosTimers } from '../../src/paxos/paxos.js';
import type { NodeId } from '../../src/env/types.js';
import { CoreNet, from } from './core-net.js';
import { a, b, c, decideAmong, n, upcalls } from './paxos-core-support.js';

// Scripted tests of Paxos log compaction in the core (PaxosOptions.retainedViews /
// compactAfterViews): what a node keeps, what its snapshot holds, and how a node that missed the
// views its peers forgot catches up. The store's crash safety: paxos-store-crash.test.ts.

const small = { retainedViews: 2, compactAfterViews: 3 };

/** `proposer` decides `instance` among `reach`, then every node whose compaction timer is armed fires it (the shell would, next). */
function decide(net: CoreNet, proposer: NodeId, instance: number, value: string[], reach: readonly NodeId[]): void {
  decideAmong(net, proposer, instance, value, reach);
  for (const id of [a, b, c]) if (net.timers(id).has(paxosTimers.compact)) net.fireTimer(id, paxosTimers.compact);
}

/** Views alternate between [a,b] and [a,b,c] from view 2 on (one member away, as the view rule wants). */
const viewOf = (i: number): string[] => (i % 2 === 0 ? [a, b] : [a, b, c]);

describe('Paxos core: log compaction', () => {
  test('a node keeps at most retainedViews + compactAfterViews values, and its snapshot holds the newest retainedViews and the undecided acceptor state', () => {
    // Proves the bound on memory, and that a promise for an undecided instance rides in the snapshot.
    const net = new CoreNet([a, b, c], { options: small });
    // b promises in instance 40, which stays undecided (Paxos' own rule lets anybody prepare).
    net.inject(c, b, { kind: 'prepare', instance: 40, n: n(7, c) });
    net.deliverAll(from(c, b));
    net.drop(() => true);
    for (let i = 2; i <= 26; i++) {
      decide(net, a, i, viewOf(i), [a, b, c]);
      assert.ok(net.core(b).keptValues <= small.retainedViews + small.compactAfterViews, `after instance ${i}: ${net.core(b).keptValues} kept`);
    }
    const snapshots = net.durable(b).filter((r) => r.kind === 'snapshot');
    assert.ok(snapshots.length >= 5, `${snapshots.length} snapshots`);
    const last = snapshots.at(-1)!;
    assert.equal(last.kind, 'snapshot');
    if (last.kind !== 'snapshot') return;
    const newest = last.snapshot.decided.at(-1)!.instance;
    assert.deepEqual(last.snapshot.decided.map((d) => d.instance), [newest - 1, newest], 'the newest retainedViews views at the time');
    assert.deepEqual(last.snapshot.decided.map((d) => d.value), [viewOf(newest - 1), viewOf(newest)]);
    assert.deepEqual(last.snapshot.slots, [{ instance: 40, promised: n(7, c), accepted: null }]);
    assert.ok(last.snapshot.round >= 7, 'the highest round seen, so a restarted proposer never reuses one');
    assert.equal(net.core(b).decided(5), undefined, 'forgotten');
    assert.equal(net.core(b).oldestKnown, net.core(b).highestKnown - net.core(b).keptValues + 1);
  });

  test('a restarted node replays its snapshot and the records after it: same views kept, same promises', () => {
    // Proves restore(snapshot + later records) rebuilds exactly the state before the crash.
    const net = new CoreNet([a, b, c], { options: small });
    for (let i = 2; i <= 12; i++) decide(net, a, i, viewOf(i), [a, b, c]);
    net.inject(c, b, { kind: 'prepare', instance: 14, n: n(9, c) });
    net.inject(c, b, { kind: 'accept', instance: 14, n: n(9, c), value: [a, b] });
    net.deliverAll(from(c, b));
    net.drop(() => true);
    assert.notEqual(net.core(b).acceptorStatus(14).accepted, null);
    const before = { oldest: net.core(b).oldestKnown, highest: net.core(b).highestKnown, slot: net.core(b).acceptorStatus(14) };
    const kept = Array.from({ length: before.highest - before.oldest + 1 }, (_, k) => net.core(b).decided(before.oldest + k));
    net.crash(b);
    assert.equal(net.core(b).oldestKnown, before.oldest);
    assert.equal(net.core(b).highestKnown, before.highest);
    assert.deepEqual(Array.from({ length: kept.length }, (_, k) => net.core(b).decided(before.oldest + k)), kept);
    assert.deepEqual(net.core(b).acceptorStatus(14), before.slot);
    // The replayed views are delivered again from the oldest kept one.
    assert.deepEqual(upcalls(net, b).slice(-kept.length), Array.from({ length: kept.length }, (_, k) => before.oldest + k));
  });

  test('a prepare for a forgotten instance is not promised: the sender is told how far this node knows', () => {
    // Proves an acceptor never creates state for a compacted (long decided) instance.
    const net = new CoreNet([a, b, c], { options: small });
    for (let i = 2; i <= 12; i++) decide(net, a, i, viewOf(i), [a, b, c]);
    net.inject(c, b, { kind: 'prepare', instance: 3, n: n(50, c) });
    net.deliverAll(from(c, b));
    assert.deepEqual(net.inFlight.map((m) => m.msg), [{ kind: 'known', instance: 12 }]);
    assert.deepEqual(net.core(b).acceptorStatus(3).promised, null);
  });

  for (const rule of [undefined, viewRule]) {
    test(`a node that missed more views than its peers keep starts its history at their oldest kept view (${rule === undefined ? 'any member list' : 'view rule'})`, () => {
      // Proves catch-up past compacted peers: the batch is marked compacted, the laggard jumps, persists a snapshot first, and delivers from there.
      const net = new CoreNet([a, b, c], { options: small, rule });
      decide(net, a, 2, viewOf(2), [a, b, c]);
      for (let i = 3; i <= 15; i++) decide(net, i % 2 === 0 ? a : b, i, viewOf(i), [a, b]);
      const cKnew = net.core(c).highestKnown; // 1: view 2 does not list c, so nobody told it
      assert.ok(cKnew <= 2);
      const oldestAtA = net.core(a).oldestKnown;
      assert.ok(oldestAtA > 3, `a forgot instance 3 (keeps from ${oldestAtA})`);
      net.fireTimer(c, learnerTimers.gossip);
      const known = net.inFlight.find((m) => m.from === c && m.msg.kind === 'known');
      assert.ok(known !== undefined);
      net.drop(() => true);
      net.inject(c, a, { kind: 'known', instance: cKnew });
      net.deliverAll(from(c, a));
      const batch = net.inFlight.find((m) => m.msg.kind === 'decisions');
      assert.ok(batch !== undefined && batch.msg.kind === 'decisions');
      assert.equal(batch.msg.first, oldestAtA);
      assert.equal(batch.msg.compacted, true);
      net.deliverAll(from(a, c, 'decisions'));
      assert.equal(net.core(c).highestKnown, 15);
      assert.equal(net.core(c).oldestKnown, oldestAtA);
      assert.deepEqual(upcalls(net, c), [...Array.from({ length: cKnew }, (_, k) => k + 1), ...Array.from({ length: 16 - oldestAtA }, (_, k) => oldestAtA + k)]);
      const firstRecord = net.durable(c).find((r) => r.kind === 'snapshot' || r.kind === 'decide');
      assert.equal(firstRecord?.kind, 'snapshot', 'the new start is durable before anything learned after it');
      net.crash(c);
      assert.equal(net.core(c).highestKnown, 15, 'and survives a restart');
    });
  }
});
