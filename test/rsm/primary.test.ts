import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvariantViolation } from '../../src/env/errors.js';
import type { Members, NodeId } from '../../src/env/types.js';
import { PrimaryHistory } from '../../src/rsm/primary.js';
import { Prng } from '../../tools/sim/prng.js';

// PrimaryHistory (design §4): the primary of every view, from the view history alone.

const seed = Number(process.env['SEED'] ?? Date.now() % 2 ** 31);

/** Adds views 1, 2, … in order and returns the primary of each. */
function primaries(views: readonly Members[]): NodeId[] {
  const h = new PrimaryHistory();
  return views.map((members, i) => h.add(i + 1, members));
}

/**
 * The rule of design §4 written as plainly as possible, recomputed from view 1 for every view
 * (no state carried between calls): the reference the incremental PrimaryHistory must agree with.
 */
function referencePrimary(views: readonly Members[], vid: number): NodeId {
  if (vid === 1) return views[0]![0]!;
  const previous = referencePrimary(views, vid - 1);
  const now = views[vid - 1]!;
  if (now.includes(previous)) return previous;
  const before = views[vid - 2]!;
  for (const m of before) if (now.includes(m)) return m;
  throw new Error(`reference: view ${vid} shares no member with view ${vid - 1}`);
}

test("view 1's primary is its first node", () => {
  // The first view's primary is the node that created it: the first member.
  assert.deepEqual(primaries([['a']]), ['a']);
  assert.deepEqual(primaries([['b', 'a']]), ['b']);
});

test('the previous primary stays primary while it is a member, wherever it stands in the list', () => {
  // A view change that keeps the primary (members joining at the end, others leaving) keeps it primary.
  assert.deepEqual(primaries([['a'], ['a', 'b'], ['a', 'b', 'c'], ['b', 'c', 'a'], ['c', 'a']]), ['a', 'a', 'a', 'a', 'a']);
});

test('a removed primary is replaced by the first member of the previous view, in that view\'s order, that is in the new view', () => {
  // The successor comes from the previous view's list order, not the new view's order.
  assert.deepEqual(primaries([['a', 'b', 'c'], ['c', 'b']]), ['a', 'b']);
  assert.deepEqual(primaries([['a'], ['a', 'b'], ['a', 'b', 'c'], ['b', 'c']]), ['a', 'a', 'a', 'b']);
  // b was primary; c is the first member of [b, c, d] still present in [d, c].
  assert.deepEqual(primaries([['a', 'b', 'c', 'd'], ['b', 'c', 'd'], ['d', 'c']]), ['a', 'b', 'c']);
});

test('a joiner at the end of the list never becomes primary while an older member of the previous view remains', () => {
  // The cascade of design §4: originals die one by one; each new primary is an original while any is left.
  const views: Members[] = [['a', 'b', 'c'], ['a', 'b', 'c', 'd'], ['a', 'b', 'c', 'd', 'e'], ['b', 'c', 'd', 'e'], ['c', 'd', 'e'], ['d', 'e']];
  assert.deepEqual(primaries(views), ['a', 'a', 'a', 'b', 'c', 'd']);
});

test('of() answers the primary of every recorded view and undefined for views not recorded; known counts them', () => {
  // The lookup side of the history agrees with what add() returned.
  const h = new PrimaryHistory();
  assert.equal(h.known, 0);
  assert.equal(h.of(1), undefined);
  h.add(1, ['a']);
  h.add(2, ['a', 'b']);
  h.add(3, ['b']);
  assert.equal(h.known, 3);
  assert.deepEqual([h.of(1), h.of(2), h.of(3), h.of(4), h.of(0)], ['a', 'a', 'b', undefined, undefined]);
});

test('views added out of order are invariant violations, and leave the history unchanged', () => {
  // add() must see views in increasing order: never one twice, never one older than the last.
  const h = new PrimaryHistory();
  assert.throws(() => h.add(0, ['a']), InvariantViolation);
  assert.equal(h.known, 0);
  h.add(1, ['a']);
  assert.throws(() => h.add(1, ['a', 'b']), InvariantViolation, 'a view added twice');
  h.add(2, ['a', 'b']);
  assert.throws(() => h.add(1, ['a']), InvariantViolation, 'an older view');
  assert.equal(h.known, 2);
  assert.equal(h.add(3, ['b', 'a']), 'a');
});

