/**
 * The nemesis's judgement of a finished run's history: linearizability against the lock model
 * (with the picture of a violation), fencing tokens, and the sessions the servers expired, which
 * the model cannot account for. Separate from the run (nemesis.ts): it only reads what the run
 * left behind — the recorded history and the nodes' log files — and never touches the cluster.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { checkLinearizable } from '../lincheck/check.js';
import { type LockInput, type LockOutput, lockModel, lockTokenConflict } from '../lincheck/models.js';
import { writeViolationPicture } from '../lincheck/render.js';
import type { CheckResult, History } from '../lincheck/types.js';
import type { TesterCluster } from '../tester/cluster.js';

/** What `judgeHistory` needs of the run. */
export interface Judged {
  readonly history: History<LockInput, LockOutput>;
  /** The run's cluster, for the nodes' log files; null when it never started. */
  readonly cluster: TesterCluster | null;
  /** What the recorder could not record soundly; any one of them leaves the history unchecked. */
  readonly recorderProblems: readonly string[];
  /** Where the picture of a violation goes, and what its title says. */
  readonly dir: string;
  readonly seed: number;
  readonly nodes: number;
  readonly checkTimeBudgetMs: number;
}

/**
 * Checks the history unless it cannot be checked soundly (a recorder problem, a session the
 * servers expired) or is empty. Returns the checker's result (null: not checked), the picture of
 * a violation, and the problems found, in the order they were found.
 */
export function judgeHistory(run: Judged): { check: CheckResult | null; picturePath?: string; problems: string[] } {
  const { history } = run;
  const problems = serverExpiries(run.cluster);
  if (run.recorderProblems.length > 0 || problems.length > 0 || history.length === 0) return { check: null, problems };
  const check = checkLinearizable(history, lockModel, { timeBudgetMs: run.checkTimeBudgetMs });
  let picturePath: string | undefined;
  if (check.verdict === 'violation') {
    try {
      picturePath = writeViolationPicture(run.dir, history, lockModel, check, { name: 'violation', title: `nemesis seed ${run.seed}, ${run.nodes} nodes` });
    } catch (err) {
      problems.push(`could not write the picture of the violation: ${(err as Error).message}`);
    }
  } else if (check.verdict === 'unknown') {
    problems.push(`the check gave no verdict: ${check.reason}`);
  }
  const conflict = lockTokenConflict(history);
  if (conflict !== null) problems.push(`fencing tokens: ${conflict}`);
  return { check, picturePath, problems };
}

/**
 * What a node logs when it expires a session (src/node/sessions.ts): at info level when it
 * submits the expiry, at warn level once it was executed.
 */
const expiryLogLine = /sessions: (owner has had no callback stream for the session timeout; expiring|session expired)/;

/**
 * Sessions the servers expired during the run, as problems, found in the nodes' log files. An
 * expiry is a request the primary submits itself, so no client observer sees it; the long
 * session timeout (`nemesisSessionTimeoutMs`) should make it impossible, and this checks it (at
 * log level error and above the lines are not written).
 */
function serverExpiries(cluster: TesterCluster | null): string[] {
  if (cluster === null) return [];
  const found: string[] = [];
  for (const n of cluster.nodes) {
    const file = join(dirname(n.dataDir), `${cluster.label(n)}.log`);
    if (!existsSync(file)) continue;
    const lines = readFileSync(file, 'utf8').split('\n').filter((l) => expiryLogLine.test(l));
    if (lines.length > 0) {
      found.push(`${cluster.label(n)} expired a session during the run (${lines.length} log lines in ${file}, first: ${lines[0]!.slice(0, 300)}); ` +
        'the lock model does not model expire, so the history cannot be checked soundly');
    }
  }
  return found;
}
