/**
 * The judgement of a KV nemesis run (`--app kv`): the clients' history with the nodes' lease
 * expiries (`KvHistoryRecorder`) checked for linearizability against `kvModel`, and every
 * watcher's events checked against the reference watcher, the replayed history against the final
 * read of every key, and the acknowledged puts and deletes against the reference
 * (tools/tester/kv-watch-check.ts).
 */
import { checkLinearizable } from '../lincheck/check.js';
import { type KvInput, type KvOutput, kvModel } from '../lincheck/kv-model.js';
import { writeViolationPicture } from '../lincheck/render.js';
import type { CheckResult, History } from '../lincheck/types.js';
import { type AckedWrite, checkWatchers } from '../tester/kv-watch-check.js';
import type { KvHistoryRecorder } from './kv-recorder.js';
import type { KvEnd } from './kv-workload.js';

export interface KvNemesisFigures {
  readonly operations: ReturnType<KvHistoryRecorder['counts']>;
  readonly watchers: KvEnd['streams'];
  readonly revision: number;
  readonly liveKeys: number;
  /** Gaps, repeats, reorders or invented events found in the watchers' events (empty: none). */
  readonly watchProblems: readonly string[];
}

/** The puts and single-key deletes the history shows acknowledged, as the watch check takes them. */
function ackedWrites(history: History<KvInput, KvOutput>): AckedWrite[] {
  const acked: AckedWrite[] = [];
  for (const op of history) {
    const input = op.input as { proc: string; key?: string; value?: string; prefix?: boolean };
    const out = op.output as { revision?: number; deleted?: number; error?: string } | undefined;
    if (out === undefined || out.error !== undefined || typeof out.revision !== 'number' || input.key === undefined) continue;
    if (input.proc === 'put') acked.push({ revision: out.revision, puts: [[input.key, input.value ?? '']], deletes: [] });
    if (input.proc === 'delete' && input.prefix !== true && (out.deleted ?? 0) > 0) acked.push({ revision: out.revision, puts: [], deletes: [input.key] });
  }
  return acked;
}

export function judgeKv(run: { recorder: KvHistoryRecorder; end: KvEnd | null; dir: string; seed: number; nodes: number; checkTimeBudgetMs: number }): {
  check: CheckResult | null; picturePath?: string; problems: string[]; history: History<KvInput, KvOutput>; figures: KvNemesisFigures | null;
} {
  const problems: string[] = [];
  if (run.end === null) return { check: null, problems: ['the KV watchers were not checked: the run did not get to its end (see the other problems)'], history: [], figures: null };
  const history = run.recorder.history(run.end.reference);
  const watchProblems = checkWatchers({ reference: run.end.reference, watchers: run.end.others, finalKvs: run.end.finalKvs, head: run.end.head, acked: ackedWrites(history) });
  problems.push(...watchProblems.slice(0, 10).map((p) => `watch: ${p}`));
  const figures = { operations: run.recorder.counts(history), watchers: run.end.streams, revision: run.end.head, liveKeys: run.end.finalKvs.length, watchProblems };
  if (history.length === 0) return { check: null, problems, history, figures };
  const check = checkLinearizable(history, kvModel, { timeBudgetMs: run.checkTimeBudgetMs });
  let picturePath: string | undefined;
  if (check.verdict === 'violation') {
    try {
      picturePath = writeViolationPicture(run.dir, history, kvModel, check, { name: 'violation', title: `KV nemesis seed ${run.seed}, ${run.nodes} nodes` });
    } catch (err) {
      problems.push(`could not write the picture of the violation: ${(err as Error).message}`);
    }
  } else if (check.verdict === 'unknown') {
    problems.push(`the check gave no verdict: ${check.reason}`);
  }
  return { check, picturePath, problems, history, figures };
}
