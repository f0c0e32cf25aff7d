// Proves `synod snapshot save` / `restore` as an operator uses them after losing every disk, on
// real processes and real files: locks granted on a 3-node lock-server cluster are saved from
// (any member, followed to) the serving primary, the cluster is killed, the file seeds a new
// one-node cluster that serves the same locks, holders and fencing counter; force recovery
// reads a stopped node's data directory; damaged or wrong inputs are refused and touch nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeProcess, cliPath, eventually, killAll } from '../../tools/harness/node-process.js';
import { freePortPairs } from '../../tools/harness/ports.js';
import { runSynod } from '../../tools/harness/cli-run.js';
import { queryStatus } from '../../src/cli/admin.js';
import { isServing } from '../../src/node/status.js';
import { connect, type SynodClient } from '../../src/client/connect.js';
import { readBackupFile, writeBackupFile } from '../../src/cli/snapshot-file.js';
import { testApp } from '../../src/apps/test-app.js';

type Stat = { holder: string | null; token: number; waiters: string[] };

describe('synod snapshot: save from a live lock-server cluster, restore into a new one', () => {
  let root: string;
  let nodes: NodeProcess[] = [];
  let restored: NodeProcess[] = [];
  let ports: number[];
  let options: string;
  const backup = (): string => join(root, 'locks.snapshot');
  const saved = new Map<string, Stat>();
  let oldClusterId: string;

  /** Keeps sessions alive while the test's clients are gone (the holders have no callback stream). */
  const nodeArgs = (): string[] => ['--options', options, '--session-timeout-ms', '600000'];

  const serving = (n: NodeProcess): Promise<string> => eventually(async () => {
    const s = (await queryStatus(n.address).catch(() => null))?.status;
    return s !== undefined && isServing(s) && s.primary !== null && s.members.length === nodes.length ? s.primary : undefined;
  }, 15_000, `${n.address} serving`, 50);

  const client = (members: string[]): Promise<SynodClient> => connect({ members, client: { defaultDeadlineMs: 10_000 } });

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'synod-snapshot-'));
    ports = await freePortPairs(5);
    options = join(root, 'options.json');
    // A loaded machine can stall a node past the default suspicion; exact views keep this test simple.
    writeFileSync(options, JSON.stringify({ config: { suspectAfterMissed: 20 } }));
    const first = `127.0.0.1:${ports[0]}`;
    nodes = ports.slice(0, 3).map((port, i) => new NodeProcess({ port, first, dataDir: join(root, `n${i + 1}`), logLevel: 'info', entry: [cliPath, 'lock-server'] }));
    for (const n of nodes) await n.start(nodeArgs());
    await eventually(async () => {
      const all = await Promise.all(nodes.map((n) => queryStatus(n.address).then((a) => a.status).catch(() => null)));
      return all.every((s) => s !== null && isServing(s) && s.members.length === 3) ? true : undefined;
    }, 20_000, 'a view of all three serving', 50);
    const c = await client(nodes.map((n) => n.address));
    try {
      for (const [lock, owner] of [['a', 'o1'], ['b', 'o1'], ['c', 'o2'], ['a', 'o2']] as const) {
        await c.invoke('acquire', { lock, owner });
      }
      await c.invoke('release', { lock: 'b', owner: 'o1', token: ((await c.invoke('stat', { lock: 'b' })) as Stat).token });
      await c.invoke('acquire', { lock: 'b', owner: 'o2' });
      for (const lock of ['a', 'b', 'c']) saved.set(lock, (await c.invoke('stat', { lock })) as Stat);
    } finally {
      await c.close();
    }
    oldClusterId = (await queryStatus(nodes[0]!.address)).status.clusterId!;
  });

  after(async () => {
    await killAll([...nodes, ...restored]);
    if (root !== undefined) rmSync(root, { recursive: true, force: true });
  });

  test('save, asked of a backup, follows to the primary and writes a checked file with the viewstamp and cluster id', async () => {
    const primary = await serving(nodes[0]!);
    const backupNode = nodes.find((n) => n.address !== primary)!;
    const run = await runSynod('snapshot', 'save', backupNode.address, backup());
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`saved .*cluster ${oldClusterId}, lock@1\\.2\\.0, viewstamp \\d+\\.\\d+, \\d+ state bytes, from the primary ${primary}`));
    assert.match(run.stderr, /saving the state of lock@1\.2\.0 at viewstamp/);
    const { header } = readBackupFile(backup());
    assert.equal(header.clusterId, oldClusterId);
    assert.equal(header.node, primary);
    assert.ok(header.vs.seqno > 0 || header.vs.vid > 1);
    assert.deepEqual(readdirSync(root).filter((f) => f.includes('.tmp-')), [], 'no temporary file left');
  });

  test('restore refuses a truncated file, a flipped byte, another app\'s file and an occupied data dir, writing nothing', async () => {
    const bytes = readFileSync(backup());
    const me = `127.0.0.1:${ports[4]}`;
    const refused = async (file: string, dir: string, pattern: RegExp): Promise<void> => {
      const run = await runSynod('snapshot', 'restore', file, '--data-dir', dir, '--me', me, '--app', 'lock');
      assert.equal(run.code, 1, `${file}: ${run.stdout}${run.stderr}`);
      assert.match(run.stderr, pattern);
    };
    const truncated = join(root, 'truncated.snapshot');
    writeFileSync(truncated, bytes.subarray(0, bytes.length - 40));
    await refused(truncated, join(root, 'r-truncated'), /truncated\.snapshot: truncated/);
    const flipped = join(root, 'flipped.snapshot');
    const copy = Buffer.from(bytes);
    const at = Math.floor(copy.length / 2);
    copy.writeUInt8(copy.readUInt8(at) ^ 0x20, at);
    writeFileSync(flipped, copy);
    await refused(flipped, join(root, 'r-flipped'), /flipped\.snapshot: checksum mismatch/);
    const other = join(root, 'other-app.snapshot');
    const { header, state } = readBackupFile(backup());
    writeBackupFile(other, { ...header, app: { name: testApp.name, version: testApp.version } }, state);
    await refused(other, join(root, 'r-other'), /other-app\.snapshot holds the state of test@.*--app test/);
    for (const dir of ['r-truncated', 'r-flipped', 'r-other']) assert.equal(existsSync(join(root, dir)), false, `${dir} was created`);
    const occupied = join(root, 'occupied');
    mkdirSync(occupied);
    writeFileSync(join(occupied, 'identity.json'), 'precious');
    await refused(backup(), occupied, /occupied already holds a node's data .*never touches existing data/);
    assert.deepEqual(readdirSync(occupied), ['identity.json']);
    assert.equal(readFileSync(join(occupied, 'identity.json'), 'utf8'), 'precious');
 
    // Without --app the file names its app: a missing or damaged one is refused as what it is (exit 1), not as usage.
    const missing = await runSynod('snapshot', 'restore', join(root, 'nope.snapshot'), '--data-dir', join(root, 'r-nope'), '--me', me);
    assert.equal(missing.code, 1, missing.stderr);
    assert.match(missing.stderr, /cannot read the snapshot file .*nope\.snapshot: ENOENT/);
    const garbage = join(root, 'garbage.snapshot');
    writeFileSync(garbage, 'not a header\n');
    const damaged = await runSynod('snapshot', 'restore', garbage, '--data-dir', join(root, 'r-garbage'), '--me', me);
    assert.equal(damaged.code, 1, damaged.stderr);
    assert.match(damaged.stderr, /garbage\.snapshot is damaged: its header line is not JSON/);
    // A flag of the other kind of save is a usage error, not silently ignored.
    const mixed = await runSynod('snapshot', 'save', '--from-data-dir', join(root, 'nowhere'), join(root, 'y.snapshot'), '--timeout-ms', '5');
    assert.equal(mixed.code, 2);
    assert.match(mixed.stderr, /--timeout-ms applies to save HOST:PORT only/);
  });

  test('after the cluster is killed, the restored node serves the same locks, holders and a higher next token', async () => {
    await killAll(nodes);
    const me = `127.0.0.1:${ports[3]}`;
    const dir = join(root, 'restored');
    const run = await runSynod('snapshot', 'restore', backup(), '--data-dir', dir, '--me', me);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`restored .* into ${dir}: a new cluster "synod@${me}" with id [0-9a-f-]+, first node ${me}`));
    const node = new NodeProcess({ port: ports[3]!, first: me, dataDir: dir, logLevel: 'info', entry: [cliPath, 'lock-server'] });
    restored.push(node);
    await node.start(nodeArgs());
    const status = await eventually(async () => {
      const s = (await queryStatus(node.address).catch(() => null))?.status;
      return s !== undefined && isServing(s) ? s : undefined;
    }, 15_000, 'the restored node serving', 50);
    assert.notEqual(status.clusterId, oldClusterId, 'a new cluster id');
    assert.deepEqual(status.members, [me]);
    const c = await client([me]);
    try {
      for (const [lock, before] of saved) assert.deepEqual(await c.invoke('stat', { lock }), before, `lock ${lock}`);
      const highest = Math.max(...[...saved.values()].map((s) => s.token));
      const next = (await c.invoke('acquire', { lock: 'd', owner: 'o3' })) as { granted: boolean; token: number };
      assert.equal(next.granted, true);
      assert.ok(next.token > highest, `next token ${next.token} above the saved ${highest}`);
    } finally {
      await c.close();
    }
  });

  test('force recovery reads a stopped node\'s data directory (untouched), says what may be lost, and restores', async () => {
    assert.equal(nodes.some((n) => n.running), false);
    const survivor = nodes[1]!.dataDir;
    const before = Object.fromEntries(readdirSync(survivor).map((f) => [f, readFileSync(join(survivor, f)).toString('base64')]));
    const file = join(root, 'forced.snapshot');
    const run = await runSynod('snapshot', 'save', '--from-data-dir', survivor, file);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /FORCE RECOVERY: .*NOT in this snapshot/);
    const after = Object.fromEntries(readdirSync(survivor).map((f) => [f, readFileSync(join(survivor, f)).toString('base64')]));
    assert.deepEqual(after, before, 'the survivor\'s data directory is unchanged');
    const { header } = readBackupFile(file);
    assert.equal(header.source, 'data-dir');
    assert.equal(header.clusterId, oldClusterId);
    const restore = await runSynod('snapshot', 'restore', file, '--data-dir', join(root, 'forced'), '--me', `127.0.0.1:${ports[4]}`);
    assert.equal(restore.code, 0, restore.stderr);
    const missing = await runSynod('snapshot', 'save', '--from-data-dir', join(root, 'nowhere'), join(root, 'x.snapshot'), '--app', 'lock');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /--from-data-dir .*nowhere: no readable identity\.json/);
  });
});
