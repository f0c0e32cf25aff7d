// The checker with the test app's append-only list: hand-made histories, linearizable or not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkLinearizable } from '../../tools/lincheck/check.js';
import { type AppendInput, type AppendOutput, appendModel } from '../../tools/lincheck/models.js';
import { HistoryBuilder } from './support.js';

type Builder = HistoryBuilder<AppendInput, AppendOutput>;
const history = (): Builder => new HistoryBuilder<AppendInput, AppendOutput>();
const append = (h: Builder, client: string, index: number, call: number, ret: number): number =>
  h.done(client, { proc: 'append', item: `${client}@${call}` }, { index }, call, ret);
const appendUnknown = (h: Builder, client: string, call: number): number => h.unknown(client, { proc: 'append', item: `${client}@${call}` }, call);
const length = (h: Builder, client: string, n: number, call: number, ret: number): number => h.done(client, { proc: 'length' }, { length: n }, call, ret);
const check = (h: Builder) => checkLinearizable(h.history, appendModel);

test('sequential appends that get 0, 1, 2 and a length of 3 are linearizable', () => {
  // Proves the plain case: one order, the real-time one.
  const h = history();
  append(h, 'a', 0, 0, 1);
  append(h, 'b', 1, 2, 3);
  append(h, 'a', 2, 4, 5);
  length(h, 'b', 3, 6, 7);
  assert.equal(check(h).verdict, 'ok');
});

test('two overlapping appends are linearizable in the one order their indexes say', () => {
  // Proves concurrency: the one that was called first may still take effect second.
  const h = history();
  append(h, 'a', 1, 0, 10);
  append(h, 'b', 0, 2, 8);
  length(h, 'c', 2, 11, 12);
  assert.equal(check(h).verdict, 'ok');
});

test('an append that completed before another was called cannot get the later index', () => {
  // Proves real time binds: the indexes ask for an order the clients saw the other way round.
  const h = history();
  append(h, 'a', 1, 0, 1);
  const b = append(h, 'b', 0, 2, 3);
  const r = check(h);
  assert.equal(r.verdict, 'violation');
  assert.ok(r.verdict === 'violation' && [0, b].includes(r.failedOp));
});

test('a length that disagrees with the appends before it is a violation', () => {
  // Proves reads are checked: a lost append shows as a short list.
  const h = history();
  append(h, 'a', 0, 0, 1);
  append(h, 'a', 1, 2, 3);
  length(h, 'b', 1, 4, 5);
  assert.equal(check(h).verdict, 'violation');
});

test('an append that timed out must have taken effect to explain a later index', () => {
  // Proves an unknown outcome may be placed: index 1 needs an append before it.
  const h = history();
  appendUnknown(h, 'a', 0);
  append(h, 'b', 1, 5, 6);
  length(h, 'b', 2, 7, 8);
  assert.equal(check(h).verdict, 'ok');
});

test('an append that timed out may never have taken effect', () => {
  // Proves an unknown outcome may be left out: the list stays one long.
  const h = history();
  appendUnknown(h, 'a', 0);
  append(h, 'b', 0, 5, 6);
  length(h, 'b', 1, 7, 8);
  assert.equal(check(h).verdict, 'ok');
});

test('an append that timed out may take effect after its client moved on', () => {
  // Proves unknown outcomes are not bound by their client's next call: a's append took effect
  // after b (called after a moved on) saw an empty list, before b's append got index 1.
  const h = history();
  appendUnknown(h, 'a', 0);
  length(h, 'a', 0, 20, 21);
  length(h, 'b', 0, 22, 23);
  append(h, 'b', 1, 24, 25);
  assert.equal(check(h).verdict, 'ok');
});

test('an append that timed out cannot explain an index returned before it was called', () => {
  // Proves an unknown outcome still respects its call time.
  const h = history();
  append(h, 'b', 1, 0, 5);
  appendUnknown(h, 'a', 6);
  assert.equal(check(h).verdict, 'violation');
});

test('an append that timed out took effect once at most: it cannot explain two missing indexes', () => {
  // Proves an unknown outcome counts once.
  const h = history();
  appendUnknown(h, 'a', 0);
  append(h, 'b', 2, 5, 6);
  assert.equal(check(h).verdict, 'violation');
});
