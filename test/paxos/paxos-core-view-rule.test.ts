import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InvariantViolation } from '../../src/env/errors.js';
import { viewRule } from '../../src/config/view-rule.js';
import { CoreNet, from, to } from './core-net.js';
import { a, b, c, d, inFlight, n, upcalls } from './paxos-core-support.js';

// Scripted tests of the Paxos core under the config layer's value rule (`viewRule`): what a node
// refuses before anything is persisted (values more than one member away from the view before,
// values from senders that are not acceptors of the instance), what it cannot judge yet (a value
// whose previous view it does not know: it fetches first), and that the refusals are what keep a
// forged value out (with `skipValueRule` the same messages get in).

/** A stranger: in no view of these tests. */
const x = 'x';

/**
 * Views 2 = [a,b] and 3 = [a,b,c], one member at a time as the rule wants, decided by a and
 * learned by everyone: instance 4 is the first one the tests play with (its acceptors [a,b,c]).
 */
function grow(net: CoreNet): void {
  for (const [instance, value] of [[2, [a, b]], [3, [a, b, c]]] as const) {
    assert.equal(net.propose(a, instance, value), 'started');
    net.deliverAll();
  }
  for (const node of [a, b, c]) assert.deepEqual(net.core(node).decided(3), [a, b, c], node);
}

/** Error lines `node` logged, as [message, problem]. */
function errors(net: CoreNet, node: string): Array<[string, unknown]> {
  return net.logs.filter((l) => l.node === node && l.level === 'error').map((l) => [l.msg, l.fields['problem']]);
}

