// Proves issue 13 part 6 on real processes: a lock-service member SIGKILLed, its data directory
// deleted and restarted on the same address is recognised by its new disk id (not trusted as the
// member the views list), removed, added anew, and made a normal replica holding the whole state;
// the locks held, every acknowledged grant and the fencing-token counter survive, and every node
// agrees on every view.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeProcess, eventually, killAll, withTimeout } from '../../tools/harness/node-process.js';
import { freePortPairs } from '../../tools/harness/ports.js';
import { StatusReader } from '../../tools/harness/status.js';
import { GrpcLockClient } from '../../src/apps/lock/grpc-lock-client.js';
import { builtinApps } from '../../src/apps/registry.js';
import { readOfflineState } from '../../src/cli/snapshot-offline.js';
import { RsmClient } from '../../src/client/rsm-client.js';
import { defaultClusterName } from '../../src/env/cluster-name.js';
import { silentLogger } from '../../src/env/logger.js';
import { addressOf } from '../../src/env/types.js';
import type { NodeStatus } from '../../src/node/status.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { realClock } from '../../src/runtime/real-clock.js';

/** How long one step may take (a call, a view change, a state transfer), with room for a loaded machine. */
const stepTimeoutMs = 15_000;

/**
 * The nodes suspect a silent member only after 100 missed heartbeats (10 s, not the default
 * 0.5 s), so the dead member cannot be removed for its silence within the test: the removal the
 * test sees is the one that recognising the new disk causes. Plain clients' sessions outlast the
 * test (they keep no callback stream, and their locks must not expire while the test checks them).
 */
const nodeOptions = { config: { suspectAfterMissed: 100 } };
const sessionTimeoutMs = 600_000;

/** `text` as a regular expression that matches it literally. */
const literal = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

type Grant = { granted?: boolean; token?: number };
type LockStat = { holder: string | null; token: number; waiters: string[] };

