/**
 * Runs the whole test suite with Node's own test runner: every `*.test.js` under dist/test
 * (compiled from test/), passed explicitly so that helper modules are never run as tests.
 * `npm test` builds first, then runs this. Extra arguments go to `node --test`
 * (e.g. `npm test -- --test-name-pattern=paxos`).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Test files run in parallel, at most this many at once (the CI machine has 2 cores). */
const testConcurrency = 2;

function findTests(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return findTests(path);
    return entry.name.endsWith('.test.js') ? [path] : [];
  });
}

const testDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'test');
const files = findTests(testDir).sort();
const result = spawnSync(
  process.execPath,
  ['--test', `--test-concurrency=${testConcurrency}`, ...process.argv.slice(2), ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
