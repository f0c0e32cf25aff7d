/**
 * `npm run bench -- failover [--rounds N]`: what a primary's death costs the lock service's clients
 * now that a new primary may have to wait out the lease the old one held (issue 14). A benchmark,
 * not a test: it asserts nothing about speed, it prints figures (docs/benchmarks.md).
 *
 * A 3-node `synod lock-server` cluster on free loopback ports, every option at its default, and
 * a lock load (caching lock clients contending for two locks, as the demo's). Each round SIGKILLs
 * the current primary and measures, from the signal:
 * - until the new primary logs that it serves the new view;
 * - until the first lock granted by the server after the kill (a fencing token above every
 *   earlier one) reaches a client: what a user of the service waits;
 * - how long the new primary waited out the lease it had granted the dead one (its "waiting out"
 *   log line for that view, or none when the wait was over before the view was ready).
 * Then it restarts the dead node on its data directory and waits until all three serve one view
 * again before the next round. Prints one line per round and the median and max of each figure.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LockChecker } from '../../src/apps/lock/lock-checker.js';
import { GrpcLockClient } from '../../src/apps/lock/grpc-lock-client.js';
import { silentLogger } from '../../src/env/logger.js';
import { eventually, sleep } from '../harness/node-process.js';
import type { NodeProcess } from '../harness/node-process.js';
import { TesterCluster } from '../tester/cluster.js';
import { logged } from '../tester/steps.js';

/** Rounds unless `--rounds` says otherwise. */
export const defaultFailoverRounds = 10;
/** Lock clients of the load and the locks they contend for (as the demo's workload). */
const loadClients = 4;
const loadLocks = ['a', 'b'] as const;
/** How long a client holds a lock, and at most how long it thinks before its next acquire. */
const holdMs = 5;
const maxThinkMs = 10;
/** How long the load runs on a healthy cluster before each kill, so that locks are cached and waited for. */
const calmMs = 1000;
/** How long one failover or one rejoin may take before the bench gives up. */
const stepTimeoutMs = 20_000;
/** How often the bench looks for the first grant (the resolution of that figure). */
const pollMs = 5;

/** One server grant a client of the load received: when (performance.now()), and its token. */
interface Grant {
  readonly at: number;
  readonly token: number;
  /** The primary the client's last call went to (null: unknown). */
  readonly via: string | null;
}

/** The lock load: each client loops acquire, hold, release on a random lock; every grant is recorded and checked. */
class FailoverLoad {
  readonly grants: Grant[] = [];
  readonly checker = new LockChecker();
  readonly #clients: GrpcLockClient[];
  readonly #loops: Promise<void>[] = [];
  #stopping = false;

