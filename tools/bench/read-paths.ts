import { RsmClient } from '../../src/client/rsm-client.js';
import type { Json } from '../../src/rsm/app.js';
import { silentLogger } from '../../src/env/logger.js';
import type { NodeId } from '../../src/env/types.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { realClock } from '../../src/runtime/real-clock.js';
import { StatusReader } from '../harness/status.js';
import { percentile, table } from './durability-writes.js';

/**
 * Deadline of one measured read. Far above any latency a healthy cluster shows, so a read that
 * misses it fails the run (it throws), never a silently dropped sample.
 */
const readDeadlineMs = 10_000;

/** Which path a read takes: a query (`App.queries`) or the same read declared as a handler. */
export type ReadPath = 'query' | 'replicated';

/** A running cluster to read from: its name (for the transport) and its members. */
export interface ReadTarget {
  readonly cluster: string;
  readonly members: readonly NodeId[];
}

/** What one path showed at one number in flight, over every round. */
export interface ReadFigures {
  readonly path: ReadPath;
  readonly inFlight: number;
  readonly ops: number;
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /**
   * Requests the primary executed (replicated) during the windows: its last executed viewstamp's
   * advance, null if the view changed meanwhile. Every replicated read adds one; a query answered
   * locally adds none, so for queries this counts only the node's own requests (client-table
   * sweeps) and is far below `ops`.
   */
  readonly replicated: number | null;
}

/** One path's clients on one cluster, each with one read in flight at a time (`RsmClient` has one). */
class Readers {
  readonly #transport: GrpcClientTransport;
  readonly #status: StatusReader;
  readonly #clients: RsmClient[];
  readonly #latencies = new Map<number, number[]>();
  readonly #elapsedMs = new Map<number, number>();
  readonly #replicated = new Map<number, number | null>();

  constructor(readonly path: ReadPath, readonly target: ReadTarget, clients: number, readonly call: { proc: string; args: Json }) {
    this.#transport = new GrpcClientTransport({ cluster: target.cluster, logger: silentLogger });
    this.#status = new StatusReader(target.cluster, silentLogger);
    this.#clients = Array.from({ length: clients }, () => new RsmClient({ members: [...target.members], transport: this.#transport, clock: realClock }));
  }

