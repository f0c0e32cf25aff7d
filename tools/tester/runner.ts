import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NodePlacement, TesterCluster } from './cluster.js';
import { anyNodeRunning, killEveryNode } from './processes.js';
import { ScenarioFailure } from './report.js';
import { type Scenario, scenario as scenarioNumbered, scenarios } from './scenarios.js';
import { RunDirectory, keepAlive } from './run-dir.js';
import { scenarioTimeoutMs, shutdownTimeoutMs } from './timing.js';
import { sleep } from '../harness/node-process.js';

export interface ScenarioResult {
  readonly number: number;
  readonly name: string;
  readonly ok: boolean;
  readonly ms: number;
  /** Why it failed. */
  readonly error?: string;
}

export interface RunResult {
  readonly results: readonly ScenarioResult[];
  readonly passed: number;
  readonly failed: number;
  readonly totalMs: number;
  /** The run's directory (removed unless `keep`). */
  readonly dir: string;
}

export interface RunOptions {
  /** Which scenarios, in this order; default all. */
  readonly numbers?: readonly number[];
  /** Scenarios of the caller's own instead of `numbers` (tests of the harness itself). */
  readonly scenarios?: readonly Scenario[];
  /** Restart node processes that die, unless a scenario wants them down (`--supervise`). */
  readonly supervise?: boolean;
  /** Leave the run's directory (data directories and node logs) behind, and say where. */
  readonly keep?: boolean;
  /** Log level of the nodes' log files; default `info`. */
  readonly logLevel?: string;
  /** Where the result lines go; default standard output. */
  readonly write?: (line: string) => void;
  /** Where step-by-step notes go (`--verbose`); default nowhere. */
  readonly note?: (line: string) => void;
  /** Run every cluster with mutual TLS (`--tls`, `TesterClusterOptions.tls`). */
  readonly tls?: boolean;
  /** Where the nodes run (`--netns`: a namespace each); default free loopback ports. */
  readonly placement?: NodePlacement;
}

/** The run in progress: what an interrupt must clean up. */
const current = new RunDirectory();

/**
 * Kills every node process of the run in progress (SIGKILL) and removes its directory unless it
 * is kept. Synchronous, for signal and exit handlers; returns the directory, or null when no run
 * is in progress.
 */
export function abortRun(): { dir: string; kept: boolean } | null {
  return current.abort();
}

/**
 * Runs the scenarios one after another, each on a fresh cluster in its own subdirectory of one
 * temporary directory, printing one line per scenario (number, name, PASS/FAIL and why, time) and
 * a final `N passed, M failed`. Every node process is killed after its scenario, whatever
 * happened; the directory is removed at the end unless `keep`.
 */
export async function runScenarios(opts: RunOptions = {}): Promise<RunResult> {
  const chosen: readonly Scenario[] = opts.scenarios ?? (opts.numbers ?? scenarios.map((s) => s.number)).map((n) => scenarioNumbered(n));
  const write = opts.write ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const dir = mkdtempSync(join(tmpdir(), 'synod-tester-'));
  current.begin(dir, opts.keep ?? false);
  const release = keepAlive();
  const started = performance.now();
  const results: ScenarioResult[] = [];
  try {
    for (const [i, s] of chosen.entries()) {
      const seen = chosen.slice(0, i).filter((x) => x === s).length;
      const result = await runOne(s, join(dir, `s${String(s.number).padStart(2, '0')}${seen === 0 ? '' : `.${seen + 1}`}`), opts);
      results.push(result);
      const secs = (result.ms / 1000).toFixed(1);
      write(`scenario ${String(s.number).padStart(2)}: ${s.name} ... ${result.ok ? 'PASS' : 'FAIL'} (${secs} s)${result.error === undefined ? '' : `: ${result.error}`}`);
    }
  } finally {
    release();
    killEveryNode();
    const deadline = Date.now() + shutdownTimeoutMs;
    while (anyNodeRunning() && Date.now() < deadline) await sleep(20);
    current.end();
    if (opts.keep !== true) rmSync(dir, { recursive: true, force: true });
  }
  const totalMs = performance.now() - started;
  const failed = results.filter((r) => !r.ok).length;
  if (opts.keep === true) write(`kept: ${dir} (a directory per scenario: data directories n1…, logs n1.log…)`);
  write(`total time ${(totalMs / 1000).toFixed(1)} s${opts.supervise === true ? ' (supervised)' : ''}`);
  write(`${results.length - failed} passed, ${failed} failed`);
  return { results, passed: results.length - failed, failed, totalMs, dir };
}

async function runOne(s: Scenario, dir: string, opts: RunOptions): Promise<ScenarioResult> {
  const started = performance.now();
  const note = opts.note === undefined ? undefined : (line: string): void => opts.note!(`  [${s.number} +${((performance.now() - started) / 1000).toFixed(1)}s] ${line}`);
  let cluster: TesterCluster | null = null;
  let error: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    cluster = await TesterCluster.create({
      dir, size: s.nodes, supervise: opts.supervise ?? false, logLevel: opts.logLevel ?? 'info', note, nodeArgs: s.nodeArgs, tls: opts.tls, app: s.app,
      ...(opts.placement === undefined ? {} : { placement: opts.placement }),
    });
    const c = cluster;
    const run = s.run(c);
    run.catch(() => {}); // after a timeout its rejection (killed nodes) is expected
    await Promise.race([run, new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ScenarioFailure(`did not finish within ${scenarioTimeoutMs} ms`)), scenarioTimeoutMs);
    })]);
    await c.checkAgreement();
    if (c.unexpectedDeaths.length > 0) throw new ScenarioFailure(c.unexpectedDeaths.join('\n'));
  } catch (err) {
    error = err instanceof ScenarioFailure ? err.message : `${(err as Error).name}: ${(err as Error).stack ?? String(err)}`;
    const deaths = cluster?.unexpectedDeaths ?? [];
    if (deaths.length > 0 && !error.includes(deaths[0]!)) error += `\n  also: ${deaths.join('\n  also: ')}`;
    if (opts.keep !== true) error += '\n  (run again with --keep to keep the node logs)';
    else error += `\n  node logs: ${dir}`;
  } finally {
    clearTimeout(timer);
    await cluster?.close();
  }
  return { number: s.number, name: s.name, ok: error === undefined, ms: performance.now() - started, error };
}
