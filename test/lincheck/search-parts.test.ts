// The search's building blocks keep the invariants the search relies on: taking an operation's
// events out of the event lists and putting them back restores the lists exactly, in any order
// of nested lifts; the linearized set's hash depends on its members only; and the memo tells a
// (set, state) pair seen before from a new one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Entry, eventLists, lift, unlift } from '../../tools/lincheck/events.js';
import { LinearizedSet, Memo } from '../../tools/lincheck/memo.js';
import { Prng } from '../../tools/sim/prng.js';
import { HistoryBuilder, testSeed } from './support.js';

/** The operations of a list's events in order, calls as `c<op>`, returns as `r<op>`. */
function walk(head: Entry): string[] {
  const seen: string[] = [];
  for (let e = head.next; e !== null; e = e.next) {
    assert.equal(e.prev!.next, e, 'every entry is its predecessor\'s successor');
    seen.push(`${e.isCall ? 'c' : 'r'}${e.op}`);
  }
  return seen;
}

test('the event lists are in time order, calls first at equal times, and unknown outcomes apart', () => {
  // Proves the layout: op 1 returns at 2 when op 2 is called, so op 2's call comes first (they overlap).
  const h = new HistoryBuilder<string, string>();
  h.done('a', 'x', 'x', 0, 2);
  h.unknown('b', 'y', 1);
  h.done('c', 'z', 'z', 2, 3);
  const lists = eventLists(h.history);
  assert.deepEqual(walk(lists.known), ['c0', 'c2', 'r0', 'r2']);
  assert.deepEqual(walk(lists.unknown), ['c1']);
});

test('unlifting the lifted calls in reverse order restores the event lists exactly', () => {
  // Randomised: lifts as the search makes them (any call still listed), undone last first.
  const seed = testSeed('lincheck event lists');
  const rng = new Prng(seed);
  for (let run = 0; run < 50; run++) {
    const h = new HistoryBuilder<number, number>();
    for (let i = 0; i < 20; i++) {
      const call = rng.int(100);
      if (rng.chance(0.2)) h.unknown(`c${i % 4}`, i, call);
      else h.done(`c${i % 4}`, i, i, call, call + rng.int(30));
    }
    const lists = eventLists([...h.history].sort((a, b) => a.call - b.call || a.id - b.id));
    const before = { known: walk(lists.known), unknown: walk(lists.unknown) };
    const lifted: Entry[] = [];
    for (let k = 0; k < 10; k++) {
      const calls: Entry[] = [];
      for (const head of [lists.known, lists.unknown]) for (let e = head.next; e !== null; e = e.next) if (e.isCall) calls.push(e);
      if (calls.length === 0) break;
      const call = rng.pick(calls);
      lift(call);
      lifted.push(call);
      assert.ok(!walk(lists.known).includes(`c${call.op}`) && !walk(lists.known).includes(`r${call.op}`), `seed ${seed}: op ${call.op} left the list`);
    }
    while (lifted.length > 0) unlift(lifted.pop()!);
    assert.deepEqual({ known: walk(lists.known), unknown: walk(lists.unknown) }, before, `seed ${seed}, run ${run}`);
  }
});

test('the linearized set\'s hash depends only on its members, and the memo knows a pair it has seen', () => {
  // Proves what the memo relies on: the same set reached in another order is the same entry; another state is not.
  const a = new LinearizedSet(70);
  const b = new LinearizedSet(70);
  for (const i of [3, 40, 69]) a.toggle(i);
  for (const i of [69, 5, 3, 40, 5]) b.toggle(i); // 5 in and out again
  assert.deepEqual([a.h1, a.h2, [...a.bits]], [b.h1, b.h2, [...b.bits]]);
  assert.ok(a.has(40) && !a.has(5) && !b.has(5));
  const memo = new Memo();
  assert.equal(memo.add(a, 'state 1'), true);
  assert.equal(memo.add(b, 'state 1'), false, 'the same set with the same state was seen');
  assert.equal(memo.add(b, 'state 2'), true, 'the same set with another state is new');
  b.toggle(0);
  assert.equal(memo.add(b, 'state 1'), true, 'another set is new');
  assert.ok(memo.bytes > 0);
});
