// `npm run demo -- kv` runs its story to the end on real processes: every step's checks pass, it
// exits 0 and cleans up, within a minute; an unknown demo is a usage error.
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runScript } from '../../tools/harness/cli-run.js';

const demo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'tools', 'demo.js'); // dist/tools/demo.js

test('the KV demo tells its five steps, every check passes, and it cleans up', async () => {
  const run = await runScript(demo, ['kv'], 60_000);
  assert.equal(run.code, 0, `exit ${run.code}\n${run.stdout}\n${run.stderr}`);
  for (const step of ['1. a config store', '2. a late subscriber', '3. ephemeral keys', '4. the primary', '5. a deliberately slow watcher']) {
    assert.ok(run.stdout.includes(step), `step "${step}" is told`);
  }
  const checks = run.stdout.split('\n').filter((l) => /^ +[✓✗]/.test(l));
  assert.ok(checks.length >= 12, `${checks.length} checks printed`);
  assert.deepEqual(checks.filter((l) => l.includes('✗')), [], 'no check failed');
  assert.match(run.stdout, /evicted — /, 'the slow watcher was evicted by the primary');
  assert.match(run.stdout, /every check passed\ncleaned up: 3 node processes and 2 workers stopped/);
});

test('an unknown demo argument is refused with the usage (exit 2)', async () => {
  const lock = await runScript(demo, ['nope'], 10_000);
  assert.equal(lock.code, 2);
  assert.match(lock.stderr, /npm run demo -- kv/);
  const kv = await runScript(demo, ['kv', '--tls'], 10_000);
  assert.equal(kv.code, 2);
  assert.match(kv.stderr, /usage: npm run demo -- kv/);
});
