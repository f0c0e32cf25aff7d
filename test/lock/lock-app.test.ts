// The lock service's state machine on its own: grants, queues, tokens, callbacks, expiry, refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError, type HandlerContext, type Json } from '../../src/rsm/app.js';
import { type LockState, lockApp } from '../../src/apps/lock/lock-app.js';
import { simulateApp } from '../../tools/testkit/index.js';

const simSeed = Number(process.env['SEED'] ?? 7);

/** A call of owner `args.owner`'s own client (`client-<owner>`), unless `context` says who calls. */
const call = (s: LockState, proc: string, args: Record<string, unknown>, context?: HandlerContext): unknown =>
  lockApp.handlers[proc]!(s, args as never, context ?? { clientId: `client-${String(args['owner'])}`, internal: false });
/** The node's own request (a session's expiry). */
const node: HandlerContext = { clientId: 'synod:sessions@n1', internal: true };
const by = (clientId: string): HandlerContext => ({ clientId, internal: false });
const callbacks = (s: LockState, proc?: string, args?: Record<string, unknown>) =>
  lockApp.callbacks!(s, proc === undefined ? undefined : { proc, args: args as never });
const refused = (code: string) => (e: unknown): boolean => e instanceof AppError && e.code === code;

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
  call(s, 'release', { lock: 'a', owner: 'x', token: 1 });
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
    const token = (call(s, 'acquire', { lock: 'a', owner: `o${i}` }) as { token: number }).token;
    tokens.push(token);
    call(s, 'release', { lock: 'a', owner: `o${i}`, token });
    const other = (call(s, 'acquire', { lock: 'b', owner: 'other' }) as { token: number }).token;
    call(s, 'release', { lock: 'b', owner: 'other', token: other });
  }
  assert.ok(tokens.every((t, i) => i === 0 || t > tokens[i - 1]!), tokens.join(','));
  assert.deepEqual([...s.locks.keys()], [], 'free locks nobody waits for are forgotten');
  assert.deepEqual([...s.owners.keys()], [], 'and owners that hold nothing are bound to no client');
});

test('releasing a lock one does not hold, or under another grant, is refused with not-held, and changes nothing', () => {
  // Proves a stale or confused client cannot free a lock: the release must name the grant it gives back.
  const s = lockApp.initialState();
  call(s, 'acquire', { lock: 'a', owner: 'x' });
  assert.throws(() => call(s, 'release', { lock: 'a', owner: 'y', token: 1 }), refused('not-held'));
  assert.throws(() => call(s, 'release', { lock: 'nope', owner: 'y', token: 1 }), refused('not-held'));
  assert.equal(s.locks.get('a')!.holder, 'x');
  assert.throws(() => call(s, 'release', { lock: 'a', owner: 'x', token: 99 }), refused('not-held'), 'a release naming another grant is refused too');
  assert.throws(() => call(s, 'release', { lock: 'a', owner: 'x' }), refused('bad-args'), 'a release without a token is refused');
  for (const token of [0, -1, 1.5, '1', null]) assert.throws(() => call(s, 'release', { lock: 'a', owner: 'x', token }), refused('bad-args'), String(token));
  assert.equal(s.locks.get('a')!.holder, 'x');
  assert.deepEqual(call(s, 'release', { lock: 'a', owner: 'x', token: 1 }), { released: true });
});

test('empty or oversized names are refused as bad-args', () => {
  // Proves bad input is a typed app error, not a crash.
  const s = lockApp.initialState();
  for (const args of [{ lock: '', owner: 'x' }, { lock: 'a'.repeat(257), owner: 'x' }, { lock: 'a', owner: '' }, { owner: 'x' }, { lock: 5, owner: 'x' }]) {
    assert.throws(() => call(s, 'acquire', args), refused('bad-args'), JSON.stringify(args));
  }
});

