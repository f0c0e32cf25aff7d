// `npm run bench -- throughput` runs end to end in its smallest configuration (not a speed assertion):
// every row is measured on every contender, against etcd when one is installed, and the JSON, the
// SVG and the tables name them all; nothing is left behind.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runScript } from '../../tools/harness/cli-run.js';
import { etcdOnPath } from '../../tools/bench/throughput-etcd-cluster.js';

/** The compiled bench entry (this file runs from dist/test/bench/). */
const benchPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'tools', 'bench.js');
/** The benchmark is killed past this (the describe's own timeout is longer). */
const benchRunTimeoutMs = 280_000;

interface Entry { key: string; system: string; driver: string; figures: { ops: number; opsPerSec: number; p50Ms: number; p99Ms: number; cpuUsPerOp: number; grants: { count: number } | null } }
interface Json {
  etcd: boolean;
  rows: Array<{ id: string; entries: Entry[] }>;
  failover: Array<{ system: string; roundsMs: number[] }>;
  goals: Array<{ goal: string; met: boolean | null }>;
}

describe('npm run bench -- throughput, smallest configuration', { timeout: 300_000 }, () => {
  test('measures every row on every contender, writes JSON and SVG, judges every goal, and removes its clusters', async () => {
    const etcd = etcdOnPath() !== null;
    const out = mkdtempSync(join(tmpdir(), 'synod-throughput-test-'));
    try {
      const json = join(out, 'run.json');
      const svg = join(out, 'run.svg');
      const args = ['throughput', '--window-ms', '150', '--rounds', '1', '--failover-rounds', '1', '--json', json, '--svg', svg, ...(etcd ? ['--vs', 'etcd'] : [])];
      const { code, stdout, stderr } = await runScript(benchPath, args, benchRunTimeoutMs);
      const said = `stdout:\n${stdout}\nstderr:\n${stderr}`;
      assert.equal(code, 0, said);

      const r = JSON.parse(readFileSync(json, 'utf8')) as Json;
      assert.equal(r.etcd, etcd);
      const expected: Record<string, string[]> = {
        sequential: ['synod', ...(etcd ? ['etcd'] : [])],
        'writes-16': ['synod', 'synodPerCall', ...(etcd ? ['etcd'] : [])],
        'writes-64': ['synod', 'synodPerCall', ...(etcd ? ['etcd'] : [])],
        'writes-256': ['synod', 'synodPerCall', ...(etcd ? ['etcd'] : [])],
        'queries-64': ['synod', 'synodPerCall', ...(etcd ? ['etcd'] : [])],
        'locks-contended': ['synod', ...(etcd ? ['etcd'] : [])],
        'locks-spread': ['synod', ...(etcd ? ['etcd'] : [])],
        replicas: ['synod3', 'synod5', 'synod3PerCall', 'synod5PerCall'],
      };
      assert.deepEqual(r.rows.map((row) => row.id), Object.keys(expected), said);
      for (const row of r.rows) {
        assert.deepEqual(row.entries.map((e) => e.key), expected[row.id], `${row.id}\n${said}`);
        for (const e of row.entries) {
          const f = e.figures;
          assert.ok(f.ops > 0 && f.opsPerSec > 0 && f.p50Ms >= 0 && f.p99Ms >= f.p50Ms && f.cpuUsPerOp > 0, `${row.id} ${e.key}: ${JSON.stringify(f)}`);
          // Lock cycles name their grants: at least the first cycle of each client ran under a new one.
          if (row.id.startsWith('locks')) assert.ok(f.grants !== null && f.grants.count > 0, `${row.id} ${e.key}: ${JSON.stringify(f)}`);
        }
      }
      assert.deepEqual(r.failover.map((f) => [f.system, f.roundsMs.length]), [['synod', 1], ...(etcd ? [['etcd', 1]] : [])]);
      assert.equal(r.goals.length, 6);
      // With etcd every goal is judged; without it, only the two that need no etcd.
      assert.equal(r.goals.filter((g) => g.met !== null).length, etcd ? 6 : 2, JSON.stringify(r.goals));
      assert.match(readFileSync(svg, 'utf8'), /^<svg [^>]*>[\s\S]*<rect [\s\S]*<\/svg>\n$/);
      for (const g of r.goals) assert.ok(stdout.includes(g.goal), `the goal "${g.goal}" is printed`);

      const dirs = [...stderr.matchAll(/files in (\S+?)\)/g)].map((m) => m[1]!.replace(/\/etcd$/, ''));
      assert.ok(dirs.length >= 3, `every cluster names its directory\n${said}`);
      for (const dir of dirs) assert.ok(!existsSync(dir), `${dir} is still there`);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
