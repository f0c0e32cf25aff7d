// The app as its own model answers as a replica does and never changes a state it is given; the
// replicas' final state is checked as the last operation of each part of a history.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError, defineApp, jsonState } from '../../src/index.js';
import { checkLinearizable } from '../../tools/lincheck/check.js';
import type { History } from '../../tools/lincheck/types.js';
import { appAsModel, executeOnce } from '../../tools/testkit/index.js';
import { type HistoryInput, type HistoryOutput, checkerModel, withFinalState } from '../../tools/testkit/history-model.js';
import { type Store, kvModel } from './kv-app.js';

const notes = defineApp<{ notes: string[] }>({
  name: 'notes',
  version: '1.0.0',
  initialState: () => ({ notes: [] }),
  handlers: {
    add: (s, args) => {
      s.notes.push(String(args));
      return s.notes.length;
    },
    // Changes the state, then refuses: the replica keeps the change, so the model must too.
    addThenRefuse: (s, args) => {
      s.notes.push(String(args));
      throw new AppError('refused-after-change', 'kept anyway');
    },
    broken: (s) => (s as unknown as { missing: { x: number } }).missing.x,
    nothing: () => undefined as unknown as null,
  },
  marshalState: (s) => jsonState.marshal(s),
  unmarshalState: (b) => jsonState.unmarshal(b) as { notes: string[] },
});

test('one step of the app answers as a replica does: the reply, an AppError code, handler-error, unknown-procedure', () => {
  const state = notes.initialState();
  assert.deepEqual(executeOnce(notes, state, { proc: 'add', args: 'a' }), { ok: true, value: 1 });
  assert.deepEqual(executeOnce(notes, state, { proc: 'addThenRefuse', args: 'b' }), { ok: false, code: 'refused-after-change' });
  assert.deepEqual(state.notes, ['a', 'b'], 'a change made before the AppError stays');
  assert.deepEqual(executeOnce(notes, state, { proc: 'broken', args: null }), { ok: false, code: 'handler-error' });
  assert.deepEqual(executeOnce(notes, state, { proc: 'nothing', args: null }), { ok: true, value: null }, 'undefined travels as null');
  assert.deepEqual(executeOnce(notes, state, { proc: 'absent', args: null }), { ok: false, code: 'unknown-procedure' });
});

test('the app as its own model keeps its state as marshalled bytes and never changes the state it is given', () => {
  const model = appAsModel(notes);
  const s0 = model.init();
  const s1 = model.step(s0, { proc: 'add', args: 'x' });
  assert.deepEqual(s1.outcome, { ok: true, value: 1 });
  assert.equal(new TextDecoder().decode(s1.state), '{"notes":["x"]}');
  assert.equal(new TextDecoder().decode(s0), '{"notes":[]}', 'the state stepped from is unchanged');
  const again = model.step(s0, { proc: 'add', args: 'x' });
  assert.equal(model.key(again.state), model.key(s1.state), 'equal states, equal keys');
  assert.notEqual(model.key(s0), model.key(s1.state));
  assert.equal(model.describeState?.(s1.state), 'one copy of the app holds {"notes":["x"]} (as marshalState wrote it)');
});

/** Two puts to different keys, seen by two clients one after the other. */
function twoPuts(): History<HistoryInput, HistoryOutput> {
  const put = (key: string, value: string) => ({ kind: 'call' as const, call: { proc: 'put', args: { key, value } }, part: key });
  return [
    { id: 0, client: 'c1', input: put('a', 'x'), output: { ok: true, value: 1 }, call: 0, ret: 2 },
    { id: 1, client: 'c2', input: put('b', 'y'), output: { ok: true, value: 1 }, call: 3, ret: 4 },
  ];
}

test('the replicas\' final state follows the history, one operation per part, and must be a state the calls reach', () => {
  const model = checkerModel(kvModel);
  const good: Store = { a: { value: 'x', version: 1 }, b: { value: 'y', version: 1 } };
  const extended = withFinalState(twoPuts(), kvModel, good)!;
  assert.equal(extended.length, 4);
  assert.deepEqual(extended.slice(2).map((op) => [op.client, op.input, op.call > 4]), [
    ['replicas', { kind: 'final', part: 'a' }, true],
    ['replicas', { kind: 'final', part: 'b' }, true],
  ]);
  assert.equal(checkLinearizable(extended, model).verdict, 'ok');

  // Key b lost its acknowledged put.
  const lost = withFinalState(twoPuts(), kvModel, { a: { value: 'x', version: 1 } })!;
  const verdict = checkLinearizable(lost, model);
  assert.equal(verdict.verdict, 'violation');
  assert.match(verdict.verdict === 'violation' ? verdict.explanation : '',
    /the key holds "y" at version 1: the replicas' final state of part "b": the key is absent \[op 3, replicas\] cannot take effect there/);
  assert.equal(withFinalState(twoPuts(), { ...kvModel, stateOf: undefined }, good), null, 'no stateOf, no final state to check');
});
