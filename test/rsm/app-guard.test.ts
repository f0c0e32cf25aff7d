// The guard around an app, step by step: whatever a handler, callbacks, marshalState,
// unmarshalState or initialState does, the replica gets a deterministic outcome or a logged,
// counted failure of that step, never a throw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError, type Json, defineApp, jsonState } from '../../src/rsm/app.js';
import { AppGuard, anonymousCall, runHandler } from '../../src/rsm/app-guard.js';
import type { Logger } from '../../src/env/logger.js';
import { limits } from '../../src/options.js';

/** A logger that keeps its error lines. */
function recordingLogger(): Logger & { readonly errors: string[] } {
  const errors: string[] = [];
  const log = { debug() {}, info() {}, warn() {}, error(_f: object, msg: string) { errors.push(msg); }, child: () => log, errors };
  return log;
}

/** `[[…]]` nested `depth` deep, built by a loop. */
function nested(depth: number): Json {
  let v: Json = [];
  for (let i = 1; i < depth; i++) v = [v];
  return v;
}

/** An AppError as another copy of synod would make it: same name and fields, another class. */
class ForeignAppError extends Error {
  override readonly name = 'AppError';
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

const app = defineApp<{ items: Json[] }>({
  name: 'guarded',
  version: '1.0.0',
  initialState: () => ({ items: [] }),
  handlers: {
    keep: (s, args) => {
      s.items.push(args);
      return s.items; // the live state itself: the stored outcome must not follow it
    },
    refuse: () => { throw new AppError('nope', 'refused'); },
    foreign: () => { throw new ForeignAppError('foreign-code', 'from another copy'); },
    badCode: () => { throw new AppError('', 'empty code'); },
    tableCode: () => { throw new AppError('client-expired', 'an app posing as the client table'); },
    longMessage: () => { throw new AppError('long', 'm'.repeat(limits.maxErrorTextLength + 10)); },
    typeError: (s) => (s as unknown as { missing: { x: number } }).missing.x,
    throwString: () => { throw 'a string'; },
    nothing: () => undefined as unknown as Json,
    deep: () => nested(limits.maxJsonDepth + 1),
    deepest: () => nested(limits.maxJsonDepth),
    huge: () => 'x'.repeat(limits.maxReplyBytes),
    cycle: () => { const o: Record<string, unknown> = {}; o['self'] = o; return o as Json; },
    bigint: () => ({ n: 1n }) as unknown as Json,
    overflow: () => { const f = (n: number): number => f(n + 1) + 1; return f(0); },
  },
  marshalState: (s) => jsonState.marshal(s.items),
  unmarshalState: (b) => ({ items: jsonState.unmarshal(b) as Json[] }),
});

test('a reply is a copy made from its JSON text: a later change of the state does not change it', () => {
  const s = app.initialState();
  const first = runHandler(app, s, 'keep', 'a');
  runHandler(app, s, 'keep', 'b');
  assert.deepEqual(first, { ok: true, value: ['a'] });
  assert.deepEqual(runHandler(app, s, 'nothing', null), { ok: true, value: null }, 'undefined is null');
  assert.deepEqual(runHandler(app, s, 'deepest', null), { ok: true, value: nested(limits.maxJsonDepth) }, 'the depth limit itself is allowed');
});

test('an AppError is its code and message, also from another copy of synod; a malformed one is a handler-error', () => {
  const s = app.initialState();
  assert.deepEqual(runHandler(app, s, 'refuse', null), { ok: false, code: 'nope', message: 'refused' });
  assert.deepEqual(runHandler(app, s, 'foreign', null), { ok: false, code: 'foreign-code', message: 'from another copy' });
  const bad = runHandler(app, s, 'badCode', null);
  assert.ok(!bad.ok && bad.code === 'handler-error' && /AppError whose code/.test(bad.message), JSON.stringify(bad));
  // The client table's own codes mean "not executed" to clients: an app may not use them, in the
  // guard itself, so that the testkit's model of the app (runHandler) and the replicas agree.
  const posing = runHandler(app, s, 'tableCode', null);
  assert.ok(!posing.ok && posing.code === 'handler-error' && /client-expired, which synod keeps for its own refusals/.test(posing.message), JSON.stringify(posing));
  const long = runHandler(app, s, 'longMessage', null);
  assert.ok(!long.ok && long.code === 'long' && long.message.length === limits.maxErrorTextLength && long.message.endsWith('…'));
});

test('any other throw is a handler-error naming only the error class, so that every engine version answers alike', () => {
  // The engine's own text ("Cannot read properties of undefined") differs between Node
  // versions, and outcomes are replicated state: it stays in the replicas' logs.
  const s = app.initialState();
  assert.deepEqual(runHandler(app, s, 'typeError', null), {
    ok: false, code: 'handler-error', message: "typeError threw a TypeError; its message is in the replicas' logs",
  });
  assert.deepEqual(runHandler(app, s, 'throwString', null), {
    ok: false, code: 'handler-error', message: "throwString threw a string; its message is in the replicas' logs",
  });
  assert.deepEqual(runHandler(app, s, 'absent', null), { ok: false, code: 'unknown-procedure', message: 'absent' });
  assert.deepEqual(runHandler(app, s, 'constructor', null), { ok: false, code: 'unknown-procedure', message: 'constructor' });
});

test('a reply too deep, too large or not JSON is a typed outcome naming the limit; the request did run', () => {
  const s = app.initialState();
  const deep = runHandler(app, s, 'deep', null);
  assert.ok(!deep.ok && deep.code === 'reply-too-deep' && /limits\.maxJsonDepth.*executed/.test(deep.message), JSON.stringify(deep));
  const huge = runHandler(app, s, 'huge', null);
  assert.ok(!huge.ok && huge.code === 'reply-too-large' && /limits\.maxReplyBytes/.test(huge.message), JSON.stringify(huge).slice(0, 200));
  for (const proc of ['cycle', 'bigint']) {
    const r = runHandler(app, s, proc, null);
    assert.ok(!r.ok && r.code === 'reply-not-json', JSON.stringify(r));
  }
});

test('the guard logs and counts handler failures, and names a stack overflow as the app\'s unbounded recursion', () => {
  const log = recordingLogger();
  const guard = new AppGuard(app, log);
  const s = app.initialState();
  assert.equal(guard.execute(s, 'refuse', null, anonymousCall, {}).ok, false);
  assert.equal(guard.failures.handlers, 0, 'an app error is no failure of the app');
  const r = guard.execute(s, 'overflow', null, anonymousCall, {});
  assert.deepEqual(r, { ok: false, code: 'handler-error', message: "overflow threw a RangeError; its message is in the replicas' logs" });
  guard.execute(s, 'deep', null, anonymousCall, {});
  assert.equal(guard.failures.handlers, 2);
  assert.match(log.errors[0]!, /overflowed the stack: an app must bound its recursion/);
});

test('callbacks that throw or are malformed send nothing for that step; each is logged and counted', () => {
  let mode: 'ok' | 'throw' | 'not-a-list' | 'bad-client' | 'deep' = 'ok';
  const withCallbacks = defineApp<{ n: number }>({
    name: 'with-callbacks',
    version: '1.0.0',
    initialState: () => ({ n: 0 }),
    handlers: { hit: (s) => ++s.n },
    marshalState: (s) => jsonState.marshal(s),
    unmarshalState: (b) => jsonState.unmarshal(b) as { n: number },
    callbacks: (s) => {
      switch (mode) {
        case 'ok': return [{ clientId: 'c', message: { n: s.n } }];
        case 'throw': throw new Error('callbacks broke');
        case 'not-a-list': return 'nope' as unknown as [];
        case 'bad-client': return [{ clientId: '', message: 1 }];
        case 'deep': return [{ clientId: 'c', message: nested(limits.maxJsonDepth + 1) }];
      }
    },
  });
  const log = recordingLogger();
  const guard = new AppGuard(withCallbacks, log);
  const s = { n: 3 };
  const ok = guard.callbacks(s);
  assert.deepEqual(ok, [{ clientId: 'c', message: { n: 3 } }]);
  for (const m of ['throw', 'not-a-list', 'bad-client', 'deep'] as const) {
    mode = m;
    assert.deepEqual(guard.callbacks(s, { proc: 'hit', args: null }), [], m);
  }
  assert.equal(guard.failures.callbacks, 4);
  assert.equal(log.errors.length, 4);
  assert.deepEqual(new AppGuard(app, log).callbacks({ items: [] }), [], 'an app without callbacks has none');
});

test('marshal, unmarshal and initialState failures are results, not throws', () => {
  const broken = defineApp<{ n: number }>({
    name: 'broken',
    version: '1.0.0',
    initialState: (): { n: number } => { throw new Error('no initial state'); },
    handlers: { hit: (s) => ++s.n },
    marshalState: (s) => (s.n > 0 ? 'not bytes' as unknown as Uint8Array : jsonState.marshal(s)),
    unmarshalState: (): { n: number } => { throw new SyntaxError('garbled'); },
  });
  const log = recordingLogger();
  const guard = new AppGuard(broken, log);
  assert.equal(guard.initialState().ok, false);
  assert.equal(guard.marshal({ n: 0 }).ok, true);
  const m = guard.marshal({ n: 1 });
  assert.ok(!m.ok && /not a Uint8Array/.test(m.reason), JSON.stringify(m));
  assert.equal(guard.unmarshal(new Uint8Array(1)).ok, false);
  assert.deepEqual(guard.failures, { handlers: 0, queries: 0, callbacks: 0, marshal: 1, unmarshal: 1, initialState: 1 });
  assert.equal(log.errors.length, 3);
});
