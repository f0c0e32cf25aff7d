// Apps cannot hurt the framework, on simulated clusters of full node stacks: an app whose
// callbacks, marshalState, unmarshalState, initialState or handlers fail leaves every node up
// and every replica agreeing; the failing step is logged and counted, and the cluster serves
// again as soon as the app does its part.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type TestState, testApp } from '../../src/apps/test-app.js';
import { type Json, defineApp } from '../../src/rsm/app.js';
import { defaultRsmOptions, limits } from '../../src/options.js';
import { sweepProc } from '../../src/rsm/client-table.js';
import { RsmScenario, viewChangeMs } from './support.js';

/** Every procedure `flakyApp.callbacks` was called after. */
const procsSeenByCallbacks = new Set<string>();

/** Which steps of `flakyApp` fail now (the tests switch them). */
const broken = { callbacks: false, marshal: false, unmarshal: false, initialState: false };

/** The test app with steps that fail on demand, a callback per request, and two handlers that always fail alike. */
const flakyApp = defineApp<TestState>({
  ...testApp,
  initialState: () => {
    if (broken.initialState) throw new Error('initialState broke');
    return testApp.initialState();
  },
  handlers: {
    ...testApp.handlers,
    crash: (state) => (state as unknown as { nowhere: { x: number } }).nowhere.x,
    deepReply: () => {
      let v: Json = [];
      for (let i = 0; i < limits.maxJsonDepth + 5; i++) v = [v];
      return v;
    },
  },
  callbacks: (state, request) => {
    if (request !== undefined) procsSeenByCallbacks.add(request.proc);
    if (broken.callbacks) throw new Error('callbacks broke');
    return [{ clientId: 'watcher', message: { length: state.list.length } }];
  },
  marshalState: (state) => {
    if (broken.marshal) throw new Error('marshalState broke');
    return testApp.marshalState(state);
  },
  unmarshalState: (bytes) => {
    if (broken.unmarshal) throw new Error('unmarshalState broke');
    return testApp.unmarshalState(bytes);
  },
});

function scenario(seed: number): RsmScenario {
  for (const k of Object.keys(broken) as Array<keyof typeof broken>) broken[k] = false;
  return new RsmScenario(seed, ['n1', 'n2', 'n3', 'n4'], { app: flakyApp as typeof testApp });
}

/** No node crashed and the simulator recorded no failure. */
function everyNodeUp(s: RsmScenario, ids: readonly string[]): void {
  for (const id of ids) assert.notEqual(s.cluster.node(id).status, 'down', `${id} is down: ${s.describe()}`);
  assert.deepEqual(s.sim.failures, []);
}

test('callbacks that throw after every request: the primary serves on and counts each failure', () => {
  const s = scenario(811);
  s.growTo(['n1', 'n2', 'n3']);
  broken.callbacks = true;
  const load = s.load(['c1', 'c2']).start();
  load.waitMoreAcked(20);
  const primary = s.primaryOf('n1');
  assert.ok(s.core(primary).appFailures.callbacks >= 20, JSON.stringify(s.core(primary).appFailures));
  s.finish(load, ['n1', 'n2', 'n3']);
  everyNodeUp(s, ['n1', 'n2', 'n3']);
});

test('the app\'s callbacks follow the app\'s requests only, never synod\'s own (the client table\'s sweeps)', () => {
  const s = scenario(815);
  s.growTo(['n1', 'n2', 'n3']);
  procsSeenByCallbacks.clear();
  const load = s.load(['c1']).start();
  load.waitMoreAcked(5);
  const sweepsBefore = s.executions.filter((e) => e.request.proc === sweepProc).length;
  s.cluster.runFor(3 * defaultRsmOptions.clientTableSweepMs);
  assert.ok(s.executions.filter((e) => e.request.proc === sweepProc).length > sweepsBefore, 'sweeps executed meanwhile');
  assert.ok(procsSeenByCallbacks.size > 0, 'callbacks ran after the load\'s requests');
  assert.deepEqual([...procsSeenByCallbacks].filter((p) => p.startsWith('synod:')), []);
  s.finish(load, ['n1', 'n2', 'n3']);
  everyNodeUp(s, ['n1', 'n2', 'n3']);
});

