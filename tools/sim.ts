/**
 * Randomized simulation runs.
 *
 *   npm run sim -- --layer paxos --seeds 1000         run seeds 1..1000 (in parallel workers)
 *   npm run sim -- --layer paxos --seed 42            replay one seed, printing its trace
 *   options: --start S (first seed of --seeds), --jobs J (workers), --mutate NAME (test-only
 *            protocol breakage, repeatable), --logs (with --seed: include the nodes' log lines),
 *            --pictures DIR (rsm, lock, lock-cache: draw each non-linearizable client history there; with
 *            --seed the default is the system temp directory), --clock-drift-x K (rsm, lock,
 *            lock-cache: every machine's clock drifts up to K times the nodes' drift bound in every
 *            run, instead of 0, ½ or 1 times it drawn per run; K > 1 breaks the lease's assumption),
 *            --calls-per-client K (rsm: each client keeps K calls in flight at once, default 1),
 *            --power-cut-backups (rsm, lock, lock-cache: add the power-cut-backups fault, see
 *            tools/sim/power-cut-backups-fault.ts)
 *
 * Prints one line per run (seed, pass/FAIL, trace digest, figures), every failure, and last
 * `N passed, M failed`. Exit status 1 when any run failed.
 */
import { availableParallelism, tmpdir } from 'node:os';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { layerRunners, mutationNames } from './sim/layers.js';
import { type RunResult, formatResult } from './sim/run-result.js';

interface Job {
  readonly layer: string;
  readonly seeds: number[];
  readonly mutations: string[];
  readonly pictureDir?: string;
  readonly clockDriftX?: number;
  readonly callsPerClient?: number;
  readonly powerCutBackups?: boolean;
}

function usage(message: string): never {
  process.stderr.write(`${message}\nusage: npm run sim -- --layer ${Object.keys(layerRunners).join('|')} ` +
    '(--seeds N [--start S] [--jobs J] | --seed S [--logs]) [--mutate NAME]… [--pictures DIR] [--clock-drift-x K] [--calls-per-client K] [--power-cut-backups]\n');
  process.exit(2);
}

interface Args {
  layer: string;
  seeds: number[];
  single: boolean;
  jobs: number;
  mutations: string[];
  logs: boolean;
  pictureDir?: string;
  clockDriftX?: number;
  callsPerClient?: number;
  powerCutBackups?: boolean;
}