test('an owner belongs to the client that first used it: another client can neither queue, release, give back nor expire it', () => {
  // Proves issue 12's lock-owner bullet on the app: every request naming another client's owner is refused and changes nothing.
  const s = lockApp.initialState();
  assert.deepEqual(call(s, 'acquire', { lock: 'a', owner: 'x' }, by('alice')), { granted: true, token: 1 });
  call(s, 'acquire', { lock: 'b', owner: 'y' }, by('bob'));
  call(s, 'acquire', { lock: 'b', owner: 'x' }, by('alice')); // x waits for b too: two places
  const before = lockApp.marshalState(s);
  assert.throws(() => call(s, 'acquire', { lock: 'a', owner: 'x' }, by('mallory')), refused('owner-taken'), 'not even the grant is repeated to another client');
  assert.throws(() => call(s, 'acquire', { lock: 'c', owner: 'x' }, by('mallory')), refused('owner-taken'), 'nor queued anywhere');
  assert.throws(() => call(s, 'release', { lock: 'a', owner: 'x', token: 1 }, by('mallory')), refused('owner-taken'), 'the token (public through stat) is not enough');
  assert.throws(() => call(s, 'giveBack', { owner: 'x' }, by('mallory')), refused('owner-taken'));
  assert.throws(() => call(s, 'expire', { owner: 'x' }, by('mallory')), refused('internal-only'));
  assert.throws(() => call(s, 'expire', { owner: 'x' }, by('alice')), refused('internal-only'), 'not even by the owner\'s own client');
  assert.deepEqual(lockApp.marshalState(s), before, 'nothing changed');
  const message = (() => {
    try {
      call(s, 'release', { lock: 'a', owner: 'x', token: 1 }, by('mallory'));
    } catch (err) {
      return (err as Error).message;
    }
    return '';
  })();
  assert.doesNotMatch(message, /alice/, 'the refusal does not tell the other client\'s id');
  // The owner's own client does all of it.
  assert.deepEqual(call(s, 'release', { lock: 'a', owner: 'x', token: 1 }, by('alice')), { released: true });
  assert.equal(s.owners.get('x')?.client, 'alice', 'still bound: x still waits for b');
  assert.deepEqual(call(s, 'giveBack', { owner: 'x' }, by('alice')), { released: 0, dequeued: 1 });
  assert.equal(s.owners.has('x'), false, 'x holds and waits for nothing: bound to no client');
  assert.deepEqual(call(s, 'acquire', { lock: 'a', owner: 'x' }, by('mallory')), { granted: true, token: 3 }, 'a free owner id is anyone\'s');
  assert.equal(s.owners.get('x')?.client, 'mallory');
});

test('giveBack releases what the owner holds and takes it out of every queue, and calls for the retries that follow', () => {
  // Proves a client's own give-back (GrpcLockClient.close({ giveBack })) is a release of its own locks.
  const s = lockApp.initialState();
  call(s, 'acquire', { lock: 'a', owner: 'x' });
  call(s, 'acquire', { lock: 'a', owner: 'w' });
  call(s, 'acquire', { lock: 'b', owner: 'y' });
  call(s, 'acquire', { lock: 'b', owner: 'x' });
  assert.deepEqual(call(s, 'giveBack', { owner: 'x' }), { released: 1, dequeued: 1 });
  assert.deepEqual(s.locks.get('a'), { holder: null, token: 1, waiters: ['w'] });
  assert.deepEqual(s.locks.get('b')!.waiters, []);
  assert.deepEqual(callbacks(s, 'giveBack', { owner: 'x' }), [{ clientId: 'w', message: { kind: 'retry', lock: 'a' } }]);
  assert.deepEqual(call(s, 'giveBack', { owner: 'nobody' }), { released: 0, dequeued: 0 }, 'an owner holding nothing gives back nothing');
});

test('expiring a vanished owner (the node\'s own request) releases its locks, dequeues it, and calls for retries', () => {
  // Proves a client that disappears leaves no stuck lock behind.
  const s = lockApp.initialState();
  call(s, 'acquire', { lock: 'a', owner: 'gone' });
  call(s, 'acquire', { lock: 'a', owner: 'w' });
  call(s, 'acquire', { lock: 'b', owner: 'x' });
  call(s, 'acquire', { lock: 'b', owner: 'gone' });
  assert.deepEqual(call(s, 'expire', { owner: 'gone' }, node), { released: 1, dequeued: 1 });
  assert.equal(s.locks.get('a')!.holder, null);
  assert.deepEqual(s.locks.get('b')!.waiters, []);
  assert.equal(s.owners.has('gone'), false);
  assert.deepEqual(callbacks(s, 'expire', { owner: 'gone' }), [], 'a is delayed: no retry yet');
  assert.deepEqual(call(s, 'endDelay', { lock: 'a' }, node), { ended: true });
  assert.deepEqual(callbacks(s, 'endDelay', { lock: 'a' }), [{ clientId: 'w', message: { kind: 'retry', lock: 'a' } }]);
});

