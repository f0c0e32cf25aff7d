// Proves the package works as a user gets it: packed, installed into a fresh project offline,
// type-checked there with tsc, run as a 3-node cluster of a custom app called through connect,
// and the same app tested on the simulator through `synod/testkit`.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePortPairs } from '../../tools/harness/ports.js';

const here = dirname(fileURLToPath(import.meta.url)); // dist/test/package
const repo = join(here, '..', '..', '..');
const fixtures = join(repo, 'test', 'package', 'user-project');
/** How long a node of the user's cluster may take to print `ready`. */
const nodeReadyTimeoutMs = 15_000;
/** How long one of the user's scripts may run. */
const scriptTimeoutMs = 30_000;

let work: string;
let project: string;
let tarball: string;
let packed: string[];
const nodes: ChildProcess[] = [];

function run(cmd: string, args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: scriptTimeoutMs, env: { ...process.env, npm_config_update_notifier: 'false' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * A lockfile for the user's project made from the repository's own (every dependency of synod,
 * and typescript and @types/node, at the versions and integrities the repository installed), so
 * that `npm ci --offline` installs everything from the npm cache without asking a registry.
 */
function writeProject(dir: string, tgz: string): void {
  const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, Record<string, unknown>> };
  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as Record<string, unknown>;
  const version = (name: string): string => String(lock.packages[`node_modules/${name}`]?.['version']);
  const dependencies = { synod: `file:${tgz}`, typescript: version('typescript'), '@types/node': version('@types/node') };
  const packages: Record<string, Record<string, unknown>> = { '': { name: 'user-project', dependencies } };
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '') continue;
    const { dev: _dev, devOptional: _devOptional, ...rest } = entry;
    packages[path] = rest;
  }
  packages['node_modules/synod'] = {
    version: pkg['version'],
    resolved: `file:${tgz}`,
    integrity: `sha512-${createHash('sha512').update(readFileSync(join(dir, tgz))).digest('base64')}`,
    dependencies: pkg['dependencies'],
    bin: pkg['bin'],
  };
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'user-project', private: true, type: 'module', dependencies }, null, 2));
  writeFileSync(join(dir, 'package-lock.json'), JSON.stringify({ name: 'user-project', lockfileVersion: 3, requires: true, packages }, null, 2));
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'dist', types: ['node'] },
    include: ['*.ts'],
  }, null, 2));
  for (const file of readdirSync(fixtures)) if (file.endsWith('.ts')) copyFileSync(join(fixtures, file), join(dir, file));
}

/** Starts one node of the user's cluster and waits for its `ready` line. */
function startUserNode(me: string, first: string, dataDir: string): Promise<void> {
  const child = spawn(process.execPath, ['dist/node.js', me, first, dataDir], { cwd: project, stdio: ['ignore', 'pipe', 'pipe'] });
  nodes.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${me} not ready within ${nodeReadyTimeoutMs} ms: ${output}`)), nodeReadyTimeoutMs);
    const seen = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes(`ready ${me}`)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', seen);
    child.stderr.on('data', seen);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node ${me} exited ${code}: ${output}`));
    });
  });
}

before(() => {
  work = mkdtempSync(join(tmpdir(), 'synod-pack-'));
  project = join(work, 'project');
  // dist/ is built already (npm test builds first), so the pack runs no scripts.
  const r = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], repo);
  assert.equal(r.status, 0, r.stderr);
  const [info] = JSON.parse(r.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = info!.filename;
  packed = info!.files.map((f) => f.path);
  spawnSync('mkdir', [project]);
  copyFileSync(join(work, tarball), join(project, tarball));
  writeProject(project, tarball);
});

after(() => {
  for (const n of nodes) n.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

test('the package ships compiled code, type declarations, protos, README and LICENSE, and no tests', () => {
  const files = ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/synod.js', 'dist/tools/testkit/index.js', 'dist/tools/testkit/index.d.ts',
    'proto/rsm.proto', 'README.md', 'LICENSE', 'package.json'];
  for (const file of files) {
    assert.ok(packed.includes(file), `${file} is in the package`);
  }
  assert.deepEqual(packed.filter((f) => f.startsWith('dist/test/') || f.startsWith('test/') || f.endsWith('.map')), []);
});

test('installed offline into a fresh project, a custom app type-checks with tsc, runs on 3 node processes and answers through connect', async () => {
  const install = run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], project);
  assert.equal(install.status, 0, `npm ci --offline: ${install.stderr}`);
  const tsc = run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.'], project);
  assert.equal(tsc.status, 0, `tsc in the user's project:\n${tsc.stdout}${tsc.stderr}`);

  const ports = await freePortPairs(3);
  const addresses = ports.map((p) => `127.0.0.1:${p}`);
  const first = addresses[0]!;
  for (const [i, me] of addresses.entries()) await startUserNode(me, first, join(work, `data-${i + 1}`));

  const client = run(process.execPath, ['dist/client.js', ...addresses.slice(1)], project);
  assert.equal(client.status, 0, `client.js: ${client.stderr}`);
  assert.match(client.stdout, new RegExp(`^total 5 cluster synod@${first}$`, 'm'), 'the cluster name was found from addresses that are not the first node');
  assert.match(client.stdout, /^refused bad-amount$/m, 'the app\'s refusal arrives as a typed AppRejectedError');

  const thenStyle = run(process.execPath, ['dist/then.js', first], project);
  assert.equal(thenStyle.status, 0, `then.js: ${thenStyle.stderr}`);
  assert.match(thenStyle.stdout, /^got 5$/m, 'a pending call keeps the process alive until it completes');

  const wrong = run(process.execPath, ['dist/wrong-cluster.js', first], project);
  assert.equal(wrong.status, 0, `wrong-cluster.js: ${wrong.stderr}`);
  assert.match(wrong.stdout, new RegExp(`^wrong cluster: expected not-this-one, actual synod@${first}$`, 'm'));

  // A node whose first node does not exist stays outside any view and knows no primary.
  const [lonePort, absentPort] = await freePortPairs(2);
  const lone = `127.0.0.1:${lonePort}`;
  await startUserNode(lone, `127.0.0.1:${absentPort}`, join(work, 'data-lone'));
  const pending = run(process.execPath, ['dist/pending.js', lone], project);
  assert.equal(pending.status, 0, `pending.js exited ${pending.status} (13: the process ended with the call pending): ${pending.stderr}`);
  assert.match(pending.stdout, /^deadline exceeded$/m, 'a call backing off keeps the process alive until its deadline');

  const status = run(join(project, 'node_modules', '.bin', 'synod'), ['status', addresses[2]!], project);
  assert.equal(status.status, 0, `synod status through the installed bin: ${status.stderr}`);
  assert.match(status.stdout, new RegExp(addresses[2]!.replace(/\./g, '\\.')));
});

test('synod/testkit resolves from the installed package: the user\'s app passes a few seeds on the simulator', () => {
  // Runs in the project the test above installed and compiled (dist/simulate.js is the user's simulate.ts).
  assert.ok(existsSync(join(project, 'dist', 'simulate.js')), 'the user project was installed and compiled by the test above');
  const sim = run(process.execPath, ['dist/simulate.js'], project);
  assert.equal(sim.status, 0, `simulate.js:\n${sim.stdout}${sim.stderr}`);
  assert.match(sim.stdout, /^seed 1 pass operations=[1-9]\d* digest=[0-9a-f]{16}$/m);
  assert.match(sim.stdout, /^testkit: 3 passed, 0 failed$/m);
});
