/**
 * The fuzzer: every service a node serves, sent random and mutated messages, with an oracle after
 * each batch (tools/fuzz/; docs/testing.md, "Fuzzing").
 *
 *   npm run fuzz -- --seeds 20                 20 batches on the simulator (seeds 1..20)
 *   npm run fuzz -- --seed 7 [--trace]         replay batch 7 exactly (same digest), printing its findings
 *   npm run fuzz -- --real --seeds 5           5 batches against three real `synod lock-server` processes
 *   npm run fuzz -- --real --app kv --seeds 5  the same against three real `synod node --app kv` processes
 *   options: --start S (first seed of --seeds), --cases K (cases per batch), --families a,b,…
 *            (default the safe ones; `all` adds forge and control-effects), --app lock|test|kv
 *            (simulator: default drawn per seed; real: default lock), --mutate NAME (run a mutant: one guard of src/
 *            removed from a copy of dist/, to watch the fuzzer catch it), --keep (real: keep the
 *            run directory), --logs (with --seed --trace: the nodes' log lines)
 *
 * Prints one line per batch (seed, ok/FAIL, digest, figures), every finding, and last
 * `N passed, M failed` with the cases per second. Exit status 1 when any batch failed.
 */
import { type FuzzArgs, UsageError, parseFuzzArgs, usage } from './fuzz/args.js';
import { runMutant } from './fuzz/mutants.js';
import { runRealBatches } from './fuzz/real-target.js';
import { type BatchResult, runSimBatch } from './fuzz/sim-target.js';

function formatBatch(r: BatchResult): string {
  const stats = Object.entries(r.stats).map(([k, v]) => `${k}=${v}`).join(' ');
  return `seed ${r.seed} ${r.ok ? 'ok' : 'FAIL'} digest=${r.digest} ${stats}`;
}

function print(r: BatchResult): void {
  process.stdout.write(`${formatBatch(r)}\n`);
  for (const f of r.findings) process.stdout.write(`  ${f}\n`);
}

async function main(args: FuzzArgs): Promise<number> {
  if (args.mutant !== undefined) return runMutant(args.mutant, process.argv.slice(2));
  const started = performance.now();
  const results: BatchResult[] = [];
  if (args.real) {
    await runRealBatches({ seeds: args.seeds, cases: args.cases, families: args.families, keep: args.keep, ...(args.app === undefined ? {} : { app: args.app }) }, (r) => {
      results.push(r);
      print(r);
    });
  } else {
    for (const seed of args.seeds) {
      const r = runSimBatch({ seed, cases: args.cases, families: args.families, app: args.app, keepTrace: args.trace, traceLogs: args.logs });
      if (args.trace) for (const line of r.trace ?? []) process.stdout.write(`${line}\n`);
      results.push(r);
      print(r);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const cases = results.reduce((sum, r) => sum + Number(r.stats['cases'] ?? 0), 0);
  const failed = results.filter((r) => !r.ok);
  if (failed.length > 0) process.stdout.write(`failing seeds: ${failed.map((r) => r.seed).join(' ')}\n`);
  process.stdout.write(`${args.real ? 'real' : 'sim'}: ${cases} cases in ${seconds.toFixed(1)} s (${Math.round(cases / seconds)} cases/s)\n`);
  process.stdout.write(`${results.length - failed.length} passed, ${failed.length} failed\n`);
  return failed.length > 0 ? 1 : 0;
}

function parse(): FuzzArgs {
  try {
    return parseFuzzArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n${usage}\n`);
    process.exit(2);
  }
}

main(parse()).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 2;
  },
);
