import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InvariantViolation } from '../../src/env/errors.js';
import type { NodeId } from '../../src/env/types.js';
import { learnerTimers } from '../../src/paxos/learner.js';
import type { PaxosMessage, PaxosValue } from '../../src/paxos/messages.js';
import type { ProposalNumber } from '../../src/paxos/proposal-number.js';
import { proposerTimers } from '../../src/paxos/proposer.js';
import { CoreNet, type InFlight, from, to } from './core-net.js';

// Scripted tests of one node's Paxos core (acceptor + proposer + learner) through CoreNet: each
// test chooses the delivery order and asserts what the cores sent, decided and keep.

const a = 'a';
const b = 'b';
const c = 'c';
const d = 'd';

type Kind = PaxosMessage['kind'];
type Msg<K extends Kind> = Extract<PaxosMessage, { kind: K }>;
type Sent<K extends Kind> = { readonly from: NodeId; readonly to: NodeId; readonly msg: Msg<K> };

/** The in-flight messages of kind `kind` (optionally only those `where` accepts), oldest first. */
function inFlight<K extends Kind>(net: CoreNet, kind: K, where: (m: InFlight) => boolean = () => true): Array<Sent<K>> {
  return net.inFlight.filter((m): m is Sent<K> => m.msg.kind === kind && where(m));
}

const fromNode = (node: NodeId) => (m: InFlight): boolean => m.from === node;
const n = (round: number, node: NodeId): ProposalNumber => ({ round, node });

/** Instances `node` delivered upward through onDecided, in delivery order. */
function upcalls(net: CoreNet, node: NodeId): number[] {
  return net.decisions.filter((x) => x.node === node).map((x) => x.instance);
}

/** The values `node` delivered upward, by instance. */
function deliveredValue(net: CoreNet, node: NodeId, instance: number): PaxosValue[] {
  return net.decisions.filter((x) => x.node === node && x.instance === instance).map((x) => x.value);
}

/** Instance 2 = `members`, decided by `a` alone (the acceptors of instance 2 are view 1 = [a]). */
function decideView2(net: CoreNet, members: PaxosValue = [a, b, c]): void {
  assert.equal(net.propose(a, 2, members), 'started');
  net.deliverAll();
  for (const node of members) assert.deepEqual(net.core(node).decided(2), members);
}

/**
 * `proposer` drives `instance` to `value` while only the nodes in `reach` talk to each other:
 * every message to or from any other node is lost.
 */
function decideAmong(net: CoreNet, proposer: NodeId, instance: number, value: PaxosValue, reach: readonly NodeId[]): void {
  const inside = (m: InFlight): boolean => reach.includes(m.from) && reach.includes(m.to);
  assert.equal(net.propose(proposer, instance, value), 'started');
  net.deliverAll(inside);
  net.drop((m) => !inside(m));
  assert.deepEqual(net.core(proposer).decided(instance), value);
}

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