test('a lock freed by an expiry is delayed: acquires queue until a node ends the delay, then the first waiter gets it; clients cannot end it', () => {
  // Proves Chubby's lock-delay in the state machine: no grant between expire and endDelay, whoever asks.
  const s = lockApp.initialState();
  call(s, 'acquire', { lock: 'a', owner: 'gone' });
  call(s, 'expire', { owner: 'gone' }, node);
  assert.deepEqual(s.locks.get('a'), { holder: null, token: 1, waiters: [], delayed: true }, 'kept, though nobody waits');
  assert.deepEqual(call(s, 'acquire', { lock: 'a', owner: 'x' }), { granted: false });
  assert.deepEqual(call(s, 'acquire', { lock: 'a', owner: 'x' }), { granted: false }, 'even first in line');
  assert.deepEqual(call(s, 'acquire', { lock: 'a', owner: 'y' }), { granted: false });
  assert.throws(() => call(s, 'endDelay', { lock: 'a' }, by('client-x')), refused('internal-only'));
  assert.deepEqual(lockApp.unmarshalState(lockApp.marshalState(s)), s, 'the mark survives marshal and unmarshal');
  assert.deepEqual(call(s, 'endDelay', { lock: 'a' }, node), { ended: true });
  assert.deepEqual(call(s, 'endDelay', { lock: 'a' }, node), { ended: false }, 'a second end changes nothing');
  assert.deepEqual(call(s, 'acquire', { lock: 'a', owner: 'y' }), { granted: false }, 'x is first in line');
  assert.deepEqual(call(s, 'acquire', { lock: 'a', owner: 'x' }), { granted: true, token: 2 });
  // giveBack (the owner's own client) frees without delay; a delayed lock nobody waits for is forgotten when it ends.
  call(s, 'giveBack', { owner: 'x' }, by('client-x'));
  assert.deepEqual(call(s, 'acquire', { lock: 'a', owner: 'y' }), { granted: true, token: 3 });
  call(s, 'acquire', { lock: 'b', owner: 'z' });
  call(s, 'expire', { owner: 'z' }, node);
  call(s, 'endDelay', { lock: 'b' }, node);
  assert.equal(s.locks.has('b'), false);
});

test('a state of version 1.1.0 (no delays) still unmarshals', () => {
  // Proves the 1.2.0 reader takes the previous form: a lock without a delayed field is not delayed.
  const old = '{"lastToken":1,"locks":{"a":{"holder":"x","token":1,"waiters":["y"]}},"owners":{"x":"client-x","y":"client-y"}}';
  const s = lockApp.unmarshalState(new TextEncoder().encode(old));
  assert.deepEqual(s.locks.get('a'), { holder: 'x', token: 1, waiters: ['y'] });
  assert.throws(() => lockApp.unmarshalState(new TextEncoder().encode(old.replace('"waiters":["y"]', '"waiters":["y"],"delayed":true'))), TypeError,
    'a held lock cannot be delayed');
});

test('the state survives marshal and unmarshal unchanged, owners and their clients included', () => {
  // Proves state transfer ships the whole lock table, queues, bindings and token counter.
  const s = lockApp.initialState();
  call(s, 'acquire', { lock: 'a', owner: 'x' });
  call(s, 'acquire', { lock: 'a', owner: 'y' });
  call(s, 'acquire', { lock: 'b', owner: 'y' });
  assert.deepEqual(lockApp.unmarshalState(lockApp.marshalState(s)), s);
  assert.deepEqual(s.owners.get('y'), { client: 'client-y', places: 2 });
});

test('the marshalled state has its documented form, and a malformed or inconsistent one is refused on unmarshal', () => {
  // Proves a bad state from another replica is an error at once, not a crash later: also owners that do not match the locks.
  const s = lockApp.initialState();
  call(s, 'acquire', { lock: 'a', owner: 'x' });
  call(s, 'acquire', { lock: 'a', owner: 'y' });
  assert.equal(new TextDecoder().decode(lockApp.marshalState(s)),
    '{"lastToken":1,"locks":{"a":{"holder":"x","token":1,"waiters":["y"]}},"owners":{"x":"client-x","y":"client-y"}}');
  const bad = [
    '{}', '[]', '{"lastToken":1,"locks":[],"owners":{}}', '{"lastToken":-1,"locks":{},"owners":{}}',
    '{"lastToken":1,"locks":{"a":{"holder":5,"token":1,"waiters":[]}},"owners":{}}',
    '{"lastToken":1,"locks":{"a":{"holder":"x","token":1,"waiters":[]}}}',
    '{"lastToken":1,"locks":{"a":{"holder":"x","token":1,"waiters":[]}},"owners":{}}',
    '{"lastToken":1,"locks":{},"owners":{"x":"client-x"}}',
    '{"lastToken":1,"locks":{"a":{"holder":"x","token":1,"waiters":[]}},"owners":{"x":7}}',
  ];
  for (const text of bad) assert.throws(() => lockApp.unmarshalState(new TextEncoder().encode(text)), TypeError, text);
});

