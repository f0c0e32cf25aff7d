// On three real replica processes, one client id flooding calls of the largest accepted request
// (64 at once, from a process of its own) takes no more than its share of the primary's pipeline,
// while a well-behaved client keeps being served within its deadline, exactly once, and every
// node stays up.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RsmClient } from '../../src/client/rsm-client.js';
import { silentLogger } from '../../src/env/logger.js';
import { defaultClientOptions, defaultRsmOptions, limits } from '../../src/options.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { realClock } from '../../src/runtime/real-clock.js';
import { eventually } from '../../tools/harness/node-process.js';
import { type FloodReport, spawnFlood } from '../../tools/bench/flood.js';
import { TestAppCluster } from '../../tools/bench/test-cluster.js';

/** How long the flood lasts while the well-behaved client calls. */
const floodMs = 8000;
const floodCalls = 64;
/** The well-behaved client: one call at a time, a pause between, the client's default deadline. */
const callGapMs = 50;
const deadlineMs = defaultClientOptions.defaultDeadlineMs;

/** Requests of the flooding id the primary may hold at once: its byte share of the pipeline, at least one. */
function floodShare(): number {
  const requestBytes = limits.maxRequestBytes + 'flood-0'.length + 'get'.length;
  const shareBytes = Math.floor(defaultRsmOptions.maxInFlightBytes * defaultRsmOptions.clientInFlightShare);
  return Math.max(1, Math.floor(shareBytes / requestBytes));
}

describe('a flooding client id against three real replicas', { timeout: 120_000 }, () => {
  let cluster: TestAppCluster;
  let transport: GrpcClientTransport;
  let client: RsmClient;

  before(async () => {
    cluster = await TestAppCluster.start();
    transport = new GrpcClientTransport({ cluster: cluster.cluster, logger: silentLogger });
    client = new RsmClient({ members: cluster.members, transport, clock: realClock, clientId: 'well-behaved' });
  });

  after(async () => {
    client?.close();
    await transport?.close();
    await cluster?.close();
  });

  test('the flood holds at most its share of the pipeline; the other client is served within its deadline; every node stays up', async (t) => {
    await client.invoke('add', { key: 'good', by: 0 }, { deadlineMs }); // finds the primary before the flood
    const flood = spawnFlood(cluster.cluster, { members: cluster.members, clients: floodCalls, ids: 1 });
    let maxInFlight = 0;
    const watching = setInterval(() => {
      for (const n of cluster.nodes) {
        cluster.status.status(n.address).then((s) => (maxInFlight = Math.max(maxInFlight, s.inFlight)), () => {});
      }
    }, 100);
    const latencies: number[] = [];
    const failures: string[] = [];
    let report: FloodReport;
    try {
      const end = Date.now() + floodMs;
      while (Date.now() < end) {
        const began = performance.now();
        try {
          await client.invoke('add', { key: 'good', by: 1 }, { deadlineMs });
          latencies.push(performance.now() - began);
        } catch (err) {
          failures.push(String(err));
        }
        await new Promise((resolve) => setTimeout(resolve, callGapMs));
      }
    } finally {
      clearInterval(watching);
      report = await flood.stop();
    }
    latencies.sort((a, b) => a - b);
    t.diagnostic(`well-behaved: ${latencies.length} calls, p50 ${latencies[latencies.length >> 1]?.toFixed(0)} ms, max ${latencies.at(-1)?.toFixed(0)} ms; ` +
      `most requests in flight at a primary: ${maxInFlight} (share ${floodShare()} + 1 + a sweep); flood: ${JSON.stringify(report)}`);

    assert.deepEqual(failures, [], 'every call of the well-behaved client succeeded within its deadline');
    assert.ok(latencies.length > 0, 'the well-behaved client made calls during the flood');
    assert.ok(maxInFlight >= 2, 'the flood reached the primary');
    // Beside the flood's share: the well-behaved client's one call, and the primary's own sweep of
    // the client table (a replicated request every clientTableSweepMs, which counts like any other).
    assert.ok(maxInFlight <= floodShare() + 2,
      `${maxInFlight} requests in flight: more than the flood's share (${floodShare()}), the one other call and the node's own sweep`);
    assert.ok(cluster.nodes.every((n) => n.running), 'every node process is still running');
    await eventually(async () => ((await cluster.serving()) ? true : undefined), 15_000, 'the three replicas serve one view again', 100);
    assert.equal(await client.invoke('get', { key: 'good' }, { deadlineMs }), latencies.length, 'each acknowledged add ran exactly once');
  });
});
