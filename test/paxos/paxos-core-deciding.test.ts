import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { proposerTimers } from '../../src/paxos/proposer.js';
import { CoreNet, from, to } from './core-net.js';
import { a, b, c, d, inFlight, fromNode, n, upcalls, deliveredValue, decideView2, decideAmong } from './paxos-core-support.js';

// Scripted tests of one node's Paxos core (acceptor + proposer + learner) through CoreNet: each
// test chooses the delivery order and asserts what the cores sent, decided and keep. This file:
// how one value gets decided (the acceptors' answers, the proposer's majority, who learns it), and
// what a proposer does when it loses a round.

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
