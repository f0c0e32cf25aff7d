// Queries, the read-only procedures an app declares: how an app declares them, how the guard runs
// them (a change attempted is `query-mutates`, counted and logged; the state stays as it was), the
// simulator's byte comparison, and a query request executed through the replicated state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError, type Json, checkApp, defineApp, jsonState } from '../../src/rsm/app.js';
import { AppGuard, queryMutatesCode, runHandler } from '../../src/rsm/app-guard.js';
import { InvariantViolation } from '../../src/env/errors.js';
import type { Logger } from '../../src/env/logger.js';
import { silentLogger } from '../../src/env/logger.js';
import { ReplicatedState } from '../../src/rsm/execution.js';
import { newRequest } from '../../src/rsm/messages.js';
import { testApp } from '../../src/apps/test-app.js';
import { lockApp } from '../../src/apps/lock/lock-app.js';

/** A logger that keeps its error lines. */
function recordingLogger(): Logger & { readonly errors: string[] } {
  const errors: string[] = [];
  const log = { debug() {}, info() {}, warn() {}, error(_f: object, msg: string) { errors.push(msg); }, child: () => log, errors };
  return log;
}

interface Notes {
  readonly byKey: Map<string, { text: string; seen: Date }>;
  readonly order: string[];
}

const notes = defineApp<Notes>({
  name: 'notes',
  version: '1.0.0',
  initialState: () => ({ byKey: new Map(), order: [] }),
  handlers: {
    put: (s, args) => {
      const { key, text } = args as { key: string; text: string };
      s.byKey.set(key, { text, seen: new Date(0) });
      s.order.push(key);
      return s.order.length;
    },
  },
  queries: {
    read: (s, args) => s.byKey.get((args as { key: string }).key)?.text ?? null,
    count: (s) => s.order.length,
    whoAsks: (_s, _args, context) => context.clientId,
    missing: (s, args) => {
      if (!s.byKey.has((args as { key: string }).key)) throw new AppError('no-such-note', 'no such note');
      return true;
    },
    sneakyPut: (s) => {
      (s.byKey as Map<string, { text: string; seen: Date }>).set('x', { text: 'x', seen: new Date(0) });
      return null;
    },
    swallowed: (s) => {
      try {
        (s.order as string[]).push('x');
      } catch {
        // answers anyway: still a query that tried
      }
      return 'fine';
    },
    broken: (s) => (s as unknown as { absent: { x: number } }).absent.x,
    touchDate: (s) => {
      for (const note of s.byKey.values()) note.seen.setTime(1);
      return null;
    },
  },
  // The Date is part of the bytes, so the byte comparison sees a change to it.
  marshalState: (s) => jsonState.marshal({ notes: [...s.byKey].map(([k, v]) => [k, v.text, v.seen.getTime()]), order: s.order }),
  unmarshalState: (b) => {
    const { notes: list, order } = jsonState.unmarshal(b) as { notes: Array<[string, string, number]>; order: string[] };
    return { byKey: new Map(list.map(([k, text, at]) => [k, { text, seen: new Date(at) }])), order };
  },
});

function withNote(): Notes {
  const s = notes.initialState();
  runHandler(notes, s, 'put', { key: 'a', text: 'alpha' });
  return s;
}

const bytes = (s: Notes): string => Buffer.from(notes.marshalState(s)).toString();
const ask = (proc: string, args: Json = null) => ({ proc, args, clientId: 'client-1' });

test('checkApp takes queries with valid names, none of them a handler\'s, and refuses the rest', () => {
  // Proves the declaration rules: names, functions, and handlers and queries disjoint.
  const base = { name: 'q', version: '1.0.0', initialState: () => 0, marshalState: () => new Uint8Array(), unmarshalState: () => 0 };
  const read = (): Json => 0;
  assert.doesNotThrow(() => checkApp({ ...base, handlers: { w: read }, queries: { r: read } }));
  assert.doesNotThrow(() => checkApp({ ...base, handlers: {}, queries: { r: read } }), 'an app of queries alone is an app');
  assert.throws(() => checkApp({ ...base, handlers: { r: read }, queries: { r: read } }), /"r" is both a handler and a query/);
  assert.throws(() => checkApp({ ...base, handlers: { w: read }, queries: { '1r': read } }), RangeError);
  assert.throws(() => checkApp({ ...base, handlers: { w: read }, queries: { 'synod:sweep-clients': read } }), /procedure name "synod:sweep-clients"/);
  assert.throws(() => checkApp({ ...base, handlers: { w: read }, queries: { r: 1 } }), /app queries\.r: must be a function/);
  assert.throws(() => checkApp({ ...base, handlers: { w: read }, queries: 'r' }), /app queries: must be an object of procedures/);
  assert.throws(() => checkApp({ ...base, handlers: {}, queries: {} }), /at least one procedure/);
});

test('the guard knows queries as procedures of the app, and only own ones', () => {
  const guard = new AppGuard(notes, silentLogger);
  assert.equal(guard.has('put'), true);
  assert.equal(guard.has('read'), true);
  assert.equal(guard.isQuery('read'), true);
  assert.equal(guard.isQuery('put'), false);
  for (const proc of ['constructor', 'toString', '__proto__', 'absent']) {
    assert.equal(guard.has(proc), false, proc);
    assert.equal(guard.isQuery(proc), false, proc);
  }
});

