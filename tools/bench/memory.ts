import { RsmClient } from '../../src/client/rsm-client.js';
import { silentLogger } from '../../src/env/logger.js';
import { defaultRsmOptions, defaultTransportOptions, limits } from '../../src/options.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { realClock } from '../../src/runtime/real-clock.js';
import { type NodeProcess, sleep } from '../harness/node-process.js';
import { type FloodReport, spawnFlood } from './flood.js';
import { type Budget, memoryBudgets } from './memory-budget.js';
import { RssSampler, residentOf } from './rss.js';
import { TestAppCluster } from './test-cluster.js';

const MiB = 1024 * 1024;

export interface MemoryBenchOptions {
  /** How long each flood lasts. */
  readonly floodMs: number;
  /** Concurrent 1 MiB calls of each flood. */
  readonly floodCalls: number;
  /** Distinct client ids that each make one call. */
  readonly clientIds: number;
  /** Calls of distinct client ids under way at once. */
  readonly idConcurrency: number;
  readonly say: (line: string) => void;
}

/** One measured row: the figure, its budget, and what else the phase showed. */
interface Row {
  readonly phase: string;
  readonly bytes: number;
  readonly budget: Budget;
  readonly note: string;
}

/** How often the primary's resident memory is sampled during a phase. */
const sampleEveryMs = 50;
/** Pause before measuring at rest and between phases (let the cluster calm down). */
const settleMs = 3000;
/** A well-behaved client's call during a flood: one every this long, with this deadline. */
const probeGapMs = 100;
const probeDeadlineMs = 10_000;

/**
 * `npm run bench -- memory`: the primary's resident memory (VmRSS read from /proc/<pid>/status,
 * from outside the node; the highest of any node when a flood moved the primary) on a local
 * 3-node cluster of the test app: at rest; under a flood of
 * calls of the largest accepted request (1 MiB) from one client id, then from eight (each flood
 * in a process of its own, while a well-behaved client keeps calling); and after `clientIds`
 * distinct client ids made one call each. Each figure is printed beside its budget
 * (`memoryBudgets`: derived from the default options plus a stated baseline). Resolves true
 * when every figure is within its budget and every node is still up.
 */
export async function benchMemory(o: MemoryBenchOptions): Promise<boolean> {
  const budgets = memoryBudgets({
    rsm: defaultRsmOptions,
    transport: defaultTransportOptions,
    members: 3,
    floodCalls: o.floodCalls,
    floodRequestBytes: limits.maxRequestBytes,
    // The client table holds at most `maxClients` entries, however many ids called.
    clientEntries: Math.min(o.clientIds, defaultRsmOptions.maxClients),
  });
  const rows: Row[] = [];
  let up = true;
  // Two clusters, so that each figure starts from a node at rest: memory a process once took is
  // rarely given back, and would otherwise count in the next phase.
  up = (await withCluster(o, async (cluster, primary) => {
    rows.push({ phase: 'at rest', bytes: residentOf(pidOf(primary)).rssBytes, budget: budgets.rest, note: '' });
    o.say(`at rest: ${mib(rows[0]!.bytes)}`);
    rows.push(await clientIdsPhase(cluster, o, budgets.clients));
  })) && up;
  up = (await withCluster(o, async (cluster) => {
    for (const ids of [1, 8]) {
      rows.push(await floodPhase(cluster, o, ids, budgets.flood));
      await sleep(settleMs);
    }
  })) && up;
  printTable(rows);
  const over = rows.filter((r) => r.bytes > r.budget.bytes);
  process.stdout.write(`\nevery node up and serving after each part: ${up ? 'yes' : 'NO'}\n`);
  process.stdout.write(over.length === 0 ? 'every figure within its budget\n' : `OVER BUDGET: ${over.map((r) => r.phase).join('; ')}\n`);
  return up && over.length === 0;
}

/** Runs `part` on a fresh cluster once its primary is at rest; resolves whether every node was up and serving after it. */
async function withCluster(o: MemoryBenchOptions, part: (cluster: TestAppCluster, primary: NodeProcess) => Promise<void>): Promise<boolean> {
  const cluster = await TestAppCluster.start();
  try {
    const primary = await cluster.primary();
    o.say(`cluster up: ${cluster.members.join(', ')}; primary ${primary.address} (pid ${primary.pid}); files in ${cluster.root}`);
    await sleep(settleMs);
    await part(cluster, primary);
    const statuses = await cluster.statuses();
    const up = cluster.nodes.every((n) => n.running) && statuses.every((s) => s.replicaStatus === 'normal');
    if (!up) o.say(`not every node serves: ${statuses.map((s) => `${s.node}:${s.replicaStatus}`).join(' ')}`);
    return up;
  } finally {
    await cluster.close();
  }
}

