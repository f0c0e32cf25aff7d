import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InvariantViolation } from '../../src/env/errors.js';
import { limits } from '../../src/options.js';
import { viewRule } from '../../src/config/view-rule.js';
import type { NodeId } from '../../src/env/types.js';
import { CoreNet, to } from './core-net.js';
import { a, b, c, inFlight, n, upcalls, decideView2 } from './paxos-core-support.js';

// Scripted tests of one node's Paxos core (acceptor + proposer + learner) through CoreNet: each
// test chooses the delivery order and asserts what the cores sent, decided and keep. This file:
// messages and proposals that the cores refuse, and the decisions that stop a node (none that
// comes from the network: a conflicting one from a peer is refused with an error line).

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

  test('after a forged round at limits.maxRound a proposer gives up (error line) instead of persisting a round it could not read back', () => {
    // Proves a node never persists a round above the limit its own codec enforces on restart (found by npm run fuzz, forged families).
    const net = new CoreNet([a, b, c]);
    decideView2(net);
    net.inject(c, b, { kind: 'prepare', instance: 3, n: n(limits.maxRound, c) });
    net.deliver(to(b, 'prepare'));
    assert.equal(net.propose(b, 3, [a, b]), 'started');
    const rounds = net.durable(b).flatMap((r) => (r.kind === 'round' ? [r.round] : []));
    assert.ok(rounds.every((r) => r <= limits.maxRound), `rounds persisted: ${rounds.join(', ')}`);
    assert.equal(net.core(b).proposingInstance, null, 'the attempt is given up');
    assert.deepEqual(inFlight(net, 'prepare').filter((m) => m.from === b), [], 'no prepare sent');
    const errors = net.logs.filter((l) => l.node === b && l.level === 'error').map((l) => l.msg);
    assert.deepEqual(errors, ['paxos: no round left below limits.maxRound (a peer sent a forged or corrupt round); not proposing']);
    net.crash(b);
    assert.equal(net.core(b).decided(2)?.length, 3, 'b restarts from its records');
  });

  test('a stranger\'s prepare at limits.maxRound moves no round: the proposer still decides the next view', () => {
    // Proves a forged round from a sender the view rule refuses cannot leave a node without rounds (review M3).
    const net = new CoreNet([a, b, c], { rule: viewRule });
    decideView2(net, [a, b]);
    net.inject('127.0.0.1:9' as NodeId, b, { kind: 'prepare', instance: 3, n: n(limits.maxRound, '127.0.0.1:9' as NodeId) });
    net.deliver(to(b, 'prepare'));
    assert.equal(net.propose(b, 3, [a, b, c]), 'started');
    net.deliverAll();
    assert.deepEqual(net.core(b).decided(3), [a, b, c], 'the next view is decided');
    const rounds = net.durable(b).flatMap((r) => (r.kind === 'round' ? [r.round] : []));
    assert.ok(rounds.every((r) => r < 100), `rounds persisted: ${rounds.join(', ')}`);
  });

  test('proposing a value no peer would accept stops the caller with an InvariantViolation', () => {
    // Proves an empty or duplicated member list is caught where it is made, not retried forever against refusing peers.
    const net = new CoreNet([a, b]);
    assert.throws(() => net.propose(a, 2, []), InvariantViolation);
    assert.throws(() => net.propose(a, 2, [a, a]), InvariantViolation);
    assert.deepEqual(net.inFlight, []);
  });

  test('a peer\'s second, different value for a decided instance is refused with an error line naming it; the node keeps its value and runs on', () => {
    // Proves a conflicting decision from the network (forged, another cluster's, or an agreement violation elsewhere) never stops a node nor replaces what it knows.
    const net = new CoreNet([a, b, c]);
    decideView2(net);
    net.inject(c, b, { kind: 'decided', instance: 2, value: [a, b, c] });
    net.deliver(to(b));
    assert.deepEqual(upcalls(net, b), [1, 2], 'a repeat is not delivered twice');
    const durable = net.durable(b).length;

    net.inject(c, b, { kind: 'decided', instance: 2, value: [a, b] });
    net.deliver(to(b));
    net.inject(c, b, { kind: 'decisions', first: 1, values: [[a], [c]] });
    net.deliver(to(b));
    assert.deepEqual(net.core(b).decided(2), [a, b, c]);
    assert.equal(net.durable(b).length, durable, 'nothing persisted');
    assert.deepEqual(upcalls(net, b), [1, 2]);
    const errors = net.logs.filter((l) => l.node === b && l.level === 'error');
    assert.deepEqual(errors.map((l) => [l.fields['instance'], l.fields['known'], l.fields['value']]), [[2, [a, b, c], [a, b]], [2, [a, b, c], [c]]]);
    assert.match(errors[0]!.msg, /refused a decision that contradicts the value this node knows/);
  });
});
