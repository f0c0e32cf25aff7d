/**
 * npm run demo -- kv — the KV store (`synod node --app kv`, docs/kv.md) on three local processes,
 * as a story: a config store written (with compare-and-swap), a late subscriber catching up from a
 * snapshot (Clone), ephemeral keys of a worker process that dies vanishing after their lease's
 * TTL, the primary killed while watchers stream (every watcher's events checked against the
 * history read afresh: none missed, none repeated), and a deliberately slow watcher evicted by the
 * primary and resuming where it was. Every step prints what it checked; the demo exits 1 if a
 * check failed or a step did not happen in time, and removes every process and file it made.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type KvClient, connectKv } from '../../src/apps/kv/kv-client.js';
import type { KvWatchEvent } from '../../src/apps/kv/kv-client-types.js';
import { defaultClusterName } from '../../src/env/cluster-name.js';
import { NodeProcess, eventually, sleep } from '../harness/node-process.js';
import { freePortPairs } from '../harness/ports.js';
import { StatusReader } from '../harness/status.js';
import { Follower, compareEvents, compareKeys, readThrough } from './kv-demo-watchers.js';
import { stalledWatch } from './kv-demo-stalled.js';

/** How long any one step may take before the demo gives up. */
const stepTimeoutMs = 20_000;
/** The ephemeral workers' lease TTL (seconds). */
const workerTtlSeconds = 3;
/** The nodes' `feeds.stallTimeoutMs`: a watcher that reads nothing this long while events wait is evicted. */
const stallTimeoutMs = 1500;
/** Writes of the failover step, and after how many of them the primary is killed. */
const failoverWrites = 120;
const killAfterWrites = 40;
/** The slow watcher's step: this many values of this size (together far past a stream's 64 KiB window). */
const bulkWrites = 100;
const bulkValueBytes = 16 * 1024;
/** The client-side slow reader: how long it takes over each event, and how many unread events its `KvWatch` holds before it pauses. */
const slowReaderDelayMs = 20;
const slowReaderMaxEvents = 10;

if (process.argv.length > 3) {
  process.stderr.write(`usage: npm run demo -- kv   (it takes no other arguments)\n`);
  process.exit(2);
}

const here = dirname(fileURLToPath(import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'synod-kv-demo-'));
const nodes: NodeProcess[] = [];
const workers: ChildProcess[] = [];
const clients: KvClient[] = [];
const followers: Follower[] = [];
let statusReader: StatusReader | null = null;
const failures: string[] = [];
const t0 = performance.now();
const out = (line = ''): void => void process.stdout.write(`${line}\n`);
const say = (line: string): void => out(`[${((performance.now() - t0) / 1000).toFixed(2).padStart(6)}s] ${line}`);
const detail = (line: string): void => out(`          ${line}`);
const check = (ok: boolean, what: string): void => {
  detail(`${ok ? '✓' : '✗ FAILED:'} ${what}`);
  if (!ok) failures.push(what);
};
const name = (address: string | null): string => `node ${nodes.findIndex((n) => n.address === address) + 1}`;

let cleaned: Promise<void> | null = null;
function cleanup(): Promise<void> {
  cleaned ??= (async () => {
    for (const f of followers) f.close();
    for (const w of workers) w.kill('SIGKILL');
    await Promise.allSettled(clients.map((c) => c.close()));
    await statusReader?.close();
    for (const n of nodes) {
      n.closeClient();
      await n.kill('SIGKILL');
    }
    rmSync(root, { recursive: true, force: true });
  })();
  return cleaned;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    process.stderr.write(`\ndemo interrupted (${signal}): stopping every process and removing ${root}\n`);
    void cleanup().then(() => process.exit(130));
  });
}

/** The primary the surviving nodes agree on, once all of `among` are normal replicas of one view of exactly them. */
async function servingPrimary(among: readonly NodeProcess[]): Promise<string> {
  return eventually(async () => {
    const all = await Promise.all(among.map((n) => statusReader!.status(n.address)));
    const agree = all.every((s) => s.replicaStatus === 'normal' && s.members.length === among.length && s.vid === all[0]!.vid && s.primary === all[0]!.primary && !s.refusing);
    return agree && all[0]!.primary !== null ? all[0]!.primary : undefined;
  }, stepTimeoutMs, `a view of ${among.length} serving`, 20);
}

