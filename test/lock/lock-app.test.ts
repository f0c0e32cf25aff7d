// The lock service's state machine on its own: grants, queues, tokens, callbacks, expiry, refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError, type Json } from '../../src/rsm/app.js';
import { type LockState, lockApp } from '../../src/apps/lock/lock-app.js';
import { simulateApp } from '../../tools/testkit/index.js';

const simSeed = Number(process.env['SEED'] ?? 7);

const call = (s: LockState, proc: string, args: Record<string, unknown>): unknown => lockApp.handlers[proc]!(s, args as never);
const callbacks = (s: LockState, proc?: string, args?: Record<string, unknown>) =>
  lockApp.callbacks!(s, proc === undefined ? undefined : { proc, args: args as never });

test('a free lock is granted with a fresh token; the holder asking again gets the same grant', () => {
  // Proves grants and their idempotence (a retried acquire is harmless).
  const s = lockApp.initialState();
  assert.deepEqual(call(s, 'acquire', { lock: 'a', owner: 'x' }), { granted: true, token: 1 });
  assert.deepEqual(call(s, 'acquire', { lock: 'a', owner: 'x' }), { granted: true, token: 1 });
});

test('a held lock queues the asker, calls for a revoke to the holder, then a retry to the first waiter once free', () => {
  // Proves the caching protocol's callbacks follow from the state.
  const s = lockApp.initialState();
  call(s, 'acquire', { lock: 'a', owner: 'x' });
  assert.deepEqual(call(s, 'acquire', { lock: 'a', owner: 'y' }), { granted: false });
  assert.deepEqual(call(s, 'acquire', { lock: 'a', owner: 'z' }), { granted: false });
  assert.deepEqual(callbacks(s, 'acquire', { lock: 'a', owner: 'y' }), [{ clientId: 'x', message: { kind: 'revoke', lock: 'a', token: 1 } }]);
  call(s, 'release', { lock: 'a', owner: 'x' });
  assert.deepEqual(callbacks(s, 'release', { lock: 'a' }), [{ clientId: 'y', message: { kind: 'retry', lock: 'a' } }]);
  assert.deepEqual(call(s, 'acquire', { lock: 'a', owner: 'z' }), { granted: false }, 'z must wait for y, first in line');
  assert.deepEqual(call(s, 'acquire', { lock: 'a', owner: 'y' }), { granted: true, token: 2 });
  assert.deepEqual(callbacks(s), [{ clientId: 'y', message: { kind: 'revoke', lock: 'a', token: 2 } }], 'every outstanding callback');
});

test('tokens increase strictly with every grant, also of a lock that was forgotten in between', () => {
  // Proves fencing tokens never repeat or go back.
  const s = lockApp.initialState();
  const tokens: number[] = [];
  for (let i = 0; i < 5; i++) {
    tokens.push((call(s, 'acquire', { lock: 'a', owner: `o${i}` }) as { token: number }).token);
    call(s, 'release', { lock: 'a', owner: `o${i}` });
    call(s, 'acquire', { lock: 'b', owner: 'other' });
    call(s, 'release', { lock: 'b', owner: 'other' });
  }
  assert.ok(tokens.every((t, i) => i === 0 || t > tokens[i - 1]!), tokens.join(','));
  assert.deepEqual([...s.locks.keys()], [], 'free locks nobody waits for are forgotten');
});

test('releasing a lock one does not hold is refused with not-held, and changes nothing', () => {
  // Proves a stale or confused client cannot free someone else's lock.
  const s = lockApp.initialState();
  call(s, 'acquire', { lock: 'a', owner: 'x' });
  assert.throws(() => call(s, 'release', { lock: 'a', owner: 'y' }), (e: unknown) => e instanceof AppError && e.code === 'not-held');
  assert.throws(() => call(s, 'release', { lock: 'nope', owner: 'y' }), (e: unknown) => e instanceof AppError && e.code === 'not-held');
  assert.equal(s.locks.get('a')!.holder, 'x');
  assert.throws(() => call(s, 'release', { lock: 'a', owner: 'x', token: 99 }), (e: unknown) => e instanceof AppError && e.code === 'not-held',
    'a release naming another grant is refused too');
  assert.deepEqual(call(s, 'release', { lock: 'a', owner: 'x', token: 1 }), { released: true });
});

test('empty or oversized names are refused as bad-args', () => {
  // Proves bad input is a typed app error, not a crash.
  const s = lockApp.initialState();
  for (const args of [{ lock: '', owner: 'x' }, { lock: 'a'.repeat(257), owner: 'x' }, { lock: 'a', owner: '' }, { owner: 'x' }, { lock: 5, owner: 'x' }]) {
    assert.throws(() => call(s, 'acquire', args), (e: unknown) => e instanceof AppError && e.code === 'bad-args', JSON.stringify(args));
  }
});

