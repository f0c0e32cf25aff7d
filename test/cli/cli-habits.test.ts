// Proves the CLI's habits: `synod --version` prints the package's version; `synod` and
// `synod --help` print the overview; `synod COMMAND --help` (or -h) prints that command's usage
// only, exit 0; a usage error prints the error and that command's usage only, exit 2; and
// `synod status` works as a health check: 0 for a node that serves, 3 (status still printed) for
// one that answers but does not serve.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { NodeProcess, cliPath } from '../../tools/harness/node-process.js';
import { freePortPairs } from '../../tools/harness/ports.js';
import { runSynod } from '../../tools/harness/cli-run.js';
import type { NodeStatus } from '../../src/node/status.js';
import { testApp } from '../../src/apps/test-app.js';

/** The test app's version as a regular expression's text. */
const testVersion = testApp.version.replaceAll('.', '\\.');


const synod = runSynod;

const commands = ['node', 'lock-server', 'lock-tester', 'status', 'control', 'snapshot'];

test('synod --version prints the version in package.json', async () => {
  // cliPath is dist/src/cli/synod.js: the package root is three levels up.
  const manifest = JSON.parse(readFileSync(join(dirname(cliPath), '..', '..', '..', 'package.json'), 'utf8')) as { version: string };
  const run = await synod('--version');
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, `${manifest.version}\n`);
});

test('synod alone and synod --help print the overview of every command, exit 0', async () => {
  for (const args of [[], ['--help'], ['-h']]) {
    const run = await synod(...args);
    assert.equal(run.code, 0, run.stderr);
    for (const c of commands) assert.match(run.stdout, new RegExp(`^  synod ${c} `, 'm'), `synod ${args.join(' ')} names ${c}`);
    assert.match(run.stdout, /synod --version/);
  }
});

test('synod COMMAND --help and -h print that command\'s usage only, exit 0, whatever else is on the line', async () => {
  for (const c of commands) {
    for (const args of [[c, '--help'], [c, '-h'], [c, '--bogus', 'x', '--help']]) {
      const run = await synod(...args);
      assert.equal(run.code, 0, `synod ${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stdout, new RegExp(`^usage:\\n  synod ${c} `));
      for (const other of commands.filter((o) => o !== c)) {
        assert.doesNotMatch(run.stdout, new RegExp(`^  synod ${other} `, 'm'), `synod ${args.join(' ')} shows ${other}`);
      }
      assert.match(run.stdout, /Exit status/, 'the usage documents the exit codes');
    }
  }
});

test('a usage error prints the error and that command\'s usage only, exit 2; an unknown command the overview', async () => {
  const cases: Array<[string[], string]> = [
    [['status'], 'status'],
    [['control', '127.0.0.1:2', 'explode'], 'control'],
    [['lock-tester'], 'lock-tester'],
    [['node', '--me', 'nowhere'], 'node'],
    [['lock-server', '--app', 'test'], 'lock-server'],
  ];
  const runs = await Promise.all(cases.map(([args]) => synod(...args)));
  runs.forEach((run, i) => {
    const [args, c] = cases[i]!;
    assert.equal(run.code, 2, `synod ${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, new RegExp(`^synod: .+\\nusage:\\n  synod ${c} `));
    assert.equal(run.stderr.match(/^ {2}synod /gm)?.length, 1, `only the ${c} usage:\n${run.stderr}`);
    assert.equal(run.stdout, '');
  });
  const unknown = await synod('explode');
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^synod: unknown command explode; commands: node, lock-server, lock-tester, status, control, snapshot, certs\nusage:\n/);
});

describe('synod status as a health check', () => {
  let root: string;
  let alone: NodeProcess;
  let stranded: NodeProcess;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'synod-habits-'));
    const [pa, pb, nowhere] = await freePortPairs(3);
    // A node without an app that is its own first node: a member of view 1 at once.
    alone = new NodeProcess({ port: pa!, first: `127.0.0.1:${pa}`, dataDir: join(root, 'alone'), logLevel: 'warn' });
    // A replica whose first node never runs: it answers, but stays outside any view it could serve in.
    stranded = new NodeProcess({ port: pb!, first: `127.0.0.1:${nowhere}`, dataDir: join(root, 'stranded'), logLevel: 'warn' });
    await alone.start();
    await stranded.start(['--app', 'test']);
  });

  after(async () => {
    for (const n of [alone, stranded]) {
      n?.closeClient();
      await n?.kill('SIGKILL');
    }
    if (root !== undefined) rmSync(root, { recursive: true, force: true });
  });

  test('a member of a view without an app serves: exit 0', async () => {
    const run = await synod('status', alone.address);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^app +\(none: Paxos and config only\)$/m);
    assert.match(run.stdout, /^config +member$/m);
  });

  test('a replica that is not a member of a serving view answers but does not serve: exit 3, status printed (also --json)', async () => {
    const [text, json] = await Promise.all([
      synod('status', stranded.address),
      synod('status', stranded.address, '--json', '--cluster', `synod@${stranded.first}`),
    ]);
    assert.equal(text.code, 3, text.stderr);
    assert.match(text.stdout, /^config +outside$/m);
    assert.match(text.stdout, /^replica +joining$/m);
    assert.match(text.stdout, new RegExp(`^app +test@${testVersion}$`, 'm'));
    assert.equal(json.code, 3, json.stderr);
    const s = JSON.parse(json.stdout) as NodeStatus;
    assert.equal(s.configStatus, 'outside');
    assert.deepEqual(s.app, { name: 'test', version: testApp.version });
  });

  // Runs last: it stops the node without an app.
  test('a node restarted on its data directory with an app it was not created with refuses to start: exit 1 naming both', async () => {
    await alone.kill('SIGKILL');
    const run = await synod('node', '--me', alone.address, '--first', alone.first, '--data-dir', alone.dataDir, '--app', 'test',
      '--log-level', 'silent');
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, new RegExp(`^synod: node ${alone.address} refused to start: data directory .* was created by a node ` +
      `running no app, but this node runs test@${testVersion} \\(another app\\)`));
  });
});
