// The checker with the test app's counters: hand-made histories, key by key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkLinearizable } from '../../tools/lincheck/check.js';
import { type CounterInput, type CounterOutput, counterModel } from '../../tools/lincheck/models.js';
import { HistoryBuilder } from './support.js';

type Builder = HistoryBuilder<CounterInput, CounterOutput>;
const history = (): Builder => new HistoryBuilder<CounterInput, CounterOutput>();
const add = (h: Builder, client: string, key: string, by: number, value: number, call: number, ret: number): number =>
  h.done(client, { proc: 'add', key, by }, { value }, call, ret);
const addUnknown = (h: Builder, client: string, key: string, by: number, call: number): number => h.unknown(client, { proc: 'add', key, by }, call);
const get = (h: Builder, client: string, key: string, value: number, call: number, ret: number): number =>
  h.done(client, { proc: 'get', key }, { value }, call, ret);
const check = (h: Builder) => checkLinearizable(h.history, counterModel);

test('overlapping adds are linearizable in the one order their values say', () => {
  // Proves concurrency: +2 then +1, although +1 was called first.
  const h = history();
  add(h, 'a', 'k', 1, 3, 0, 10);
  add(h, 'b', 'k', 2, 2, 1, 9);
  get(h, 'c', 'k', 3, 11, 12);
  assert.equal(check(h).verdict, 'ok');
});

test('adds whose values contradict their real-time order are a violation', () => {
  // Proves real time binds: +1 completed before +2 was called, yet saw +2 applied.
  const h = history();
  add(h, 'a', 'k', 1, 3, 0, 1);
  add(h, 'b', 'k', 2, 2, 2, 3);
  assert.equal(check(h).verdict, 'violation');
});

test('a get concurrent with an add may see it or not; one after it must see it', () => {
  // Proves the window of a read: both old and new value while overlapping, only the new after.
  const ok = history();
  add(ok, 'a', 'k', 5, 5, 0, 2);
  get(ok, 'b', 'k', 0, 1, 3);
  get(ok, 'c', 'k', 5, 1, 3);
  assert.equal(check(ok).verdict, 'ok');
  const stale = history();
  add(stale, 'a', 'k', 5, 5, 0, 1);
  get(stale, 'b', 'k', 0, 2, 3);
  assert.equal(check(stale).verdict, 'violation');
});

test('an add that timed out explains a later value, and once seen it stays', () => {
  // Proves unknown outcomes: the +5 took effect between the two gets, and cannot be undone after.
  const h = history();
  addUnknown(h, 'a', 'k', 5, 0);
  get(h, 'b', 'k', 0, 10, 11);
  get(h, 'b', 'k', 5, 12, 13);
  assert.equal(check(h).verdict, 'ok');
  get(h, 'c', 'k', 0, 14, 15);
  assert.equal(check(h).verdict, 'violation');
});

test('a violation on one key is reported as that key\'s part, the others being fine', () => {
  // Proves partitioning: keys are checked apart, and the failing part is named.
  const h = history();
  add(h, 'a', 'x', 1, 1, 0, 1);
  get(h, 'b', 'x', 1, 2, 3);
  add(h, 'a', 'y', 2, 2, 4, 5);
  const bad = get(h, 'b', 'y', 3, 6, 7);
  add(h, 'a', 'z', 3, 3, 8, 9);
  get(h, 'c', 'z', 3, 10, 11);
  const r = check(h);
  assert.equal(r.verdict, 'violation');
  assert.ok(r.verdict === 'violation');
  assert.equal(r.parts, 3);
  assert.equal(r.part, 1, 'parts are in order of first appearance: x, y, z');
  assert.equal(r.failedOp, bad);
  assert.equal(r.operations, 6);
});
