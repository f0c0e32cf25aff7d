// The built-in test app keeps names that come from clients in Maps: every Object.prototype key
// is a counter key like any other, through the app, its marshalled state and the simulator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testApp } from '../../src/apps/test-app.js';
import type { Json } from '../../src/rsm/app.js';
import { runHandler } from '../../src/rsm/app-guard.js';
import { limits } from '../../src/options.js';
import { simulateApp } from '../../tools/testkit/index.js';

const prototypeKeys = Object.getOwnPropertyNames(Object.prototype);
const simSeed = Number(process.env['SEED'] ?? 11);

test('every Object.prototype key is a counter key: add and get count it, the state keeps it through marshal', () => {
  const s = testApp.initialState();
  for (const [i, key] of prototypeKeys.entries()) {
    assert.deepEqual(runHandler(testApp, s, 'get', { key }), { ok: true, value: 0 }, `${key} starts at 0`);
    assert.deepEqual(runHandler(testApp, s, 'add', { key, by: i + 1 }), { ok: true, value: i + 1 }, key);
    assert.deepEqual(runHandler(testApp, s, 'add', { key, by: 1 }), { ok: true, value: i + 2 }, key);
  }
  assert.equal(s.counters.size, prototypeKeys.length);
  const copy = testApp.unmarshalState(testApp.marshalState(s));
  assert.deepEqual(copy, s);
  for (const [i, key] of prototypeKeys.entries()) assert.deepEqual(runHandler(testApp, copy, 'get', { key }), { ok: true, value: i + 2 });
  assert.equal(Object.getPrototypeOf({}), Object.prototype, 'no prototype was touched');
});

test('refuse answers the code asked for, and bad-args for a code no app error may carry (found by the fuzzer)', () => {
  const s = testApp.initialState();
  assert.deepEqual(runHandler(testApp, s, 'refuse', { code: 'nope' }), { ok: false, code: 'nope', message: 'refused on request' });
  const long = runHandler(testApp, s, 'refuse', { code: 'c'.repeat(limits.maxErrorTextLength + 1) });
  assert.ok(!long.ok && long.code === 'bad-args', JSON.stringify(long).slice(0, 200));
  const atLimit = runHandler(testApp, s, 'refuse', { code: 'c'.repeat(limits.maxErrorTextLength) });
  assert.ok(!atLimit.ok && atLimit.code.length === limits.maxErrorTextLength);
});

test('argument names are own properties only: a missing key is missing, whatever the prototype has', () => {
  const s = testApp.initialState();
  const missing = runHandler(testApp, s, 'add', { by: 1 });
  assert.ok(!missing.ok && missing.code === 'bad-args');
  // JSON.parse makes "__proto__" an own property; it is an argument like any other.
  const args = JSON.parse('{"__proto__": "p", "by": 2}') as Json;
  assert.deepEqual(runHandler(testApp, s, 'add', { key: '__proto__', by: 2 }), { ok: true, value: 2 });
  assert.deepEqual(runHandler(testApp, s, 'append', JSON.parse('{"item": "x", "__proto__": {"item": "y"}}') as Json), { ok: true, value: 0 });
  assert.ok(!runHandler(testApp, s, 'add', args).ok, 'key is not an argument of this call');
});

test('a counter never passes the largest safe integer, and a state with a broken counter is refused on unmarshal', () => {
  const s = testApp.initialState();
  runHandler(testApp, s, 'add', { key: 'k', by: Number.MAX_SAFE_INTEGER });
  const over = runHandler(testApp, s, 'add', { key: 'k', by: 1 });
  assert.ok(!over.ok && over.code === 'out-of-range', JSON.stringify(over));
  for (const text of ['{}', '{"list":[1],"counters":{}}', '{"list":[],"counters":{"k":1.5}}', '{"list":[],"counters":[]}']) {
    assert.throws(() => testApp.unmarshalState(new TextEncoder().encode(text)), TypeError, text);
  }
});

test(`on the simulator under faults, counters named by every Object.prototype key leave every node up and the replicas equal (seed ${simSeed})`, () => {
  const r = simulateApp({
    app: testApp,
    seed: simSeed,
    nextCall: (rng): { proc: string; args: Json } => {
      const key = rng.pick(prototypeKeys);
      return rng.chance(0.6) ? { proc: 'add', args: { key, by: rng.between(1, 5) } } : { proc: 'get', args: { key } };
    },
  });
  assert.deepEqual(r.failures, [], `SEED=${simSeed}`);
  assert.ok(r.operations > 20, `${r.operations} operations`);
});
