// The read-only view a query sees: every mutator it knows is refused, on nested objects, arrays,
// Maps, Sets and typed arrays; reads see the state as it is; a refused change leaves it unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QueryMutationError, readOnlyView } from '../../src/rsm/read-only-view.js';

interface Deep {
  readonly obj: { a: number; inner: { b: number[] } };
  readonly list: Array<{ x: number }>;
  readonly map: Map<string, { n: number; tags: Set<string> }>;
  readonly set: Set<{ id: number }>;
  readonly bytes: Uint8Array;
  readonly floats: Float64Array;
  readonly nestedBytes: Map<string, Int32Array>;
  readonly view: DataView;
}

function sample(): Deep {
  return {
    obj: { a: 1, inner: { b: [3, 1, 2] } },
    list: [{ x: 1 }, { x: 2 }],
    map: new Map([['k', { n: 5, tags: new Set(['t1', 't2']) }]]),
    set: new Set([{ id: 7 }]),
    bytes: new Uint8Array([3, 1, 2]),
    floats: new Float64Array([2.5, 1.5]),
    nestedBytes: new Map([['i', new Int32Array([9, 8])]]),
    view: new DataView(new ArrayBuffer(4)),
  };
}

/** What `sample` holds, as text that sees inside Maps, Sets and typed arrays (to prove nothing changed). */
function dump(s: Deep): string {
  return JSON.stringify(s, (_k, v: unknown) => {
    if (v instanceof Map) return { map: [...v] };
    if (v instanceof Set) return { set: [...v] };
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return { typed: Array.from(v as Uint8Array) };
    if (v instanceof DataView) return { dv: Array.from(new Uint8Array(v.buffer)) };
    return v;
  });
}

/** Every change tried here, each on a fresh view of one state, with what the view must say it tried. */
const attempts: ReadonlyArray<readonly [string, (s: Deep) => unknown, RegExp]> = [
  ['a property of a nested object', (s) => { s.obj.inner.b = []; }, /set state\.obj\.inner\.b/],
  ['a new property', (s) => { (s.obj as Record<string, unknown>)['c'] = 1; }, /set state\.obj\.c/],
  ['a delete', (s) => { delete (s.obj as Partial<Deep['obj']>).a; }, /delete state\.obj\.a/],
  ['Object.defineProperty', (s) => Object.defineProperty(s.obj, 'a', { value: 2 }), /define state\.obj\.a/],
  ['Object.freeze', (s) => Object.freeze(s.list), /freeze or seal state\.list/],
  ['Object.setPrototypeOf', (s) => Object.setPrototypeOf(s.obj, null), /change the prototype of state\.obj/],
  ['Array push', (s) => s.list.push({ x: 3 }), /state\.list\[2\]/],
  ['Array pop', (s) => s.list.pop(), /delete state\.list\[1\]/],
  ['Array splice', (s) => s.list.splice(0, 1), /state\.list/],
  ['Array sort of a nested array', (s) => s.obj.inner.b.sort(), /set state\.obj\.inner\.b\[0\]/],
  ['Array reverse', (s) => s.obj.inner.b.reverse(), /state\.obj\.inner\.b/],
  ['Array length', (s) => { s.list.length = 0; }, /set state\.list\.length/],
  ['an element of an array', (s) => { s.list[0]!.x = 9; }, /set state\.list\[0\]\.x/],
  ['Map.set', (s) => s.map.set('k2', { n: 1, tags: new Set() }), /call Map\.set on state\.map/],
  ['Map.delete', (s) => s.map.delete('k'), /call Map\.delete on state\.map/],
  ['Map.clear', (s) => s.map.clear(), /call Map\.clear on state\.map/],
  ['a property of a Map value', (s) => { s.map.get('k')!.n = 0; }, /set state\.map\.get\(…\)\.n/],
  ['Set.add inside a Map value', (s) => s.map.get('k')!.tags.add('t3'), /call Set\.add on state\.map\.get\(…\)\.tags/],
  ['Set.delete', (s) => s.set.delete([...s.set][0]!), /call Set\.delete on state\.set/],
  ['Set.clear', (s) => s.set.clear(), /call Set\.clear/],
  ['a Set element reached by iteration', (s) => { for (const e of s.set) e.id = 0; }, /set state\.set.*\.id/],
  ['a Map value reached by forEach', (s) => s.map.forEach((v) => { v.n = 0; }), /\.n/],
  ['a typed-array element', (s) => { s.bytes[0] = 9; }, /set state\.bytes\[0\]/],
  ['Uint8Array.fill', (s) => s.bytes.fill(0), /call Uint8Array\.fill on state\.bytes/],
  ['Uint8Array.set', (s) => s.bytes.set([9]), /call Uint8Array\.set on state\.bytes/],
  ['Uint8Array.copyWithin', (s) => s.bytes.copyWithin(0, 1), /call Uint8Array\.copyWithin/],
  ['Uint8Array.sort', (s) => s.bytes.sort(), /call Uint8Array\.sort/],
  ['Float64Array.reverse', (s) => s.floats.reverse(), /call Float64Array\.reverse on state\.floats/],
  ['a subarray\'s fill', (s) => s.bytes.subarray(1).fill(0), /call Uint8Array\.fill on state\.bytes\.subarray\(…\)/],
  ['a typed array inside a Map', (s) => s.nestedBytes.get('i')!.fill(0), /call Int32Array\.fill/],
  ['a DataView setter', (s) => s.view.setUint8(0, 1), /call DataView\.setUint8 on state\.view/],
];

