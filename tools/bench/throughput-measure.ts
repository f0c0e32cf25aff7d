import { startCpuCount } from './cpu.js';
import { warmupCalls } from './throughput-timing.js';
import { percentile } from './durability-writes.js';

/**
 * The measuring loop of `npm run bench -- throughput`: one window of concurrent callers against one
 * system, with latencies, throughput and CPU per operation; and the pooling of several windows.
 */

/**
 * What a lock cycle reports: the latency to record (its acquire's) and the grant it ran under (lock
 * and fencing token, or lease): a grant not seen before is one the server made, a hand-over when
 * the lock is contended; a caching client's later cycles under the same grant are not.
 */
export interface GrantSample {
  readonly latencyMs: number;
  readonly grant: string;
}

/**
 * One caller's operation. It resolves with nothing, when the whole call is the latency, or with a
 * `GrantSample`. A failure rejects: every measured call must succeed, or the run is wrong and stops.
 */
export type Call = () => Promise<GrantSample | void>;

/** The callers of one row on one system, ready (warmed up), and how to let them go. */
export interface Callers {
  /** One entry per call in flight: each loops on its own call. */
  readonly calls: readonly Call[];
  /** The server processes whose CPU the row's cost counts. */
  readonly pids: () => readonly number[];
  readonly close: () => Promise<void>;
}

/**
 * `calls` as `Callers`, once each ran `warmupCalls` times (finds the primary or leader, registers
 * the client, opens connections); a failed warm-up closes them and throws.
 */
export async function warmedCallers(calls: Call[], pids: () => readonly number[], close: () => Promise<void>): Promise<Callers> {
  try {
    await Promise.all(calls.map(async (call) => {
      for (let n = 0; n < warmupCalls; n++) await call();
    }));
  } catch (err) {
    await close();
    throw err;
  }
  return { calls, pids, close };
}

/** What one window showed. */
export interface WindowSample {
  readonly latenciesMs: readonly number[];
  /** The latencies of the calls that ran under a grant not seen before (lock rows only). */
  readonly newGrantLatenciesMs: readonly number[];
  readonly elapsedMs: number;
  readonly clientCpuUs: number;
  readonly serversCpuUs: number;
}

/**
 * Every caller loops on its call, starting calls for `windowMs`; the window ends when the last call
 * started in it ended. Every call counts (a call slower than the window is a sample too, never
 * dropped), and the window's length is its real one, so throughput is calls over real time.
 */
export async function runWindow(callers: Callers, windowMs: number, seenGrants: Set<string>): Promise<WindowSample> {
  const latenciesMs: number[] = [];
  const newGrantLatenciesMs: number[] = [];
  const cpu = startCpuCount(callers.pids());
  const start = performance.now();
  const end = start + windowMs;
  await Promise.all(callers.calls.map(async (call) => {
    while (performance.now() < end) {
      const began = performance.now();
      const recorded = await call();
      if (recorded === undefined) {
        latenciesMs.push(performance.now() - began);
      } else {
        latenciesMs.push(recorded.latencyMs);
        if (!seenGrants.has(recorded.grant)) {
          seenGrants.add(recorded.grant);
          newGrantLatenciesMs.push(recorded.latencyMs);
        }
      }
    }
  }));
  const elapsedMs = performance.now() - start;
  const spent = cpu();
  return { latenciesMs, newGrantLatenciesMs, elapsedMs, clientCpuUs: spent.clientUs, serversCpuUs: spent.serversUs };
}

/** One system's figures in one row, pooled over every round's window. */
export interface Figures {
  readonly ops: number;
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** CPU µs per operation: the client process (this one) plus every server process of the system. */
  readonly cpuUsPerOp: number;
  readonly clientCpuUsPerOp: number;
  readonly serversCpuUsPerOp: number;
  /** Each window's ops/s, in order (their spread shows the noise). */
  readonly windowOpsPerSec: readonly number[];
  /** Lock rows: the calls under a new grant (hand-overs when contended), their rate and latency; else null. */
  readonly grants: { readonly count: number; readonly perSec: number; readonly p50Ms: number; readonly p99Ms: number } | null;
}

/** Pools windows: latencies together, throughput and CPU over their summed time and operations. */
export function pool(samples: readonly WindowSample[]): Figures {
  const sorted = samples.flatMap((s) => s.latenciesMs).sort((a, b) => a - b);
  const grantSorted = samples.flatMap((s) => s.newGrantLatenciesMs).sort((a, b) => a - b);
  const ops = sorted.length;
  const elapsedMs = samples.reduce((t, s) => t + s.elapsedMs, 0);
  const clientUs = samples.reduce((t, s) => t + s.clientCpuUs, 0);
  const serversUs = samples.reduce((t, s) => t + s.serversCpuUs, 0);
  return {
    ops,
    opsPerSec: ops / (elapsedMs / 1000),
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    cpuUsPerOp: (clientUs + serversUs) / ops,
    clientCpuUsPerOp: clientUs / ops,
    serversCpuUsPerOp: serversUs / ops,
    windowOpsPerSec: samples.map((s) => s.latenciesMs.length / (s.elapsedMs / 1000)),
    grants: grantSorted.length === 0 ? null : {
      count: grantSorted.length, perSec: grantSorted.length / (elapsedMs / 1000), p50Ms: percentile(grantSorted, 50), p99Ms: percentile(grantSorted, 99),
    },
  };
}

/** One contender of a row: a label naming the system and how it is driven, and how to get its callers. */
export interface Contender {
  readonly label: string;
  readonly open: () => Promise<Callers>;
}

/**
 * Measures every contender of one row: opens (and so warms up) each, then runs `rounds` rounds of
 * one window each, the order of the contenders rotating every round, so load from elsewhere on a
 * shared machine falls on each alike. Closes every contender's callers, also on failure.
 */
export async function measureRow(
  row: string, contenders: readonly Contender[], windowMs: number, rounds: number, progress: (line: string) => void,
): Promise<Map<string, Figures>> {
  const opened: Array<{ contender: Contender; callers: Callers; samples: WindowSample[]; grants: Set<string> }> = [];
  try {
    for (const contender of contenders) {
      progress(`${row}: ${contender.label}: warming up`);
      opened.push({ contender, callers: await contender.open(), samples: [], grants: new Set() });
    }
    for (let round = 0; round < rounds; round++) {
      const order = opened.map((_, i) => opened[(i + round) % opened.length]!);
      for (const o of order) {
        const s = await runWindow(o.callers, windowMs, o.grants);
        o.samples.push(s);
        progress(`${row}: round ${round + 1}/${rounds}, ${o.contender.label}: ${(s.latenciesMs.length / (s.elapsedMs / 1000)).toFixed(0)} ops/s`);
      }
    }
    return new Map(opened.map((o) => [o.contender.label, pool(o.samples)]));
  } finally {
    for (const o of opened) await o.callers.close();
  }
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
