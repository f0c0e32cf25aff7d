import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeId } from '../../src/env/types.js';
import { learnerTimers } from '../../src/paxos/learner.js';
import { CoreNet, from, to } from './core-net.js';
import { a, b, c, type Sent, inFlight, fromNode, upcalls, decideAmong } from './paxos-core-support.js';

// Scripted tests of one node's Paxos core (acceptor + proposer + learner) through CoreNet: each
// test chooses the delivery order and asserts what the cores sent, decided and keep. This file:
// how a node that missed decisions gets them: fetch on a later prepare or decision, gossip,
// and batches bounded by maxFetchBatch.

describe('Paxos core: learner catch-up', () => {
  /** a and b decide instances 2..last (each [a,b,c]) while c hears nothing. */
  function cMisses(net: CoreNet, last: number): void {
    decideAmong(net, a, 2, [a, b, c], [a, b]);
    for (let i = 3; i <= last; i++) decideAmong(net, i % 2 === 0 ? a : b, i, [a, b, c], [a, b]);
    assert.deepEqual(upcalls(net, c), [1]);
    assert.deepEqual(net.inFlight, []);
  }

  test('a node that missed decisions fetches them when a peer prepares a later instance', () => {
    // Proves a prepare for instance i tells the acceptor that i-1 is decided at the sender, and it fetches the gap in order.
    const net = new CoreNet([a, b, c]);
    cMisses(net, 5);
    net.propose(a, 6, [a, b]);
    net.deliver(from(a, c, 'prepare'));
    assert.deepEqual(inFlight(net, 'fetch').map((m) => [m.to, m.msg]), [[a, { kind: 'fetch', from: 2 }]]);
    assert.equal(inFlight(net, 'promise', fromNode(c)).length, 1, 'c still answers the prepare');
    net.deliver(from(c, a, 'fetch'));
    assert.deepEqual(inFlight(net, 'decisions').map((m) => m.msg), [
      { kind: 'decisions', first: 2, values: [[a, b, c], [a, b, c], [a, b, c], [a, b, c]] },
    ]);
    net.deliver(from(a, c, 'decisions'));
    assert.deepEqual(upcalls(net, c), [1, 2, 3, 4, 5]);
    assert.equal(net.timers(c).has(learnerTimers.fetchRetry), false, 'the answered fetch needs no retry');
  });

  test('a decision beyond a gap is held back until the gap is fetched, then all are delivered in order', () => {
    // Proves a `decided` beyond a gap triggers a fetch, and onDecided never skips ahead of a missing instance.
    const net = new CoreNet([a, b, c]);
    cMisses(net, 5);
    net.propose(a, 6, [a, b, c]);
    net.deliverAll((m) => m.to !== c);
    net.drop((m) => m.to === c && m.msg.kind !== 'decided');
    net.deliver(from(a, c, 'decided'));
    assert.deepEqual(net.core(c).decided(6), [a, b, c]);
    assert.deepEqual(upcalls(net, c), [1], 'instance 6 waits for 2..5');
    assert.deepEqual(net.durable(c), [{ kind: 'decide', instance: 6, value: [a, b, c] }]);
    assert.deepEqual(inFlight(net, 'fetch').map((m) => [m.to, m.msg]), [[a, { kind: 'fetch', from: 2 }]]);
    net.deliverAll();
    assert.deepEqual(upcalls(net, c), [1, 2, 3, 4, 5, 6]);
    assert.equal(net.core(c).highestKnown, 6);
  });

  test('gossip brings a laggard up to date in both directions', () => {
    // Proves `known` gossip alone repairs missed decisions: a laggard's gossip makes the peer push, and a peer's gossip makes the laggard fetch.
    const net = new CoreNet([a, b, c]);
    cMisses(net, 4);
    net.fireTimer(c, learnerTimers.gossip);
    assert.deepEqual(inFlight(net, 'known').map((m) => [m.to, m.msg]), [[a, { kind: 'known', instance: 1 }]],
      'c knows only view 1 = [a], so it gossips with a');
    assert.equal(net.timers(c).has(learnerTimers.gossip), true, 'gossip re-arms itself');
    net.deliver(to(a, 'known'));
    assert.deepEqual(inFlight(net, 'decisions').map((m) => m.msg.first), [2]);
    net.deliverAll();
    assert.deepEqual(upcalls(net, c), [1, 2, 3, 4]);

    decideAmong(net, b, 5, [a, b, c], [a, b]);
    const known = gossipTo(net, b, c);
    assert.deepEqual(known.msg, { kind: 'known', instance: 5 });
    net.deliver((m) => m === known);
    assert.deepEqual(inFlight(net, 'fetch').map((m) => [m.to, m.msg]), [[b, { kind: 'fetch', from: 5 }]]);
    net.deliverAll();
    assert.deepEqual(upcalls(net, c), [1, 2, 3, 4, 5]);
  });

  test('a laggard further behind than maxFetchBatch gets every batch after one gossip, in order', () => {
    // Proves a `decisions` message carries at most maxFetchBatch values, and a cut-short batch is followed by the next one without waiting for more gossip.
    const net = new CoreNet([a, b, c], { options: { maxFetchBatch: 3 } });
    cMisses(net, 9);
    net.fireTimer(c, learnerTimers.gossip);
    assert.deepEqual(inFlight(net, 'known').map((m) => [m.to, m.msg.instance]), [[a, 1]]);
    assert.deepEqual(deliverEverything(net), [
      'c→a known 1',
      'a→c decisions 2..4', 'a→c known 9',
      'c→a fetch 5',
      'a→c decisions 5..7', 'a→c known 9',
      'c→a fetch 8',
      'a→c decisions 8..9',
    ]);
    assert.deepEqual(upcalls(net, c), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test('a decision beyond a gap wider than maxFetchBatch is fetched batch by batch without waiting for gossip', () => {
    // Proves catch-up triggered by a `decided` continues from the same peer until the gap is closed, and upcalls stay in order.
    const net = new CoreNet([a, b, c], { options: { maxFetchBatch: 3 } });
    cMisses(net, 8);
    net.propose(a, 9, [a, b, c]);
    net.deliverAll((m) => m.to !== c);
    net.drop((m) => m.to === c && m.msg.kind !== 'decided');
    assert.deepEqual(deliverEverything(net), [ // no timer fires
      'a→c decided 9',
      'c→a fetch 2',
      'a→c decisions 2..4', 'a→c known 9',
      'c→a fetch 5',
      'a→c decisions 5..7', 'a→c known 9',
      'c→a fetch 8',
      'a→c decisions 8..9',
    ]);
    assert.deepEqual(upcalls(net, c), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(net.timers(c).has(learnerTimers.fetchRetry), false);
  });
});

/** Delivers every message, oldest first, until none is left; returns a line per message delivered. */
function deliverEverything(net: CoreNet): string[] {
  const lines: string[] = [];
  while (net.inFlight.length > 0) {
    const { from: sender, to: receiver, msg } = net.deliver(() => true);
    const what =
      msg.kind === 'decisions' ? `${msg.first}..${msg.first + msg.values.length - 1}`
      : msg.kind === 'fetch' ? `${msg.from}`
      : 'instance' in msg ? `${msg.instance}`
      : '';
    lines.push(`${sender}→${receiver} ${msg.kind} ${what}`);
  }
  return lines;
}

/** Fires `node`'s gossip timer until its `known` goes to `peer`, dropping the ones to other peers. */
function gossipTo(net: CoreNet, node: NodeId, peer: NodeId): Sent<'known'> {
  for (let tries = 0; tries < 100; tries++) {
    net.fireTimer(node, learnerTimers.gossip);
    const [known] = inFlight(net, 'known', fromNode(node));
    assert.ok(known !== undefined, `${node} gossiped nothing`);
    if (known.to === peer) return known;
    net.drop((m) => m === known);
  }
  throw new Error(`${node} never gossiped to ${peer}`);
}