for (const [what, change, said] of attempts) {
  test(`a query that tries ${what} is refused, and the state is unchanged`, () => {
    const state = sample();
    const before = dump(state);
    const view = readOnlyView(state);
    assert.throws(() => change(view.state), (err) => err instanceof QueryMutationError && said.test(err.attempt),
      `the refusal names what was tried (${String(said)})`);
    assert.ok(view.attempted !== null && said.test(view.attempted), `attempted: ${view.attempted}`);
    assert.equal(dump(state), before);
  });
}

test('a change the query catches itself is still recorded as attempted', () => {
  const state = sample();
  const view = readOnlyView(state);
  try {
    view.state.map.clear();
  } catch {
    // a query that swallows the refusal and answers anyway
  }
  assert.equal(view.attempted, 'call Map.clear on state.map');
  assert.equal(state.map.size, 1);
});

test('reads see the state as it is: iteration, spread, JSON.stringify, Map.get of nested objects, typed arrays', () => {
  const state = sample();
  const { state: s, attempted } = readOnlyView(state);
  assert.equal(s.obj.a, 1);
  assert.deepEqual([...s.obj.inner.b], [3, 1, 2]);
  assert.deepEqual([...s.obj.inner.b].sort(), [1, 2, 3], 'a copy may be sorted');
  assert.deepEqual(s.obj.inner.b.map((n) => n * 2), [6, 2, 4]);
  assert.deepEqual({ ...s.obj }.inner.b.slice(), [3, 1, 2]);
  assert.equal(JSON.stringify(s.list), '[{"x":1},{"x":2}]');
  assert.equal(JSON.stringify(s.obj), JSON.stringify(state.obj));
  assert.deepEqual(Object.keys(s.obj), ['a', 'inner']);
  assert.deepEqual(Object.entries(s.list[1]!), [['x', 2]]);
  assert.equal(Array.isArray(s.list), true);
  assert.equal(s.map instanceof Map, true);
  assert.equal(s.map.size, 1);
  assert.equal(s.map.has('k'), true);
  assert.equal(s.map.get('k')!.n, 5);
  assert.deepEqual([...s.map.get('k')!.tags], ['t1', 't2']);
  assert.equal(s.map.get('k')!.tags.has('t2'), true);
  assert.deepEqual([...s.map.keys()], ['k']);
  assert.deepEqual([...s.map.values()].map((v) => v.n), [5]);
  assert.deepEqual([...s.map.entries()].map(([k, v]) => `${k}=${v.n}`), ['k=5']);
  assert.deepEqual([...s.map].map(([k, v]) => `${k}=${v.n}`), ['k=5']);
  const seen: string[] = [];
  s.map.forEach((v, k, m) => seen.push(`${k}=${v.n}/${m.size}`));
  assert.deepEqual(seen, ['k=5/1']);
  assert.deepEqual([...s.set].map((e) => e.id), [7]);
  assert.equal(s.set.size, 1);
  assert.deepEqual(Array.from(s.bytes), [3, 1, 2]);
  assert.deepEqual([...s.bytes], [3, 1, 2]);
  assert.equal(s.bytes.length, 3);
  assert.equal(s.bytes[1], 1);
  assert.deepEqual(Array.from(s.bytes.slice().sort()), [1, 2, 3], 'a copy of a typed array may be sorted');
  assert.deepEqual([...s.bytes.entries()], [[0, 3], [1, 1], [2, 2]]);
  assert.deepEqual(Array.from(s.nestedBytes.get('i')!), [9, 8]);
  assert.equal(s.floats.reduce((a, b) => a + b, 0), 4);
  assert.equal(s.view.getUint8(0), 0);
  assert.equal(s.obj, s.obj, 'one object, one view');
  assert.equal(attempted, null, 'reading attempts nothing');
});

test('a state that is not an object is its own view', () => {
  assert.equal(readOnlyView(5).state, 5);
  assert.equal(readOnlyView(null).state, null);
});

test('a Date is read through the view, and its setters are not seen (the byte comparison is what catches them)', () => {
  const state = { at: new Date(0) };
  const view = readOnlyView(state);
  assert.equal(view.state.at.getTime(), 0);
  assert.equal(JSON.stringify(view.state), '{"at":"1970-01-01T00:00:00.000Z"}');
  view.state.at.setTime(1);
  assert.equal(state.at.getTime(), 1, 'the limit the module documents');
  assert.equal(view.attempted, null);
});
