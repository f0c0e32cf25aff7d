/**
 * npm run bench -- lincheck [--seed N]: the linearizability checker (src/lincheck) on generated
 * histories (tools/lincheck/generate.ts: the real apps run by 8 concurrent simulated clients, about
 * 1% of outcomes unknown), seeded and printed (`--seed` replays): 10,000 operations of the test
 * app's counters over 10 keys, 2,000 of its append-only list (one part), 10,000 of the lock
 * service over 10 locks, and the counter history with one output made impossible (the time to
 * find that violation). Prints operations, parts, verdict, elapsed ms and operations per second.
 *
 * npm run bench -- lock [--duration-ms MS]: a benchmark of the lock service, not a test (nothing
 * is asserted about speed). Starts a local 3-node `synod lock-server` cluster on free loopback
 * ports, then, for 1, 8 and 64 concurrent lock clients (each a `GrpcLockClient` with one user),
 * measures acquire+release of a lock for a fixed time and prints throughput and p50/p99 latency:
 * - uncontended: each client its own lock. After its first grant a caching client keeps the lock
 *   and serves every later acquire from its cache: this measures the client, not the cluster;
 * - contended: every client the same lock. Each hand-over between clients goes through the
 *   primary (revoke, release, retry, acquire), each a Paxos-replicated request;
 * - no cache: each client is a bare `RsmClient` calling the server's acquire and release (two
 *   replicated requests per operation) on a lock of its own: what a round trip costs.
 * Latency is from the acquire call until the release resolved. "grants" counts the distinct
 * grants (fencing tokens) the operations ran under: the operations that needed the server.
 * Removes every process and file it made, also on failure or Ctrl-C.
 * Then `stat` of a lock nobody holds at 64 in flight, as a query on that cluster and as a
 * replicated handler on a second cluster of a bench-only lock app variant (tools/bench/read.ts),
 * with the ratios query/replicated.
 *
 * npm run bench -- read [--duration-ms MS] [--rounds N]: the test app's `get` at 1 and 64 in
 * flight, as a query (answered by the primary alone) and as a replicated handler (a bench-only
 * variant of the app), on two clusters up side by side, alternating windows of MS (default 2000),
 * N rounds (default 2); throughput, p50/p99 latency, the requests the primary replicated meanwhile,
 * and the ratios query/replicated (tools/bench/read.ts). Nothing is asserted about speed.
 *
 * npm run bench -- memory [--flood-ms MS] [--flood-calls N] [--client-ids N] [--id-concurrency N]:
 * the primary's resident memory at rest, under floods of 1 MiB requests, and after many client
 * ids, each beside its budget (tools/bench/memory.ts); exits 1 if a figure is above its budget.
 *
 * npm run bench -- durability [--window-ms MS] [--rounds N] [--in-flight N] [--sizes-mb 1,100]:
 * what durable replicated state costs (tools/bench/durability.ts): writes with the durable RSM log
 * against the same build with the state in memory only, 1 and 64 in flight, as ratios; a full
 * SIGKILL restart at each state size (replay, first write served); and a joiner's state copy in
 * MB/s. Nothing is asserted about speed. See docs/benchmarks.md.
 *
 * npm run bench -- failover [--rounds N]: SIGKILL of the primary under lock load, N rounds (default
 * 10) on default options (tools/bench/failover.ts): kill → first grant on the new primary, kill →
 * the new primary serving, and the part the new primary spent waiting out the old one's lease;
 * median and max. Nothing is asserted about speed. See docs/benchmarks.md.
 *
 * npm run bench -- throughput [--vs etcd] [--window-ms MS] [--rounds N] [--failover-rounds N]
 * [--skip GROUPS] [--replicas-5 on|off] [--json FILE] [--svg FILE] [--synod-options FILE] [--wire stream|unary]: issue 15's
 * figures (tools/bench/throughput.ts): writes at 1/16/64/256 in flight (from one client, and from
 * a client per call), queries at 64, lock hand-overs 8 on 1 and 8 on 8, SIGKILL of the primary →
 * first ok write, CPU µs per operation, 3 against 5 replicas; with `--vs etcd`, a local 3-member
 * etcd through the `etcd3` client in the same run, windows alternating, with the ratios and the
 * issue's goals met or not. Writes JSON and an SVG chart. Nothing is asserted about speed.
 *
 * npm run bench -- kv [--window-ms MS] [--rounds N] [--in-flight N] [--watchers N] [--etcd on|off]
 * [--json FILE]: issue 16's figures (tools/bench/kv.ts): the KV store's put, get, range of 100
 * keys and compare-and-put txn at 64 in flight, and watch fan-out (1 writer, 100 watchers of one
 * prefix: events/s, p99 put-acknowledged → event-received delay); beside etcd when it is on PATH.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { RsmClient } from '../src/client/rsm-client.js';
import { checkLinearizable } from './lincheck/check.js';
import { generateAppendHistory, generateCounterHistory, generateLockHistory, tamperCounterHistory } from './lincheck/generate.js';
import { appendModel, counterModel, lockModel } from './lincheck/models.js';
import type { CheckResult, History, Model } from './lincheck/types.js';
import { silentLogger } from '../src/env/logger.js';
import { NodeProcess, cliPath, eventually } from './harness/node-process.js';
import { freePortPairs } from './harness/ports.js';
import { GrpcLockClient } from '../src/apps/lock/grpc-lock-client.js';
import { GrpcClientTransport } from '../src/runtime/grpc-client-transport.js';
import { realClock } from '../src/runtime/real-clock.js';
import { benchMemory } from './bench/memory.js';
import { benchDurability, closeDurabilityBench, durabilityDefaults, parseSizesMb } from './bench/durability.js';
import { benchFailover, defaultFailoverRounds } from './bench/failover.js';
import { benchLockStat, benchRead, closeReadBench, readDefaults } from './bench/read.js';
import { closeThroughputBench } from './bench/throughput.js';
import { throughputCommand, throughputUsage } from './bench/throughput-command.js';
import { closeKvBench, kvCommand, kvUsage } from './bench/kv.js';

/** How long each measurement runs, unless `--duration-ms` says otherwise. */
const defaultDurationMs = 3000;
/** Concurrent clients per measurement. */
const clientCounts = [1, 8, 64] as const;
/** Operations each client does before the clock starts (finds the primary, opens its stream). */
const warmupOps = 1;
/** How long the cluster may take to answer its first request. */
const clusterReadyTimeoutMs = 15_000;
/** Deadline of one bare RsmClient call (the no-cache runs). */
const callDeadlineMs = 10_000;