describe('Paxos core: deciding', () => {
  test('one proposer with three acceptors decides, and every acceptor and new member learns it in instance order', () => {
    // Proves decide reaches every acceptor of the instance and every member of the new view (not only those that answered), and upcalls come in instance order, once each.
    const net = new CoreNet([a, b, c, d]);
    decideView2(net);
    assert.equal(net.core(d).decided(2), undefined, 'd is not in view 2 and was not told');

    assert.equal(net.propose(a, 3, [a, b, c, d]), 'started');
    assert.deepEqual(inFlight(net, 'prepare').map((m) => m.to), [a, b, c], 'prepares go to the members of view 2 only');
    net.drop(to(c)); // c hears nothing of either phase
    net.deliverAll((m) => m.to !== c && m.msg.kind !== 'decided');
    assert.equal(inFlight(net, 'accept', to(c)).length, 1);
    net.drop(to(c, 'accept'));

    assert.deepEqual(net.core(a).decided(3), [a, b, c, d]);
    const broadcast = inFlight(net, 'decided');
    assert.deepEqual(broadcast.map((m) => m.to).sort(), [b, c, d], 'b answered; c did not; d is a new member');
    for (const m of broadcast) assert.deepEqual(m.msg, { kind: 'decided', instance: 3, value: [a, b, c, d] });

    net.deliverAll();
    for (const node of [a, b, c, d]) {
      assert.deepEqual(upcalls(net, node), [1, 2, 3], `${node}'s upcalls`);
      assert.deepEqual(deliveredValue(net, node, 2), [[a, b, c]]);
      assert.deepEqual(deliveredValue(net, node, 3), [[a, b, c, d]]);
    }
    assert.deepEqual(net.core(c).acceptorStatus(3), { instance: 3, promised: null, accepted: null, decided: [a, b, c, d] });
  });

  test('a higher proposer adopts the value a majority already accepted instead of its own', () => {
    // Proves the classic safety case: once a majority accepted a value, a later higher-numbered proposer re-proposes that value.
    const net = new CoreNet([a, b, c]);
    decideView2(net);
    assert.equal(net.propose(b, 3, [a, b]), 'started');
    net.deliver(from(b, a, 'prepare'));
    net.deliver(from(b, b, 'prepare'));
    net.deliverAll(to(b, 'promise'));
    net.drop(from(b, c));
    net.deliver(from(b, a, 'accept'));
    net.deliver(from(b, b, 'accept'));
    net.drop(to(b, 'accepted')); // b never learns that it won: its acceptances are lost
    assert.deepEqual(net.core(a).acceptorStatus(3).accepted, { n: n(1, b), value: [a, b] });

    assert.equal(net.propose(c, 3, [a, c]), 'started');
    const [prepare] = inFlight(net, 'prepare', fromNode(c));
    assert.deepEqual(prepare!.msg.n, n(1, c), 'c saw no round yet; (1,c) is still above (1,b)');
    net.deliver(from(c, a, 'prepare'));
    net.deliver(from(c, c, 'prepare'));
    net.deliverAll(to(c, 'promise'));
    const accepts = inFlight(net, 'accept', fromNode(c));
    assert.deepEqual(accepts.map((m) => m.to), [a, b, c]);
    for (const m of accepts) assert.deepEqual(m.msg.value, [a, b], 'c proposes the accepted value, not its own [a,c]');

    net.deliverAll();
    for (const node of [a, b, c]) assert.deepEqual(deliveredValue(net, node, 3), [[a, b]], node);
  });

  test('a value only a minority accepted may lose to the next proposer whose majority never saw it', () => {
    // Proves a proposer whose promise majority reports no accepted value proposes its own, and that overrides a minority acceptance.
    const net = new CoreNet([a, b, c]);
    decideView2(net);
    net.propose(b, 3, [a, b]);
    net.deliver(from(b, a, 'prepare'));
    net.deliver(from(b, b, 'prepare'));
    net.deliverAll(to(b, 'promise'));
    net.deliver(from(b, b, 'accept')); // only b itself accepts [a,b]
    net.deliver(from(b, b, 'accepted'));
    net.drop(from(b, c));

    net.propose(c, 3, [a, c]);
    net.deliver(from(c, a, 'prepare'));
    net.deliver(from(c, c, 'prepare'));
    net.deliverAll(to(c, 'promise'));
    for (const m of inFlight(net, 'accept', fromNode(c))) assert.deepEqual(m.msg.value, [a, c]);

    // b's stale accept now loses at a, which promised (1,c).
    net.deliver(from(b, a, 'accept'));
    assert.deepEqual(inFlight(net, 'reject', to(b)).map((m) => m.msg), [
      { kind: 'reject', instance: 3, n: n(1, b), promised: n(1, c) },
    ]);
    net.deliverAll();
    for (const node of [a, b, c]) assert.deepEqual(deliveredValue(net, node, 3), [[a, c]], node);
    assert.equal(net.core(b).proposingInstance, null);
    assert.equal(net.propose(b, 3, [a, b]), 'already-decided');
  });

  test('a prepare for a decided instance is answered with the value, and the proposer learns it and stops', () => {
    // Proves an acceptor answers a prepare for a decided instance with `decided`, and the proposer adopts it and gives up its round.
    const net = new CoreNet([a, b, c]);
    net.propose(a, 2, [a, b, c]);
    net.deliverAll((m) => m.to !== c);
    net.drop(to(c)); // c missed the decision
    assert.equal(net.core(c).decided(2), undefined);

    assert.equal(net.propose(c, 2, [a, c]), 'started');
    assert.deepEqual(inFlight(net, 'prepare').map((m) => m.to), [a], 'the acceptors of instance 2 are view 1 = [a]');
    net.deliver(from(c, a, 'prepare'));
    assert.deepEqual(inFlight(net, 'decided').map((m) => [m.to, m.msg]), [
      [c, { kind: 'decided', instance: 2, value: [a, b, c] }],
    ]);
    assert.deepEqual(inFlight(net, 'promise'), [], 'no promise for a decided instance');
    net.deliver(from(a, c, 'decided'));

    assert.deepEqual(upcalls(net, c), [1, 2]);
    assert.deepEqual(deliveredValue(net, c, 2), [[a, b, c]]);
    assert.equal(net.core(c).proposingInstance, null);
    assert.equal(net.timers(c).has(proposerTimers.phase), false, 'no phase timer left to start another round');
    assert.equal(net.propose(c, 2, [a, c]), 'already-decided');
    assert.deepEqual(net.inFlight, []);
  });

  test('an accept for a decided instance is answered with the value, and the proposer learns it and stops', () => {
    // Proves an acceptor that knows the decision answers a late accept with `decided` instead of accepting, and the proposer stops.
    const net = new CoreNet([a, b, c]);
    decideView2(net);
    net.propose(b, 3, [a, b]);
    net.deliver(from(b, a, 'prepare'));
    net.deliver(from(b, b, 'prepare'));
    net.deliverAll(to(b, 'promise'));
    net.deliver(from(b, a, 'accept'));
    net.deliver(from(b, b, 'accept'));
    net.deliverAll(to(b, 'accepted'));
    assert.deepEqual(net.core(b).decided(3), [a, b]);
    net.drop(fromNode(b)); // the decide broadcast and b's other messages are lost

    net.propose(c, 3, [a, c]);
    net.deliver(from(c, a, 'prepare'));
    net.deliver(from(c, c, 'prepare'));
    net.deliverAll(to(c, 'promise'));
    net.deliver(from(c, b, 'accept'));
    assert.deepEqual(inFlight(net, 'decided').map((m) => [m.from, m.to, m.msg]), [
      [b, c, { kind: 'decided', instance: 3, value: [a, b] }],
    ]);
    assert.deepEqual(inFlight(net, 'accepted', fromNode(b)), [], 'b did not accept');
    net.deliver(from(b, c, 'decided'));

    assert.deepEqual(deliveredValue(net, c, 3), [[a, b]]);
    assert.equal(net.core(c).proposingInstance, null);
    assert.equal(net.timers(c).has(proposerTimers.phase), false);
    assert.equal(net.propose(c, 3, [a, c]), 'already-decided');
    net.deliverAll(); // c's remaining prepare and accepts change nothing
    assert.deepEqual(inFlight(net, 'prepare'), []);
    for (const node of [b, c]) assert.deepEqual(deliveredValue(net, node, 3), [[a, b]], node);
    assert.equal(net.core(a).decided(3), undefined, 'only the deciding proposer broadcasts; a learns later by gossip');
  });

  test('promises and acceptances count toward a majority only from the members of view i-1', () => {
    // Proves promises and acceptances from non-acceptors (an old member, a joining node) never complete a majority of instance i.
    const net = new CoreNet([a, b, c, d]);
    decideView2(net);
    decideAmong(net, a, 3, [a, b], [a, b, c]); // view 3 = [a,b]: c leaves
    net.deliverAll();

    assert.equal(net.propose(a, 4, [a, b, d]), 'started');
    const prepares = inFlight(net, 'prepare');
    assert.deepEqual(prepares.map((m) => m.to), [a, b], 'the acceptors of instance 4 are view 3 = [a,b]');
    const round = prepares[0]!.msg.n;
    net.deliver(from(a, a, 'prepare'));
    net.deliver(from(a, a, 'promise'));
    net.inject(c, a, { kind: 'promise', instance: 4, n: round, accepted: null }); // a member of view 2
    net.inject(d, a, { kind: 'promise', instance: 4, n: round, accepted: null }); // a member of the proposed view
    net.deliverAll(to(a, 'promise'));
    assert.deepEqual(inFlight(net, 'accept'), [], 'one acceptor of two is no majority');

    net.deliver(from(a, b, 'prepare'));
    net.deliver(from(b, a, 'promise'));
    assert.deepEqual(inFlight(net, 'accept').map((m) => m.to), [a, b]);

    net.deliver(from(a, a, 'accept'));
    net.deliver(from(a, a, 'accepted'));
    net.inject(c, a, { kind: 'accepted', instance: 4, n: round });
    net.inject(d, a, { kind: 'accepted', instance: 4, n: round });
    net.deliverAll(to(a, 'accepted'));
    assert.equal(net.core(a).decided(4), undefined, 'acceptances of c and d do not count');
    assert.deepEqual(inFlight(net, 'decided'), []);

    net.deliver(from(a, b, 'accept'));
    net.deliver(from(b, a, 'accepted'));
    assert.deepEqual(net.core(a).decided(4), [a, b, d]);
  });
});

