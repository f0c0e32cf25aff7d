/**
 * npm run demo — synod's main job on embedded defaults: a replicated lock service on three local
 * `synod lock-server` processes (free loopback ports, a temporary directory with one data
 * directory and one log file per node).
 *
 * 1. Starts the nodes one by one; each joins the view of the ones before.
 * 2. Starts a lock workload in the background: a few `GrpcLockClient`s contend for a few locks
 *    (acquire, hold a moment, release), counting acquisitions, server grants (distinct fencing
 *    tokens) and errors, and checking mutual exclusion and fencing tokens as it goes.
 * 3. Kills the primary with SIGKILL and measures the failover from the kill until (a) the
 *    survivors agree on a view without it and a new primary serves, and (b) a lock client's
 *    acquire is granted again through the new primary (a new token, from a client that talks to
 *    the new primary).
 * 4. Restarts the old primary on the same address and data directory and measures its rejoin:
 *    back in the view, replica normal, state transferred (it executed what the primary did).
 * 5. Stops the workload, waits until every replica executed the same requests, prints a summary
 *    table, and removes every process and file it made — also on failure and on Ctrl-C.
 * Exits 0 when every step happened in time and the workload saw no violation; 1 otherwise.
 *
 * `npm run demo -- --tls` does the same with mutual TLS and client authentication: development
 * certificates (`synod certs`' code) in the temporary directory, the nodes started with them, and
 * every client (status and lock clients) presenting a client certificate.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../src/env/logger.js';
import { NodeProcess, cliPath, eventually, sleep } from './harness/node-process.js';
import { freePortPairs } from './harness/ports.js';
import { NodeStatusClient } from '../src/cli/admin.js';
import { GrpcLockClient } from '../src/apps/lock/grpc-lock-client.js';
import type { NodeStatus } from '../src/node/status.js';
import { defaultClusterName } from '../src/env/cluster-name.js';
import { makeDevCerts } from '../src/cli/dev-certs.js';
import { type ClientTls, loadClientTls } from '../src/runtime/tls-files.js';

/** How long the demo waits for any one step before it gives up. */
const stepTimeoutMs = 20_000;
/** How often it polls the nodes' status while it waits (the resolution of the times it prints). */
const pollMs = 10;
/** The workload: this many lock clients (one user each) contend for these locks. */
const workloadClients = 4;
const workloadLocks = ['a', 'b'] as const;
/** How long a client holds a lock it got, and at most how long it waits before the next acquire. */
const holdMs = 5;
const maxThinkMs = 10;
/** How long the workload runs before the kill, after the failover, and after the rejoin. */
const phaseMs = 2000;
/** Lines of each node's log printed when the demo fails. */
const logTailLines = 15;

const tlsArgs = process.argv.slice(2);
if (tlsArgs.some((a) => a !== '--tls')) {
  process.stderr.write(`usage: npm run demo [-- --tls]\n`);
  process.exit(2);
}
/** Mutual TLS (`--tls`). */
const withTls = tlsArgs.includes('--tls');

const root = mkdtempSync(join(tmpdir(), 'synod-demo-'));
const nodes: NodeProcess[] = [];
const statusClients = new Map<string, NodeStatusClient>();
let workload: Workload | null = null;
const t0 = performance.now();
const out = (line = ''): void => void process.stdout.write(`${line}\n`);
const say = (line: string): void => out(`[${((performance.now() - t0) / 1000).toFixed(2).padStart(6)}s] ${line}`);
const ms = (from: number, to = performance.now()): number => Math.round(to - from);

const name = (address: string | null): string => {
  const i = nodes.findIndex((n) => n.address === address);
  return i < 0 ? String(address) : `node ${i + 1}`;
};
const show = (members: readonly string[]): string => `[${members.map((m) => name(m).replace('node ', '')).join(', ')}]`;
const stamp = (s: NodeStatus): string => (s.lastExecuted === null ? '-' : `${s.lastExecuted.vid}.${s.lastExecuted.seqno}`);
const role = (s: NodeStatus): string => (!s.members.includes(s.node) ? 'outside' : s.primary === s.node ? 'primary' : 'backup');

let cleaned: Promise<void> | null = null;
function cleanup(): Promise<void> {
  cleaned ??= (async () => {
    workload?.abort();
    for (const n of nodes) {
      n.closeClient();
      await n.kill('SIGKILL');
    }
    for (const c of statusClients.values()) c.close();
    rmSync(root, { recursive: true, force: true });
  })();
  return cleaned;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    process.stderr.write(`\ndemo interrupted (${signal}): stopping every node and removing ${root}\n`);
    void cleanup().then(() => process.exit(130));
  });
}

