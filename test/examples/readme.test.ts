// The README's TypeScript snippets are the compiled files in examples/readme/ (so they type-check
// against the front door on every build), and they run as the README says: three nodes of the
// counter app started with startNode, a plain script that calls them, the testkit on the app.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePortPairs } from '../../tools/harness/ports.js';

const here = dirname(fileURLToPath(import.meta.url)); // dist/test/examples
const repo = join(here, '..', '..', '..');
const compiled = join(here, '..', '..', 'examples', 'readme');
/** The snippet files, in the order their blocks appear in the README. */
const snippets = ['counter-app.ts', 'run-node.ts', 'call.ts', 'watch.ts', 'locks.ts', 'simulate.ts'];
/** How long one node may take to answer its first status call, and one script to run. */
const startTimeoutMs = 15_000;
const scriptTimeoutMs = 30_000;

const nodes: ChildProcess[] = [];
const work = mkdtempSync(join(tmpdir(), 'synod-readme-'));
after(() => {
  for (const n of nodes) n.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

function script(name: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(compiled, name), ...args], { encoding: 'utf8', timeout: scriptTimeoutMs });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('every TypeScript block of the README is one of the example files, word for word, in order', () => {
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const imports = blocks.shift(); // the one-line import at the top
  assert.equal(imports, "import { defineApp, startNode, connect } from 'synod';\n");
  assert.equal(blocks.length, snippets.length);
  for (const [i, file] of snippets.entries()) {
    assert.equal(blocks[i], readFileSync(join(repo, 'examples', 'readme', file), 'utf8'), `README block ${i + 2} is examples/readme/${file}`);
  }
});

test('the README snippets run: three startNode processes, then the call script twice, then the testkit', { timeout: startTimeoutMs + 3 * scriptTimeoutMs }, async () => {
  const ports = await freePortPairs(3);
  const members = ports.map((p) => `127.0.0.1:${p}`);
  for (const [i, me] of members.entries()) {
    const child = spawn(process.execPath, [join(compiled, 'run-node.js'), me, join(work, `n${i + 1}`), members[0]!], { stdio: 'ignore' });
    nodes.push(child);
  }
  const first = script('call.js', members.slice(1));
  assert.equal(first.status, 0, first.stderr);
  assert.deepEqual(first.stdout.trim().split('\n'), ['1', 'bad-name']);
  const second = script('call.js', [members[2]!]);
  assert.equal(second.status, 0, second.stderr);
  assert.deepEqual(second.stdout.trim().split('\n'), ['2', 'bad-name']);
  const simulated = script('simulate.js', ['5']);
  assert.equal(simulated.status, 0, simulated.stdout + simulated.stderr);
  assert.match(simulated.stdout, /5 passed, 0 failed/);
});
