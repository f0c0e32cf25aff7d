// Proves the nemesis's KV workload inside `npm test` (`npm run nemesis -- --app kv`): a short run of
// random faults against three real `synod node --app kv` processes, with KV clients, a lease client
// and four watchers, ends with a history linearizable against the KV model (lease expiries added from
// the watch stream), every watcher exact against the reference watcher and the final read, a settled
// cluster and clients making progress; and the check bites on that real history once one read is
// tampered with. The long runs are `npm run nemesis -- --app kv --duration 60` (docs/testing.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkLinearizable } from '../../tools/lincheck/check.js';
import { kvModel } from '../../tools/lincheck/kv-model.js';
import { type NemesisResult, runNemesis } from '../../tools/nemesis/nemesis.js';
import { faultKinds } from '../../tools/nemesis/schedule.js';

/** The short run's seed: a whole-cluster kill, an isolation, a SIGKILL and a primary cut off from its peers in 10 s. */
const seed = 1;
const durationMs = 10_000;

let run: NemesisResult | null = null;

test('a short KV nemesis run (3 nodes, 10 s of faults) ends linearizable with every watcher exact, settled, every client making progress', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'synod-kv-nemesis-test-'));
  const lines: string[] = [];
  try {
    const r = await runNemesis({ app: 'kv', durationMs, seed, nodes: 3, clients: 3, dir, write: (l) => lines.push(l) });
    run = r;
    const why = `seed ${seed}:\n${lines.join('\n')}\nproblems: ${r.problems.join('; ')}\nliveness: ${r.livenessFailures.join('; ')}\nkept: ${dir}`;
    assert.equal(r.verdict, 'ok', why);
    assert.deepEqual([...r.problems, ...r.livenessFailures], [], why);
    assert.ok(r.kv !== null, why);
    assert.deepEqual(r.kv.watchProblems, [], why);
    assert.ok(r.kv.operations.completed >= 200, `only ${r.kv.operations.completed} operations completed; ${why}`);
    assert.ok(r.kv.operations.expiries >= 1, `no lease let go to expire; ${why}`);
    assert.ok(r.kv.watchers.every((w) => w.events > 0 && w.streams >= 2), `a watcher saw nothing or never moved: ${JSON.stringify(r.kv.watchers)}; ${why}`);
    assert.ok(faultKinds.reduce((sum, k) => sum + r.faults[k], 0) >= 3, why);
    console.log(`KV nemesis seed ${seed}: ${r.kv.operations.completed} operations, revision ${r.kv.revision}, ` +
      `${r.kv.operations.expiries} expiries (${r.kv.operations.knownExpiries} seen), check ${r.check?.elapsedMs.toFixed(0)} ms`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the KV check bites on the real history: a completed get given the value its key had before is a violation', (t) => {
  if (run?.kv === null || run?.kv === undefined) return t.skip('the short run did not produce a KV history');
  const history = run.kv.history;
  // A get that saw version ≥ 2 of its key, now showing an earlier version's record: a stale read.
  const victim = history.find((op) => op.input.proc === 'get' && op.output !== undefined &&
    ((op.output as { kvs?: { version: number }[] }).kvs?.[0]?.version ?? 0) >= 2);
  assert.ok(victim !== undefined, 'no get of a key put twice in the history');
  const out = victim.output as { kvs: { key: string; value: string; createRevision: number; modRevision: number; version: number; lease: number }[] };
  const kv = out.kvs[0]!;
  const stale = { ...out, kvs: [{ ...kv, value: `${kv.value}-stale`, version: kv.version - 1 }] };
  const tampered = history.map((op) => (op === victim ? { ...op, output: stale } : op));
  assert.equal(checkLinearizable(tampered, kvModel, { timeBudgetMs: 60_000 }).verdict, 'violation');
});