/** Every key of a plain object's prototype (`constructor`, `toString`, `__proto__`, …). */
const prototypeKeys = Object.getOwnPropertyNames(Object.prototype);

test('every Object.prototype key is a lock name, an owner and a client id like any other, through every procedure and the callbacks', () => {
  // Proves the state indexes names with a Map: no name reaches a prototype (issue 12: `constructor` killed the primary).
  assert.ok(prototypeKeys.includes('__proto__') && prototypeKeys.includes('constructor') && prototypeKeys.length >= 12);
  const s = lockApp.initialState();
  for (const [i, name] of prototypeKeys.entries()) {
    const other = prototypeKeys[(i + 1) % prototypeKeys.length]!;
    assert.deepEqual(call(s, 'stat', { lock: name }), { holder: null, token: 0, waiters: [] }, `${name} starts free`);
    const grant = call(s, 'acquire', { lock: name, owner: name }, by(name)) as { granted: boolean; token: number };
    assert.equal(grant.granted, true, name);
    assert.deepEqual(call(s, 'acquire', { lock: name, owner: other }, by(other)), { granted: false });
    assert.deepEqual(callbacks(s, 'acquire', { lock: name, owner: other }), [{ clientId: name, message: { kind: 'revoke', lock: name, token: grant.token } }]);
    assert.deepEqual(call(s, 'stat', { lock: name }), { holder: name, token: grant.token, waiters: [other] });
  }
  assert.equal(s.locks.size, prototypeKeys.length);
  assert.equal(s.owners.size, prototypeKeys.length);
  assert.ok(callbacks(s).length === prototypeKeys.length, 'one revoke per lock outstanding');
  // The state survives the trip every state transfer makes, every name included.
  const copy = lockApp.unmarshalState(lockApp.marshalState(s));
  assert.deepEqual(copy, s);
  assert.deepEqual(lockApp.marshalState(copy), lockApp.marshalState(s));
  for (const name of prototypeKeys) {
    const token = s.locks.get(name)!.token;
    assert.deepEqual(call(s, 'release', { lock: name, owner: name, token }, by(name)), { released: true });
    assert.deepEqual(callbacks(s, 'release', { lock: name }), [{ clientId: prototypeKeys[(prototypeKeys.indexOf(name) + 1) % prototypeKeys.length]!, message: { kind: 'retry', lock: name } }]);
  }
  for (const name of prototypeKeys) call(s, 'expire', { owner: name }, node);
  assert.equal(s.locks.size, 0, 'every owner expired: nothing held, nobody waits');
  assert.equal(s.owners.size, 0);
  assert.equal(Object.getPrototypeOf({}), Object.prototype, 'and no prototype was touched');
  assert.equal(typeof Object.prototype.toString, 'function');
});

test(`on the simulator under faults, clients naming every Object.prototype key as lock and owner (their own and each other's) leave every node up, the replicas equal and the history linearizable (seed ${simSeed})`, () => {
  // Proves the fix end to end on the deterministic simulator (the testkit's checks: replicas, liveness, lincheck),
  // with owners shared between clients refused owner-taken the same way on every replica and in the model.
  const r = simulateApp({
    app: lockApp,
    seed: simSeed,
    clients: 4,
    nextCall: (rng, client): { proc: string; args: Json } => {
      const lock = rng.pick(prototypeKeys);
      const owner = rng.pick(['__proto__', 'constructor', 'toString', client.id]);
      if (rng.chance(0.5)) return { proc: 'acquire', args: { lock, owner } };
      return rng.chance(0.7) ? { proc: 'release', args: { lock, owner, token: rng.between(1, 30) } } : { proc: 'stat', args: { lock } };
    },
  });
  assert.deepEqual(r.failures, [], `SEED=${simSeed}`);
  assert.ok(r.operations > 20, `${r.operations} operations`);
});
