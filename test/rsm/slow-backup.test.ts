// A slow backup does not multiply the primary's traffic: counted on the simulated network, each
// request goes to it about once; with the old rule (a test mutation) the same run sends many copies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeId } from '../../src/env/types.js';
import type { ReplicaMessage } from '../../src/rsm/messages.js';
import type { RsmMutations } from '../../src/rsm/replica.js';
import { RsmScenario } from './support.js';

/** Extra one-way delay of every message to or from the slow backup: a round trip of about 10 retransmit periods. */
const slowDelayMs = 250;
const clients = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'c8'];
/** Copies of one request to the slow backup, on average, that the bound allows (every copy beyond the first is a re-send). */
const maxCopiesPerRequest = 1.25;

interface Traffic {
  /** Copies of each request the primary sent to each backup (in its invoke batches), by `vid.seqno`. */
  readonly copies: Map<NodeId, Map<string, number>>;
  readonly acked: number;
}

/** One run: 3 replicas, n3 slow, 8 clients appending for 20 s; counts every invoke put on the network. */
function slowBackupRun(seed: number, mutations: RsmMutations = {}): Traffic {
  const s = new RsmScenario(seed, ['n1', 'n2', 'n3'], { mutations });
  const copies = new Map<NodeId, Map<string, number>>();
  s.sim.network.taps.push((_from, to, service, msg) => {
    const m = msg as ReplicaMessage;
    if (service !== 'synod.rsm.Replica' || m.kind !== 'invoke') return;
    const mine = copies.get(to) ?? new Map<string, number>();
    for (let seqno = m.firstSeqno; seqno < m.firstSeqno + m.requests.length; seqno++) {
      const key = `${m.vid}.${seqno}`;
      mine.set(key, (mine.get(key) ?? 0) + 1);
    }
    copies.set(to, mine);
  });
  s.growTo(['n1', 'n2', 'n3']);
  s.sim.network.extraDelayMs.set('n3', slowDelayMs);
  const load = s.load(clients, { gapMs: 1, deadlineMs: 8000 }).start();
  s.cluster.runFor(20_000);
  s.finish(load, ['n1', 'n2', 'n3']);
  return { copies, acked: load.ackedCount };
}

function summary(t: Traffic, to: NodeId): { requests: number; copies: number; perRequest: number; most: number } {
  const counts = [...(t.copies.get(to)?.values() ?? [])];
  const copies = counts.reduce((a, b) => a + b, 0);
  return { requests: counts.length, copies, perRequest: copies / Math.max(1, counts.length), most: Math.max(0, ...counts) };
}

test('a slow backup gets each request about once: re-sends wait for its measured round trip', (t) => {
  const seed = Number(process.env['SEED'] ?? 12);
  t.diagnostic(`seed ${seed} (SEED=${seed} replays)`);
  const run = slowBackupRun(seed);
  const slow = summary(run, 'n3');
  const fast = summary(run, 'n2');
  t.diagnostic(`slow n3: ${slow.copies} invokes for ${slow.requests} requests (${slow.perRequest.toFixed(3)} each, at most ${slow.most}); fast n2: ${fast.perRequest.toFixed(3)} each`);
  assert.ok(run.acked > 200, `only ${run.acked} requests acknowledged`);
  assert.ok(slow.perRequest <= maxCopiesPerRequest, `${slow.perRequest.toFixed(3)} copies per request to the slow backup (bound ${maxCopiesPerRequest})`);
  assert.ok(fast.perRequest <= maxCopiesPerRequest, `${fast.perRequest.toFixed(3)} copies per request to the fast backup`);
});

test('the traffic bound bites: re-sending the whole window every period multiplies the copies to a slow backup', (t) => {
  const seed = Number(process.env['SEED'] ?? 12);
  t.diagnostic(`seed ${seed} (SEED=${seed} replays)`);
  const slow = summary(slowBackupRun(seed, { resendWholeWindow: true }), 'n3');
  t.diagnostic(`with resend-whole-window: ${slow.perRequest.toFixed(3)} invokes per request to the slow backup`);
  assert.ok(slow.perRequest > 3 * maxCopiesPerRequest, `${slow.perRequest.toFixed(3)} copies per request: the mutation should break the bound`);
});
