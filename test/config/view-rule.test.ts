// The view rules as Paxos enforces them (viewRule): one member added or removed, the rest the
// same, or the same list (a refresh), proposed or announced only by a member of the view before;
// order is not judged. And the member ids views list (address@disk) as addresses and codecs see them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { viewRule, viewStepProblem } from '../../src/config/view-rule.js';
import { configCodec } from '../../src/config/codec.js';
import { paxosCodec } from '../../src/paxos/codec.js';
import { address } from '../../src/env/validate.js';
import { addressOf, memberId } from '../../src/env/types.js';

test('a view one member away from the one before passes, whatever the order of its list', () => {
  for (const [before, after] of [
    [['a'], ['a', 'b']],
    [['a', 'b', 'c'], ['a', 'c']],
    [['a', 'b'], ['b', 'a', 'c']], // order is the proposer's discipline (the simulator's view-step checker), not a rule
    [['a', 'b'], ['a']],
  ] as const) {
    assert.equal(viewStepProblem(before, after), null, `${before} -> ${after}`);
    assert.equal(viewRule.valueProblem(before, after), null);
  }
});

test('a view two or more changes away, reordered, listing an address twice, or sharing nobody is refused with the reason; the same view is a refresh', () => {
  assert.equal(viewStepProblem(['a', 'b'], ['a', 'b', 'c', 'd']), '[a,b,c,d] is 2 changes away from the previous view [a,b] (+c +d), not one');
  assert.equal(viewStepProblem(['a', 'b'], ['a', 'c']), '[a,c] is 2 changes away from the previous view [a,b] (+c -b), not one');
  assert.equal(viewStepProblem(['a', 'b'], ['b', 'a']), '[b,a] lists the previous view\'s members [a,b] in another order');
  assert.equal(viewStepProblem(['a', 'b@1'], ['a', 'b@1']), null, 'a refresh: the same members, a new view');
  assert.equal(viewRule.valueProblem(['a', 'b@1'], ['a', 'b@1', 'b@2']), '[a,b@1,b@2] lists b twice');
  assert.equal(viewStepProblem(['a'], ['b']), '[b] shares no member with the previous view [a]');
  assert.equal(viewStepProblem(['a', 'b'], ['c', 'd', 'e']), '[c,d,e] shares no member with the previous view [a,b]');
  assert.equal(viewRule.valueProblem(undefined, ['a']), 'the previous view is not known');
  assert.equal(viewRule.needsPrevious, true);
});

test('only a member of the previous view may propose or announce the next one', () => {
  assert.equal(viewRule.senderProblem('a', ['a', 'b']), null);
  assert.equal(viewRule.senderProblem('c', ['a', 'b']), 'c is not a member of the previous view [a,b]');
  assert.equal(viewRule.senderProblem('b', ['a', 'b@1']), null, 'messages come from addresses; views list member ids');
});

test('an address may not contain @ (it separates address and disk id in member ids) and leaves room for a disk id', () => {
  assert.equal(address('h:1', 'me'), 'h:1');
  assert.throws(() => address('a@b:1', 'me'), /contains @/);
  assert.throws(() => address(`${'h'.repeat(230)}:1`, 'me'), /leaves no room for a disk id/);
  assert.equal(addressOf(memberId('[::1]:7001', '0a1b2c3d4e5f')), '[::1]:7001');
  assert.equal(addressOf('h:1'), 'h:1');
});

test('a join and a prepare from senders older than member ids decode without the new fields', () => {
  const join = configCodec.decode({ join: { incarnation: 'i', vid: 3 } });
  assert.equal((join as { member?: string }).member, undefined);
  const prepare = paxosCodec.decode({ prepare: { instance: 3, n: { round: 1, node: 'a' }, acceptor: '' } });
  assert.equal((prepare as { acceptor?: string }).acceptor, undefined, 'empty (proto3 default) is absent');
  assert.deepEqual(paxosCodec.decode(paxosCodec.encode({ kind: 'accept', instance: 3, n: { round: 1, node: 'a' }, value: ['a'], acceptor: 'b@1' })),
    { kind: 'accept', instance: 3, n: { round: 1, node: 'a' }, value: ['a'], acceptor: 'b@1' });
});