describe('a member restarted on a wiped data directory, between three real lock-service processes', () => {
  let root: string;
  let nodes: NodeProcess[];
  let args: string[];
  let cluster: string;
  let status: StatusReader;
  let transport: GrpcClientTransport;
  const closers: Array<() => unknown> = [];

  const rsmClient = (): RsmClient => {
    const c = new RsmClient({ members: nodes.map((n) => n.address), transport, clock: realClock });
    closers.push(() => c.close());
    return c;
  };
  /** Every node a normal replica of one view of all of them, with one primary; their statuses in node order. */
  const serving = async (): Promise<NodeStatus[] | undefined> => {
    const all = await Promise.all(nodes.map((n) => status.status(n.address)));
    const s0 = all[0]!;
    const want = JSON.stringify(nodes.map((n) => n.address).sort());
    const ok = all.every((s) => s.replicaStatus === 'normal' && s.configStatus === 'member' && !s.refusing && s.vid === s0.vid &&
      s.primary === s0.primary && JSON.stringify([...s.members].sort()) === want);
    return ok ? all : undefined;
  };

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'synod-wiped-disk-'));
    const options = join(root, 'options.json');
    writeFileSync(options, JSON.stringify(nodeOptions));
    args = ['--app', 'lock', '--options', options, '--session-timeout-ms', String(sessionTimeoutMs)];
    const ports = await freePortPairs(3);
    const first = `127.0.0.1:${ports[0]}`;
    cluster = defaultClusterName(first);
    nodes = ports.map((port, i) => new NodeProcess({ port, first, dataDir: join(root, `n${i + 1}`), logLevel: 'info' }));
    status = new StatusReader(cluster);
    transport = new GrpcClientTransport({ cluster, logger: silentLogger });
    // One at a time: views [n1], [n1,n2], [n1,n2,n3], n1 the primary.
    for (let k = 1; k <= nodes.length; k++) {
      await nodes[k - 1]!.start(args);
      await eventually(async () => {
        const s = await Promise.all(nodes.slice(0, k).map((n) => status.status(n.address)));
        return s.every((x) => x.replicaStatus === 'normal' && x.members.length === k && x.vid === s[0]!.vid) ? true : undefined;
      }, stepTimeoutMs, `${k} node(s) serving`, 20);
    }
  });

  after(async () => {
    for (const close of closers.reverse()) await close();
    await transport?.close();
    await status?.close();
    await killAll(nodes);
    rmSync(root, { recursive: true, force: true });
  });

  test('it comes back under a new member id, is removed and re-added, holds the whole state, and nothing acknowledged is lost', async () => {
    const before = (await eventually(serving, stepTimeoutMs, 'three replicas serving', 20));
    const first = nodes[0]!;
    const victim = [...nodes].reverse().find((n) => n !== first && n.address !== before[0]!.primary)!;
    const survivors = nodes.filter((n) => n !== victim);
    const old = before[nodes.indexOf(victim)]!;
    assert.equal(addressOf(old.member), victim.address);
    assert.notEqual(old.member, victim.address, 'a joiner is listed with its disk id');
    assert.ok(before[0]!.memberIds.includes(old.member), `view ${before[0]!.vid} lists ${old.member}`);

    // A lock client holds two locks (cached, its callback stream open to the primary); their fencing tokens.
    const holder = new GrpcLockClient({ cluster, members: nodes.map((n) => n.address), owner: 'holder', logger: silentLogger });
    closers.push(() => holder.close());
    const held = new Map<string, number>();
    for (const lock of ['held-1', 'held-2']) held.set(lock, (await withTimeout(holder.lock.acquire(lock, 'u'), stepTimeoutMs, `holder acquires ${lock}`)).token);

    // A writer acquires a new lock after another, across the wipe; each grant it was answered is acknowledged.
    const writer = rsmClient();
    const acked = new Map<string, number>();
    let writing = true;
    const writes = (async () => {
      for (let i = 0; writing; i++) {
        const lock = `ack-${i}`;
        const g = (await writer.invoke('acquire', { lock, owner: writer.clientId }, { deadlineMs: stepTimeoutMs })) as Grant;
        assert.ok(g.granted === true && typeof g.token === 'number', `${lock}: ${JSON.stringify(g)}`);
        acked.set(lock, g.token);
      }
    })();
    writes.catch(() => {}); // awaited below; a step failing before that must not leave it unhandled
    await eventually(async () => (acked.size >= 5 ? true : undefined), stepTimeoutMs, 'the writer is acknowledged', 10);

    await victim.kill('SIGKILL');
    rmSync(victim.dataDir, { recursive: true, force: true });
    victim.output = ''; // what the new data directory's life logs, alone
    const wipedAtMs = performance.now();
    await victim.start([...args, '--join', before[0]!.primary!]);

    const after = await eventually(async () => {
      const s = await serving();
      return s !== undefined && s[nodes.indexOf(victim)]!.member !== old.member ? s : undefined;
    }, stepTimeoutMs, 'the wiped member serving again under a new member id', 20);
    const rejoinedMs = performance.now() - wipedAtMs;
    const renewed = after[nodes.indexOf(victim)]!;
    assert.equal(addressOf(renewed.member), victim.address, 'the same address');
    assert.notEqual(renewed.member, victim.address, 'listed with its new disk id');
    for (const s of after) {
      assert.ok(s.memberIds.includes(renewed.member) && !s.memberIds.includes(old.member), `${s.node} lists ${s.memberIds.join(',')}`);
    }

    // Two view changes, nothing else: the old disk's member removed, then the new one added at the end.
    const views = after[0]!.views.filter((v) => v.vid > old.vid);
    assert.deepEqual(views.map((v) => v.members), [survivors.map((n) => n.address), [...survivors, victim].map((n) => n.address)],
      `views after ${old.vid}: ${JSON.stringify(views)}`);
    // As Paxos decided them (member ids): what each view change did to which disk.
    const decided = async (instance: number): Promise<string[] | undefined> =>
      (await first.control<{ slot?: { decided?: { members?: string[] } } }>('PaxosStatus', { instance })).slot?.decided?.members;
    const survivorIds = old.memberIds.filter((m) => m !== old.member);
    assert.deepEqual(await decided(old.vid + 1), survivorIds, 'the removal names the old disk\'s member');
    assert.deepEqual(await decided(old.vid + 2), [...survivorIds, renewed.member], 'the addition names the new disk\'s member');

    // Why: the new process says it is not the member listed; a survivor says the listed one's disk was replaced, and removed it for that.
    assert.match(victim.output, new RegExp(literal(`config: view ${old.vid} lists this address as ${old.member}, but this data directory is ${renewed.member}`)));
    const survivorLogs = survivors.map((n) => n.output).join('\n');
    assert.match(survivorLogs, /config: a member's data directory was replaced/);
    assert.match(survivorLogs, new RegExp(literal(`config: proposing to remove ${victim.address} (its data directory was replaced)`)));

    writing = false;
    await writes;
    assert.ok(acked.size > 5, 'the writer was acknowledged during the wipe and after it');

    // Nothing acknowledged lost: every lock held by whom it was granted to, under its token.
    const reader = rsmClient();
    const stat = async (lock: string): Promise<LockStat> => (await reader.invoke('stat', { lock })) as unknown as LockStat;
    for (const [lock, token] of held) assert.deepEqual(await stat(lock), { holder: 'holder', token, waiters: [] }, lock);
    for (const [lock, token] of acked) assert.deepEqual(await stat(lock), { holder: writer.clientId, token, waiters: [] }, lock);
    // The fencing-token counter: a new grant's token is above every token granted before.
    const highest = Math.max(...held.values(), ...acked.values());
    const fresh = rsmClient();
    const g = (await fresh.invoke('acquire', { lock: 'after-wipe', owner: fresh.clientId })) as Grant;
    assert.ok(g.granted === true && typeof g.token === 'number' && g.token > highest, `after the wipe a grant got token ${g.token}, the service had granted ${highest}`);
    console.log(`wiped member ${old.member} back as ${renewed.member} and serving ${(rejoinedMs / 1000).toFixed(1)} s after its restart; ` +
      `${acked.size} grants acknowledged across the wipe, new token ${g.token} > ${highest}`);

    // The whole state on the new disk: once every replica executed the same, stopped, each data
    // directory holds the same replicated state (app state and client table) as the primary's.
    for (const close of closers.splice(0).reverse()) await close();
    const quiet = await eventually(async () => {
      const s = await serving();
      const last = (x: NodeStatus): string => JSON.stringify(x.lastExecuted);
      return s !== undefined && s.every((x) => x.stateComplete && last(x) === last(s[0]!)) ? s : undefined;
    }, stepTimeoutMs, 'every replica executed the same', 20);
    await Promise.all(nodes.map((n) => n.kill('SIGTERM')));
    const states = nodes.map((n) => readOfflineState(n.dataDir, builtinApps['lock']!.app));
    const primaryState = states[nodes.findIndex((n) => n.address === quiet[0]!.primary)]!;
    const victimState = states[nodes.indexOf(victim)]!;
    assert.deepEqual(victimState.vs, primaryState.vs);
    assert.ok(Buffer.from(victimState.state).equals(Buffer.from(primaryState.state)), 'the new disk holds the primary\'s state');
    assert.ok(Buffer.from(victimState.state).includes('after-wipe') && Buffer.from(victimState.state).includes('held-2'), 'a state that holds the locks');
  });
});