describe('Paxos core: durability', () => {
  test('an acceptor keeps its promise and its acceptance across a crash', () => {
    // Proves promises and acceptances are durable: after restarts the acceptor rejects lower prepares/accepts and reports what it accepted.
    const net = new CoreNet([a, b, c]);
    decideView2(net);
    net.propose(b, 3, [a, b]);
    net.deliver(from(b, a, 'prepare'));
    net.deliver(from(b, b, 'prepare'));
    net.deliverAll(to(b, 'promise'));
    // b's prepare and accept for (1,b) to c stay in flight (delayed).

    net.propose(a, 3, [a, c]);
    const higher = inFlight(net, 'prepare', fromNode(a))[0]!.msg.n;
    assert.deepEqual(higher, n(2, a));
    net.deliver(from(a, c, 'prepare'));
    net.crash(c);
    assert.deepEqual(net.core(c).acceptorStatus(3), { instance: 3, promised: higher, accepted: null, decided: null });

    net.deliver(from(b, c, 'prepare'));
    net.deliver(from(b, c, 'accept'));
    assert.deepEqual(inFlight(net, 'reject', fromNode(c)).map((m) => m.msg), [
      { kind: 'reject', instance: 3, n: n(1, b), promised: higher },
      { kind: 'reject', instance: 3, n: n(1, b), promised: higher },
    ]);
    assert.equal(net.core(c).acceptorStatus(3).accepted, null);

    net.deliver(from(a, a, 'prepare'));
    net.deliverAll(to(a, 'promise'));
    net.deliver(from(a, c, 'accept'));
    net.crash(c);
    assert.deepEqual(net.core(c).acceptorStatus(3), {
      instance: 3, promised: higher, accepted: { n: higher, value: [a, c] }, decided: null,
    });

    net.deliverAll(to(b, 'reject'));
    net.drop(fromNode(b));
    net.fireTimer(b, proposerTimers.phase);
    const next = inFlight(net, 'prepare', from(b, c))[0]!.msg;
    assert.deepEqual(next.n, n(3, b), 'the reject told b of round 2');
    net.deliver(from(b, c, 'prepare'));
    assert.deepEqual(inFlight(net, 'promise', to(b)).map((m) => m.msg), [
      { kind: 'promise', instance: 3, n: n(3, b), accepted: { n: higher, value: [a, c] } },
    ]);
  });

  test('a restarted proposer never reuses a round: its next prepare is above every one it sent', () => {
    // Proves the proposer's durable 'round' record, not acceptor state, keeps rounds unique across a crash.
    const net = new CoreNet([a, b]);
    net.propose(a, 2, [a, b]);
    net.drop(() => true);
    net.fireTimer(a, proposerTimers.phase); // timed out: back off
    net.fireTimer(a, proposerTimers.phase); // next round
    const before = net.inFlight.map((m) => (m.msg as Msg<'prepare'>).n);
    assert.deepEqual(before, [n(2, a)]);
    net.drop(() => true);
    assert.deepEqual(net.durable(a).map((r) => r.kind), ['round', 'round'], 'the acceptor promised nothing');

    net.crash(a);
    assert.equal(net.propose(a, 2, [a, b]), 'started');
    assert.deepEqual(inFlight(net, 'prepare').map((m) => m.msg.n), [n(3, a)]);
    net.deliverAll();
    assert.deepEqual(net.core(b).decided(2), [a, b]);
  });
});

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