  constructor(cluster: string, members: readonly string[]) {
    this.#clients = Array.from({ length: loadClients }, (_, i) =>
      new GrpcLockClient({ cluster, members, owner: `failover-${i + 1}`, logger: silentLogger }));
  }

  start(): void {
    this.#clients.forEach((c, i) => this.#loops.push(this.#run(c, `c${i + 1}`)));
  }

  /** The highest fencing token granted so far (0: none). */
  get topToken(): number {
    return this.grants.reduce((top, g) => Math.max(top, g.token), 0);
  }

  /**
   * Waits for the first grant after `since` with a token above `above` that did not come through
   * `dead` (a grant the killed primary made in its last milliseconds is no failover).
   */
  firstGrantAfter(since: number, above: number, dead: string): Promise<Grant> {
    return eventually(async () => this.grants.find((g) => g.at > since && g.token > above && g.via !== dead), stepTimeoutMs, 'a lock granted after the kill', pollMs);
  }

  /** Closes the clients at once (a waiting acquire ends with an error, which ends its loop); the cluster is thrown away after. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#clients.map((c) => c.close()));
    await Promise.all(this.#loops);
  }

  async #run(c: GrpcLockClient, name: string): Promise<void> {
    while (!this.#stopping) {
      const lock = loadLocks[Math.floor(Math.random() * loadLocks.length)]!;
      try {
        const { token } = await c.lock.acquire(lock, 'u');
        this.checker.granted(lock, { client: name, user: 'u' }, token);
        // A cached grant comes back with the token it had; only a higher one is the server's new grant.
        if (token > this.topToken) this.grants.push({ at: performance.now(), token, via: c.rsm.core.primary });
        await sleep(holdMs);
        this.checker.released(lock, { client: name, user: 'u' });
        await c.lock.release(lock, 'u');
      } catch {
        if (this.#stopping) return;
        await sleep(50); // a call that failed (the cluster failing over): try again
      }
      await sleep(Math.random() * maxThinkMs);
    }
  }
}

/** One round's figures (ms from the SIGKILL); `leaseWaitMs` null: the new primary waited out no lease. */
interface RoundFigures {
  readonly killed: string;
  readonly primary: string;
  readonly servingMs: number;
  readonly firstGrantMs: number;
  readonly leaseWaitMs: number | null;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** The primary all three running nodes agree on, once they are normal replicas of one view of three. */
async function settledPrimary(c: TesterCluster): Promise<NodeProcess> {
  return c.until('three normal replicas of one view', async () => {
    const all = await Promise.all(c.nodes.map((n) => c.status(n)));
    const ok = all.every((s) => s.vid === all[0]!.vid && s.members.length === 3 && s.replicaStatus === 'normal' && s.primary === all[0]!.primary);
    return ok ? c.nodes.find((n) => n.address === all[0]!.primary) : undefined;
  }, stepTimeoutMs);
}

/** One round: kill the primary under load, time the failover, restart it and wait until the cluster is whole again. */
async function round(c: TesterCluster, load: FailoverLoad): Promise<RoundFigures> {
  const old = await settledPrimary(c);
  await sleep(calmMs);
  const above = load.topToken;
  const killedAt = performance.now();
  const killedWall = Date.now();
  const grant = load.firstGrantAfter(killedAt, above, old.address);
  await c.kill(old, 'SIGKILL');
  const first = await grant;
  const next = await c.until('a new primary serving', async () => {
    for (const n of c.nodes.filter((x) => x !== old)) {
      const s = await c.status(n);
      if (s.primary === s.node && s.replicaStatus === 'normal') return { n, vid: s.vid };
    }
    return undefined;
  }, stepTimeoutMs);
  const serving = logged(c, next.n, 'rsm: primary serving').find((l) => l['vid'] === next.vid);
  const waiting = logged(c, next.n, 'rsm: waiting out the lease this node granted the previous primary').find((l) => l['vid'] === next.vid);
  await c.restart(old);
  return {
    killed: c.label(old),
    primary: c.label(next.n),
    servingMs: serving === undefined ? NaN : Date.parse(String(serving['time'])) - killedWall,
    firstGrantMs: first.at - killedAt,
    leaseWaitMs: waiting === undefined ? null : Number(waiting['waitMs']),
  };
}

/** Runs the failover benchmark: `rounds` kills of the primary; prints each round and the summary through `say`. */
export async function benchFailover(rounds: number, say: (line: string) => void): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'synod-bench-failover-'));
  const c = await TesterCluster.create({ dir, size: 3, supervise: false, logLevel: 'info' });
  let load: FailoverLoad | null = null;
  try {
    await c.grow();
    load = new FailoverLoad(c.cluster, c.nodes.map((n) => n.address));
    load.start();
    say(`3 lock-server nodes, default options; ${loadClients} caching lock clients on locks ${loadLocks.join(', ')}; ${rounds} rounds of SIGKILL of the primary`);
    const figures: RoundFigures[] = [];
    for (let i = 1; i <= rounds; i++) {
      const f = await round(c, load);
      figures.push(f);
      say(`round ${String(i).padStart(2)}: SIGKILL ${f.killed} → ${f.primary} serves in ${Math.round(f.servingMs)} ms, first grant after ${Math.round(f.firstGrantMs)} ms, ` +
        `lease wait ${f.leaseWaitMs === null ? 'none' : `${f.leaseWaitMs} ms`}`);
    }
    await settledPrimary(c);
    const grants = figures.map((f) => f.firstGrantMs);
    const servings = figures.map((f) => f.servingMs);
    const waits = figures.flatMap((f) => (f.leaseWaitMs === null ? [] : [f.leaseWaitMs]));
    say(`kill → first grant on the new primary: median ${Math.round(median(grants))} ms, max ${Math.round(Math.max(...grants))} ms`);
    say(`kill → new primary serving:            median ${Math.round(median(servings))} ms, max ${Math.round(Math.max(...servings))} ms`);
    say(`lease wait on the new primary:          ${waits.length} of ${rounds} rounds waited` +
      `${waits.length === 0 ? '' : `, median ${Math.round(median(waits))} ms, max ${Math.max(...waits)} ms (of those that waited)`}`);
    say(`lock checker: ${load.checker.ok ? 'no two holders, tokens never went back' : load.checker.violations.join('; ')}`);
    if (!load.checker.ok) process.exitCode = 1;
  } finally {
    await load?.stop();
    await c.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
