// The RSM layer's meter counts each answered request once by procedure and outcome with its latency,
// labels undeclared procedures `unknown`, times invoke batches from their first send to the ack of
// their last seqno (a re-send does not restart the clock), forgets batch timings at a new view, times a sync until
// normal, and stays within its bounds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Metrics } from '../../src/env/metrics.js';
import { ReturnAddress } from '../../src/env/transport.js';
import { defaultObserveOptions } from '../../src/options/observe.js';
import { RsmMeter } from '../../src/rsm/rsm-meter.js';
import type { ClientCall, Request } from '../../src/rsm/messages.js';

/** Metrics that remember every call, as `kind name labels value` lines. */
function recorder(): { metrics: Metrics; seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    metrics: {
      count: (name, labels, by = 1) => seen.push(`count ${name} ${JSON.stringify(labels ?? {})} ${by}`),
      observe: (name, value, labels) => seen.push(`observe ${name} ${JSON.stringify(labels ?? {})} ${value}`),
    },
  };
}

const request = (proc: string, seq: number): Request => ({ clientId: 'c', seq, proc, args: null, argsText: 'null', first: true });
const invoke = (proc: string, seq: number): ClientCall => ({ kind: 'invoke', request: request(proc, seq) });

test('answers are counted once each, by declared procedure and outcome, with their latency', () => {
  const { metrics, seen } = recorder();
  let now = 1000;
  const meter = new RsmMeter(metrics, () => now, ['add'], defaultObserveOptions);
  const a = new ReturnAddress('a');
  const b = new ReturnAddress('b');
  meter.request(a, invoke('add', 1));
  meter.request(b, invoke('nosuch', 2));
  now += 250;
  meter.left({ kind: 'answer', to: a, answer: { kind: 'executed', clientId: 'c', seq: 1, outcome: { ok: true, value: 1 } } });
  meter.left({ kind: 'answer', to: a, answer: { kind: 'executed', clientId: 'c', seq: 1, outcome: { ok: true, value: 1 } } });
  meter.left({ kind: 'answer', to: b, answer: { kind: 'executed', clientId: 'c', seq: 2, outcome: { ok: false, code: 'client-expired', message: 'x' } } });
  assert.deepEqual(seen, [
    'count synod_requests_total {"procedure":"add","outcome":"ok"} 1',
    'observe synod_request_duration_seconds {"outcome":"ok"} 0.25',
    'count synod_requests_total {"procedure":"unknown","outcome":"refused"} 1',
    'observe synod_request_duration_seconds {"outcome":"refused"} 0.25',
  ]);
  assert.deepEqual(meter.clientPath, { answers: 2, seconds: 0.5 });
});

test('at most maxTimedRequests requests are timed at once; the oldest timing is dropped', () => {
  const { metrics, seen } = recorder();
  const meter = new RsmMeter(metrics, () => 0, ['add'], { ...defaultObserveOptions, maxTimedRequests: 2 });
  const addresses = [0, 1, 2].map((i) => new ReturnAddress(`r${i}`));
  addresses.forEach((to, i) => meter.request(to, invoke('add', i + 1)));
  for (const [i, to] of addresses.entries()) meter.left({ kind: 'answer', to, answer: { kind: 'busy', clientId: 'c', seq: i + 1, retryAfterMs: 1, reason: 'x' } });
  assert.equal(seen.filter((l) => l.startsWith('count')).length, 2, 'the first request\'s timing was dropped');
});

test('invoke round trips are timed from a batch\'s first send to the ack of the batch\'s last seqno; a new view forgets them', () => {
  const { metrics, seen } = recorder();
  let now = 0;
  const meter = new RsmMeter(metrics, () => now, [], defaultObserveOptions);
  meter.status('normal', 1);
  const batch = (firstSeqno: number, n: number) => ({ kind: 'send' as const, to: 'b:1', msg: { kind: 'invoke' as const, vid: 1, firstSeqno, requests: Array.from({ length: n }, (_, i) => request('p', firstSeqno + i)) } });
  meter.left(batch(1, 2)); // seqnos 1-2 at 0 ms
  now = 5;
  meter.left(batch(3, 1)); // seqno 3 at 5 ms
  now = 7;
  meter.left(batch(1, 2)); // a re-send: the clock runs from the first send
  now = 10;
  meter.received('b:1', { kind: 'invoke-ack', vs: { vid: 1, seqno: 2 } });
  now = 12;
  meter.received('b:1', { kind: 'invoke-ack', vs: { vid: 1, seqno: 3 } });
  meter.received('b:1', { kind: 'invoke-ack', vs: { vid: 1, seqno: 3 } }); // a duplicate ack times nothing
  assert.deepEqual(seen, ['observe synod_invoke_round_trip_seconds {} 0.01', 'observe synod_invoke_round_trip_seconds {} 0.007']);
  now = 20;
  meter.left(batch(4, 1));
  meter.status('syncing', 2);
  now = 30;
  meter.received('b:1', { kind: 'invoke-ack', vs: { vid: 2, seqno: 4 } });
  meter.status('normal', 2);
  assert.deepEqual(seen.slice(2), ['observe synod_state_transfer_duration_seconds {} 0.01'], 'the old view\'s batch is forgotten; the sync took 10 ms');
});