test('a query answers from the state as a handler would: its reply, an app error, its caller', () => {
  const log = recordingLogger();
  const guard = new AppGuard(notes, log);
  const s = withNote();
  assert.deepEqual(guard.query(s, ask('read', { key: 'a' })), { ok: true, value: 'alpha' });
  assert.deepEqual(guard.query(s, ask('count')), { ok: true, value: 1 });
  assert.deepEqual(guard.query(s, ask('whoAsks')), { ok: true, value: 'client-1' });
  assert.deepEqual(guard.query(s, ask('missing', { key: 'b' })), { ok: false, code: 'no-such-note', message: 'no such note' });
  assert.equal(guard.failures.queries, 0, 'an app error is no failure of the app');
  assert.deepEqual(log.errors, []);
});

test('a query that tries to change the state is answered query-mutates, counted and logged, and the state is unchanged', () => {
  const log = recordingLogger();
  const guard = new AppGuard(notes, log);
  const s = withNote();
  const before = bytes(s);
  assert.deepEqual(guard.query(s, ask('sneakyPut')), {
    ok: false, code: queryMutatesCode, message: 'sneakyPut is a query and tried to call Map.set on state.byKey; the state is unchanged',
  });
  assert.deepEqual(guard.query(s, ask('swallowed')), {
    ok: false, code: queryMutatesCode, message: 'swallowed is a query and tried to set state.order[1]; the state is unchanged',
  }, 'catching the refusal does not make the query read-only');
  assert.equal(bytes(s), before);
  assert.equal(guard.failures.queries, 2);
  assert.equal(guard.failures.handlers, 0);
  assert.deepEqual(log.errors, ['rsm: a query failed', 'rsm: a query failed']);
});

test('a query that throws is a handler-error, counted with the queries', () => {
  const guard = new AppGuard(notes, recordingLogger());
  assert.deepEqual(guard.query(withNote(), ask('broken')), {
    ok: false, code: 'handler-error', message: "broken threw a TypeError; its message is in the replicas' logs",
  });
  assert.equal(guard.failures.queries, 1);
});

test('with verifyQueries, a change the view cannot see (a Date\'s setter) stops the replica; without, it goes unseen', () => {
  // Proves the simulator's switch catches what the Proxy documents it misses.
  const verified = new AppGuard(notes, silentLogger, { verifyQueries: true });
  assert.deepEqual(verified.query(withNote(), ask('read', { key: 'a' })), { ok: true, value: 'alpha' }, 'a real read passes the check');
  assert.throws(() => verified.query(withNote(), ask('touchDate')), (err) =>
    err instanceof InvariantViolation && /the query touchDate changed the state/.test(err.message));
  const unverified = new AppGuard(notes, silentLogger);
  const s = withNote();
  assert.deepEqual(unverified.query(s, ask('touchDate')), { ok: true, value: null });
  assert.equal(s.byKey.get('a')!.seen.getTime(), 1, 'the limit verifyQueries exists for');
});

test('runHandler, the model of one request, runs a query read-only too', () => {
  const s = withNote();
  const r = runHandler(notes, s, 'sneakyPut', null);
  assert.ok(!r.ok && r.code === queryMutatesCode, JSON.stringify(r));
  assert.equal(s.byKey.size, 1);
});

test('a query request executes through the replicated state read-only, and is recorded in the client table like any request', () => {
  // Today's path: a query is replicated; its retry gets the stored outcome, and a refused change leaves the bytes as they were.
  const held = new ReplicatedState(new AppGuard(notes, silentLogger), silentLogger, {}, true,
    { retentionMs: 60_000, maxClients: 100, evictableAfterMs: 1000 }, { requests: 100, bytes: 1 << 20 });
  held.execute({ vid: 1, seqno: 1 }, newRequest('c', 1, 'put', { key: 'a', text: 'alpha' }));
  const read = newRequest('c', 2, 'read', { key: 'a' });
  assert.deepEqual(held.execute({ vid: 1, seqno: 2 }, read), { kind: 'ran', outcome: { ok: true, value: 'alpha' } });
  assert.deepEqual(held.execute({ vid: 1, seqno: 3 }, read), { kind: 'retry', outcome: { ok: true, value: 'alpha' } }, 'recorded');
  const before = Buffer.from(held.snapshotBytes()!).toString('hex');
  const sneaky = held.execute({ vid: 1, seqno: 4 }, newRequest('c', 3, 'sneakyPut', null));
  assert.ok(sneaky.kind === 'ran' && !sneaky.outcome.ok && sneaky.outcome.code === queryMutatesCode, JSON.stringify(sneaky));
  const after = Buffer.from(held.snapshotBytes()!).toString('hex');
  assert.notEqual(after, before, 'the client table recorded the refusal');
  assert.equal(held.state!.byKey.size, 1, 'the app state is as it was');
});

test('the built-in apps declare their reads as queries', () => {
  const tests = new AppGuard(testApp, silentLogger);
  for (const proc of ['get', 'length', 'list']) assert.equal(tests.isQuery(proc), true, proc);
  for (const proc of ['append', 'add', 'refuse']) assert.equal(tests.isQuery(proc), false, proc);
  const locks = new AppGuard(lockApp, silentLogger);
  assert.equal(locks.isQuery('stat'), true);
  for (const proc of ['acquire', 'release', 'giveBack', 'expire']) assert.equal(locks.isQuery(proc), false, proc);
});