describe('Paxos core: lost rounds', () => {
  test('a rejected proposer backs off and prepares a higher round only when its timer fires', () => {
    // Proves a reject stops the round, no new prepare leaves before the backoff timer fires, and the next round is above the rejecting promise.
    const net = new CoreNet([a, b, c], { options: { backoffBaseMs: 20, backoffMaxMs: 1000 } });
    decideView2(net);
    net.propose(b, 3, [a, b]);
    net.propose(c, 3, [a, c]);
    net.deliver(from(c, a, 'prepare')); // a promises (1,c)
    net.deliver(from(b, a, 'prepare')); // (1,b) is lower
    net.drop(fromNode(b));
    assert.deepEqual(inFlight(net, 'reject').map((m) => [m.to, m.msg]), [
      [b, { kind: 'reject', instance: 3, n: n(1, b), promised: n(1, c) }],
    ]);
    net.deliver(to(b, 'reject'));

    assert.deepEqual(inFlight(net, 'prepare', fromNode(b)), [], 'no new round before the timer fires');
    const backoffMs = net.timers(b).get(proposerTimers.phase)!;
    assert.ok(backoffMs >= 10 && backoffMs <= 20, `first backoff ${backoffMs} ms in [10, 20]`);
    net.inject(a, b, { kind: 'reject', instance: 3, n: n(1, b), promised: n(1, c) }); // a duplicate
    net.deliver(to(b, 'reject'));
    assert.equal(net.timers(b).get(proposerTimers.phase), backoffMs, 'a second reject of the lost round changes nothing');
    assert.deepEqual(inFlight(net, 'prepare', fromNode(b)), []);

    net.fireTimer(b, proposerTimers.phase);
    assert.deepEqual(inFlight(net, 'prepare', fromNode(b)).map((m) => [m.to, m.msg.n]), [
      [a, n(2, b)], [b, n(2, b)], [c, n(2, b)],
    ]);
    assert.equal(net.timers(b).get(proposerTimers.phase), 250, 'the new round has a phase timeout');
  });

  test('a phase that gets no answers times out, backs off, and retries with a higher round and a longer timeout', () => {
    // Proves a silent majority leads to backoff and then a new, higher round, with the backoff growing per consecutive
    // loss and the phase timeout doubling (up to its cap) so that a slow disk cannot starve every round.
    const net = new CoreNet([a, b, c], { options: { phaseTimeoutMs: 250, phaseTimeoutMaxMs: 1000, backoffBaseMs: 20, backoffMaxMs: 1000 } });
    decideView2(net);
    net.propose(b, 3, [a, b]);
    const rounds: number[] = [];
    const backoffs: number[] = [];
    const timeouts: number[] = [];
    for (let loss = 0; loss < 3; loss++) {
      const prepares = inFlight(net, 'prepare', fromNode(b));
      assert.equal(prepares.length, 3);
      rounds.push(prepares[0]!.msg.n.round);
      net.drop(() => true); // nobody answers
      timeouts.push(net.timers(b).get(proposerTimers.phase)!);
      net.fireTimer(b, proposerTimers.phase);
      assert.deepEqual(net.inFlight, [], 'a timeout backs off first');
      backoffs.push(net.timers(b).get(proposerTimers.phase)!);
      net.fireTimer(b, proposerTimers.phase);
    }
    assert.deepEqual(rounds, [1, 2, 3]);
    assert.deepEqual(timeouts, [250, 500, 1000], 'the phase timeout doubles after each timeout');
    assert.ok(backoffs[0]! >= 10 && backoffs[0]! <= 20, `${backoffs[0]}`);
    assert.ok(backoffs[1]! >= 20 && backoffs[1]! <= 40, `${backoffs[1]}`);
    assert.ok(backoffs[2]! >= 40 && backoffs[2]! <= 80, `${backoffs[2]}`);
    assert.equal(inFlight(net, 'prepare', fromNode(b))[0]!.msg.n.round, 4);

    // The accept phase times out the same way.
    net.deliverAll((m) => m.msg.kind === 'prepare' || m.msg.kind === 'promise');
    assert.equal(inFlight(net, 'accept').length, 3);
    net.drop(() => true);
    net.fireTimer(b, proposerTimers.phase);
    net.fireTimer(b, proposerTimers.phase);
    assert.deepEqual(inFlight(net, 'prepare').map((m) => m.msg.n), [n(5, b), n(5, b), n(5, b)]);
    assert.equal(net.timers(b).get(proposerTimers.phase), 1000, 'capped at phaseTimeoutMaxMs');
    net.deliverAll();
    assert.deepEqual(net.core(c).decided(3), [a, b]);
    // A round this node decides halves the timeout again.
    net.propose(b, 4, [a, b]);
    assert.equal(net.timers(b).get(proposerTimers.phase), 500);
  });
});