async function connect(): Promise<KvClient> {
  const kv = await connectKv({ members: nodes.map((n) => n.address), client: { defaultDeadlineMs: stepTimeoutMs } });
  clients.push(kv);
  return kv;
}

/** Starts a worker process holding a lease on `services/NAME…`; resolves with its lease and keys once it has put them. */
async function startWorker(workerName: string): Promise<{ child: ChildProcess; lease: number; keys: string[] }> {
  const child = spawn(process.execPath, [join(here, 'kv-demo-ephemeral.js'), nodes.map((n) => n.address).join(','), workerName, String(workerTtlSeconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
  workers.push(child);
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`worker ${workerName} exited (${code}) before registering`)));
  });
  return { child, ...(JSON.parse(line) as { lease: number; keys: string[] }) };
}

async function main(): Promise<void> {
  const ports = await freePortPairs(3);
  const first = `127.0.0.1:${ports[0]}`;
  const optionsFile = join(root, 'options.json');
  writeFileSync(optionsFile, JSON.stringify({ feeds: { stallTimeoutMs, checkIntervalMs: 100 } }));
  out('synod KV demo: a replicated key-value store with watches and TTL keys, on three local processes');
  out();
  say(`starting 3 nodes (synod node --app kv --options ${optionsFile}: feeds.stallTimeoutMs ${stallTimeoutMs}); files in ${root}`);
  for (const [i, port] of ports.entries()) {
    const n = new NodeProcess({ port, first, dataDir: join(root, `n${i + 1}`), logFile: join(root, `n${i + 1}.log`), logLevel: 'info' });
    nodes.push(n);
    await n.start(['--app', 'kv', '--options', optionsFile]);
  }
  statusReader = new StatusReader(defaultClusterName(first));
  const primary = await servingPrimary(nodes);
  detail(`view of nodes 1, 2, 3 serving; primary ${name(primary)}`);

  // 1. A config store, watched from the start by a dashboard.
  const kv = await connect();
  const start = (await kv.status()).revision + 1;
  const dashboard = new Follower('dashboard', kv.watch({ prefix: 'config/', fromRevision: start }));
  followers.push(dashboard);
  out();
  say('1. a config store: an operator writes the settings; a dashboard watches config/ from revision ' + start);
  const settings: Array<[string, string]> = [
    ['config/db/host', 'db-1.internal'], ['config/db/port', '5432'], ['config/db/pool', '20'], ['config/cache/ttl-seconds', '300'],
    ['config/feature/dark-mode', 'on'], ['config/feature/new-checkout', 'off'], ['config/app/replicas', '3'], ['config/app/log-level', 'info'],
  ];
  for (const [key, value] of settings) detail(`put ${key.padEnd(28)} = ${value.padEnd(14)} → revision ${(await kv.put(key, value)).revision}`);
  const cas = (expect: number) => kv.txn({
    compare: [{ key: 'config/app/replicas', target: 'version', op: '=', value: expect }],
    success: [{ put: { key: 'config/app/replicas', value: '5' } }, { put: { key: 'config/app/scaled-by', value: 'operator' } }],
  });
  const first1 = await cas(1);
  detail(`txn: if config/app/replicas is still version 1, set it to 5 (and record who) → ${first1.succeeded ? 'done' : 'refused'}, revision ${first1.revision}`);
  const second = await cas(1);
  detail(`the same txn again, from someone who read version 1 too → ${second.succeeded ? 'done' : 'refused'} (it is version 2 now)`);
  check(first1.succeeded && !second.succeeded, 'compare-and-swap: the first txn applied, the stale one did not');
  check(await dashboard.reached(first1.revision, stepTimeoutMs) && dashboard.events.length === settings.length + 2, `the dashboard saw all ${settings.length + 2} changes, the txn's two as one revision`);

  // 2. A late subscriber: a snapshot at R and a watch from R + 1, while the operator keeps writing.
  out();
  say('2. a late subscriber joins while the operator keeps writing: snapshot at a revision R, then watch from R + 1 (Clone)');
  const lateClient = await connect();
  let writing = true;
  const operator = (async () => {
    for (let i = 0; writing || i < 10; i++) await kv.put(`config/cache/shard-${i % 6}`, `host-${i}`);
  })();
  await sleep(50);
  const snap = await lateClient.snapshotAndWatch('config/');
  const late = new Follower('late subscriber', snap.watch, snap.kvs);
  followers.push(late);
  detail(`snapshot: ${snap.kvs.length} keys at revision ${snap.revision}; watching from ${snap.revision + 1}`);
  writing = false;
  await operator;
  const now = await kv.range({ prefix: 'config/' });
  const caughtUp = await late.reached(now.revision, stepTimeoutMs);
  const diff = compareKeys(late.mirror, now.kvs);
  check(caughtUp && diff === null, `snapshot + ${late.events.length} events = the store at revision ${now.revision} (${now.kvs.length} keys)${diff === null ? '' : `: ${diff}`}`);

  // 3. Ephemeral keys: two workers register under services/ with leases; one is killed.
  out();
  say(`3. ephemeral keys: two worker processes register under services/ with ${workerTtlSeconds} s leases, kept alive every ${workerTtlSeconds * 1000 / 3} ms`);
  const services = new Follower('services', kv.watch({ prefix: 'services/' }));
  followers.push(services);
  await services.watch.started; // from now: every later change under services/ is its
  const [w1, w2] = [await startWorker('worker-1'), await startWorker('worker-2')];
  detail(`worker-1 (pid ${w1.child.pid}) holds lease ${w1.lease}: ${w1.keys.join(', ')}; worker-2 (pid ${w2.child.pid}) lease ${w2.lease}`);
  await sleep(2 * workerTtlSeconds * 1000);
  const alive = await kv.range({ prefix: 'services/' });
  const renewals = (await kv.leaseTimeToLive(w1.lease)).renewals;
  check(alive.count === 4 && renewals >= 3, `after ${2 * workerTtlSeconds} s (two TTLs) all 4 keys are there; worker-1's lease was renewed ${renewals} times`);
  w1.child.kill('SIGKILL');
  const killedAt = performance.now();
  detail(`SIGKILL worker-1: its keepalives stop`);
  const gone = await eventually(async () => services.events.find((e) => e.type === 'delete' && e.kv.key === w1.keys[0]), stepTimeoutMs, 'worker-1\'s keys deleted');
  const afterMs = performance.now() - killedAt;
  const deletes = services.events.filter((e) => e.type === 'delete');
  detail(`the watcher saw ${deletes.map((e) => `DELETE ${e.kv.key}`).join(' and ')} at revision ${gone.revision}, ${(afterMs / 1000).toFixed(1)} s after the kill`);
  check(deletes.length === 2 && deletes.every((e) => e.revision === gone.revision), 'both of worker-1\'s keys went in one revision (one atomic event)');
  check(afterMs >= (workerTtlSeconds * 2000) / 3, `not before the lease could have run out (the last keepalive was at most ${workerTtlSeconds * 1000 / 3} ms before the kill)`);
  check((await kv.range({ prefix: 'services/worker-2' })).count === 2, 'worker-2, alive, keeps its keys');

  // 4. The primary is killed while the watchers stream.
  out();
  const before = await servingPrimary(nodes);
  const streamsBefore = [dashboard, late].map((f) => f.watch.stats?.streams ?? 0);
  say(`4. the primary (${name(before)}) is killed with SIGKILL while the operator writes ${failoverWrites} settings and both watchers stream`);
  const acked: KvWatchEvent[] = [];
  let longestMs = 0;
  for (let i = 1; i <= failoverWrites; i++) {
    const at = performance.now();
    const key = `config/load/${String(i).padStart(3, '0')}`;
    const { revision } = await kv.put(key, `w${i}`);
    longestMs = Math.max(longestMs, performance.now() - at);
    acked.push({ type: 'put', revision, kv: { key, value: `w${i}`, createRevision: revision, modRevision: revision, version: 1, lease: 0 } });
    if (i === killAfterWrites) await nodes.find((n) => n.address === before)!.kill('SIGKILL');
  }
  const survivors = nodes.filter((n) => n.address !== before);
  const after = await servingPrimary(survivors);
  const final = acked.at(-1)!.revision;
  detail(`the survivors serve with primary ${name(after)}; the writer's longest wait for one put: ${Math.round(longestMs)} ms`);
  for (const f of [dashboard, late]) {
    const from = f === dashboard ? start : snap.revision + 1;
    const reached = await f.reached(final, stepTimeoutMs);
    const history = await readThrough(kv.watch({ prefix: 'config/', fromRevision: from }), final, stepTimeoutMs);
    const mine = f.events.filter((e) => e.revision <= final);
    const problem = !reached ? `it did not reach revision ${final}${f.error === null ? '' : ` (${f.error.message})`}` : compareEvents(mine, history);
    const missingAcks = acked.filter((a) => !mine.some((e) => e.revision === a.revision && e.kv.key === a.kv.key)).length;
    check(problem === null && missingAcks === 0, `${f.name}: ${mine.length} events, revisions ${from} to ${final}, exactly the history read afresh (none missed, none repeated, in order); ` +
      `all ${failoverWrites} acknowledged writes among them; it resubscribed on its own ${(f.watch.stats?.streams ?? 0) - streamsBefore[f === dashboard ? 0 : 1]!} times${problem === null ? '' : `: ${problem}`}`);
  }

  // 5. A slow watcher is evicted by the primary and resumes where it was.
  out();
  const r0 = (await kv.status()).revision;
  say(`5. a deliberately slow watcher of bulk/ stops reading (a raw HTTP/2 subscriber with a 64 KiB window) while ${bulkWrites} values of ${bulkValueBytes / 1024} KiB are written`);
  const slowClient = new Follower('slow reader', kv.watch({ prefix: 'bulk/', fromRevision: r0 + 1 }, { maxBufferedEvents: slowReaderMaxEvents }), [], slowReaderDelayMs);
  let lastBulk = r0;
  const stalled = await stalledWatch(after, kv.client.cluster, 'bulk/', r0, async () => {
    const value = 'x'.repeat(bulkValueBytes);
    for (let i = 0; i < bulkWrites; i += 10) {
      const replies = await Promise.all(Array.from({ length: 10 }, (_, j) => kv.put(`bulk/${i + j}`, value)));
      lastBulk = Math.max(lastBulk, ...replies.map((r) => r.revision));
    }
    detail(`written through revision ${lastBulk}; the slow watcher reads nothing for ${2 * stallTimeoutMs} ms`);
    await sleep(2 * stallTimeoutMs);
  });
  detail(`it reads again: ${stalled.revisions.length} events had been sent (through ${stalled.revisions.at(-1) ?? r0}), then: ${stalled.cancelReason ?? 'no cancel'} — ${stalled.detail}`);
  const sent = stalled.sentThrough ?? -1;
  const consecutive = (list: readonly number[], from: number, to: number): boolean => list.length === to - from + 1 && list.every((r, i) => r === from + i);
  check(stalled.cancelReason === 'evicted' && sent < lastBulk && consecutive(stalled.revisions, r0 + 1, sent), `the primary evicted it after ${stallTimeoutMs} ms (not everything sent: through ${sent} of ${lastBulk}), and what it had been sent is every revision up to there`);
  const resumed = await readThrough(kv.watch({ prefix: 'bulk/', fromRevision: sent + 1 }), lastBulk, stepTimeoutMs);
  check(consecutive(resumed.map((e) => e.revision), sent + 1, lastBulk), `resumed from revision ${sent + 1}: the other ${resumed.length} events, none missed, none repeated`);
  const slowOk = await slowClient.reached(lastBulk, stepTimeoutMs);
  const pauses = (slowClient.watch.stats?.streams ?? 1) - 1;
  check(slowOk && consecutive(slowClient.events.map((e) => e.revision), r0 + 1, lastBulk),
    `the client side: a KvWatch read by a program taking ${slowReaderDelayMs} ms an event got all ${bulkWrites}, once each and in order; it holds at most ` +
    `about ${slowReaderMaxEvents} unread events (maxBufferedEvents) and paused its subscription for that ${pauses} time${pauses === 1 ? '' : 's'} (its stream closed and reopened after the last revision received)`);
  slowClient.close();

  out();
  if (failures.length === 0) say('every check passed');
  else say(`${failures.length} check(s) FAILED:\n${failures.map((f) => `          - ${f}`).join('\n')}`);
}

main().then(
  async () => {
    await cleanup();
    out(`cleaned up: ${nodes.length} node processes and ${workers.length} workers stopped, ${root} removed`);
    process.exitCode = failures.length === 0 ? 0 : 1;
  },
  async (err: unknown) => {
    process.stderr.write(`demo failed: ${(err as Error).stack ?? String(err)}\n`);
    await cleanup();
    process.exitCode = 1;
  },
);