test('expiring a vanished owner releases its locks, dequeues it, and calls for retries', () => {
  // Proves a client that disappears leaves no stuck lock behind.
  const s = lockApp.initialState();
  call(s, 'acquire', { lock: 'a', owner: 'gone' });
  call(s, 'acquire', { lock: 'a', owner: 'w' });
  call(s, 'acquire', { lock: 'b', owner: 'x' });
  call(s, 'acquire', { lock: 'b', owner: 'gone' });
  assert.deepEqual(call(s, 'expire', { owner: 'gone' }), { released: 1, dequeued: 1 });
  assert.equal(s.locks.get('a')!.holder, null);
  assert.deepEqual(s.locks.get('b')!.waiters, []);
  assert.deepEqual(callbacks(s, 'expire', { owner: 'gone' }), [{ clientId: 'w', message: { kind: 'retry', lock: 'a' } }]);
});

test('the state survives marshal and unmarshal unchanged', () => {
  // Proves state transfer ships the whole lock table, queues and token counter included.
  const s = lockApp.initialState();
  call(s, 'acquire', { lock: 'a', owner: 'x' });
  call(s, 'acquire', { lock: 'a', owner: 'y' });
  assert.deepEqual(lockApp.unmarshalState(lockApp.marshalState(s)), s);
});

/** Every key of a plain object's prototype (`constructor`, `toString`, `__proto__`, …). */
const prototypeKeys = Object.getOwnPropertyNames(Object.prototype);

test('every Object.prototype key is a lock name and an owner like any other, through every procedure and the callbacks', () => {
  // Proves the state indexes names with a Map: no name reaches a prototype (issue 12: `constructor` killed the primary).
  assert.ok(prototypeKeys.includes('__proto__') && prototypeKeys.includes('constructor') && prototypeKeys.length >= 12);
  const s = lockApp.initialState();
  for (const [i, name] of prototypeKeys.entries()) {
    const other = prototypeKeys[(i + 1) % prototypeKeys.length]!;
    assert.deepEqual(call(s, 'stat', { lock: name }), { holder: null, token: 0, waiters: [] }, `${name} starts free`);
    const grant = call(s, 'acquire', { lock: name, owner: name }) as { granted: boolean; token: number };
    assert.equal(grant.granted, true, name);
    assert.deepEqual(call(s, 'acquire', { lock: name, owner: other }), { granted: false });
    assert.deepEqual(callbacks(s, 'acquire', { lock: name, owner: other }), [{ clientId: name, message: { kind: 'revoke', lock: name, token: grant.token } }]);
    assert.deepEqual(call(s, 'stat', { lock: name }), { holder: name, token: grant.token, waiters: [other] });
  }
  assert.equal(s.locks.size, prototypeKeys.length);
  assert.ok(callbacks(s).length === prototypeKeys.length, 'one revoke per lock outstanding');
  // The state survives the trip every state transfer makes, every name included.
  const copy = lockApp.unmarshalState(lockApp.marshalState(s));
  assert.deepEqual(copy, s);
  assert.deepEqual(lockApp.marshalState(copy), lockApp.marshalState(s));
  for (const name of prototypeKeys) {
    assert.deepEqual(call(s, 'release', { lock: name, owner: name }), { released: true });
    assert.deepEqual(callbacks(s, 'release', { lock: name }), [{ clientId: prototypeKeys[(prototypeKeys.indexOf(name) + 1) % prototypeKeys.length]!, message: { kind: 'retry', lock: name } }]);
  }
  for (const name of prototypeKeys) call(s, 'expire', { owner: name });
  assert.equal(s.locks.size, 0, 'every owner expired: nothing held, nobody waits');
  assert.equal(Object.getPrototypeOf({}), Object.prototype, 'and no prototype was touched');
  assert.equal(typeof Object.prototype.toString, 'function');
});

test('the marshalled state has the form of version 1.0.0, and a malformed one is refused on unmarshal', () => {
  // Proves replicas of 1.0.0 and this version read each other's state, and a bad state is an error, not a crash later.
  const s = lockApp.initialState();
  call(s, 'acquire', { lock: 'a', owner: 'x' });
  call(s, 'acquire', { lock: 'a', owner: 'y' });
  assert.equal(new TextDecoder().decode(lockApp.marshalState(s)), '{"lastToken":1,"locks":{"a":{"holder":"x","token":1,"waiters":["y"]}}}');
  const bad = ['{}', '{"lastToken":1,"locks":[]}', '{"lastToken":-1,"locks":{}}', '{"lastToken":1,"locks":{"a":{"holder":5,"token":1,"waiters":[]}}}', '[]'];
  for (const text of bad) assert.throws(() => lockApp.unmarshalState(new TextEncoder().encode(text)), TypeError, text);
});

test(`on the simulator under faults, clients using every Object.prototype key as lock and owner leave every node up, the replicas equal and the history linearizable (seed ${simSeed})`, () => {
  // Proves the fix end to end on the deterministic simulator (the testkit's checks: replicas, liveness, lincheck).
  const r = simulateApp({
    app: lockApp,
    seed: simSeed,
    clients: 4,
    nextCall: (rng, client): { proc: string; args: Json } => {
      const lock = rng.pick(prototypeKeys);
      const owner = rng.pick(['__proto__', 'constructor', 'toString', client.id]);
      if (rng.chance(0.5)) return { proc: 'acquire', args: { lock, owner } };
      return rng.chance(0.7) ? { proc: 'release', args: { lock, owner } } : { proc: 'stat', args: { lock } };
    },
  });
  assert.deepEqual(r.failures, [], `SEED=${simSeed}`);
  assert.ok(r.operations > 20, `${r.operations} operations`);
});
