// `npm run bench -- kv` runs end to end in a small configuration (not a speed assertion): every row
// and the watch fan-out are measured on synod, and on etcd beside it when one is installed; every
// watcher received every put (the bench fails otherwise); the JSON and the tables name them all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runScript } from '../../tools/harness/cli-run.js';
import { etcdOnPath } from '../../tools/bench/throughput-etcd-cluster.js';
import type { KvBenchResult } from '../../tools/bench/kv.js';

const benchPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'tools', 'bench.js');
const benchRunTimeoutMs = 120_000;

test('npm run bench -- kv measures put, get, range, txn and watch fan-out on every system and writes its JSON', { timeout: 150_000 }, async () => {
  const etcd = etcdOnPath() !== null;
  const out = mkdtempSync(join(tmpdir(), 'synod-kv-bench-test-'));
  try {
    const json = join(out, 'kv.json');
    const { code, stdout, stderr } = await runScript(benchPath, ['kv', '--window-ms', '150', '--rounds', '1', '--watchers', '10', '--json', json], benchRunTimeoutMs);
    const said = `stdout:\n${stdout}\nstderr:\n${stderr}`;
    assert.equal(code, 0, said);
    const r = JSON.parse(readFileSync(json, 'utf8')) as KvBenchResult;
    assert.equal(r.etcd, etcd);
    assert.deepEqual(r.rows.map((row) => row.row), ['put', 'get', 'range-100', 'txn']);
    for (const row of r.rows) {
      for (const f of [row.synod, ...(etcd ? [row.etcd!] : [])]) assert.ok(f.ops > 0 && f.opsPerSec > 0 && f.p99Ms >= f.p50Ms, `${row.row}: ${JSON.stringify(f)}`);
      assert.equal(row.etcd === null, !etcd);
    }
    for (const f of [r.fanout.synod, ...(etcd ? [r.fanout.etcd!] : [])]) {
      assert.ok(f.puts > 0 && f.events === f.puts * 10 && f.eventsPerSec > 0 && f.p99DelayMs >= f.p50DelayMs, JSON.stringify(f));
    }
    assert.match(stdout, /^txn +synod /m, said);
    assert.match(stdout, /watch fan-out: 1 writer/, said);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
