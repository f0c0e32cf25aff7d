// JSON text under limits: the serialiser writes what JSON.stringify writes, stops at the bounds,
// and neither walk can overflow the stack, however deep the value or the text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonTextDepth, toJsonText, utf8Bytes } from '../../src/rsm/json-text.js';
import { Prng } from '../../tools/sim/prng.js';

const seed = Number(process.env['SEED'] ?? 1 + Math.floor(Math.random() * 1e6));
const wide = { maxDepth: 1000, maxBytes: 1 << 30 };

/** `[[…[]…]]` nested `depth` deep, built by a loop. */
function nested(depth: number): unknown[] {
  let v: unknown[] = [];
  for (let i = 1; i < depth; i++) v = [v];
  return v;
}

/** A random value of what handlers return: JSON, and what JSON.stringify turns into JSON. */
function randomValue(rng: Prng, depth: number): unknown {
  const scalars: Array<() => unknown> = [
    () => null, () => true, () => false, () => 0, () => -0, () => rng.int(1e9) - 5e8, () => rng.next() * 1e21, () => Number.NaN,
    () => Number.POSITIVE_INFINITY, () => 1e-7, () => '', () => 'plain', () => 'é😀\n"\\\u0001', () => '\ud800 lone',
    () => undefined, () => () => 1, () => Symbol('s'), () => new Date(rng.int(2e12)), () => new Number(7), () => new String('boxed'),
    () => new Boolean(false), () => ({ toJSON: (key: string) => `toJSON of ${key}` }), () => Object.assign(() => 1, { toJSON: () => 5 }),
  ];
  if (depth <= 0 || rng.chance(0.4)) return rng.pick(scalars)();
  if (rng.chance(0.5)) {
    const list: unknown[] = Array.from({ length: rng.int(5) }, () => randomValue(rng, depth - 1));
    if (rng.chance(0.1)) list.length += 2; // holes
    return list;
  }
  const o: Record<string, unknown> = JSON.parse('{"__proto__": 1}') as Record<string, unknown>;
  if (rng.chance(0.5)) delete o['__proto__'];
  for (let i = rng.int(5); i > 0; i--) o[rng.pick(['a', 'b', 'constructor', 'toString', '1', '0', 'x y', 'ü'])] = randomValue(rng, depth - 1);
  return o;
}

test(`the serialiser writes exactly what JSON.stringify writes (seed ${seed}; SEED=${seed} replays)`, () => {
  const rng = new Prng(seed);
  for (let i = 0; i < 2000; i++) {
    const v = randomValue(rng, 5);
    const expected = JSON.stringify(v) ?? 'null';
    const got = toJsonText(v, wide);
    assert.ok(got.ok, `seed ${seed} case ${i}: ${expected}`);
    assert.equal(got.text, expected, `seed ${seed} case ${i}`);
  }
});

test('a value nested deeper than the bound is refused without overflowing the stack, however deep', () => {
  const deep = nested(200_000);
  assert.throws(() => JSON.stringify(deep), RangeError, 'JSON.stringify itself overflows here');
  const r = toJsonText(deep, { maxDepth: 64, maxBytes: 1 << 20 });
  assert.equal(r.ok, false);
  assert.ok(!r.ok && r.problem === 'too-deep' && /deeper than 64 levels at \$\[0\]\[0\]/.test(r.detail), JSON.stringify(r));
  assert.deepEqual(toJsonText(nested(64), { maxDepth: 64, maxBytes: 1 << 20 }), { ok: true, text: JSON.stringify(nested(64)) }, 'the bound itself is allowed');
  assert.equal(toJsonText(nested(65), { maxDepth: 64, maxBytes: 1 << 20 }).ok, false);
  // Objects count like arrays, and a scalar has depth 0.
  assert.equal(toJsonText({ a: { b: 1 } }, { maxDepth: 2, maxBytes: 100 }).ok, true);
  assert.equal(toJsonText({ a: { b: {} } }, { maxDepth: 2, maxBytes: 100 }).ok, false);
  assert.equal(toJsonText('x', { maxDepth: 0, maxBytes: 100 }).ok, true);
});

test('a value larger than the bound is refused, counting UTF-8 bytes, and stops writing early', () => {
  assert.deepEqual(toJsonText('x'.repeat(8), { maxDepth: 4, maxBytes: 10 }), { ok: true, text: '"xxxxxxxx"' });
  const over = toJsonText('x'.repeat(9), { maxDepth: 4, maxBytes: 10 });
  assert.ok(!over.ok && over.problem === 'too-large', JSON.stringify(over));
  // Four characters of two bytes each, plus quotes: 10 bytes allowed, 12 refused.
  assert.equal(toJsonText('éé éé'.slice(0, 4), { maxDepth: 4, maxBytes: 10 }).ok, true);
  assert.equal(toJsonText('éééé€', { maxDepth: 4, maxBytes: 10 }).ok, false);
  // A getter that would make the text grow without end is never reached past the bound.
  let reads = 0;
  const endless = new Proxy([] as unknown[], { get: (t, k) => (k === 'length' ? 1e9 : (reads++, 'x'.repeat(100))) });
  assert.equal(toJsonText(endless, { maxDepth: 4, maxBytes: 10_000 }).ok, false);
  assert.ok(reads < 200, `read ${reads} elements for a bound of 10 000 bytes`);
});

test('a cycle and a bigint are not JSON, as for JSON.stringify, and say where they are', () => {
  const cyclic: Record<string, unknown> = { a: [1, 2] };
  (cyclic['a'] as unknown[]).push(cyclic);
  const c = toJsonText(cyclic, wide);
  assert.ok(!c.ok && c.problem === 'not-json' && c.detail === 'a cycle at $.a[2]', JSON.stringify(c));
  const b = toJsonText({ n: [10n] }, wide);
  assert.ok(!b.ok && b.problem === 'not-json' && b.detail === 'a bigint at $.n[0]', JSON.stringify(b));
  // The same object twice (not a cycle) is written twice, as JSON.stringify does.
  const shared = { k: 1 };
  assert.deepEqual(toJsonText([shared, shared], wide), { ok: true, text: '[{"k":1},{"k":1}]' });
});

test('undefined, a function or a symbol at the top is written null (a handler that returns nothing replies null)', () => {
  for (const v of [undefined, () => 1, Symbol('s')]) assert.deepEqual(toJsonText(v, wide), { ok: true, text: 'null' });
});

test('the depth of JSON text counts open containers, skips strings, and stops past the bound', () => {
  assert.equal(jsonTextDepth('1'), 0);
  assert.equal(jsonTextDepth('[]'), 1);
  assert.equal(jsonTextDepth('{"a":[{"b":[]}]}'), 4);
  assert.equal(jsonTextDepth('["[[[[", "\\"[[[", {"k\\\\":"]]]"}]'), 2, 'brackets in strings, escaped quotes and backslashes');
  assert.equal(jsonTextDepth(`${'['.repeat(400_000)}${']'.repeat(400_000)}`, 64), 65, 'stops once past the bound');
  assert.equal(jsonTextDepth(`${'['.repeat(400_000)}${']'.repeat(400_000)}`), 400_000);
  assert.equal(utf8Bytes('é😀'), 6);
});