/** A flood from `ids` client ids for `floodMs`, a well-behaved client calling meanwhile; the primary's peak. */
async function floodPhase(cluster: TestAppCluster, o: MemoryBenchOptions, ids: number, budget: Budget): Promise<Row> {
  const primary = await cluster.primary();
  const phase = `flood, ${o.floodCalls} calls of 1 MiB from ${ids} client id${ids > 1 ? 's' : ''}, ${o.floodMs / 1000} s`;
  o.say(`${phase}: starting`);
  // Every node is sampled: if the flood makes the view change, another node becomes the primary.
  const samplers = cluster.nodes.map((n) => new RssSampler(pidOf(n), sampleEveryMs));
  const flood = spawnFlood(cluster.cluster, { members: cluster.members, clients: o.floodCalls, ids });
  const probe = await probeWhile(cluster, o.floodMs);
  const report = await flood.stop();
  const peaks = samplers.map((sampler) => sampler.stop().maxBytes);
  const after = await cluster.primary();
  const moved = after === primary ? '' : `; the primary moved to ${after.address} (the figure is the highest of any node)`;
  const maxBytes = after === primary ? peaks[cluster.nodes.indexOf(primary)]! : Math.max(...peaks);
  const note = `well-behaved client: ${probe.ok} calls, ${probe.failed} failed, p99 ${probe.p99Ms.toFixed(0)} ms; flood: ${describeFlood(report)}${moved}`;
  o.say(`${phase}: peak ${mib(maxBytes)}; ${note}`);
  return { phase, bytes: maxBytes, budget, note };
}

/** A well-behaved client's calls, one every `probeGapMs`, for `durationMs`. */
async function probeWhile(cluster: TestAppCluster, durationMs: number): Promise<{ ok: number; failed: number; p99Ms: number }> {
  const transport = new GrpcClientTransport({ cluster: cluster.cluster, logger: silentLogger });
  const client = new RsmClient({ members: cluster.members, transport, clock: realClock });
  const latencies: number[] = [];
  let failed = 0;
  try {
    const end = Date.now() + durationMs;
    while (Date.now() < end) {
      const began = performance.now();
      try {
        await client.invoke('add', { key: 'probe', by: 1 }, { deadlineMs: probeDeadlineMs });
        latencies.push(performance.now() - began);
      } catch {
        failed++;
      }
      await sleep(probeGapMs);
    }
  } finally {
    client.close();
    await transport.close();
  }
  latencies.sort((a, b) => a - b);
  return { ok: latencies.length, failed, p99Ms: latencies[Math.max(0, Math.ceil(latencies.length * 0.99) - 1)] ?? NaN };
}

/** `clientIds` calls, each from a client id of its own; the primary's memory once they are done. */
async function clientIdsPhase(cluster: TestAppCluster, o: MemoryBenchOptions, budget: Budget): Promise<Row> {
  const primary = await cluster.primary();
  const phase = `after ${o.clientIds} client ids, one call each`;
  o.say(`${phase}: starting (${o.idConcurrency} at a time)`);
  const sampler = new RssSampler(pidOf(primary), sampleEveryMs * 10);
  const transport = new GrpcClientTransport({ cluster: cluster.cluster, logger: silentLogger });
  const run = `${Date.now()}`;
  let next = 0;
  let failed = 0;
  const began = Date.now();
  try {
    await Promise.all(Array.from({ length: o.idConcurrency }, async () => {
      for (let i = next++; i < o.clientIds; i = next++) {
        // Told the primary first, as a client that found the cluster would be: no detour per call.
        const client = new RsmClient({ members: [primary.address], transport, clock: realClock, clientId: `bench-${run}-${i}` });
        try {
          await client.invoke('get', { key: 'ids' }, { deadlineMs: probeDeadlineMs });
        } catch {
          failed++;
        } finally {
          client.close();
        }
        if ((i + 1) % 10_000 === 0) o.say(`${i + 1} client ids called (${failed} failed)`);
      }
    }));
  } finally {
    await transport.close();
  }
  const seconds = (Date.now() - began) / 1000;
  await sleep(settleMs);
  const { maxBytes } = sampler.stop();
  const now = residentOf(pidOf(primary)).rssBytes;
  const note = `${failed} calls failed; ${(o.clientIds / seconds).toFixed(0)} calls/s; peak during ${mib(maxBytes)}`;
  o.say(`${phase}: ${mib(now)}; ${note}`);
  return { phase, bytes: now, budget, note };
}

function describeFlood(r: FloodReport): string {
  const other = Object.entries(r.other).map(([k, v]) => `${v} ${k}`).join(', ');
  return `${r.executed} executed, ${r.refused} refused as stale, ${r.shed} shed at their deadline${other === '' ? '' : `, ${other}`}`;
}

function printTable(rows: readonly Row[]): void {
  const header = ['phase', 'resident', 'budget', 'within'];
  const cells = rows.map((r) => [r.phase, mib(r.bytes), mib(r.budget.bytes), r.bytes <= r.budget.bytes ? 'yes' : 'NO']);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]): string => `  ${c.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ')}`;
  process.stdout.write('\nthe primary\'s resident memory (VmRSS, /proc/<pid>/status), local 3-node test-app cluster, default options\n');
  process.stdout.write(`${line(header)}\n${line(widths.map((w) => '-'.repeat(w)))}\n`);
  for (const c of cells) process.stdout.write(`${line(c)}\n`);
  process.stdout.write('\nbudgets:\n');
  for (const r of rows) process.stdout.write(`  ${r.phase}: ${r.budget.derivation}\n`);
  process.stdout.write('notes:\n');
  for (const r of rows) if (r.note !== '') process.stdout.write(`  ${r.phase}: ${r.note}\n`);
}

function pidOf(n: NodeProcess): number {
  const pid = n.pid;
  if (pid === undefined) throw new Error(`${n.address} is not running`);
  return pid;
}

function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