describe('Paxos core: crash breakpoints', () => {
  test('breakpoint 3 halts the proposer after a majority promised and before any accept leaves', () => {
    // Proves breakpoint 3 stops the node between phase 1 and phase 2: nothing is accepted anywhere, and another proposer then decides its own value.
    const net = new CoreNet([a, b, c]);
    decideView2(net);
    net.arm(a, 3);
    net.propose(a, 3, [a, b]);
    net.deliver(from(a, a, 'prepare'));
    net.deliver(from(a, b, 'prepare'));
    net.deliver(from(a, a, 'promise'));
    assert.equal(net.haltReason(a), undefined, 'one promise is no majority');
    net.deliver(from(b, a, 'promise'));

    assert.match(net.haltReason(a) ?? '', /^breakpoint 3: proposer of instance 3/);
    assert.deepEqual(inFlight(net, 'accept'), []);
    assert.equal(net.timers(a).size, 0, 'a halted node has no timers');
    net.deliverAll(); // c's promise reaches a dead node
    assert.deepEqual(inFlight(net, 'accept'), []);
    for (const node of [a, b, c]) assert.equal(net.core(node).acceptorStatus(3).accepted, null, node);

    net.propose(b, 3, [b, c]);
    net.deliverAll();
    assert.deepEqual(net.core(b).decided(3), [b, c]);
    net.crash(a);
    net.fireTimer(a, learnerTimers.gossip);
    net.deliverAll();
    assert.deepEqual(net.core(a).decided(3), [b, c]);
  });

  test('breakpoint 4 halts the proposer after a majority accepted and before any decide leaves', () => {
    // Proves breakpoint 4 stops the node between phase 2 and the decide broadcast, and the accepted value is still the one a later proposer decides.
    const net = new CoreNet([a, b, c]);
    decideView2(net);
    net.arm(a, 4);
    net.propose(a, 3, [a, b]);
    net.deliverAll();

    assert.match(net.haltReason(a) ?? '', /^breakpoint 4: proposer of instance 3/);
    assert.deepEqual(inFlight(net, 'decided'), []);
    assert.equal(net.core(a).decided(3), undefined);
    assert.ok(!net.durable(a).some((r) => r.kind === 'decide' && r.instance === 3), 'a never recorded the decision');
    assert.deepEqual(upcalls(net, a), [1, 2]);
    for (const node of [b, c]) assert.deepEqual(net.core(node).acceptorStatus(3).accepted?.value, [a, b], node);

    net.propose(c, 3, [a, c]);
    net.deliverAll();
    for (const node of [b, c]) assert.deepEqual(deliveredValue(net, node, 3), [[a, b]], node);
  });
});