type Scenario = 'uncontended' | 'contended' | 'no cache';

interface Row {
  readonly scenario: Scenario;
  readonly clients: number;
  readonly ops: number;
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly grants: number;
}

const usage = 'usage: node dist/tools/bench.js lock [--duration-ms MS] | lincheck [--seed N] |\n' +
  '       read [--duration-ms MS] [--rounds N] |\n' +
  '       memory [--flood-ms MS] [--flood-calls N] [--client-ids N] [--id-concurrency N] |\n' +
  '       durability [--window-ms MS] [--rounds N] [--in-flight N] [--sizes-mb 1,100] |\n' +
  '       failover [--rounds N] |\n' +
  `${throughputUsage}\n${kvUsage}   (npm run bench -- lock)`;

/** The memory benchmark's defaults: a 10 s flood of 64 concurrent 1 MiB calls; 100,000 client ids, 64 at a time. */
const memoryDefaults = { floodMs: 10_000, floodCalls: 64, clientIds: 100_000, idConcurrency: 64 };

/** The lincheck histories: concurrent clients, and the fraction of outcomes left unknown. */
const lincheckClients = 8;
const lincheckUnknownRate = 0.01;
/** Long enough never to cut a measurement short ("well under a minute" is the requirement). */
const lincheckBudgetMs = 120_000;

