// The real-process tester with --tls: a scenario's cluster runs with mutual TLS and client
// certificates (each node says so when it starts), and the harness's clients, status calls and
// control calls all get through with the development certificates it made.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runScenarios } from '../../tools/tester/runner.js';

test('scenario 2 (kill the primary) passes with every node and client over mutual TLS', async () => {
  const lines: string[] = [];
  const r = await runScenarios({ numbers: [2], tls: true, keep: true, write: (l) => lines.push(l) });
  try {
    assert.equal(r.failed, 0, lines.join('\n'));
    const scenarioDirs = readdirSync(r.dir).map((d) => join(r.dir, d)).filter((d) => existsSync(join(d, 'n1.log')));
    assert.equal(scenarioDirs.length, 1);
    const dir = scenarioDirs[0]!;
    assert.ok(existsSync(join(dir, 'certs', 'cluster-ca.crt')), 'certificates made in the scenario directory');
    for (const n of ['n1', 'n2', 'n3']) {
      const started = readFileSync(join(dir, `${n}.log`), 'utf8').split('\n').filter((l) => l.includes('"msg":"node started"'));
      assert.ok(started.length >= 1, `${n} started`);
      for (const l of started) assert.equal((JSON.parse(l) as { tls?: string }).tls, 'mutual TLS, client certificates required', `${n}: ${l}`);
    }
  } finally {
    rmSync(r.dir, { recursive: true, force: true });
  }
});
