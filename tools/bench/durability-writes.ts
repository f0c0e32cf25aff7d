import { RsmClient } from '../../src/client/rsm-client.js';
import { silentLogger } from '../../src/env/logger.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { realClock } from '../../src/runtime/real-clock.js';
import type { TestAppCluster } from './test-cluster.js';

/**
 * Deadline of one measured write. Far above any latency a healthy cluster shows, so a write that
 * misses it is a failure of the run (it throws), never a silently dropped sample.
 */
const writeDeadlineMs = 10_000;
/** Writes each client makes before the first window (finds the primary, opens its connection). */
const warmupWrites = 5;

/** What one configuration (durable or memory-only) showed in one mode, over every round. */
export interface WriteFigures {
  readonly ops: number;
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** One configuration's figures: one write in flight, and `inFlight` (one per client). */
export interface ConfigFigures {
  readonly sequential: WriteFigures;
  readonly concurrent: WriteFigures;
}

export interface WriteComparison {
  readonly durable: ConfigFigures;
  readonly memory: ConfigFigures;
  readonly inFlight: number;
  readonly windowMs: number;
  readonly rounds: number;
}

export interface WriteBenchOptions {
  /** How long each measured window lasts. */
  readonly windowMs: number;
  /** Windows per configuration and mode; the configurations alternate, and so does which goes first. */
  readonly rounds: number;
  /** Clients in the concurrent mode (each has one call in flight: `RsmClient` has one today). */
  readonly inFlight: number;
  readonly progress: (line: string) => void;
}

/** One cluster's clients: one for the sequential mode, `inFlight` for the concurrent one. */
class Writers {
  readonly #transport: GrpcClientTransport;
  readonly clients: RsmClient[];
  readonly latencies = { sequential: [] as number[], concurrent: [] as number[] };
  /** The measured time of every window of each mode, summed: ops/s is writes over this. */
  readonly elapsedMs = { sequential: 0, concurrent: 0 };