/** The lock bench's directory (node data and logs), made when the cluster is; removed by `cleanup`. */
let root: string | null = null;
const nodes: NodeProcess[] = [];
const t0 = Date.now();
const say = (line: string): void => void process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(2).padStart(6)}s] ${line}\n`);

let cleaned: Promise<void> | null = null;
function cleanup(): Promise<void> {
  cleaned ??= (async () => {
    await closeDurabilityBench();
    await closeReadBench();
    await closeThroughputBench();
    await closeKvBench();
    for (const n of nodes) {
      n.closeClient();
      await n.kill('SIGKILL');
    }
    if (root !== null) rmSync(root, { recursive: true, force: true });
  })();
  return cleaned;
}

process.on('SIGINT', () => {
  void cleanup().then(() => process.exit(130));
});

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** One operation of one worker: resolves with the lock and fencing token it ran under. */
type Op = () => Promise<string>;

/**
 * Runs every worker's `op` in a loop: `warmupOps` each unmeasured, then as many as fit in
 * `durationMs` from a common start. An operation that ends after the window is not counted.
 */
async function measure(scenario: Scenario, ops: readonly Op[], durationMs: number): Promise<Row> {
  await Promise.all(ops.map(async (op) => {
    for (let i = 0; i < warmupOps; i++) await op();
  }));
  const latencies: number[] = [];
  const grants = new Set<string>();
  const start = performance.now();
  const end = start + durationMs;
  await Promise.all(ops.map(async (op) => {
    while (performance.now() < end) {
      const began = performance.now();
      const grant = await op();
      const done = performance.now();
      if (done > end) break;
      latencies.push(done - began);
      grants.add(grant);
    }
  }));
  latencies.sort((a, b) => a - b);
  return {
    scenario,
    clients: ops.length,
    ops: latencies.length,
    opsPerSec: latencies.length / (durationMs / 1000),
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    grants: grants.size,
  };
}

async function lockClientRun(cluster: string, members: string[], transport: GrpcClientTransport, scenario: 'uncontended' | 'contended', count: number, durationMs: number): Promise<Row> {
  const run = `${scenario === 'contended' ? 'c' : 'u'}${count}`;
  const clients = Array.from({ length: count }, (_, i) => new GrpcLockClient({ cluster, members, owner: `bench-${run}-${i}`, transport }));
  try {
    const ops = clients.map((c, i): Op => {
      const lock = scenario === 'contended' ? `bench-${run}` : `bench-${run}-${i}`;
      return async () => {
        const { token } = await c.lock.acquire(lock, 'u0');
        await c.lock.release(lock, 'u0');
        return `${lock}#${token}`;
      };
    });
    return await measure(scenario, ops, durationMs);
  } finally {
    await Promise.all(clients.map((c) => c.close({ giveBack: true })));
  }
}

async function bareRun(members: string[], transport: GrpcClientTransport, count: number, durationMs: number): Promise<Row> {
  const clients = Array.from({ length: count }, () => new RsmClient({ members, transport, clock: realClock }));
  try {
    const ops = clients.map((c, i): Op => {
      const lock = `bench-n${count}-${i}`;
      const owner = `bench-n${count}-${i}`;
      return async () => {
        const granted = (await c.invoke('acquire', { lock, owner }, { deadlineMs: callDeadlineMs })) as { granted?: boolean; token?: number };
        if (granted.granted !== true || typeof granted.token !== 'number') throw new Error(`${owner} was not granted its own lock ${lock}: ${JSON.stringify(granted)}`);
        await c.invoke('release', { lock, owner, token: granted.token }, { deadlineMs: callDeadlineMs });
        return `${lock}#${granted.token}`;
      };
    });
    return await measure('no cache', ops, durationMs);
  } finally {
    for (const c of clients) c.close();
  }
}

function printTable(rows: readonly Row[], durationMs: number): void {
  const header = ['scenario', 'clients', 'ops', 'ops/s', 'p50 ms', 'p99 ms', 'grants'];
  const cells = rows.map((r) => [
    r.scenario, String(r.clients), String(r.ops), r.opsPerSec.toFixed(0), r.p50Ms.toFixed(3), r.p99Ms.toFixed(3), String(r.grants),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]): string => `  ${c.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ')}`;
  process.stdout.write(`\nlock service, local 3-node cluster, acquire+release, ${durationMs} ms per row\n`);
  process.stdout.write(`${line(header)}\n${line(widths.map((w) => '-'.repeat(w)))}\n`);
  for (const c of cells) process.stdout.write(`${line(c)}\n`);
}