test('a history that starts late, or jumps ahead, starts with the first member as primary and forgets what it skipped', () => {
  // Paxos compacts old views away: a restarted node's history starts at its oldest kept view, and
  // a node that caught up from compacted peers jumps. Under config's list discipline (joiners at
  // the end, removals keeping the order) the first member is what the rule gives anyway.
  const h = new PrimaryHistory();
  assert.equal(h.add(500, ['b', 'c', 'd']), 'b');
  assert.equal(h.add(501, ['c', 'd']), 'c');
  assert.equal(h.add(900, ['d', 'e']), 'd', 'a jump restarts the chain');
  assert.deepEqual([h.of(500), h.of(501), h.of(900), h.known], [undefined, undefined, 'd', 900]);
  h.add(901, ['d', 'e', 'f']);
  h.forgetBefore(901);
  assert.deepEqual([h.of(900), h.of(901)], [undefined, 'd']);
});

test('on views made by config (joiners at the end, removals keeping the order) the primary is always the first member, so a history may start anywhere', () => {
  // What lets the primaries of a compacted history agree with those of a full one.
  const rng = new Prng(seed);
  for (let run = 0; run < 100; run++) {
    let next = 1;
    const views: Members[] = [['n0']];
    for (let vid = 2; vid <= 80; vid++) {
      const before = views.at(-1)!;
      if (before.length === 1 || rng.chance(0.5)) views.push([...before, `n${next++}`]);
      else {
        const leaving = rng.pick(before);
        views.push(before.filter((m) => m !== leaving));
      }
    }
    const full = new PrimaryHistory();
    const late = new PrimaryHistory();
    const start = rng.between(2, 70);
    views.forEach((members, i) => {
      const p = full.add(i + 1, members);
      assert.equal(p, members[0], `seed ${seed}, run ${run}, view ${i + 1}`);
      if (i + 1 >= start) assert.equal(late.add(i + 1, members), p, `seed ${seed}, run ${run}: a history started at ${start}, view ${i + 1}`);
    });
  }
});

test('an empty view is an invariant violation', () => {
  // No view has zero members; one arriving here is a programmer error upstream.
  assert.throws(() => new PrimaryHistory().add(1, []), InvariantViolation);
  const h = new PrimaryHistory();
  h.add(1, ['a']);
  assert.throws(() => h.add(2, []), InvariantViolation);
  assert.equal(h.known, 1);
});

test('a view that shares no member with the previous one is an invariant violation', () => {
  // With one member changing per view this cannot happen; if it does, no primary can be named.
  const h = new PrimaryHistory();
  h.add(1, ['a', 'b']);
  assert.throws(() => h.add(2, ['c', 'd']), InvariantViolation);
});

test(`seeded random histories of one-member changes agree with a brute-force reference (seed ${seed}; SEED=${seed} replays)`, () => {
  // The incremental rule matches the from-scratch rule on long histories, and every primary is a
  // member of its view and (after view 1) of the view before it.
  const rng = new Prng(seed);
  for (let run = 0; run < 200; run++) {
    let next = 0;
    const fresh = (): NodeId => `n${next++}`;
    const gone: NodeId[] = [];
    const views: Members[] = [[fresh()]];
    const length = rng.between(1, 60);
    const h = new PrimaryHistory();
    const got: NodeId[] = [h.add(1, views[0]!)];
    for (let vid = 2; vid <= length; vid++) {
      const before = views.at(-1)!;
      let now: Members;
      if (before.length === 1 || rng.chance(0.5)) {
        // Join at the end: a fresh node, or one that left earlier and comes back.
        const back = gone.length > 0 && rng.chance(0.3) ? gone.splice(rng.int(gone.length), 1)[0]! : fresh();
        now = [...before, back];
      } else {
        // Leave: often the primary itself (to exercise the successor rule), else anyone.
        const leaving = rng.chance(0.4) ? got.at(-1)! : rng.pick(before);
        now = before.filter((m) => m !== leaving);
        gone.push(leaving);
      }
      views.push(now);
      got.push(h.add(vid, now));
    }
    const context = `seed ${seed}, run ${run}: views ${JSON.stringify(views)}`;
    for (let vid = 1; vid <= views.length; vid++) {
      const p = got[vid - 1]!;
      assert.equal(p, referencePrimary(views, vid), `${context}: view ${vid}`);
      assert.equal(h.of(vid), p, `${context}: of(${vid})`);
      assert.ok(views[vid - 1]!.includes(p), `${context}: primary of view ${vid} is a member`);
      if (vid > 1) assert.ok(views[vid - 2]!.includes(p), `${context}: primary of view ${vid} was in view ${vid - 1}`);
    }
    assert.equal(h.known, views.length);
  }
});