describe('Paxos core: refusing bad input', () => {
  test('a prepare or accept too far beyond the highest known instance is dropped, logged, and creates no state', () => {
    // Proves maxInstanceLead bounds the instances an acceptor keeps state for, and a refusal is logged at warn.
    const net = new CoreNet([a, b], { options: { maxInstanceLead: 4 } });
    assert.equal(net.core(b).highestKnown, 1);
    net.inject(a, b, { kind: 'prepare', instance: 6, n: n(1, a) });
    net.inject(a, b, { kind: 'accept', instance: 7, n: n(1, a), value: [a] });
    net.deliverAll();

    assert.deepEqual(net.inFlight, [], 'no answer, and no fetch');
    assert.deepEqual(net.durable(b), []);
    assert.deepEqual(net.core(b).acceptorStatus(6), { instance: 6, promised: null, accepted: null, decided: null });
    assert.deepEqual(net.core(b).acceptorStatus(7), { instance: 7, promised: null, accepted: null, decided: null });
    const warnings = net.logs.filter((l) => l.node === b && l.level === 'warn');
    assert.deepEqual(warnings.map((l) => [l.msg, l.fields]), [
      ['paxos: refused message for an instance out of range', { from: a, kind: 'prepare', instance: 6, highestKnown: 1, maxLead: 4 }],
      ['paxos: refused message for an instance out of range', { from: a, kind: 'accept', instance: 7, highestKnown: 1, maxLead: 4 }],
    ]);

    net.inject(a, b, { kind: 'prepare', instance: 5, n: n(1, a) }); // exactly maxInstanceLead ahead
    net.deliver(to(b, 'prepare'));
    assert.deepEqual(inFlight(net, 'promise').map((m) => m.msg), [{ kind: 'promise', instance: 5, n: n(1, a), accepted: null }]);
    assert.deepEqual(net.core(b).acceptorStatus(5).promised, n(1, a));
  });

  test('a decision far beyond the highest known instance is refused: nothing persisted, delivered, or cancelled', () => {
    // Proves a stray decided/decisions message (another cluster, a bug) cannot write a far-away decision or end a round.
    const net = new CoreNet([a, b, c], { options: { maxInstanceLead: 4 } });
    decideView2(net);
    net.propose(b, 3, [a, b]);
    const durableBefore = net.durable(b).length;
    net.inject(c, b, { kind: 'decided', instance: 1_000_000_000, value: [c] });
    net.inject(c, b, { kind: 'decisions', first: 500, values: [[c]] });
    net.deliver(to(b, 'decided'));
    net.deliver(to(b, 'decisions'));
    assert.equal(net.core(b).decided(1_000_000_000), undefined);
    assert.equal(net.core(b).decided(500), undefined);
    assert.equal(net.durable(b).length, durableBefore, 'nothing written');
    assert.equal(net.core(b).proposingInstance, 3, 'the round in progress goes on');
    const refused = net.logs.filter((l) => l.node === b && l.level === 'warn').map((l) => l.fields['kind']);
    assert.deepEqual(refused, ['decided', 'decisions']);
    net.deliverAll();
    assert.deepEqual(net.core(a).decided(3), [a, b]);
  });

  test('proposing a value no peer would accept stops the caller with an InvariantViolation', () => {
    // Proves an empty or duplicated member list is caught where it is made, not retried forever against refusing peers.
    const net = new CoreNet([a, b]);
    assert.throws(() => net.propose(a, 2, []), InvariantViolation);
    assert.throws(() => net.propose(a, 2, [a, a]), InvariantViolation);
    assert.deepEqual(net.inFlight, []);
  });

  test('a second, different value for a decided instance stops the node with an InvariantViolation naming the instance', () => {
    // Proves the learner treats a conflicting decision as an agreement violation, while a repeat of the same value is harmless.
    const net = new CoreNet([a, b, c]);
    decideView2(net);
    net.inject(c, b, { kind: 'decided', instance: 2, value: [a, b, c] });
    net.deliver(to(b));
    assert.deepEqual(upcalls(net, b), [1, 2], 'a repeat is not delivered twice');

    net.inject(c, b, { kind: 'decided', instance: 2, value: [a, b] });
    assert.throws(() => net.deliver(to(b)), (err: unknown) =>
      err instanceof InvariantViolation && /instance 2 decided \[a,b,c\] and now \[a,b\]/.test(err.message));
    net.inject(c, b, { kind: 'decisions', first: 1, values: [[a], [c]] });
    assert.throws(() => net.deliver(to(b)), (err: unknown) => err instanceof InvariantViolation && /instance 2/.test(err.message));
    assert.deepEqual(net.core(b).decided(2), [a, b, c]);
  });
});