process.on('uncaughtException', (err) => {
  process.stderr.write(`demo failed: ${err.stack ?? String(err)}\n`);
  void cleanup().then(() => process.exit(1));
});

/** One granted acquire that carried a token not seen before: the server granted it. */
interface Grant {
  readonly at: number;
  readonly client: number;
  readonly lock: string;
  readonly token: number;
  /** The primary the client's RsmClient talked to last (it learned it from the answer). */
  readonly via: string | null;
}

/**
 * Lock clients contending in the background. Checks what a lock service promises: no two clients
 * hold one lock at once (a lock is marked held from the grant until just before its release),
 * and a lock's fencing tokens never decrease and increase whenever its holder changes.
 */
class Workload {
  readonly clients: GrpcLockClient[];
  acquisitions = 0;
  errors = 0;
  violations: string[] = [];
  readonly grants: Grant[] = [];
  #stopping = false;
  readonly #loops: Array<Promise<void>> = [];
  readonly #holder = new Map<string, number>();
  readonly #last = new Map<string, { token: number; client: number }>();
  readonly #tokens = new Set<number>();
  lastError: string | null = null;

  constructor(cluster: string, members: string[], tls: ClientTls | undefined) {
    this.clients = Array.from({ length: workloadClients }, (_, i) =>
      new GrpcLockClient({ cluster, members, owner: `demo-client-${i + 1}`, logger: silentLogger, tls }));
  }

  get serverGrants(): number {
    return this.grants.length;
  }

  start(): void {
    this.clients.forEach((c, i) => this.#loops.push(this.#run(c, i + 1)));
  }

  /** Lets every client finish its current lock, then gives every lock back and closes the clients. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#loops);
    await Promise.all(this.clients.map((c) => c.close({ giveBack: true })));
  }

  /** On failure: closes the clients at once (their waiting acquires end). */
  abort(): void {
    this.#stopping = true;
    for (const c of this.clients) void c.close();
  }

  /** Resolves with the first server grant after `since` that `ok` accepts. */
  grantAfter(since: number, ok: (g: Grant) => boolean): Promise<Grant> {
    return eventually(async () => this.grants.find((g) => g.at > since && ok(g)), stepTimeoutMs, 'a lock granted', pollMs);
  }

  summary(): string {
    return `${this.acquisitions} acquisitions, ${this.serverGrants} server grants, ${this.errors} errors`;
  }

  async #run(c: GrpcLockClient, id: number): Promise<void> {
    while (!this.#stopping) {
      const lock = workloadLocks[Math.floor(Math.random() * workloadLocks.length)]!;
      try {
        const { token } = await c.lock.acquire(lock, 'u');
        this.#granted(id, lock, token, c.rsm.core.primary);
        await sleep(holdMs);
        this.#holder.delete(lock);
        await c.lock.release(lock, 'u');
      } catch (err) {
        if (this.#stopping) return;
        this.errors++;
        this.lastError = (err as Error).message;
        await sleep(50);
      }
      await sleep(Math.random() * maxThinkMs);
    }
  }

  #granted(client: number, lock: string, token: number, via: string | null): void {
    const at = performance.now();
    this.acquisitions++;
    const holder = this.#holder.get(lock);
    if (holder !== undefined) this.violations.push(`lock ${lock} granted to client ${client} while client ${holder} held it`);
    this.#holder.set(lock, client);
    const last = this.#last.get(lock);
    if (last !== undefined && (token < last.token || (token === last.token && client !== last.client))) {
      this.violations.push(`lock ${lock}: token ${token} for client ${client} after token ${last.token} for client ${last.client}`);
    }
    this.#last.set(lock, { token, client });
    if (!this.#tokens.has(token)) {
      this.#tokens.add(token);
      this.grants.push({ at, client, lock, token, via });
    }
  }
}

/** Deadline of one status call while polling. */
const statusDeadlineMs = 1000;
const status = (n: NodeProcess): Promise<NodeStatus> => statusClients.get(n.address)!.status(statusDeadlineMs);

/**
 * Waits until every node of `on` is a normal replica in one view of exactly `members` with one
 * serving primary; returns the primary's status.
 */
async function viewIs(members: readonly NodeProcess[], on: readonly NodeProcess[]): Promise<NodeStatus> {
  const want = JSON.stringify(members.map((m) => m.address));
  return eventually(async () => {
    const all = await Promise.all(on.map(status));
    const p = all.find((s) => s.primary === s.node);
    const agree = all.every((s) => s.configStatus === 'member' && s.replicaStatus === 'normal' && JSON.stringify(s.members) === want &&
      s.vid === all[0]!.vid && s.primary === all[0]!.primary);
    return agree && p !== undefined && !p.refusing ? p : undefined;
  }, stepTimeoutMs, `the view ${show(members.map((m) => m.address))} on ${on.map((n) => name(n.address)).join(', ')}`, pollMs);
}