describe('Paxos core under the view rule: refused before persisted', () => {
  test('an accept whose value is two changes away, or that comes from a stranger, is refused: no record, no answer, an error line', () => {
    // Proves an acceptor never persists a value a replay would stop on, whoever proposes it.
    const net = new CoreNet([a, b, c], { rule: viewRule });
    grow(net);
    const durable = net.durable(b).length;
    net.inject(a, b, { kind: 'accept', instance: 4, n: n(5, a), value: [a, b, c, d, x] });
    net.inject(x, b, { kind: 'accept', instance: 4, n: n(6, x), value: [a, b, c, d] });
    net.inject(x, b, { kind: 'prepare', instance: 4, n: n(7, x) });
    net.deliverAll(to(b));
    assert.equal(net.durable(b).length, durable, 'nothing persisted');
    assert.deepEqual(net.core(b).acceptorStatus(4), { instance: 4, promised: null, accepted: null, decided: null });
    assert.deepEqual(inFlight(net, 'accepted'), []);
    assert.deepEqual(inFlight(net, 'promise'), []);
    assert.deepEqual(errors(net, b), [
      ['paxos: refused an accept that breaks the value rule ([a,b,c,d,x] is 2 changes away from the previous view [a,b,c] (+d +x), not one); nothing persisted',
        '[a,b,c,d,x] is 2 changes away from the previous view [a,b,c] (+d +x), not one'],
      ['paxos: refused an accept that breaks the value rule (x is not a member of the previous view [a,b,c]); nothing persisted',
        'x is not a member of the previous view [a,b,c]'],
      ['paxos: refused a prepare that breaks the value rule (x is not a member of the previous view [a,b,c]); nothing persisted',
        'x is not a member of the previous view [a,b,c]'],
    ]);
    // The same acceptor takes a value one member away from a member, as before.
    net.inject(a, b, { kind: 'accept', instance: 4, n: n(8, a), value: [a, b, c, d] });
    net.deliver(to(b));
    assert.deepEqual(net.core(b).acceptorStatus(4).accepted, { n: n(8, a), value: [a, b, c, d] });
  });

  test('a forged decided from a stranger is refused, and the round in progress for that instance goes on to its own decision', () => {
    // Proves a decision a node does not know cannot make its proposer give the instance up (what stalled a view change in the simulator).
    const net = new CoreNet([a, b, c], { rule: viewRule });
    grow(net);
    net.propose(b, 4, [a, b]);
    net.inject(x, b, { kind: 'decided', instance: 4, value: [a, b, c, x] });
    net.deliver(to(b, 'decided'));
    assert.equal(net.core(b).decided(4), undefined);
    assert.equal(net.core(b).proposingInstance, 4);
    assert.ok(!net.durable(b).some((r) => r.kind === 'decide' && r.instance === 4), 'nothing persisted');
    assert.deepEqual(errors(net, b), [[
      'paxos: refused a decision that breaks the value rule (x is not a member of the previous view [a,b,c]); nothing persisted',
      'x is not a member of the previous view [a,b,c]',
    ]]);
    net.deliverAll();
    for (const node of [a, b, c]) assert.deepEqual(net.core(node).decided(4), [a, b], node);
  });

  test('a decided from a member that shares nobody with the view before, or adds two, is refused', () => {
    const net = new CoreNet([a, b, c], { rule: viewRule });
    grow(net);
    net.inject(a, c, { kind: 'decided', instance: 4, value: [d, x] });
    net.inject(a, c, { kind: 'decisions', first: 4, values: [[a, b, c, d, x]] });
    net.deliverAll(to(c));
    assert.equal(net.core(c).decided(4), undefined);
    assert.deepEqual(upcalls(net, c), [1, 2, 3]);
    assert.deepEqual(errors(net, c).map(([, problem]) => problem), [
      '[d,x] shares no member with the previous view [a,b,c]',
      '[a,b,c,d,x] is 2 changes away from the previous view [a,b,c] (+d +x), not one',
    ]);
  });

  test('a batch of decisions is learned up to the first value that breaks the rule, and no further', () => {
    const net = new CoreNet([a, b, c], { rule: viewRule });
    grow(net);
    net.inject(a, c, { kind: 'decisions', first: 4, values: [[a, b], [a, b, d, x], [a, b, d]] });
    net.deliver(to(c));
    assert.deepEqual(net.core(c).decided(4), [a, b]);
    assert.equal(net.core(c).decided(5), undefined);
    assert.equal(net.core(c).decided(6), undefined, 'judged against an unknown view: not learned');
    assert.deepEqual(upcalls(net, c), [1, 2, 3, 4]);
  });

  test('a decision after a gap is not learned until the gap is fetched; then both are, in order', () => {
    // Proves a value is judged only against a view the node knows, and that catching up still works.
    const net = new CoreNet([a, b, c, d], { rule: viewRule });
    grow(net);
    net.propose(a, 4, [a, b, c, d]);
    net.deliverAll((m) => m.to !== c && m.from !== c);
    net.drop((m) => m.to === c);
    net.propose(a, 5, [a, b, c]);
    net.deliverAll((m) => m.to !== c && m.from !== c && m.msg.kind !== 'decided');
    net.drop((m) => m.to === c && m.msg.kind !== 'decided');
    assert.equal(net.core(c).highestKnown, 3);
    net.deliver(from(a, c, 'decided'));
    assert.equal(net.core(c).decided(5), undefined, 'not learned after a gap');
    assert.ok(!net.durable(c).some((r) => r.kind === 'decide' && r.instance === 5));
    assert.deepEqual(inFlight(net, 'fetch', (m) => m.from === c).map((m) => [m.to, m.msg.from]), [[a, 4]], 'the gap is fetched from the sender');
    net.deliverAll();
    assert.deepEqual([net.core(c).decided(4), net.core(c).decided(5)], [[a, b, c, d], [a, b, c]]);
    assert.deepEqual(upcalls(net, c), [1, 2, 3, 4, 5]);
    assert.deepEqual(errors(net, c), []);
  });

  test('an accept for an instance whose previous view is unknown is ignored (no record), and the acceptor fetches', () => {
    const net = new CoreNet([a, b, c], { rule: viewRule });
    grow(net);
    net.inject(a, c, { kind: 'accept', instance: 5, n: n(9, a), value: [a, b] });
    net.deliver(to(c));
    assert.deepEqual(net.core(c).acceptorStatus(5), { instance: 5, promised: null, accepted: null, decided: null });
    assert.deepEqual(inFlight(net, 'fetch').map((m) => [m.from, m.to]), [[c, a]]);
    assert.deepEqual(errors(net, c), [], 'not a rule broken: only not judged yet');
  });

  test('a promise reporting an accepted value that breaks the rule is ignored: the proposer does not adopt it', () => {
    const net = new CoreNet([a, b, c], { rule: viewRule });
    grow(net);
    net.propose(a, 4, [a, b]);
    net.deliver(from(a, a, 'prepare'));
    net.drop(from(a, b, 'prepare'));
    net.deliver(from(a, c, 'prepare'));
    // c's promise, forged to report a value nobody could accept.
    const promise = inFlight(net, 'promise', (m) => m.from === c)[0]!;
    net.drop((m) => m === promise);
    net.inject(c, a, { ...promise.msg, accepted: { n: n(1, c), value: [x] } });
    net.deliverAll(to(a, 'promise'));
    assert.deepEqual(inFlight(net, 'accept').map((m) => m.msg.value), [], 'one promise (its own) is no majority');
    assert.match(errors(net, a)[0]![0], /ignored a promise reporting an accepted value that breaks the value rule/);
  });

  test('proposalProblem names what a proposal breaks; propose refuses it as a programmer error', () => {
    const net = new CoreNet([a, b, c], { rule: viewRule });
    grow(net);
    const core = net.core(a);
    assert.equal(core.proposalProblem(4, [a, b]), null);
    assert.equal(core.proposalProblem(9, [a]), null, 'the previous instance is unknown: propose answers previous-unknown');
    assert.equal(core.proposalProblem(4, [a, b, c, d, x]), '[a,b,c,d,x] is 2 changes away from the previous view [a,b,c] (+d +x), not one');
    assert.equal(core.proposalProblem(4, [d]), '[d] shares no member with the previous view [a,b,c]');
    assert.match(core.proposalProblem(4, [a, a]) ?? '', /duplicate member/);
    assert.match(core.proposalProblem(1, [a]) ?? '', /instance 1 cannot be proposed/);
    const stranger = new CoreNet([a, b, c, d], { rule: viewRule });
    grow(stranger);
    stranger.inject(a, d, { kind: 'decisions', first: 2, values: [[a, b], [a, b, c]] });
    stranger.deliver(to(d));
    assert.equal(stranger.core(d).proposalProblem(4, [a, b, c, d]), 'd is not a member of the previous view [a,b,c]');
    assert.throws(() => net.propose(a, 4, [a, b, c, d, x]), InvariantViolation);
    assert.equal(net.propose(a, 9, [a]), 'previous-unknown');
  });

  test('with the skipValueRule mutation the same forged decided is learned: the checks are what keep it out', () => {
    // The mutation's half of the pair: the simulator's config runs catch what it lets in.
    const net = new CoreNet([a, b, c], { rule: viewRule, mutations: { skipValueRule: true } });
    grow(net);
    net.inject(x, b, { kind: 'decided', instance: 4, value: [x] });
    net.deliver(to(b));
    assert.deepEqual(net.core(b).decided(4), [x]);
    assert.ok(net.durable(b).some((r) => r.kind === 'decide' && r.instance === 4), 'persisted');
  });
});