test('a handler that throws, and one whose reply is too deep, get the same typed outcome on every replica', () => {
  // The RSM checker compares every replica's outcome at every viewstamp.
  const s = scenario(812);
  s.growTo(['n1', 'n2', 'n3']);
  const client = s.cluster.addClient('c1');
  const results: unknown[] = [];
  for (const proc of ['crash', 'deepReply']) {
    client.submit(proc, null, { deadlineMs: 2000 }, (r) => results.push(r.ok ? r.value : { code: (r.error as { code?: string }).code }));
  }
  assert.ok(s.cluster.runUntil(() => results.length === 2, 3000), s.describe());
  assert.deepEqual(results, [{ code: 'handler-error' }, { code: 'reply-too-deep' }]);
  s.cluster.runFor(200);
  const ran = s.executions.filter((e) => e.ran).map((e) => `${e.node}:${e.request.proc}`).sort();
  assert.deepEqual(ran, ['n1:crash', 'n1:deepReply', 'n2:crash', 'n2:deepReply', 'n3:crash', 'n3:deepReply']);
  s.finish(s.load([]), ['n1', 'n2', 'n3']);
  everyNodeUp(s, ['n1', 'n2', 'n3']);
});

test('a primary that cannot marshal its state keeps a joiner waiting, no node stops; once it can, the joiner gets the state', () => {
  const s = scenario(813);
  s.growTo(['n1', 'n2', 'n3']);
  const load = s.load(['c1']).start();
  load.waitMoreAcked(10);
  load.stop();
  s.cluster.runFor(500);
  broken.marshal = true;
  s.cluster.start('n4');
  assert.ok(s.cluster.runUntil(() => s.cluster.view('n1')?.members.includes('n4') === true, viewChangeMs), s.describe());
  s.cluster.runFor(2000);
  assert.equal(s.core('n4').status, 'syncing', `n4 cannot get the state: ${s.describe()}`);
  const primary = s.primaryOf('n1');
  const failures = s.core(primary).appFailures.marshal;
  // About one attempt per status report of n4 (every syncRetryMs), not a busy loop.
  assert.ok(failures >= 5 && failures <= 60, `${failures} marshal attempts in 2 s`);
  everyNodeUp(s, ['n1', 'n2', 'n3', 'n4']);
  broken.marshal = false;
  s.waitServing(['n1', 'n2', 'n3', 'n4']);
  load.start();
  load.waitMoreAcked(5);
  s.finish(load, ['n1', 'n2', 'n3', 'n4']);
});

test('a joiner that cannot unmarshal the state does not install it and asks again, paced; once it can, it serves', () => {
  const s = scenario(814);
  s.growTo(['n1', 'n2', 'n3']);
  const load = s.load(['c1']).start();
  load.waitMoreAcked(10);
  load.stop();
  s.cluster.runFor(500);
  broken.unmarshal = true;
  s.cluster.start('n4');
  assert.ok(s.cluster.runUntil(() => s.cluster.view('n1')?.members.includes('n4') === true, viewChangeMs), s.describe());
  s.cluster.runFor(2000);
  const n4 = s.core('n4');
  assert.equal(n4.status, 'syncing');
  assert.equal(n4.lastExecuted, null, 'nothing was installed');
  assert.ok(n4.appFailures.unmarshal >= 5 && n4.appFailures.unmarshal <= 30, `${n4.appFailures.unmarshal} attempts in 2 s`);
  everyNodeUp(s, ['n1', 'n2', 'n3', 'n4']);
  broken.unmarshal = false;
  s.waitServing(['n1', 'n2', 'n3', 'n4']);
  load.start();
  load.waitMoreAcked(5);
  s.finish(load, ['n1', 'n2', 'n3', 'n4']);
});

test('an app without an initial state: the new cluster holds no state and refuses to serve, and its node stays up', () => {
  const s = scenario(815);
  broken.initialState = true;
  s.cluster.start('n1');
  assert.ok(s.cluster.runUntil(() => s.replica('n1')?.refusing === true, viewChangeMs), s.describe());
  assert.equal(s.core('n1').appFailures.initialState, 1);
  const client = s.cluster.addClient('c1', { members: ['n1'] });
  let error: string | null = null;
  client.submit('length', null, { deadlineMs: 500 }, (r) => { error = r.ok ? 'served' : r.error.message; });
  assert.ok(s.cluster.runUntil(() => error !== null, 1000));
  assert.match(error!, /no member of the view holds a complete replicated state/);
  everyNodeUp(s, ['n1']);
});