async function main(): Promise<void> {
  // Client timers are unref'd (`realClock`): keep the process alive until the demo is done.
  const alive = setInterval(() => {}, 1000);
  try {
    await demo();
  } finally {
    clearInterval(alive);
  }
}

async function demo(): Promise<void> {
  const ports = await freePortPairs(3);
  const first = `127.0.0.1:${ports[0]}`;
  const cluster = defaultClusterName(first);
  const certs = withTls ? makeDevCerts({ dir: join(root, 'certs'), nodes: ports.map((p) => `127.0.0.1:${p}`), clients: 1 }) : undefined;
  const tls = certs === undefined ? undefined : loadClientTls(certs.client(1));
  for (const [i, port] of ports.entries()) {
    nodes.push(new NodeProcess({
      port, first, dataDir: join(root, `n${i + 1}`), logFile: join(root, `n${i + 1}.log`), logLevel: 'info', entry: [cliPath, 'lock-server'],
      tls: certs,
    }));
  }
  for (const n of nodes) statusClients.set(n.address, new NodeStatusClient(n.address, cluster, { reconnectMs: 50, tls }));
  out(`synod demo: a replicated lock service on three local processes, a failover, and a rejoin${withTls ? ', over mutual TLS' : ''}`);
  out();
  say(`files in ${root} (a data directory and a log file per node); cluster ${cluster}`);
  if (certs !== undefined) say(`mutual TLS: a cluster CA and a client CA in ${certs.dir}; nodes take peers of the cluster CA only and clients of the client CA only`);

  // 1. The cluster.
  for (const [i, n] of nodes.entries()) {
    await n.start();
    if (i === 0) {
      const s = await viewIs([n], [n]);
      say(`node 1 (${n.address}) started: it creates the cluster, view ${s.vid} = [1], primary node 1`);
    } else {
      say(`node ${i + 1} (${n.address}) started and asks to join`);
      const s = await viewIs(nodes.slice(0, i + 1), nodes.slice(0, i + 1));
      say(`view ${s.vid} = ${show(s.members)}: node ${i + 1} admitted by the primary and brought up to date (replica normal)`);
    }
  }

  // 2. The workload.
  const members = nodes.map((n) => n.address);
  const w = new Workload(cluster, members, tls);
  workload = w;
  w.start();
  say(`workload: ${workloadClients} lock clients contend for locks ${workloadLocks.join(', ')} (acquire, hold ${holdMs} ms, release)`);
  await sleep(phaseMs);
  say(`workload so far: ${w.summary()}`);

  // 3. Failover.
  const before = await viewIs(nodes, nodes);
  const old = nodes.find((n) => n.address === before.primary)!;
  const survivors = nodes.filter((n) => n !== old);
  const tokensBefore = Math.max(0, ...w.grants.map((g) => g.token));
  say(`killing the primary, ${name(old.address)} (${old.address}), with SIGKILL`);
  const killedAt = performance.now();
  await old.kill('SIGKILL');
  const [after, firstGrant] = await Promise.all([
    viewIs(survivors, survivors).then((s) => ({ s, at: performance.now() })),
    w.grantAfter(killedAt, (g) => g.token > tokensBefore && g.via !== null && g.via !== old.address),
  ]);
  const viewMs = ms(killedAt, after.at);
  const lockMs = ms(killedAt, firstGrant.at);
  const events = [
    { at: after.at, line: `view ${after.s.vid} = ${show(after.s.members)} on both survivors, new primary ${name(after.s.primary)} serving: ${viewMs} ms after the kill` },
    { at: firstGrant.at, line: `first lock granted through the new primary: ${lockMs} ms after the kill (client ${firstGrant.client}, lock ${firstGrant.lock}, token ${firstGrant.token})` },
  ].sort((x, y) => x.at - y.at);
  for (const e of events) say(e.line);
  await sleep(phaseMs);
  say(`workload so far: ${w.summary()}`);

  // 4. Rejoin.
  say(`restarting ${name(old.address)} on the same address and data directory`);
  const restartedAt = performance.now();
  const started = old.start();
  const seen: string[] = [];
  let upAt: number | null = null;
  let memberAt: number | null = null;
  const back = await eventually(async () => {
    const mine = await status(old);
    upAt ??= performance.now();
    const phase = `${mine.configStatus}/${mine.replicaStatus ?? '-'}`;
    if (seen.at(-1) !== phase) seen.push(phase);
    if (mine.configStatus === 'member') memberAt ??= performance.now();
    const all = [mine, ...(await Promise.all(survivors.map(status)))];
    const p = all.find((s) => s.primary === s.node);
    const ok = p !== undefined && all.every((s) => s.vid === p.vid && s.members.includes(old.address) && s.members.length === 3 &&
      s.configStatus === 'member' && s.replicaStatus === 'normal');
    return ok ? { mine, primary: p, at: performance.now() } : undefined;
  }, stepTimeoutMs, `${name(old.address)} back in the view as a normal replica`, pollMs);
  await started;
  const rejoinMs = ms(restartedAt, back.at);
  const upMs = ms(restartedAt, upAt!);
  say(`${name(old.address)} answers again ${upMs} ms after the restart began; it went ${seen.join(' -> ')}`);
  say('  (config/replica status; stale = restarted while listed in the last view it knew, outside = not a member)');
  say(`${name(old.address)} is back: view ${back.primary.vid} = ${show(back.primary.members)}, a ${role(back.mine)}, replica normal, ` +
    `state transferred (executed up to ${stamp(back.mine)}, primary ${name(back.primary.node)} at ${stamp(back.primary)}): ` +
    `${rejoinMs} ms after the restart began (admitted ${ms(upAt!, memberAt ?? back.at)} ms and normal ${ms(upAt!, back.at)} ms after it served)`);
  await sleep(phaseMs);
  say(`workload so far: ${w.summary()}`);

  // 5. Quiesce and summarize.
  say('stopping the workload (every client gives its locks back)');
  await w.stop();
  const final = await eventually(async () => {
    const all = await Promise.all(nodes.map(status));
    const same = all.every((s) => s.vid === all[0]!.vid && stamp(s) === stamp(all[0]!) && s.replicaStatus === 'normal' && s.inFlight === 0);
    return same ? all : undefined;
  }, stepTimeoutMs, 'every replica executed the same requests', pollMs);
  say(`every replica executed up to ${stamp(final[0]!)}`);

  out();
  out('summary');
  const header = ['node', 'address', 'view', 'role', 'replica', 'last executed'];
  const rows = final.map((s) => [name(s.node), s.node, String(s.vid), role(s), s.replicaStatus ?? '-', stamp(s)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string => `  ${cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}`;
  out(line(header));
  out(line(widths.map((wd) => '-'.repeat(wd))));
  for (const r of rows) out(line(r));
  out();
  const facts: Array<[string, string]> = [
    ['workload', `${workloadClients} lock clients on locks ${workloadLocks.join(', ')}: ${w.summary()}, ${w.violations.length} mutual-exclusion or token violations`],
    ['failover', `${lockMs} ms from SIGKILL of the primary until a lock was granted through the new primary`],
    ['', `${viewMs} ms until the survivors' view excluded it and the new primary served`],
    ['rejoin', `${rejoinMs} ms from the restart until it was a normal replica in the view again (${upMs} ms of it starting the process)`],
    ['views', final[0]!.views.map((v) => show(v.members)).join(' ')],
  ];
  for (const [k, v] of facts) out(`  ${k.padEnd(9)} ${v}`);
  out();
  if (w.violations.length > 0) throw new Error(`the workload saw violations:\n  ${w.violations.slice(0, 10).join('\n  ')}`);
  if (w.errors > 0) throw new Error(`the workload saw ${w.errors} errors; last: ${w.lastError}`);
  out('demo passed');
}

function logTail(n: NodeProcess, i: number): string {
  let text: string;
  try {
    text = readFileSync(join(root, `n${i + 1}.log`), 'utf8');
  } catch {
    text = '';
  }
  const lines = `${n.output}${text}`.trimEnd().split('\n').slice(-logTailLines);
  return `--- node ${i + 1} (${n.address}), last ${lines.length} log lines ---\n${lines.join('\n')}\n`;
}

main().then(
  async () => {
    await cleanup();
    out(`cleaned up: ${nodes.length} node processes stopped, ${root} removed`);
  },
  async (err: unknown) => {
    process.stderr.write(`demo failed: ${(err as Error).stack ?? String(err)}\n`);
    if (workload !== null) process.stderr.write(`workload: ${workload.summary()}${workload.lastError === null ? '' : `; last error: ${workload.lastError}`}\n`);
    nodes.forEach((n, i) => process.stderr.write(logTail(n, i)));
    await cleanup();
    process.stderr.write(`cleaned up: node processes stopped, ${root} removed\n`);
    process.exitCode = 1;
  },
);
