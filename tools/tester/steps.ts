/**
 * Steps the tester's scenarios share: a probe that must not succeed, "the cluster serves", who
 * holds a lock, running a fault under the lock tester and the background load, and how a view
 * regroups after a member died. Separate from the scenario files so that each of those reads as
 * its scenarios only, and a step means the same wherever it is used.
 */
import { describeProbe, type ProbeResult } from '../harness/client-probe.js';
import type { NodeProcess } from '../harness/node-process.js';
import { sleep } from '../harness/node-process.js';
import type { Json } from '../../src/rsm/app.js';
import type { TesterCluster } from './cluster.js';
import { check } from './report.js';
import { loadWarmupMs, pollIntervalMs, viewChangeTimeoutMs } from './timing.js';
import { type History, sameMembers } from './views.js';

/** What the lock service answers to an acquire. */
export type Grant = { granted?: boolean; token?: number };

/** A probe's result must not be a successful (executed) answer. */
export function expectNoSuccess(c: TesterCluster, n: NodeProcess, r: ProbeResult, when: string): void {
  check(!(r.kind === 'answer' && r.answer.kind === 'executed'), `${c.label(n)} answered a client ${when}: ${describeProbe(r)}`);
  c.note(`${c.label(n)} ${when}: ${describeProbe(r)}`);
}

/** The cluster serves: a fresh client acquires and releases a lock of its own. */
export async function expectServes(c: TesterCluster, members: readonly NodeProcess[] = c.nodes, lock = 'serves'): Promise<void> {
  const client = c.client(members);
  const owner = client.clientId;
  const g = (await c.call(client, 'acquire', { lock, owner })) as Grant;
  check(g.granted === true, `acquire of the free lock ${lock} was not granted: ${JSON.stringify(g)}`);
  const r = await c.call(client, 'release', { lock, owner, token: g.token! });
  check(JSON.stringify(r) === JSON.stringify({ released: true }), `release of ${lock} answered ${JSON.stringify(r)}`);
  client.close();
}

/** Who holds lock `lock` in the replicated state (asked through any member); null when it is free. */
export async function holderOf(c: TesterCluster, lock: string, members: readonly NodeProcess[] = c.nodes): Promise<Json> {
  const client = c.client(members);
  const s = (await c.call(client, 'stat', { lock })) as { holder?: Json };
  client.close();
  return s.holder ?? null;
}

/**
 * Runs the lock tester (`lockTests`, default all five) and the background load, lets them warm
 * up, runs `fault` (which injects the faults and waits for the views it expects), then checks
 * the lock tester's verdict and the load: no error, and progress after the fault.
 */
export async function underLoad(c: TesterCluster, fault: () => Promise<void>, lockTests?: number[]): Promise<void> {
  const load = c.startLoad();
  const tester = c.lockTester(c.nodes, lockTests);
  tester.catch(() => {}); // awaited below unless the fault fails first
  await sleep(loadWarmupMs);
  check(load.operations > 0, 'the background load made no progress before the fault');
  const faultAt = performance.now();
  await fault();
  const result = await tester;
  const report = await load.stop();
  c.note(`load: ${report.cycles} acquire/release cycles, longest stall ${report.longestStallMs} ms`);
  c.expectLockTesterPassed(result);
  check(report.errors.length === 0, () => `background load: ${report.errors.join('; ')}`);
  check(load.operationsSince(faultAt) > 0, 'the background load made no progress after the fault');
}

/**
 * After `lost`, a member of the grown view (history `G`), died: unsupervised, `survivors` serve
 * the next view with `primary`. Then `lost` comes back and rejoins at the end of the list —
 * always under supervision (the supervisor restarts it), and unsupervised only with `rejoin` (the
 * scenario restarts it).
 */
export async function regroup(
  c: TesterCluster, G: History, lost: NodeProcess, opts: { survivors: NodeProcess[]; primary: NodeProcess; rejoin: boolean },
): Promise<void> {
  const { survivors, primary } = opts;
  if (!c.supervise) await c.expectView(survivors, { history: [...G, survivors], primary });
  if (!c.supervise && !opts.rejoin) return;
  await c.bringBack(lost);
  if (c.supervise && await refreshedAfter(c, G, survivors[0]!)) {
    // The supervisor restarted `lost` before the survivors removed it: they renewed the same
    // members (a refresh view: a member back on its own data directory keeps its place).
    await c.expectView(G.at(-1)!, { history: [...G, G.at(-1)!] });
    return;
  }
  await c.expectView([...survivors, lost], { history: [...G, survivors, [...survivors, lost]], primary });
}

/**
 * Whether the view after history `G` (as `observer` knows it, once it knows one, within
 * `viewChangeTimeoutMs`) has `G`'s last members again: a refresh instead of a removal.
 */
async function refreshedAfter(c: TesterCluster, G: History, observer: NodeProcess): Promise<boolean> {
  const last = G.at(-1)!.map((m) => m.address);
  const deadline = Date.now() + viewChangeTimeoutMs;
  while (Date.now() < deadline) {
    const next = await c.status(observer).then((s) => s.views.find((v) => v.vid === G.length + 1), () => undefined);
    if (next !== undefined) return sameMembers(next.members, last);
    await sleep(pollIntervalMs);
  }
  return false;
}

/**
 * The JSON log lines of `n` (every life of it) whose message is `msg`, or matches it when it is a
 * pattern (for messages that name a node or a view).
 */
export function logged(c: TesterCluster, n: NodeProcess, msg: string | RegExp): Array<Record<string, unknown>> {
  const matches = (m: unknown): boolean => typeof m === 'string' && (typeof msg === 'string' ? m === msg : msg.test(m));
  return c.log(n).split('\n').flatMap((l) => {
    if (l.length === 0) return [];
    try {
      const line = JSON.parse(l) as Record<string, unknown>;
      return matches(line['msg']) ? [line] : [];
    } catch {
      return []; // a line cut by a kill, or not JSON: not the line looked for
    }
  });
}

/** `views` as member lists of addresses. */
export function addresses(h: History): string[][] {
  return h.map((v) => v.map((n) => n.address));
}
