import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvariantViolation } from '../../src/env/errors.js';
import { ViewHistory } from '../../src/config/view-history.js';
import { statusViewsTail } from '../../src/node/status.js';

// ViewHistory keeps no more views than Paxos (log compaction): it may start late, forget old
// views, and jump ahead; status replies read a bounded tail of it.

const viewOf = (vid: number): string[] => (vid % 2 === 0 ? ['a', 'b'] : ['a', 'b', 'c']);

function loaded(oldest: number, highest: number): ViewHistory {
  const h = new ViewHistory('a');
  h.load(oldest, highest, (i) => (i >= oldest && i <= highest ? viewOf(i) : undefined));
  return h;
}

test('a history loaded from a compacted Paxos log starts at its oldest kept view and knows nothing older', () => {
  // Proves members() of a forgotten view is refused loudly, and knows() says so first.
  const h = loaded(9_000, 10_000);
  assert.equal(h.vid, 10_000);
  assert.equal(h.oldest, 9_000);
  assert.deepEqual(h.members(9_500), viewOf(9_500));
  assert.equal(h.knows(8_999), false);
  assert.throws(() => h.members(8_999), InvariantViolation);
});

test('the tail is the newest views, ending with the current one, and never more than asked', () => {
  // Proves what a status reply carries: statusViewsTail views at most, however many were decided.
  const h = loaded(1, 10_000);
  const tail = h.tail(statusViewsTail);
  assert.equal(tail.length, statusViewsTail);
  assert.deepEqual(tail.map((v) => v.vid), Array.from({ length: statusViewsTail }, (_, k) => 10_000 - statusViewsTail + 1 + k));
  assert.deepEqual(loaded(1, 5).tail(statusViewsTail).map((v) => v.vid), [1, 2, 3, 4, 5], 'a short history whole');
});

test('forgetBefore drops old views as Paxos compacts, never the current one', () => {
  // Proves memory follows the compaction bound.
  const h = loaded(1, 20);
  h.forgetBefore(15);
  assert.equal(h.oldest, 15);
  assert.equal(h.knows(14), false);
  assert.equal(h.tail().length, 6);
  h.forgetBefore(100);
  assert.equal(h.oldest, 20, 'the current view stays');
  assert.deepEqual(h.members(), viewOf(20));
});

test('a view committed beyond the next one starts a new history there (catch-up from compacted peers)', () => {
  // Proves the jump: older views are gone, and views go on from the new start.
  const h = loaded(1, 10);
  h.commit(500, viewOf(500));
  assert.deepEqual([h.oldest, h.vid, h.knows(10)], [500, 500, false]);
  h.commit(501, viewOf(501));
  assert.deepEqual(h.tail().map((v) => v.vid), [500, 501]);
  assert.throws(() => h.commit(501, viewOf(501)), InvariantViolation, 'a view committed twice');
});