async function benchLock(durationMs: number): Promise<void> {
  const ports = await freePortPairs(3);
  const first = `127.0.0.1:${ports[0]}`;
  const cluster = `synod@${first}`;
  const dir = mkdtempSync(join(tmpdir(), 'synod-bench-'));
  root = dir;
  for (const [i, port] of ports.entries()) {
    nodes.push(new NodeProcess({
      port, first, dataDir: join(dir, `n${i + 1}`), logFile: join(dir, `n${i + 1}.log`), logLevel: 'warn', entry: [cliPath, 'lock-server'],
    }));
  }
  for (const n of nodes) await n.start();
  const members = nodes.map((n) => n.address);
  const transport = new GrpcClientTransport({ cluster, logger: silentLogger });
  try {
    const probe = new RsmClient({ members, transport, clock: realClock });
    await eventually(() => probe.invoke('stat', { lock: 'bench' }, { deadlineMs: 2000 }), clusterReadyTimeoutMs, 'the cluster answers');
    probe.close();
    say(`cluster up: ${members.join(', ')} (files in ${root})`);
    const rows: Row[] = [];
    for (const scenario of ['uncontended', 'contended', 'no cache'] as const) {
      for (const count of clientCounts) {
        const row = scenario === 'no cache'
          ? await bareRun(members, transport, count, durationMs)
          : await lockClientRun(cluster, members, transport, scenario, count, durationMs);
        rows.push(row);
        say(`${scenario}, ${count} client${count > 1 ? 's' : ''}: ${row.ops} ops, ${row.opsPerSec.toFixed(0)} ops/s, p50 ${row.p50Ms.toFixed(3)} ms, p99 ${row.p99Ms.toFixed(3)} ms`);
      }
    }
    printTable(rows, durationMs);
    await benchLockStat({ cluster, members }, { windowMs: durationMs, rounds: readDefaults.rounds, progress: say });
  } finally {
    await transport.close();
  }
}

interface LincheckRow {
  readonly history: string;
  readonly result: CheckResult;
  readonly unknown: number;
}

function lincheckRun<S, I, O>(name: string, history: History<I, O>, model: Model<S, I, O>): LincheckRow {
  const result = checkLinearizable(history, model, { timeBudgetMs: lincheckBudgetMs });
  const row = { history: name, result, unknown: history.filter((op) => op.output === undefined).length };
  const found = result.verdict === 'violation' ? ` (part ${result.part + 1}, op ${result.failedOp})` : result.verdict === 'unknown' ? ` (${result.reason})` : '';
  say(`${name}: ${result.verdict}${found} in ${result.elapsedMs.toFixed(1)} ms`);
  return row;
}

function printLincheckTable(rows: readonly LincheckRow[], seed: number): void {
  const header = ['history', 'ops', 'unknown', 'parts', 'verdict', 'elapsed ms', 'ops/s'];
  const cells = rows.map(({ history, result: r, unknown }) => [
    history, String(r.operations), String(unknown), String(r.parts), r.verdict, r.elapsedMs.toFixed(1), (r.operations / (r.elapsedMs / 1000)).toFixed(0),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]): string => `  ${c.map((v, i) => (i === 0 || i === 4 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ')}`;
  process.stdout.write(`\nlinearizability checker, generated histories, ${lincheckClients} clients, seed ${seed} (--seed ${seed} replays)\n`);
  process.stdout.write(`${line(header)}\n${line(widths.map((w) => '-'.repeat(w)))}\n`);
  for (const c of cells) process.stdout.write(`${line(c)}\n`);
}

