// `npm run bench -- read` works end to end in a small configuration (not a speed assertion), and
// its query path really answers without replication while its replicated path replicates every read.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runScript } from '../../tools/harness/cli-run.js';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The compiled bench entry (this file runs from dist/test/bench/). */
const benchPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'tools', 'bench.js');
/** The benchmark is killed past this (the describe's own timeout is longer). */
const benchRunTimeoutMs = 170_000;

/** A table row: path, in flight, ops, ops/s, p50 ms, p99 ms, replicated. */
interface Row { path: string; inFlight: number; ops: number; opsPerSec: number; p50Ms: number; p99Ms: number; replicated: number }

function rowsOf(stdout: string): Row[] {
  return [...stdout.matchAll(/^\s+(query|replicated)\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+(\d+|n\/a)\s*$/gm)].map((m) => ({
    path: m[1]!, inFlight: Number(m[2]), ops: Number(m[3]), opsPerSec: Number(m[4]), p50Ms: Number(m[5]), p99Ms: Number(m[6]), replicated: Number(m[7]),
  }));
}

describe('npm run bench -- read, small configuration', { timeout: 180_000 }, () => {
  test('prints both paths at 1 and 64 in flight with their ratios, the query path replicated no read, and nothing is left behind', async () => {
    const { code, stdout, stderr } = await runScript(benchPath, ['read', '--duration-ms', '300', '--rounds', '1'], benchRunTimeoutMs);
    const said = `stdout:\n${stdout}\nstderr:\n${stderr}`;
    assert.equal(code, 0, said);

    const rows = rowsOf(stdout);
    assert.deepEqual(rows.map((r) => `${r.path}@${r.inFlight}`), ['query@1', 'replicated@1', 'query@64', 'replicated@64'], said);
    for (const r of rows) {
      assert.ok(r.ops > 0 && r.opsPerSec > 0 && r.p50Ms > 0 && r.p99Ms >= r.p50Ms, `figures of ${JSON.stringify(r)}\n${said}`);
      assert.ok(Number.isInteger(r.replicated), `the primary's executed count was read (no view change): ${JSON.stringify(r)}\n${said}`);
    }
    for (const r of rows.filter((x) => x.path === 'replicated')) {
      assert.ok(r.replicated >= r.ops, `every replicated read went through the log: ${JSON.stringify(r)}\n${said}`);
    }
    for (const r of rows.filter((x) => x.path === 'query')) {
      // Only the primary's own client-table sweeps may execute meanwhile, a handful at most.
      assert.ok(r.replicated <= 3 && r.replicated < r.ops, `queries were answered without replication: ${JSON.stringify(r)}\n${said}`);
    }
    for (const n of [1, 64]) {
      assert.match(stdout, new RegExp(`ratio query/replicated, ${n} in flight: ops/s [\\d.]+x, p50 [\\d.]+x, p99 [\\d.]+x\\n`), said);
    }

    const dirs = [...stdout.matchAll(/files in (\S+?)\)/g)].map((m) => m[1]!);
    assert.equal(dirs.length, 2, `two clusters, each naming its directory\n${said}`);
    for (const dir of dirs) assert.ok(!existsSync(dir), `${dir} is still there`);
  });
});