describe('Paxos core: the skipPromisePersist mutation', () => {
  /**
   * Instance 3 with acceptors [a,b,c]: b gets promises from a and b for (1,b) and itself accepts
   * [a,b]; c gets promises from a and c for (1,c) and sends accepts for [a,c]; then a crashes and
   * b's stale accept (1,b) reaches it, then c's accept (1,c); every answer to b and c is delivered.
   */
  function staleAcceptAfterCrash(net: CoreNet): void {
    decideView2(net);
    net.propose(b, 3, [a, b]);
    net.deliver(from(b, a, 'prepare'));
    net.deliver(from(b, b, 'prepare'));
    net.deliverAll(to(b, 'promise'));
    net.deliver(from(b, b, 'accept'));
    net.deliver(from(b, b, 'accepted'));
    net.drop(from(b, c));

    net.propose(c, 3, [a, c]);
    net.deliver(from(c, a, 'prepare'));
    net.deliver(from(c, c, 'prepare'));
    net.deliverAll(to(c, 'promise'));
    net.drop(from(c, b));

    net.crash(a);
    net.deliver(from(b, a, 'accept')); // stale (1,b) after a promised (1,c)
    net.deliverAll(to(b, 'accepted'));
    net.deliverAll(to(b, 'reject'));
    net.deliver(from(c, c, 'accept'));
    net.deliver(from(c, a, 'accept'));
    net.deliverAll(to(c, 'accepted'));
  }

  test('skipPromisePersist lets a crashed acceptor accept a stale value and two values get chosen; the real acceptor refuses', () => {
    // Proves persisting a promise before answering is what keeps a stale accept from completing a second majority.
    const broken = new CoreNet([a, b, c], { mutations: { skipPromisePersist: true } });
    staleAcceptAfterCrash(broken);
    assert.deepEqual(deliveredValue(broken, b, 3), [[a, b]], 'b decided [a,b] with acceptors {a,b}');
    assert.deepEqual(deliveredValue(broken, c, 3), [[a, c]], 'c decided [a,c] with acceptors {a,c}');
    assert.equal(broken.core(a).decided(3), undefined);
    assert.throws(() => broken.deliver(from(b, c, 'decided')), (err: unknown) =>
      err instanceof InvariantViolation && /instance 3/.test(err.message));

    const sound = new CoreNet([a, b, c]);
    staleAcceptAfterCrash(sound);
    assert.deepEqual(sound.core(a).acceptorStatus(3).accepted, { n: n(1, c), value: [a, c] });
    assert.equal(sound.core(b).decided(3), undefined, 'a refused (1,b) after its restart');
    assert.equal(sound.core(b).proposingInstance, 3, 'b backs off and will retry');
    assert.deepEqual(deliveredValue(sound, c, 3), [[a, c]]);
    sound.deliverAll();
    for (const node of [a, b, c]) assert.deepEqual(sound.core(node).decided(3), [a, c], node);
    assert.deepEqual(sound.decisions.filter((x) => x.instance === 3).map((x) => [x.node, x.value]), [
      [c, [a, c]], [a, [a, c]], [b, [a, c]],
    ]);
  });
});
