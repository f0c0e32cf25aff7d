// Proves `synod node --app-module`: three real node processes run a user's own app (a counter
// app compiled from test/cli/fixtures/, given by a path relative to the working directory, as
// the default export and as a named one), an ordinary RsmClient calls it, and `synod status`
// names it; a module that is not an app is a usage error naming what is wrong (exit 2), and a
// module that does not load exits 1 with the loader's message.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NodeProcess, eventually, killAll } from '../../tools/harness/node-process.js';
import { freePortPairs } from '../../tools/harness/ports.js';
import { runSynod } from '../../tools/harness/cli-run.js';
import { RsmClient } from '../../src/client/rsm-client.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { realClock } from '../../src/runtime/real-clock.js';
import { silentLogger } from '../../src/env/logger.js';
import { queryStatus } from '../../src/cli/admin.js';
import { defaultClusterName } from '../../src/env/cluster-name.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
/** The fixtures as a user names them: relative to the working directory. */
const fixture = (file: string): string => relative(process.cwd(), join(fixtures, file));


const synod = runSynod;

describe('synod node --app-module runs a user\'s own app on three real processes', () => {
  let root: string;
  let nodes: NodeProcess[];
  let transport: GrpcClientTransport;
  let client: RsmClient;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'synod-app-module-'));
    const ports = await freePortPairs(3);
    const first = `127.0.0.1:${ports[0]}`;
    const cluster = defaultClusterName(first);
    nodes = ports.map((port, i) => new NodeProcess({ port, first, dataDir: join(root, `n${i + 1}`), logLevel: 'info' }));
    // The default export on the first node, the named export on the others: one app either way.
    await nodes[0]!.start(['--app-module', fixture('counter-app.js')]);
    for (const n of nodes.slice(1)) await n.start(['--app-module', `${fixture('named-only.js')}#counter`]);
    await eventually(async () => {
      const all = await Promise.all(nodes.map(async (n) => (await queryStatus(n.address, { cluster })).status));
      return all.every((s) => s.replicaStatus === 'normal' && s.members.length === 3) ? all : undefined;
    }, 15_000, 'three counter replicas serving', 50);
    transport = new GrpcClientTransport({ cluster, logger: silentLogger });
    client = new RsmClient({ members: nodes.map((n) => n.address), transport, clock: realClock, clientId: 'app-module-test' });
  });

  after(async () => {
    client?.close();
    await transport?.close();
    await killAll(nodes);
    if (root !== undefined) rmSync(root, { recursive: true, force: true });
  });

  test('an ordinary RsmClient calls the app\'s procedures, and an app error comes back as such', async () => {
    const results: unknown[] = [];
    for (let i = 0; i < 3; i++) results.push(await client.invoke('increment', { key: 'k' }, { deadlineMs: 10_000 }));
    assert.deepEqual(results, [1, 2, 3]);
    assert.equal(await client.invoke('read', { key: 'k' }, { deadlineMs: 10_000 }), 3);
    assert.equal(await client.invoke('read', { key: 'other' }, { deadlineMs: 10_000 }), 0);
    await assert.rejects(client.invoke('increment', {}, { deadlineMs: 10_000 }), /key must be a non-empty string/);
  });

  test('synod status names the app as counter@1.0.0 and exits 0 on every serving node', async () => {
    for (const n of nodes) {
      const run = await synod('status', n.address);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /^app +counter@1\.0\.0$/m);
    }
  });
});

test('a module export that is not an app is a usage error naming what is wrong, exit 2', async () => {
  const node = ['node', '--me', '127.0.0.1:1', '--first', '127.0.0.1:1', '--data-dir', join(tmpdir(), 'synod-never-created')];
  const cases: Array<[string, RegExp]> = [
    [`${fixture('counter-app.js')}#missingInitialState`, /export missingInitialState is not an app .*: app initialState: missing$/m],
    [`${fixture('counter-app.js')}#badVersion`, /export badVersion is not an app .*: app version: "one" is not MAJOR\.MINOR\.PATCH/m],
    [`${fixture('counter-app.js')}#nothing`, /the module has no export nothing \(its named exports: badVersion, counterApp, missingInitialState\)$/m],
    [fixture('named-only.js'), /the module has no default export; name the app's export with .*named-only\.js#NAME \(its named exports: counter\)$/m],
  ];
  const runs = await Promise.all(cases.map(([spec]) => synod(...node, '--app-module', spec)));
  runs.forEach((run, i) => {
    assert.equal(run.code, 2, `${cases[i]![0]}: exit ${run.code}\n${run.stderr}`);
    assert.match(run.stderr, /^synod: --app-module /);
    assert.match(run.stderr, cases[i]![1]);
    assert.match(run.stderr, /\nusage:\n  synod node /);
    assert.doesNotMatch(run.stderr, /synod status/, 'the node command\'s usage only');
  });
});

test('a module that does not load exits 1 with the loader\'s message; --app with --app-module is a usage error', async () => {
  const node = ['node', '--me', '127.0.0.1:1', '--first', '127.0.0.1:1', '--data-dir', join(tmpdir(), 'synod-never-created')];
  const [missing, throwing, both] = await Promise.all([
    synod(...node, '--app-module', 'no/such/module.js'),
    synod(...node, '--app-module', fixture('fails-to-load.js')),
    synod(...node, '--app', 'test', '--app-module', fixture('counter-app.js')),
  ]);
  assert.equal(missing.code, 1, missing.stderr);
  assert.match(missing.stderr, /^synod: --app-module no\/such\/module\.js: cannot load the module: Cannot find module .*no\/such\/module\.js/);
  assert.equal(throwing.code, 1, throwing.stderr);
  assert.match(throwing.stderr, /cannot load the module: this module fails to load on purpose\n$/);
  assert.equal(both.code, 2, both.stderr);
  assert.match(both.stderr, /^synod: --app and --app-module exclude each other/);
});
