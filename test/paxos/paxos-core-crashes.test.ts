import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { learnerTimers } from '../../src/paxos/learner.js';
import { proposerTimers } from '../../src/paxos/proposer.js';
import { CoreNet, from, to } from './core-net.js';
import { a, b, c, type Msg, inFlight, fromNode, n, upcalls, deliveredValue, decideView2 } from './paxos-core-support.js';

// Scripted tests of one node's Paxos core (acceptor + proposer + learner) through CoreNet: each
// test chooses the delivery order and asserts what the cores sent, decided and keep. This file:
// what a crash keeps (promises, acceptances, rounds), what the crash breakpoints stop, and the
// mutation that shows why a promise is persisted before it is answered.

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
    // b hears c's other value: refused (an error line), never persisted over its own.
    broken.deliver(from(b, c, 'decided'));
    assert.deepEqual(broken.core(c).decided(3), [a, c]);
    assert.ok(broken.logs.some((l) => l.node === c && l.level === 'error' && l.fields['instance'] === 3), 'the conflict is logged');

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