  constructor(readonly name: string, cluster: TestAppCluster, inFlight: number) {
    this.#transport = new GrpcClientTransport({ cluster: cluster.cluster, logger: silentLogger });
    this.clients = Array.from({ length: inFlight }, () => new RsmClient({ members: cluster.members, transport: this.#transport, clock: realClock }));
  }

  /** Client `i`'s write: its own counter, so no two writes of a window touch the same key. */
  write(i: number): Promise<unknown> {
    return this.clients[i]!.invoke('add', { key: `w-${i}`, by: 1 }, { deadlineMs: writeDeadlineMs });
  }

  async warmUp(): Promise<void> {
    await Promise.all(this.clients.map(async (_, i) => {
      for (let n = 0; n < warmupWrites; n++) await this.write(i);
    }));
  }

  /**
   * Clients 0 … `count`-1 write in a loop, starting writes for `windowMs`; the window ends when
   * the last write started in it ended. Every write counts (a write slower than the window is a
   * sample too, never dropped), and throughput is writes over the window's real length.
   * Resolves the window's writes per second (the spread between rounds shows noise).
   */
  async window(mode: 'sequential' | 'concurrent', count: number, windowMs: number): Promise<number> {
    const start = performance.now();
    const end = start + windowMs;
    const into = this.latencies[mode];
    const before = into.length;
    await Promise.all(this.clients.slice(0, count).map(async (_, i) => {
      while (performance.now() < end) {
        const began = performance.now();
        await this.write(i);
        into.push(performance.now() - began);
      }
    }));
    const elapsedMs = performance.now() - start;
    this.elapsedMs[mode] += elapsedMs;
    return (into.length - before) / (elapsedMs / 1000);
  }

  figures(): ConfigFigures {
    const of = (mode: 'sequential' | 'concurrent'): WriteFigures => {
      const sorted = [...this.latencies[mode]].sort((a, b) => a - b);
      return { ops: sorted.length, opsPerSec: sorted.length / (this.elapsedMs[mode] / 1000), p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99) };
    };
    return { sequential: of('sequential'), concurrent: of('concurrent') };
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.close();
    await this.#transport.close();
  }
}

/**
 * Writes (the test app's `add`, a few dozen bytes each) against two clusters of the same build,
 * one with the durable RSM log and one with the state in memory only, both running throughout.
 * Each round measures, for each configuration in turn, one writer for `windowMs` and then
 * `inFlight` writers for `windowMs`; the order of the configurations flips every round, so load
 * from elsewhere on a shared machine falls on both alike. Figures pool every round's samples.
 */
export async function compareWrites(durable: TestAppCluster, memory: TestAppCluster, o: WriteBenchOptions): Promise<WriteComparison> {
  const d = new Writers('durable', durable, o.inFlight);
  const m = new Writers('memory-only', memory, o.inFlight);
  try {
    o.progress(`writes: warming up (${warmupWrites} writes from each of ${o.inFlight} clients, each configuration)`);
    await d.warmUp();
    await m.warmUp();
    for (let round = 0; round < o.rounds; round++) {
      const order = round % 2 === 0 ? [d, m] : [m, d];
      for (const w of order) {
        o.progress(`writes: round ${round + 1}/${o.rounds}, ${w.name}: 1 in flight, then ${o.inFlight}, ${o.windowMs} ms each`);
        const sequential = await w.window('sequential', 1, o.windowMs);
        const concurrent = await w.window('concurrent', o.inFlight, o.windowMs);
        o.progress(`writes: round ${round + 1}/${o.rounds}, ${w.name}: ${sequential.toFixed(0)} ops/s with 1 in flight, ${concurrent.toFixed(0)} with ${o.inFlight}`);
      }
    }
    return { durable: d.figures(), memory: m.figures(), inFlight: o.inFlight, windowMs: o.windowMs, rounds: o.rounds };
  } finally {
    await d.close();
    await m.close();
  }
}

/** The goal for what durability may cost: sequential latency at most this many times the memory-only one… */
export const goalLatencyRatio = 1.3;
/** …and concurrent throughput at least this share of it. */
export const goalThroughputRatio = 0.8;

/** The comparison as text: each figure, the durable/memory ratios, and whether the goal is met. */
export function describeWrites(c: WriteComparison): string {
  const rows: Array<[string, (f: ConfigFigures) => number, number]> = [
    ['1 in flight: p50 ms', (f) => f.sequential.p50Ms, 3],
    ['1 in flight: p99 ms', (f) => f.sequential.p99Ms, 3],
    ['1 in flight: ops/s', (f) => f.sequential.opsPerSec, 0],
    [`${c.inFlight} in flight: ops/s`, (f) => f.concurrent.opsPerSec, 0],
    [`${c.inFlight} in flight: p50 ms`, (f) => f.concurrent.p50Ms, 3],
    [`${c.inFlight} in flight: p99 ms`, (f) => f.concurrent.p99Ms, 3],
  ];
  const cells = rows.map(([name, get, digits]) => [
    name, get(c.durable).toFixed(digits), get(c.memory).toFixed(digits), `${(get(c.durable) / get(c.memory)).toFixed(2)}x`,
  ]);
  const latency = c.durable.sequential.p50Ms / c.memory.sequential.p50Ms;
  const throughput = c.durable.concurrent.opsPerSec / c.memory.concurrent.opsPerSec;
  const met = (ok: boolean): string => (ok ? 'met' : 'NOT met');
  return `writes (test app add), local 3-node clusters, ${c.rounds} rounds of ${c.windowMs} ms per configuration and mode, alternating\n` +
    table(['figure', 'durable', 'memory-only', 'ratio'], cells) +
    `  goal, sequential p50 latency ratio <= ${goalLatencyRatio}: ${latency.toFixed(2)}x, ${met(latency <= goalLatencyRatio)}\n` +
    `  goal, ${c.inFlight}-in-flight throughput ratio >= ${goalThroughputRatio}: ${throughput.toFixed(2)}x, ${met(throughput >= goalThroughputRatio)}\n`;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** A text table, the first column left-aligned and the rest right-aligned. */
export function table(header: readonly string[], cells: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]): string => `  ${c.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ')}\n`;
  return line(header) + line(widths.map((w) => '-'.repeat(w))) + cells.map(line).join('');
}
