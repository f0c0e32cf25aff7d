import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CoreNet, to } from './core-net.js';
import { a, b, c, inFlight } from './paxos-core-support.js';

// Scripted tests of what a wiped data directory does to Paxos (issue: "a lost disk is recognised,
// not trusted"). A member whose disk was wiped comes back at the same address with no promises and
// no acceptances. Listed by member id (address + disk id, `MemberId`), it is another member than the
// one the views list, and answers nothing meant for that one; listed by address alone (what a
// wiped node was before disk ids), it answers in the old member's place and two values get decided.

/** View 2 = [a,b,c] (a decides it alone), learned everywhere; instance 3's acceptors are a, b, c. */
function threeMembers(): CoreNet {
  const net = new CoreNet([a, b, c]);
  assert.equal(net.propose(a, 2, [a, b, c]), 'started');
  net.deliverAll();
  for (const node of [a, b, c]) assert.deepEqual(net.core(node).decided(2), [a, b, c], node);
  return net;
}

/**
 * a decides [a,b] in instance 3 with c's acceptance (b hears nothing of it); then c's disk is
 * wiped and it restarts as `cAfterWipe`; a falls silent; b proposes [a,b,c,d]... which only a
 * majority of {b, c} can promise.
 */
function decideThenWipe(cAfterWipe: string): CoreNet {
  const net = threeMembers();
  assert.equal(net.propose(a, 3, [a, b]), 'started');
  net.deliverAll((m) => m.from !== b && m.to !== b);
  net.drop((m) => m.from === b || m.to === b);
  assert.deepEqual(net.core(a).decided(3), [a, b], 'decided by a and c');
  net.drop(() => true);
  net.wipe(c, cAfterWipe);
  // b never heard of instance 3's decision; it proposes its own value with only c to answer.
  assert.equal(net.propose(b, 3, [b, c]), 'started');
  net.deliverAll((m) => m.from !== a && m.to !== a);
  net.drop((m) => m.from === a || m.to === a);
  return net;
}

test('a member restarted on a wiped disk with a new member id answers nothing meant for the old one: no second value is decided', () => {
  const net = decideThenWipe('c@2');
  assert.equal(net.core(b).decided(3), undefined, 'b found no majority: c@2 is not the c that view 2 lists');
  assert.equal(net.core(b).acceptorStatus(3).accepted, null, 'not even accepted: phase 1 never completed');
  assert.ok(net.logs.some((l) => l.node === c && l.level === 'warn' && l.msg.includes('ignored a prepare meant for c, a member this data directory is not')),
    'c@2 says why it ignores the prepare');
  assert.deepEqual(net.durable(c).filter((r) => r.kind === 'promise' || r.kind === 'accept'), [], 'c@2 promised and accepted nothing');
  // Once a is back, b's next round learns the one decided value.
  for (let i = 0; i < 3 && net.core(b).decided(3) === undefined; i++) {
    net.fireTimer(b, 'proposer-phase');
    net.deliverAll();
  }
  assert.deepEqual(net.core(b).decided(3), [a, b]);
});

test('the same wipe with the address as member id (no disk ids) decides two values in one instance: the check above is what keeps agreement', () => {
  const net = decideThenWipe(c);
  assert.deepEqual(net.core(b).decided(3), [b, c], 'b decided its own value with the wiped c, which forgot accepting [a,b]');
  assert.deepEqual(net.core(a).decided(3), [a, b]);
  // When the two meet, a's learner sees the contradiction.
  net.inject(b, a, { kind: 'decided', instance: 3, value: [b, c] });
  net.deliver(to(a, 'decided'));
  assert.ok(net.logs.some((l) => l.node === a && l.level === 'error' && l.msg.includes('contradicts the value this node knows')));
});

test('a node whose address a view lists as another member id does not propose in the next instance', () => {
  const net = threeMembers();
  net.wipe(c, 'c@2');
  net.deliverAll();
  net.inject(a, c, { kind: 'decisions', first: 2, values: [[a, b, c]] });
  net.deliverAll(to(c));
  assert.deepEqual(net.core(c).decided(2), [a, b, c], 'it learns the views (facts)');
  assert.match(net.core(c).proposalProblem(3, [a, b, c, 'd']) ?? '', /lists this address as another member than c@2/);
  assert.equal(inFlight(net, 'prepare').length, 0);
});

test('a prepare from a sender older than member ids (no acceptor named) is answered only by a node listed by its address', () => {
  const net = threeMembers();
  net.wipe(c, 'c@2');
  net.inject(a, c, { kind: 'prepare', instance: 3, n: { round: 9, node: a } });
  net.inject(a, b, { kind: 'prepare', instance: 3, n: { round: 9, node: a } });
  net.deliverAll((m) => m.msg.kind === 'prepare');
  assert.deepEqual(inFlight(net, 'promise').map((m) => m.from), [b], 'b (listed as b) promises; c@2 (listed as c) does not');
});
