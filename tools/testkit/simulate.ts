import type { ShellMutations } from '../../src/env/shell.js';
import type { ConfigMutations } from '../../src/config/view-manager.js';
import type { PaxosMutations } from '../../src/paxos/context.js';
import type { RsmMutations } from '../../src/rsm/replica.js';
import { writeViolationPicture } from '../lincheck/render.js';
import { runStackSimulation } from '../sim/rsm-run.js';
import type { RunResult } from '../sim/run-result.js';
import { appAsModel } from './app-model.js';
import { expectedAnswer } from './history-model.js';
import { type SequentialModel, type SimulateAppOptions, type SimulationResult, TestkitUsageError, type Violation } from './types.js';
import { AppWorkload } from './workload.js';

/** Allowed `nodes` and `clients` (the simulator is tuned for 3–5 replicas and a handful of clients). */
const nodesRange = [1, 7] as const;
const clientsRange = [1, 10] as const;

/** synod's own test-only protocol breakage, for the testkit's tests (a checker must catch each). */
export type StackMutations = PaxosMutations & ShellMutations & ConfigMutations & RsmMutations;

function checkOptions<S, M>(o: SimulateAppOptions<S, M>): void {
  const whole = (name: string, v: number | undefined, [lo, hi]: readonly [number, number]): void => {
    if (v !== undefined && !(Number.isInteger(v) && v >= lo && v <= hi)) {
      throw new TestkitUsageError(`simulateApp: ${name} must be an integer in [${lo}, ${hi}], got ${String(v)}`);
    }
  };
  whole('seed', o.seed, [0, 2 ** 32 - 1]);
  whole('nodes', o.nodes, nodesRange);
  whole('clients', o.clients, clientsRange);
  if (o.faults !== undefined && o.faults !== 'all' && o.faults !== 'none') {
    throw new TestkitUsageError(`simulateApp: faults must be 'all' or 'none', got ${JSON.stringify(o.faults)}`);
  }
  if (typeof o.nextCall !== 'function') throw new TestkitUsageError('simulateApp: nextCall must be a function (rng, client) => { proc, args }');
}

/**
 * Runs `options.app` on the deterministic simulator: a cluster of replicas under faults, clients
 * making the calls `nextCall` draws, every call recorded, and then every check:
 * - synod's own (one value per Paxos instance, one view history, the same request and the same
 *   outcome at every viewstamp on every replica: an app that answers differently on two
 *   replicas is caught at that request);
 * - liveness once faults end (the cluster serves again and every client's calls succeed);
 * - replica divergence (every member of the final view holds the same app state);
 * - the clients' history is linearizable in the model (default: the app itself, run one call at
 *   a time), and so is the history followed by the replicas' final state (nothing acknowledged
 *   was lost, nothing applied twice).
 * The same seed replays the same run (same digest), as long as the app and `nextCall` are
 * deterministic. Throws `TestkitUsageError` for a mistake in the test (bad options, a call the app
 * does not have); a failing check is a result with `ok: false`, never a throw.
 */
export function simulateApp<S, M = Uint8Array>(options: SimulateAppOptions<S, M>): SimulationResult {
  return runAppSimulation(options);
}

/** `simulateApp`, with synod's test-only `mutations` switched on (for the testkit's own tests). */
export function runAppSimulation<S, M = Uint8Array>(options: SimulateAppOptions<S, M>, mutations?: StackMutations): SimulationResult {
  checkOptions(options);
  // Without a model of the user's, M is the default model's state (Uint8Array, M's default).
  const spec = (options.model ?? appAsModel(options.app)) as SequentialModel<M, S>;
  const workload = new AppWorkload<S, M>(options.app, spec, options.nextCall);
  let run: RunResult;
  try {
    run = runStackSimulation(workload, {
      seed: options.seed,
      keepTrace: options.keepTrace,
      nodes: options.nodes,
      clients: options.clients,
      faults: options.faults,
      mutations,
      onViolation: (history, verdict) => workload.noteViolation(history, verdict),
    });
  } catch (err) {
    if (workload.usageError !== null) throw workload.usageError;
    if (err instanceof TestkitUsageError) throw err;
    return crashed(options.seed, err);
  }
  if (workload.usageError !== null) throw workload.usageError;
  const found = workload.violation;
  const violation: Violation | null = found === null ? null : {
    explanation: found.verdict.explanation,
    expected: expectedAnswer(found.history, spec, found.verdict),
    operations: found.history.length,
  };
  // The checker's sentence says what could not be placed; add what the model answers there.
  const expected = violation?.expected ?? null;
  const failures = violation === null || expected === null
    ? run.failures
    : run.failures.map((f) => (f.includes(violation.explanation) ? `${f} (${expected})` : f));
  const outOfTime = (run.stats['lincheckUnknown'] ?? 0) > 0 || workload.finalCheck === 'unknown';
  const lincheck = found !== null ? 'violation' : outOfTime ? 'unknown' : 'ok';
  return {
    seed: run.seed,
    ok: run.ok,
    failures,
    operations: run.stats['operations'] ?? 0,
    digest: run.digest,
    lincheck,
    violation,
    stats: run.stats,
    ...(run.trace === undefined ? {} : { trace: run.trace }),
    writePicture(dir, name) {
      if (found === null) return null;
      return writeViolationPicture(dir, found.history, workload.model, found.verdict, {
        name: name ?? `seed-${options.seed}`,
        title: `simulateApp seed ${options.seed}: ${workload.model.name}`,
      });
    },
  };
}

/** The result of a run that threw (a bug in the app's marshalling, or in synod): a failure, not a crash of the test. */
function crashed(seed: number, err: unknown): SimulationResult {
  const text = err instanceof Error ? err.stack ?? err.message : String(err);
  return {
    seed,
    ok: false,
    failures: [`the run crashed: ${text}`],
    operations: 0,
    digest: '-',
    lincheck: 'skipped',
    violation: null,
    stats: {},
    writePicture: () => null,
  };
}