function parseArgs(argv: string[]): Args {
  let layer = 'paxos';
  let count: number | undefined;
  let start = 1;
  let single: number | undefined;
  let jobs = Math.max(1, Math.min(availableParallelism(), 8));
  let logs = false;
  let pictureDir: string | undefined;
  let clockDriftX: number | undefined;
  let callsPerClient: number | undefined;
  let powerCutBackups: boolean | undefined;
  const mutations: string[] = [];
  const int = (v: string | undefined, name: string, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min) usage(`${name} needs an integer >= ${min}, got ${String(v)}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    switch (arg) {
      case '--layer': layer = argv[++i] ?? usage('--layer needs a name'); break;
      case '--seeds': count = int(argv[++i], '--seeds', 1); break;
      case '--start': start = int(argv[++i], '--start', 0); break;
      case '--seed': single = int(argv[++i], '--seed', 0); break;
      case '--jobs': jobs = int(argv[++i], '--jobs', 1); break;
      case '--mutate': mutations.push(argv[++i] ?? usage('--mutate needs a name')); break;
      case '--logs': logs = true; break;
      case '--clock-drift-x': {
        const k = Number(argv[++i]);
        if (!Number.isFinite(k) || k < 0) usage(`--clock-drift-x needs a number >= 0, got ${String(argv[i])}`);
        clockDriftX = k;
        break;
      }
      case '--calls-per-client': callsPerClient = int(argv[++i], '--calls-per-client', 1); break;
      case '--power-cut-backups': powerCutBackups = true; break;
      case '--pictures': pictureDir = argv[++i] ?? usage('--pictures needs a directory'); break;
      default: usage(`unknown argument ${String(arg)}`);
    }
  }
  if (layerRunners[layer] === undefined) usage(`unknown layer ${layer}`);
  for (const m of mutations) {
    if (!(mutationNames[layer] ?? []).includes(m)) usage(`unknown mutation ${m} for layer ${layer}; known: ${(mutationNames[layer] ?? []).join(', ')}`);
  }
  if (clockDriftX !== undefined && !['rsm', 'feed', 'kv', 'lock', 'lock-cache'].includes(layer)) usage(`--clock-drift-x applies to the rsm, feed, kv, lock and lock-cache layers, not ${layer}`);
  if (callsPerClient !== undefined && !['rsm', 'kv'].includes(layer)) usage(`--calls-per-client applies to the rsm and kv layers, not ${layer}`);
  if (powerCutBackups !== undefined && !['rsm', 'feed', 'kv', 'lock', 'lock-cache'].includes(layer)) usage(`--power-cut-backups applies to the rsm, feed, kv, lock and lock-cache layers, not ${layer}`);
  if (single !== undefined) return { layer, seeds: [single], single: true, jobs: 1, mutations, logs, pictureDir: pictureDir ?? tmpdir(), clockDriftX, callsPerClient, powerCutBackups };
  const n = count ?? 100;
  return { layer, seeds: Array.from({ length: n }, (_, k) => start + k), single: false, jobs, mutations, logs, pictureDir, clockDriftX, callsPerClient, powerCutBackups };
}

function runJob(job: Job, onResult: (r: RunResult) => void): void {
  const runner = layerRunners[job.layer]!;
  for (const seed of job.seeds) {
    try {
      onResult(runner({ seed, mutations: job.mutations, pictureDir: job.pictureDir, clockDriftX: job.clockDriftX, callsPerClient: job.callsPerClient, powerCutBackups: job.powerCutBackups }));
    } catch (err) {
      onResult({ seed, ok: false, failures: [`run crashed: ${(err as Error).stack ?? String(err)}`], digest: '-', stats: {} });
    }
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.single) {
    const seed = args.seeds[0]!;
    const result = layerRunners[args.layer]!({
      seed, keepTrace: true, traceLogs: args.logs, mutations: args.mutations, pictureDir: args.pictureDir, clockDriftX: args.clockDriftX, callsPerClient: args.callsPerClient,
      powerCutBackups: args.powerCutBackups,
    });
    for (const line of result.trace ?? []) process.stdout.write(`${line}\n`);
    report([result]);
    return;
  }
  const started = Date.now();
  const jobs = Math.min(args.jobs, args.seeds.length);
  const results = new Map<number, RunResult>();
  let nextToPrint = 0;
  const flush = (): void => {
    while (nextToPrint < args.seeds.length && results.has(args.seeds[nextToPrint]!)) {
      const r = results.get(args.seeds[nextToPrint]!)!;
      process.stdout.write(`${formatResult(r)}\n`);
      for (const f of r.failures) process.stdout.write(`  ${f}\n`);
      nextToPrint++;
    }
  };
  await Promise.all(Array.from({ length: jobs }, (_, w) => {
    const seeds = args.seeds.filter((_, k) => k % jobs === w);
    return new Promise<void>((resolve, reject) => {
      const worker = new Worker(fileURLToPath(import.meta.url), {
        workerData: { layer: args.layer, seeds, mutations: args.mutations, pictureDir: args.pictureDir, clockDriftX: args.clockDriftX, callsPerClient: args.callsPerClient, powerCutBackups: args.powerCutBackups } satisfies Job,
      });
      worker.on('message', (r: RunResult) => {
        results.set(r.seed, r);
        flush();
      });
      worker.on('error', reject);
      worker.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker exited with ${code}`))));
    });
  }));
  flush();
  process.stdout.write(`${args.layer}: ${args.seeds.length} runs in ${((Date.now() - started) / 1000).toFixed(1)} s on ${jobs} workers\n`);
  report([...results.values()]);
}

function report(results: RunResult[]): void {
  const failed = results.filter((r) => !r.ok);
  if (failed.length > 0) process.stdout.write(`failing seeds: ${failed.map((r) => r.seed).join(' ')}\n`);
  if (results.length === 1) process.stdout.write(`${formatResult(results[0]!)}\n`);
  for (const r of results.length === 1 ? failed : []) for (const f of r.failures) process.stdout.write(`  ${f}\n`);
  process.stdout.write(`${results.length - failed.length} passed, ${failed.length} failed\n`);
  process.exitCode = failed.length > 0 ? 1 : 0;
}

if (isMainThread) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(2);
  });
} else {
  runJob(workerData as Job, (r) => parentPort!.postMessage(r));
}