  /**
   * One read from every client before any window: finds the primary, and puts the client in the
   * primary's client table (a query of a client the table does not know is replicated, to record it).
   */
  async warmUp(): Promise<void> {
    await Promise.all(this.#clients.map((_, i) => this.#read(i)));
  }

  /**
   * Clients 0 … `count`-1 read in a loop, starting reads for `windowMs`; the window ends when the
   * last read started in it ended. Every read counts, and throughput is reads over the window's
   * real length. Resolves the window's reads per second.
   */
  async window(count: number, windowMs: number): Promise<number> {
    const latencies = this.#latencies.get(count) ?? [];
    this.#latencies.set(count, latencies);
    const before = latencies.length;
    const executedBefore = await this.#executed();
    const start = performance.now();
    const end = start + windowMs;
    await Promise.all(this.#clients.slice(0, count).map(async (_, i) => {
      while (performance.now() < end) {
        const began = performance.now();
        await this.#read(i);
        latencies.push(performance.now() - began);
      }
    }));
    const elapsedMs = performance.now() - start;
    const executedAfter = await this.#executed();
    const sameView = executedBefore !== null && executedAfter !== null && executedBefore.vid === executedAfter.vid;
    const sofar = this.#replicated.get(count);
    this.#replicated.set(count, !sameView || sofar === null ? null : (sofar ?? 0) + executedAfter.seqno - executedBefore.seqno);
    this.#elapsedMs.set(count, (this.#elapsedMs.get(count) ?? 0) + elapsedMs);
    return (latencies.length - before) / (elapsedMs / 1000);
  }

  figures(count: number): ReadFigures {
    const sorted = [...(this.#latencies.get(count) ?? [])].sort((a, b) => a - b);
    const elapsedMs = this.#elapsedMs.get(count) ?? NaN;
    return {
      path: this.path, inFlight: count, ops: sorted.length, opsPerSec: sorted.length / (elapsedMs / 1000),
      p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), replicated: this.#replicated.get(count) ?? null,
    };
  }

  async close(): Promise<void> {
    for (const c of this.#clients) c.close();
    await this.#transport.close();
    await this.#status.close();
  }

  async #read(i: number): Promise<void> {
    await this.#clients[i]!.invoke(this.call.proc, this.call.args, { deadlineMs: readDeadlineMs });
  }

  /** The primary's last executed viewstamp (the primary as the first member sees it). */
  async #executed(): Promise<{ vid: number; seqno: number } | null> {
    const primary = (await this.#status.status(this.target.members[0]!)).primary;
    if (primary === null) return null;
    return (await this.#status.status(primary)).lastExecuted;
  }
}

export interface ReadComparisonOptions {
  /** The read both paths make: a query on `query`, a handler of the same name on `replicated`. */
  readonly proc: string;
  readonly args: Json;
  /** Each number of reads in flight measured (one client per read in flight). */
  readonly inFlight: readonly number[];
  readonly windowMs: number;
  /** Windows per path and number in flight; which path goes first flips every round. */
  readonly rounds: number;
  readonly progress: (line: string) => void;
}

/**
 * The same read through the query path (`query`, a cluster of the built-in app) and the
 * replicated path (`replicated`, a cluster of its `-replicated-reads` variant), both clusters
 * running throughout. Each round measures, for each number in flight, each path in turn; the
 * order of the paths flips every round, so load from elsewhere on a shared machine falls on both
 * alike. Figures pool every round's samples. Resolves one row per path and number in flight.
 */
export async function compareReads(query: ReadTarget, replicated: ReadTarget, o: ReadComparisonOptions): Promise<ReadFigures[]> {
  const most = Math.max(...o.inFlight);
  const q = new Readers('query', query, most, o);
  const r = new Readers('replicated', replicated, most, o);
  try {
    o.progress(`${o.proc}: warming up (one read from each of ${most} clients, each path)`);
    await q.warmUp();
    await r.warmUp();
    for (let round = 0; round < o.rounds; round++) {
      for (const count of o.inFlight) {
        for (const readers of round % 2 === 0 ? [q, r] : [r, q]) {
          const perSec = await readers.window(count, o.windowMs);
          o.progress(`${o.proc}: round ${round + 1}/${o.rounds}, ${readers.path}, ${count} in flight: ${perSec.toFixed(0)} ops/s`);
        }
      }
    }
    return o.inFlight.flatMap((count) => [q.figures(count), r.figures(count)]);
  } finally {
    await q.close();
    await r.close();
  }
}

/**
 * The rows as a table, and for each number in flight the ratios query/replicated: of throughput
 * (above 1: queries serve more reads per second) and of p50 and p99 latency (below 1: faster).
 */
export function describeReads(title: string, rows: readonly ReadFigures[]): string {
  const cells = rows.map((f) => [
    f.path, String(f.inFlight), String(f.ops), f.opsPerSec.toFixed(0), f.p50Ms.toFixed(3), f.p99Ms.toFixed(3), f.replicated === null ? 'n/a' : String(f.replicated),
  ]);
  let text = `${title}\n${table(['path', 'in flight', 'ops', 'ops/s', 'p50 ms', 'p99 ms', 'replicated'], cells)}`;
  for (const count of new Set(rows.map((f) => f.inFlight))) {
    const q = rows.find((f) => f.inFlight === count && f.path === 'query');
    const r = rows.find((f) => f.inFlight === count && f.path === 'replicated');
    if (q === undefined || r === undefined) continue;
    text += `  ratio query/replicated, ${count} in flight: ops/s ${(q.opsPerSec / r.opsPerSec).toFixed(2)}x, ` +
      `p50 ${(q.p50Ms / r.p50Ms).toFixed(2)}x, p99 ${(q.p99Ms / r.p99Ms).toFixed(2)}x\n`;
  }
  return text;
}
