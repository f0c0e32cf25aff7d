// An A/B of the client hop's two wires (TransportOptions.callWire): 64 RsmClients sharing one
// GrpcClientTransport against a local 3-node test-app cluster, stream against unary, in
// alternating windows. `node dist/tools/bench/call-wire-ab.js [windowMs] [rounds] [clients]`.
// Not a test: it asserts nothing, it prints figures (docs/benchmarks.md quotes them).
import { RsmClient } from '../../src/client/rsm-client.js';
import { silentLogger } from '../../src/env/logger.js';
import type { CallWire } from '../../src/options.js';
import type { Json } from '../../src/rsm/app.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { realClock } from '../../src/runtime/real-clock.js';
import { TestAppCluster } from './test-cluster.js';

/** Deadline of one measured call: far above any healthy latency, so a miss fails the run. */
const callDeadlineMs = 10_000;
type Workload = 'add' | 'get';

class Callers {
  readonly #transport: GrpcClientTransport;
  readonly #clients: RsmClient[];
  readonly latencies: Record<Workload, number[]> = { add: [], get: [] };
  readonly elapsedMs: Record<Workload, number> = { add: 0, get: 0 };

  constructor(readonly wire: CallWire, cluster: TestAppCluster, count: number) {
    this.#transport = new GrpcClientTransport({ cluster: cluster.cluster, logger: silentLogger, options: { callWire: wire } });
    this.#clients = Array.from({ length: count }, () => new RsmClient({ members: cluster.members, transport: this.#transport, clock: realClock }));
  }

  #call(i: number, workload: Workload): Promise<unknown> {
    const args: Json = workload === 'add' ? { key: `w-${i}`, by: 1 } : { key: `w-${i}` };
    return this.#clients[i]!.invoke(workload, args, { deadlineMs: callDeadlineMs });
  }

  async warmUp(): Promise<void> {
    await Promise.all(this.#clients.map(async (_, i) => {
      for (let n = 0; n < 5; n++) await this.#call(i, 'add');
    }));
  }

  /** Every client calls in a loop for `windowMs`; every call started counts. */
  async window(workload: Workload, windowMs: number): Promise<number> {
    const start = performance.now();
    const into = this.latencies[workload];
    const before = into.length;
    await Promise.all(this.#clients.map(async (_, i) => {
      while (performance.now() < start + windowMs) {
        const began = performance.now();
        await this.#call(i, workload);
        into.push(performance.now() - began);
      }
    }));
    const elapsed = performance.now() - start;
    this.elapsedMs[workload] += elapsed;
    return (into.length - before) / (elapsed / 1000);
  }

  figures(workload: Workload): { opsPerSec: number; p50Ms: number; p99Ms: number } {
    const sorted = [...this.latencies[workload]].sort((a, b) => a - b);
    const at = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
    return { opsPerSec: sorted.length / (this.elapsedMs[workload] / 1000), p50Ms: at(50), p99Ms: at(99) };
  }

  async close(): Promise<void> {
    for (const c of this.#clients) c.close();
    await this.#transport.close();
  }
}

async function main(): Promise<void> {
  const [windowMs = 2000, rounds = 3, count = 64] = process.argv.slice(2).map(Number);
  const cluster = await TestAppCluster.start();
  const both = [new Callers('stream', cluster, count), new Callers('unary', cluster, count)];
  try {
    for (const c of both) await c.warmUp();
    for (let round = 0; round < rounds; round++) {
      // The order flips each round, so load from elsewhere falls on both alike.
      const order = round % 2 === 0 ? both : [...both].reverse();
      for (const workload of ['add', 'get'] as const) {
        for (const c of order) console.log(`round ${round + 1} ${workload} ${c.wire}: ${(await c.window(workload, windowMs)).toFixed(0)} ops/s`);
      }
    }
    for (const workload of ['add', 'get'] as const) {
      const [s, u] = both.map((c) => c.figures(workload));
      const line = (wire: string, f: typeof s): string => `${wire.padEnd(6)} ${f!.opsPerSec.toFixed(0).padStart(6)} ops/s  p50 ${f!.p50Ms.toFixed(2)} ms  p99 ${f!.p99Ms.toFixed(2)} ms`;
      console.log(`${workload} (${count} clients, one transport, ${rounds} × ${windowMs} ms each):`);
      console.log(`  ${line('stream', s)}\n  ${line('unary', u)}\n  stream/unary ${(s!.opsPerSec / u!.opsPerSec).toFixed(2)}×`);
    }
  } finally {
    for (const c of both) await c.close();
    await cluster.close();
  }
}

await main();
