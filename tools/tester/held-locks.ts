/**
 * Locks a restart scenario holds across its restarts, and the checks that they survived: the
 * same holder under the same fencing token, the same waiter queued, and a new grant whose token
 * is above every token the service granted before the restart. Separate from steps.ts because
 * only the durability scenarios (scenarios/restarts.ts) use it.
 */
import type { RsmClient } from '../../src/client/rsm-client.js';
import type { NodeProcess } from '../harness/node-process.js';
import type { TesterCluster } from './cluster.js';
import { check } from './report.js';
import type { Grant } from './steps.js';

/** One lock held by `owner` (through `client`, the client it is bound to) under `token`. */
export interface HeldLock {
  readonly lock: string;
  readonly owner: string;
  readonly client: RsmClient;
  readonly token: number;
}

/**
 * What a scenario holds before its restarts: `holdings` (each owner holds its lock), and
 * `waiter`, queued behind the first holding (so a queue must survive too).
 */
export interface HeldLocks {
  readonly holdings: readonly HeldLock[];
  readonly waiter: { readonly owner: string; readonly client: RsmClient; readonly lock: string };
}

/** What the lock service says of one lock. */
interface LockStat {
  readonly holder: string | null;
  readonly token: number;
  readonly waiters: readonly string[];
}

/**
 * Has two plain clients (one owner each) take three locks between them, and a third owner queue
 * behind the first lock; `prefix` names the locks. The owners have no callback stream, so the
 * nodes must run with a session timeout longer than the scenario (`heldLockNodeArgs`), or their
 * sessions would expire and free the locks whatever the restarts do.
 */
export async function holdLocks(c: TesterCluster, prefix: string, members: readonly NodeProcess[] = c.nodes): Promise<HeldLocks> {
  const holdings: HeldLock[] = [];
  const take = async (client: RsmClient, lock: string): Promise<void> => {
    const owner = client.clientId;
    const g = (await c.call(client, 'acquire', { lock, owner })) as Grant;
    check(g.granted === true && typeof g.token === 'number', `acquire of the free lock ${lock} by ${owner} was not granted: ${JSON.stringify(g)}`);
    holdings.push({ lock, owner, client, token: g.token });
  };
  const [h1, h2, w] = [c.client(members), c.client(members), c.client(members)];
  await take(h1, `${prefix}-a`);
  await take(h1, `${prefix}-b`);
  await take(h2, `${prefix}-c`);
  const lock = `${prefix}-a`;
  const queued = (await c.call(w, 'acquire', { lock, owner: w.clientId })) as Grant;
  check(queued.granted === false, `acquire of the held lock ${lock} by a third owner answered ${JSON.stringify(queued)}, not queued`);
  c.note(`held: ${holdings.map((h) => `${h.lock} (token ${h.token})`).join(', ')}; a waiter queued for ${lock}`);
  return { holdings, waiter: { owner: w.clientId, client: w, lock } };
}

/**
 * The highest fencing token the service has granted so far, at least: a fresh owner acquires
 * and releases a lock of its own, and its grant's token is that mark (tokens come from one
 * counter of the whole service).
 */
export async function tokenMark(c: TesterCluster, lock: string, members: readonly NodeProcess[] = c.nodes): Promise<number> {
  const client = c.client(members);
  const owner = client.clientId;
  const g = (await c.call(client, 'acquire', { lock, owner })) as Grant;
  check(g.granted === true && typeof g.token === 'number', `acquire of the free lock ${lock} was not granted: ${JSON.stringify(g)}`);
  const r = await c.call(client, 'release', { lock, owner, token: g.token });
  check(JSON.stringify(r) === JSON.stringify({ released: true }), `release of ${lock} answered ${JSON.stringify(r)}`);
  client.close();
  return g.token;
}

async function statOf(c: TesterCluster, client: RsmClient, lock: string): Promise<LockStat> {
  return (await c.call(client, 'stat', { lock })) as unknown as LockStat;
}

/**
 * After restarts: every holding is still held by its owner under its token, the waiter is
 * still queued; then the first holder gives its lock back (its grant, token included, is still
 * valid) and the waiter gets it with a token above `mark` (and so above every earlier token of
 * that lock): the fencing-token counter survived. Returns the new grant's token.
 */
export async function expectLocksKept(c: TesterCluster, held: HeldLocks, mark: number): Promise<number> {
  for (const h of held.holdings) {
    const s = await statOf(c, h.client, h.lock);
    check(s.holder === h.owner && s.token === h.token,
      `after the restart lock ${h.lock} is held by ${s.holder} under token ${s.token}, not by ${h.owner} under token ${h.token} as before`);
  }
  const { waiter } = held;
  const first = held.holdings.find((h) => h.lock === waiter.lock)!;
  const before = await statOf(c, waiter.client, waiter.lock);
  check(before.waiters.length === 1 && before.waiters[0] === waiter.owner,
    `after the restart the queue of ${waiter.lock} is ${JSON.stringify(before.waiters)}, not [${waiter.owner}] as before`);
  const r = await c.call(first.client, 'release', { lock: first.lock, owner: first.owner, token: first.token });
  check(JSON.stringify(r) === JSON.stringify({ released: true }), `after the restart, release of ${first.lock} under its token ${first.token} answered ${JSON.stringify(r)}`);
  const g = (await c.call(waiter.client, 'acquire', { lock: waiter.lock, owner: waiter.owner })) as Grant;
  check(g.granted === true && typeof g.token === 'number', `after the restart the waiter's acquire of ${waiter.lock} answered ${JSON.stringify(g)}`);
  check(g.token > mark && g.token > first.token,
    `fencing token went backwards across the restart: ${waiter.lock} granted with token ${g.token}, the service had granted token ${mark} before`);
  c.note(`every lock kept its holder and token; ${waiter.lock} regranted to its waiter with token ${g.token} > ${mark}`);
  return g.token;
}
