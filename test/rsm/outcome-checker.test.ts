// The simulator's RSM checker compares the outcome every replica got at every viewstamp, not only
// the request: an app that answers differently on different replicas is caught even though every
// replica holds the same state (the equal-state check alone would pass it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defineApp, jsonState } from '../../src/rsm/app.js';
import { simulateApp } from '../../tools/testkit/index.js';

/**
 * Counts hits in its state (the same on every replica) but answers with a module-level count of
 * the handler's runs, which every replica moves: replies differ between replicas, states do not.
 */
let runs = 0;
const unevenReplies = defineApp<{ hits: number }>({
  name: 'uneven-replies',
  version: '1.0.0',
  initialState: () => ({ hits: 0 }),
  handlers: {
    hit: (state) => {
      state.hits++;
      runs++;
      return { hits: state.hits, run: runs % 2 };
    },
  },
  marshalState: (state) => jsonState.marshal(state),
  unmarshalState: (bytes) => jsonState.unmarshal(bytes) as { hits: number },
});

/** The same app answering from its state only: deterministic. */
const evenReplies = defineApp<{ hits: number }>({
  ...unevenReplies,
  name: 'even-replies',
  handlers: { hit: (state) => ({ hits: ++state.hits, run: 0 }) },
});

const withoutTime = (failure: string): string => failure.replace(/^t=[\d.]+ms /, '');

test('an app whose replies differ between replicas (same states) is caught by the outcome check at its viewstamp', () => {
  const seed = 3;
  const r = simulateApp({ app: unevenReplies, seed, faults: 'none', nextCall: () => ({ proc: 'hit', args: null }) });
  assert.equal(r.ok, false, `seed ${seed}`);
  const outcomes = r.failures.map(withoutTime).filter((f) => f.startsWith('same outcome at viewstamp'));
  assert.ok(outcomes.length > 0, `seed ${seed}: ${r.failures.join('\n')}`);
  assert.match(outcomes[0]!, /n\d got \{"ok":true,"value":\{"hits":\d+,"run":[01]\}\} for c\d#\d+:hit:null at \d+\.\d+, n\d \{"ok":true,"value":\{"hits":\d+,"run":[01]\}\}/);
  const stateFailures = r.failures.map(withoutTime).filter((f) => f.startsWith('replica divergence') || f.startsWith('equal state'));
  assert.deepEqual(stateFailures, [], 'the states agree');
  const deterministic = simulateApp({ app: evenReplies, seed, faults: 'none', nextCall: () => ({ proc: 'hit', args: null }) });
  assert.deepEqual(deterministic.failures, [], 'the same calls on a deterministic app pass');
});
