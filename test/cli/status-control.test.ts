// Proves `synod status` and `synod control` as an operator uses them, as real processes against
// three real `synod lock-server` processes: status shows what each node believes (and all agree),
// finds the cluster name by itself, fails clearly; control isolates, heals, and arms a crash
// breakpoint that then fires.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeProcess, cliPath, eventually, killAll } from '../../tools/harness/node-process.js';
import { freePortPairs } from '../../tools/harness/ports.js';
import { runSynod } from '../../tools/harness/cli-run.js';
import { queryStatus } from '../../src/cli/admin.js';
import type { NodeStatus } from '../../src/node/status.js';
import { defaultClusterName } from '../../src/env/cluster-name.js';
import { lockApp } from '../../src/apps/lock/lock-app.js';
import { testApp } from '../../src/apps/test-app.js';



/** Runs the compiled `synod` CLI with `args` as a process of its own. */
const synod = runSynod;

const same = (a: readonly string[], b: readonly string[]): boolean => JSON.stringify(a) === JSON.stringify(b);

describe('synod status and synod control against three real lock-server processes', () => {
  let root: string;
  let nodes: NodeProcess[];
  let cluster: string;

  const statusOf = async (n: NodeProcess): Promise<NodeStatus> => (await queryStatus(n.address, { cluster })).status;
  /** Waits until every node of `on` is a normal replica of a view of exactly `members`, all agreeing; returns one status. */
  const viewIs = (members: NodeProcess[], on: NodeProcess[], timeoutMs = 10_000): Promise<NodeStatus> => eventually(async () => {
    const want = members.map((m) => m.address);
    const all = await Promise.all(on.map(statusOf));
    const ok = all.every((s) => s.configStatus === 'member' && s.replicaStatus === 'normal' && same(s.members, want) &&
      s.vid === all[0]!.vid && s.primary !== null && s.primary === all[0]!.primary);
    return ok ? all[0] : undefined;
  }, timeoutMs, `view [${members.map((m) => m.address).join(', ')}] on ${on.map((n) => n.address).join(', ')}`, 20);

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'synod-cli-'));
    const ports = await freePortPairs(3);
    const first = `127.0.0.1:${ports[0]}`;
    cluster = defaultClusterName(first);
    nodes = ports.map((port, i) => new NodeProcess({
      port, first, dataDir: join(root, `n${i + 1}`), logLevel: 'info', entry: [cliPath, 'lock-server'],
    }));
    // A loaded 2-core machine (CI, other suites) can stall a node's event loop past the default
    // 0.5 s of missed heartbeats; the view churn that follows is correct but breaks the exact
    // views these tests read. Suspicion after 2 s keeps them exact; the partition test still
    // sees a removal, later.
    const options = join(root, 'options.json');
    writeFileSync(options, JSON.stringify({ config: { suspectAfterMissed: 20 } }));
    for (const n of nodes) await n.start(['--options', options]);
    await viewIs(nodes, nodes);
  });

  after(async () => {
    await killAll(nodes);
    if (root !== undefined) rmSync(root, { recursive: true, force: true });
  });

  test('synod status prints the node, its view, primary, replica status and every view it knows', async () => {
    const [a, b, c] = nodes as [NodeProcess, NodeProcess, NodeProcess];
    const run = await synod('status', b.address);
    assert.equal(run.code, 0, run.stderr);
    const line = (key: string): string => {
      const found = run.stdout.split('\n').find((l) => l.startsWith(`${key} `));
      assert.ok(found !== undefined, `a line "${key}" in:\n${run.stdout}`);
      return found.slice(key.length).trim();
    };
    assert.equal(line('node'), `${b.address} (backup)`);
    // b joined with a data directory of its own: views list it with its disk id; a, the first node, by address alone.
    const bId = line('member');
    assert.match(bId, new RegExp(`^${b.address.replace(/[.]/g, '\\.')}@[0-9a-f]{12}$`));
    assert.match(line('member ids'), new RegExp(`^\\[${a.address}, ${bId}, ${c.address}@[0-9a-f]{12}\\]$`));
    assert.equal(line('cluster'), cluster);
    assert.equal(line('app'), `lock@${lockApp.version}`);
    assert.match(line('view'), new RegExp(`^3 \\[${a.address}, ${b.address}, ${c.address}\\]$`));
    assert.equal(line('primary'), a.address);
    assert.equal(line('config'), 'member');
    assert.equal(line('replica'), 'normal');
    assert.match(line('last executed'), /^\d+\.\d+ \(vid\.seqno\)$/);
    assert.equal(line('state complete'), 'yes');
    assert.equal(line('refusing'), 'no');
    assert.match(run.stdout, /^views \(3\)$/m);
    assert.match(run.stdout, new RegExp(`^  1  \\[${a.address}\\] +created$`, 'm'));
    assert.match(run.stdout, new RegExp(`^  3  \\[${a.address}, ${b.address}, ${c.address}\\] +\\+${c.address} <- current$`, 'm'));
  });

  test('synod status --json prints the NodeStatus, and every node reports the same view, members and primary', async () => {
    const runs = await Promise.all(nodes.map((n) => synod('status', n.address, '--json')));
    const statuses = runs.map((r, i) => {
      assert.equal(r.code, 0, r.stderr);
      const s = JSON.parse(r.stdout) as NodeStatus;
      assert.equal(s.node, nodes[i]!.address);
      return s;
    });
    const want = nodes.map((n) => n.address);
    for (const s of statuses) {
      assert.equal(s.vid, statuses[0]!.vid);
      assert.deepEqual(s.members, want);
      assert.equal(s.primary, nodes[0]!.address);
      assert.equal(s.configStatus, 'member');
      assert.equal(s.replicaStatus, 'normal');
      assert.deepEqual(s.app, { name: 'lock', version: lockApp.version });
      assert.equal(s.views.at(-1)!.vid, s.vid);
      assert.deepEqual(s.views.at(-1)!.members, want);
      assert.deepEqual(s.views, statuses[0]!.views, 'every node knows the same view history');
    }
    assert.equal(new Set(statuses.map((s) => s.incarnation)).size, 3, 'each process has an incarnation of its own');
  });

  test('synod status finds the cluster name by itself; a wrong --cluster exits 1 naming both', async () => {
    const c = nodes[2]!;
    // Without --cluster the first attempt names synod@<c>, which c refuses; the retry uses the name c gave.
    const [found, given, wrong] = await Promise.all([
      synod('status', c.address, '--json'),
      synod('status', c.address, '--json', '--cluster', cluster),
      synod('status', c.address, '--cluster', 'some-other-cluster'),
    ]);
    assert.equal(found.code, 0, found.stderr);
    assert.equal((JSON.parse(found.stdout) as NodeStatus).node, c.address);
    assert.equal(given.code, 0, given.stderr);
    assert.equal(wrong.code, 1);
    assert.equal(wrong.stdout, '');
    assert.match(wrong.stderr, new RegExp(`is a node of cluster "${cluster}", not "some-other-cluster"`));
  });

  test('synod status and synod control of an address where nothing listens exit 1 with a clear message', async () => {
    const [port] = await freePortPairs(1);
    const nowhere = `127.0.0.1:${port}`;
    const n = nodes[0]!;
    const [status, control, noNode] = await Promise.all([
      synod('status', nowhere),
      synod('control', nowhere, '--node', n.address, 'partition', '0'),
      synod('control', n.controlAddress, '--node', nowhere, 'partition', '0'),
    ]);
    assert.equal(status.code, 1);
    assert.match(status.stderr, new RegExp(`^synod: cannot reach the node service \\(synod\\.node\\.Node\\) at ${nowhere}: UNAVAILABLE: .*ECONNREFUSED.*is a node running there\\?`));
    assert.equal(control.code, 1);
    assert.match(control.stderr, new RegExp(`^synod: cannot reach the test control service \\(synod\\.control\\.Control\\) at ${nowhere}: UNAVAILABLE: .*started with --control\\?`));
    // synod control reads the cluster name and id from the node's status first, and says so when it cannot.
    assert.equal(noNode.code, 1);
    assert.match(noNode.stderr, new RegExp(`^synod: cannot reach the node service .* at ${nowhere}: .*synod control reads the node's cluster name and id from its status at ${nowhere}\\)`));
    // A node's control port given to status, and its main port given to control, are named as such.
    const [swappedStatus, swappedControl] = await Promise.all([synod('status', n.controlAddress), synod('control', n.address, '--node', n.address, 'breakpoint', 'off')]);
    assert.equal(swappedStatus.code, 1);
    assert.match(swappedStatus.stderr, /does not serve the node service .*port \+ 1 is its control service/);
    assert.equal(swappedControl.code, 1);
    assert.match(swappedControl.stderr, /does not serve the test control service .*is it a control address\?/);
  });

  test('usage errors exit 2 with the usage text', async () => {
    const a = nodes[0]!;
    const cases: string[][] = [
      ['status'],
      ['status', 'not-an-address'],
      ['status', a.address, '--bogus'],
      ['status', a.address, 'extra'],
      ['control'],
      ['control', a.controlAddress],
      ['control', a.controlAddress, 'breakpoint'],
      ['control', a.controlAddress, 'breakpoint', '5'],
      ['control', a.controlAddress, 'partition', '2'],
      ['control', a.controlAddress, 'partition-from'],
      ['control', a.controlAddress, 'partition-from', 'x,y'],
      ['control', a.controlAddress, 'explode'],
      // Test-only mutations: never without the control service, and only known ones.
      ['lock-server', '--me', '127.0.0.1:1', '--first', '127.0.0.1:1', '--data-dir', '/nonexistent', '--test-mutate', 'no-client-table'],
      ['lock-server', '--me', '127.0.0.1:1', '--first', '127.0.0.1:1', '--data-dir', '/nonexistent', '--control', '--test-mutate', 'bogus'],
      // The durability benchmark's memory-only baseline: never without the control service either.
      ['lock-server', '--me', '127.0.0.1:1', '--first', '127.0.0.1:1', '--data-dir', '/nonexistent', '--test-memory-only-rsm'],
    ];
    const runs = await Promise.all(cases.map((args) => synod(...args)));
    runs.forEach((r, i) => {
      assert.equal(r.code, 2, `synod ${cases[i]!.join(' ')}: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, /^synod: .+\nusage:\n/, `synod ${cases[i]!.join(' ')}`);
    });
  });

  test('a fourth node running another app (synod node --app test) is refused at join: it exits 1 naming both apps, the view is unchanged', async () => {
    const before = await viewIs(nodes, nodes);
    const [port] = await freePortPairs(1);
    const joiner = `127.0.0.1:${port}`;
    const t0 = Date.now();
    const run = await synod('node', '--app', 'test', '--me', joiner, '--first', nodes[0]!.address, '--data-dir', join(root, 'other-app'),
      '--log-level', 'error');
    console.log(`refused joiner ran ${Date.now() - t0} ms`);
    assert.equal(run.code, 1, `exit ${run.code}\n${run.stderr}`);
    assert.match(run.stderr, new RegExp(`^synod: node ${joiner} runs test@${testApp.version.replaceAll('.', '\\.')}, but the cluster it asked to join runs lock@${lockApp.version.replaceAll('.', '\\.')} ` +
      '\\(another app; refused by 127\\.0\\.0\\.1:\\d+, a member of view \\d+\\)', 'm'));
    // Its log (standard output) names both, with the node and the view on the line.
    const logged = run.stdout.split('\n').find((l) => l.includes('config: join refused'));
    assert.ok(logged !== undefined, run.stdout);
    const line = JSON.parse(logged) as { level: string; node: string; vid: number; app: string; clusterApp: string };
    assert.deepEqual([line.level, line.node, line.app, line.clusterApp], ['error', joiner, `test@${testApp.version}`, `lock@${lockApp.version}`]);
    assert.equal(typeof line.vid, 'number');
    const after = await viewIs(nodes, nodes);
    const history = after.views.map((v) => `${v.vid}:[${v.members.join(',')}]`).join(' ');
    assert.ok(after.views.every((v) => !v.members.includes(joiner)), `the refused node was never a member: ${history}`);
    // The view is the one before (a loaded machine may see a member churn out and back meanwhile,
    // which is the failure detector's business: the members are the same three all the same).
    assert.deepEqual(after.members, before.members, history);
  });

  test('synod lock-tester given only nodes that are not the first finds the cluster name by itself, like status', async () => {
    const [, b, c] = nodes as [NodeProcess, NodeProcess, NodeProcess];
    const run = await synod('lock-tester', `${c.address},${b.address}`, '1');
    assert.equal(run.code, 0, `exit ${run.code}\n${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /^lock tester: 1 passed, 0 failed$/m);
  });

  test('partition 1 isolates a node and the others remove it; partition 0 heals it and it rejoins', async () => {
    const [a, b, c] = nodes as [NodeProcess, NodeProcess, NodeProcess];
    const before = await statusOf(a);
    const isolate = await synod('control', c.controlAddress, 'partition', '1');
    assert.equal(isolate.code, 0, isolate.stderr);
    assert.equal(isolate.stdout, `${c.controlAddress}: isolated\n`);
    const without = await viewIs([a, b], [a, b]);
    assert.ok(without.vid > before.vid);
    const cut = await synod('status', c.address);
    assert.equal(cut.code, 1);
    assert.match(cut.stderr, new RegExp(`is isolated .*synod control ${c.controlAddress} partition 0`));

    const heal = await synod('control', c.controlAddress, 'partition', '0');
    assert.equal(heal.code, 0, heal.stderr);
    assert.equal(heal.stdout, `${c.controlAddress}: healed\n`);
    const back = await viewIs([a, b, c], [a, b, c], 15_000);
    assert.ok(back.vid > without.vid);
    const mine = await synod('status', c.address, '--json');
    assert.equal(mine.code, 0, mine.stderr);
    const s = JSON.parse(mine.stdout) as NodeStatus;
    assert.equal(s.replicaStatus, 'normal');
    assert.equal(s.stateComplete, true);
    assert.ok(s.views.some((v) => v.vid === without.vid && same(v.members, [a.address, b.address])), 'the healed node learned the view without it');
  });

  // Runs last: the cluster is left without its primary and without a majority.
  test('breakpoint 4 armed through synod control kills the primary when it next proposes a view', async () => {
    // The primary is the only node that proposes adding a joiner: isolate a backup until it is
    // removed, arm breakpoint 4 on the primary, and heal the backup, which then asks to join.
    const { primary: primaryAddress } = await viewIs(nodes, nodes);
    const primary = nodes.find((n) => n.address === primaryAddress)!;
    const [backup, joiner] = nodes.filter((n) => n !== primary) as [NodeProcess, NodeProcess];
    assert.equal((await synod('control', joiner.controlAddress, 'partition', '1')).code, 0);
    await viewIs(nodes.filter((n) => n !== joiner), [primary, backup]);
    const arm = await synod('control', primary.controlAddress, 'breakpoint', '4');
    assert.equal(arm.code, 0, arm.stderr);
    assert.equal(arm.stdout, `${primary.controlAddress}: armed: [4]\n`);
    // Disarming another node's breakpoints answers with what stays armed there (nothing).
    const off = await synod('control', backup.controlAddress, 'breakpoint', 'off');
    assert.equal(off.code, 0, off.stderr);
    assert.equal(off.stdout, `${backup.controlAddress}: armed: []\n`);
    assert.equal((await synod('control', joiner.controlAddress, 'partition', '0')).code, 0);
    const exit = await primary.exited(15_000);
    assert.equal(exit.signal, 'SIGKILL', 'the node stopped itself as a crash would');
    assert.match(primary.output, /synod: stopping: breakpoint 4: proposer of instance \d+ stops between accept and decide/);
    assert.equal(primary.running, false);
  });
});