function benchLincheck(seed: number): void {
  say(`lincheck: seed ${seed}`);
  const common = { seed, clients: lincheckClients, unknownRate: lincheckUnknownRate };
  const counters = generateCounterHistory({ ...common, operations: 10_000, keys: 10 });
  const rows = [
    lincheckRun('counters, 10 keys', counters, counterModel),
    lincheckRun('append list', generateAppendHistory({ ...common, operations: 2_000 }), appendModel),
    lincheckRun('locks, 10 locks', generateLockHistory({ ...common, operations: 10_000, locks: 10 }), lockModel),
  ];
  const broken = tamperCounterHistory(counters, seed);
  say(`counters, one output broken: op ${broken.opId} now says ${JSON.stringify(broken.history[broken.opId]!.output)}`);
  rows.push(lincheckRun('counters, 1 broken', broken.history, counterModel));
  printLincheckTable(rows, seed);
}

async function main(argv: string[]): Promise<void> {
  // Its own flags, parsed on their own (tools/bench/throughput-command.ts).
  if (argv[0] === 'throughput') return throughputCommand(argv.slice(1), usage);
  if (argv[0] === 'kv') return kvCommand(argv.slice(1), usage);
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        'duration-ms': { type: 'string' },
        seed: { type: 'string' },
        'flood-ms': { type: 'string' },
        'flood-calls': { type: 'string' },
        'client-ids': { type: 'string' },
        'id-concurrency': { type: 'string' },
        'window-ms': { type: 'string' },
        rounds: { type: 'string' },
        'in-flight': { type: 'string' },
        'sizes-mb': { type: 'string' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n${usage}\n`);
    process.exit(2);
  }
  const [what, ...extra] = parsed.positionals;
  if (what === 'lincheck') {
    const seedText = parsed.values.seed;
    const seed = seedText === undefined ? Date.now() % 2 ** 31 : Number(seedText);
    if (extra.length > 0 || parsed.values['duration-ms'] !== undefined || !Number.isSafeInteger(seed) || seed < 0) {
      process.stderr.write(`bench: bad arguments\n${usage}\n`);
      process.exit(2);
    }
    benchLincheck(seed);
    return;
  }
  if (what === 'memory') {
    const count = (name: 'flood-ms' | 'flood-calls' | 'client-ids' | 'id-concurrency', fallback: number): number => {
      const text = parsed.values[name];
      const n = text === undefined ? fallback : Number(text);
      if (!Number.isSafeInteger(n) || n < 1) {
        process.stderr.write(`bench: --${name} needs a positive integer\n${usage}\n`);
        process.exit(2);
      }
      return n;
    };
    if (extra.length > 0 || parsed.values.seed !== undefined || parsed.values['duration-ms'] !== undefined) {
      process.stderr.write(`bench: bad arguments\n${usage}\n`);
      process.exit(2);
    }
    const alive = setInterval(() => {}, 1000);
    try {
      const ok = await benchMemory({
        floodMs: count('flood-ms', memoryDefaults.floodMs),
        floodCalls: count('flood-calls', memoryDefaults.floodCalls),
        clientIds: count('client-ids', memoryDefaults.clientIds),
        idConcurrency: count('id-concurrency', memoryDefaults.idConcurrency),
        say,
      });
      if (!ok) process.exitCode = 1;
    } finally {
      clearInterval(alive);
    }
    return;
  }
  if (what === 'durability') {
    await durability(parsed.values, extra);
    return;
  }
  if (what === 'read') {
    await read(parsed.values, extra);
    return;
  }
  if (what === 'failover') {
    const roundsText = parsed.values.rounds;
    const rounds = roundsText === undefined ? defaultFailoverRounds : Number(roundsText);
    const others = Object.entries(parsed.values).filter(([k, v]) => k !== 'rounds' && v !== undefined);
    if (extra.length > 0 || others.length > 0 || !Number.isSafeInteger(rounds) || rounds < 1) {
      process.stderr.write(`bench: failover takes only --rounds N (a positive integer)\n${usage}\n`);
      process.exit(2);
    }
    // Client timers are unref'd (`realClock`): keep the process alive until the bench is done.
    const alive = setInterval(() => {}, 1000);
    try {
      await benchFailover(rounds, say);
    } finally {
      clearInterval(alive);
    }
    return;
  }
  const durationText = parsed.values['duration-ms'];
  const durationMs = durationText === undefined ? defaultDurationMs : Number(durationText);
  if (what !== 'lock' || extra.length > 0 || parsed.values.seed !== undefined || !Number.isSafeInteger(durationMs) || durationMs < 1) {
    process.stderr.write(`bench: ${what === undefined ? 'say what to measure' : what !== 'lock' ? `unknown benchmark ${what}` : 'bad arguments'}\n${usage}\n`);
    process.exit(2);
  }
  // Client timers are unref'd (`realClock`): keep the process alive until the bench is done.
  const alive = setInterval(() => {}, 1000);
  try {
    await benchLock(durationMs);
  } finally {
    clearInterval(alive);
  }
}

/** `read`: its flags checked (a usage error exits 2), then the bench (tools/bench/read.ts). */
async function read(values: Record<string, string | boolean | undefined>, extra: readonly string[]): Promise<void> {
  const count = (name: 'duration-ms' | 'rounds', fallback: number): number => {
    const text = values[name];
    const n = text === undefined ? fallback : Number(text);
    if (Number.isSafeInteger(n) && n >= 1) return n;
    process.stderr.write(`bench: --${name} needs a positive integer\n${usage}\n`);
    return process.exit(2);
  };
  const others = Object.entries(values).filter(([k, v]) => k !== 'duration-ms' && k !== 'rounds' && v !== undefined).map(([k]) => `--${k}`);
  if (extra.length > 0 || others.length > 0) {
    process.stderr.write(`bench: read takes none of: ${[...extra, ...others].join(' ')}\n${usage}\n`);
    process.exit(2);
  }
  // Client timers are unref'd (`realClock`): keep the process alive until the bench is done.
  const alive = setInterval(() => {}, 1000);
  try {
    await benchRead({ windowMs: count('duration-ms', readDefaults.windowMs), rounds: count('rounds', readDefaults.rounds), progress: say });
  } finally {
    clearInterval(alive);
  }
}

/** `durability`: its flags checked (a usage error exits 2), then the bench (tools/bench/durability.ts). */
async function durability(values: Record<string, string | boolean | undefined>, extra: readonly string[]): Promise<void> {
  const bad = (why: string): never => {
    process.stderr.write(`bench: ${why}\n${usage}\n`);
    return process.exit(2);
  };
  const count = (name: 'window-ms' | 'rounds' | 'in-flight', fallback: number): number => {
    const text = values[name];
    const n = text === undefined ? fallback : Number(text);
    return Number.isSafeInteger(n) && n >= 1 ? n : bad(`--${name} needs a positive integer`);
  };
  const others = ['duration-ms', 'seed', 'flood-ms', 'flood-calls', 'client-ids', 'id-concurrency'].filter((k) => values[k] !== undefined);
  if (extra.length > 0 || others.length > 0) bad(`durability takes none of: ${[...extra, ...others.map((k) => `--${k}`)].join(' ')}`);
  const sizesText = values['sizes-mb'];
  const sizes = typeof sizesText === 'string' ? parseSizesMb(sizesText) : durabilityDefaults.stateSizesMb.map((mb) => mb * 1e6);
  if (sizes === null) bad('--sizes-mb needs a comma-separated list of positive numbers (MB, 10^6 bytes)');
  const started = Date.now();
  const progress = (line: string): void => void process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${line}\n`);
  // Client timers are unref'd (`realClock`): keep the process alive until the bench is done.
  const alive = setInterval(() => {}, 1000);
  try {
    await benchDurability({
      windowMs: count('window-ms', durabilityDefaults.windowMs),
      rounds: count('rounds', durabilityDefaults.rounds),
      inFlight: count('in-flight', durabilityDefaults.inFlight),
      stateSizesBytes: sizes!,
      progress,
    });
  } finally {
    clearInterval(alive);
  }
}

main(process.argv.slice(2)).then(
  () => cleanup(),
  async (err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
    for (const n of nodes) process.stderr.write(`--- ${n.address} output tail ---\n${n.output.slice(-2000)}\n`);
    await cleanup();
    process.exitCode = 1;
  },
);
