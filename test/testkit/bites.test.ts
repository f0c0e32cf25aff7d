// The testkit catches what it promises to: a non-deterministic app (replicas diverge), a lossy
// marshalState (one copy of the app cannot give the replies), a model that disagrees with the
// app (a violation, explained and drawn), and a call applied twice that no reply shows (the
// replicas' final state).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type SequentialModel, simulateApp } from '../../tools/testkit/index.js';
import { runAppSimulation } from '../../tools/testkit/simulate.js';
import { forgetfulTallyApp, globalTicketApp, silentCounterApp } from './broken-apps.js';
import { type KeyState, type Store, kvApp, kvModel, nextKvCall } from './kv-app.js';

/** The failure sentences of `failures` that start (after the time stamp) with `category`. */
const sentences = (failures: readonly string[], category: string): string[] =>
  failures.filter((f) => f.replace(/^t=[\d.]+ms /, '').startsWith(category));

const ticketCall = (rng: Parameters<NonNullable<Parameters<typeof simulateApp>[0]['nextCall']>>[0]) =>
  ({ proc: rng.chance(0.7) ? 'take' : 'mine', args: { who: rng.pick(['ann', 'bob', 'cy']) } });

test('a handler that reads a module-level counter makes the replicas diverge, and the run says so', () => {
  // Every seed fails; in most the first thing seen is a request two replicas answered differently
  // (before the final states are compared): the first of a few seeds where it is.
  let r = simulateApp({ app: globalTicketApp, seed: 1, nextCall: ticketCall });
  assert.equal(r.ok, false);
  for (let seed = 2; seed <= 6 && sentences(r.failures, 'same outcome at viewstamp').length === 0; seed++) {
    r = simulateApp({ app: globalTicketApp, seed, nextCall: ticketCall });
    assert.equal(r.ok, false, `seed ${seed}`);
  }
  const [divergence] = sentences(r.failures, 'same outcome at viewstamp');
  assert.ok(divergence !== undefined, r.failures.join('\n'));
  assert.match(divergence, /n\d got \{"ok":true,"value":\d+\} for c\d#\d+:(take|mine):\{"who":"\w+"\} at \d+\.\d+, n\d \{"ok":true,"value":\d+\}/);
  assert.match(divergence, /not deterministic \(a handler reads a clock, randomness, I\/O or a global\)/);
});

test('a marshalState that forgets a field is caught without any fault: one copy of the app, kept as its bytes, cannot give the replies', () => {
  const r = simulateApp({
    app: forgetfulTallyApp,
    seed: 1,
    faults: 'none',
    nextCall: (rng) => (rng.chance(0.7) ? { proc: 'count', args: { who: rng.pick(['ann', 'bob']) } } : { proc: 'total', args: null }),
  });
  assert.equal(r.stats['faults'], 0);
  assert.equal(r.lincheck, 'violation');
  const [violation] = sentences(r.failures, 'linearizability: the client history');
  assert.ok(violation !== undefined, r.failures.join('\n'));
  // The sentence names the reply that cannot be given, the state as marshalState wrote it, and
  // what one copy of the app answers there instead.
  assert.match(violation, /one copy of the app holds \{"counts":\{.*\}\} \(as marshalState wrote it\): total\(\) → \d+ \[op \d+, c\d\] cannot take effect there/);
  assert.match(violation, /\(one copy of the app answers 0 there\)$/);
  assert.equal(r.violation?.expected, 'one copy of the app answers 0 there');
});

test('a model that disagrees with the app is a linearizability violation, with its explanation, its answer and a picture', () => {
  // The model's author thinks delete answers the entry it removed; the app answers whether there was one.
  const wrongDelete: SequentialModel<KeyState, Store> = {
    ...kvModel,
    name: 'kv model (delete answers the entry)',
    step: (entry, call) => (call.proc === 'delete' ? { state: null, outcome: { ok: true, value: entry } } : kvModel.step(entry, call)),
  };
  // Every seed's history is a violation; which operation the checker names (the first after the
  // longest linearizable prefix) moves with the run's timing: the first of a few seeds where it is a delete.
  const deleteNamed = (seed: number) => {
    const run = simulateApp({ app: kvApp, model: wrongDelete, seed, nextCall: nextKvCall });
    assert.equal(run.ok, false, `seed ${seed}`);
    assert.equal(run.lincheck, 'violation', `seed ${seed}`);
    return /: delete\(/.test(run.violation!.explanation) ? run : null;
  };
  let seed = 1;
  let found = deleteNamed(seed);
  while (found === null && seed < 6) found = deleteNamed(++seed);
  assert.ok(found !== null, 'a delete is named within 6 seeds');
  const r = found;
  const v = r.violation!;
  assert.match(v.explanation, /delete\(\{"key":"[abc]"\}\) → (true|false) \[op \d+, c\d\]/, "the explanation names a delete the model cannot explain");
  assert.match(v.expected ?? '', /^kv model \(delete answers the entry\) answers (null|\{.*\}) there$/);
  assert.ok(r.failures.some((f) => f.includes(v.explanation) && f.endsWith(`(${v.expected})`)), r.failures.join('\n'));

  const dir = mkdtempSync(join(tmpdir(), 'synod-testkit-'));
  try {
    const path = r.writePicture(dir);
    assert.equal(path, join(dir, `seed-${seed}.html`));
    const html = readFileSync(path!, 'utf8');
    assert.match(html, /<svg/);
    assert.ok(html.includes('cannot take effect there'));
    assert.equal(simulateApp({ app: kvApp, seed: 2, nextCall: nextKvCall }).writePicture(dir, 'none'), null, 'no violation, no picture');
    assert.equal(existsSync(join(dir, 'none.html')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a call applied twice that no reply shows is caught by the final state (synod without its client table)', () => {
  // `add` answers null, so the history alone linearizes whatever happened; only the replicas'
  // final state, which must be the state some order of the calls reaches, shows a doubled add.
  const run = (seed: number, noClientTable: boolean) =>
    runAppSimulation({ app: silentCounterApp, seed, nextCall: () => ({ proc: 'add', args: null }) }, { noClientTable });
  let caught: { seed: number; failure: string } | undefined;
  for (let seed = 1; seed <= 20 && caught === undefined; seed++) {
    const failure = sentences(run(seed, true).failures, 'linearizability: the replicas\' final state')[0];
    if (failure !== undefined) caught = { seed, failure };
  }
  assert.ok(caught !== undefined, 'caught within 20 seeds');
  console.log(`caught at seed ${caught.seed}: ${caught.failure}`);
  assert.match(caught.failure, /reached by no order of the calls the clients saw \(an acknowledged call was lost, or a call took effect twice/);
  assert.match(caught.failure, /the replicas' final state: one copy of the app holds \{"n":\d+\} \(as marshalState wrote it\) \[op \d+, replicas\] cannot take effect there/);
  assert.deepEqual(run(caught.seed, false).failures, [], 'the same seed passes with the client table');
});
