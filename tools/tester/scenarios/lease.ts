/**
 * Tester scenario about the primary lease (issue 14): a primary cut off from its peers only, while
 * clients still reach it. Without a lease it would go on believing it serves (callback streams,
 * session clocks, cached grants) next to the view that replaced it; with one it falls silent once
 * no backup confirms it, and the new view serves only after the old lease ran out.
 */
import { askMembers, describeProbe } from '../../harness/client-probe.js';
import type { NodeProcess } from '../../harness/node-process.js';
import { sleep } from '../../harness/node-process.js';
import { defaultRsmOptions } from '../../../src/options/rsm.js';
import type { TesterCluster } from '../cluster.js';
import { check } from '../report.js';
import type { Scenario } from '../scenarios.js';
import { expectNoSuccess, expectServes, holderOf, logged, underLoad } from '../steps.js';
import { firstServedPollMs, probeDeadlineMs, viewChangeTimeoutMs } from '../timing.js';

/** What a primary logs when its lease lapses (src/rsm/replica.ts, `PrimaryLease`): it names itself and its view. */
const lapseLine = /^rsm: \S+ lost its primary lease of view \d+: /;
/** What a primary logs when it starts serving a view. */
const servingLine = 'rsm: primary serving';
/** What a new view's primary logs while it waits out the lease it granted the previous primary. */
const waitingLine = 'rsm: waiting out the lease this node granted the previous primary';

/** The wall-clock time (epoch ms) of a node's JSON log line (pino writes ISO times). */
function timeOf(line: Record<string, unknown>): number {
  const t = line['time'];
  return typeof t === 'number' ? t : Date.parse(String(t));
}

/**
 * Sends one acquire to `n` alone, again every `firstServedPollMs` (the same client id and seq, so
 * it is one request, executed at most once), until `n` executes it; returns the wall-clock time
 * of that answer. Sent to the new view's primary only, it times the view's first served request.
 */
async function firstServed(c: TesterCluster, n: NodeProcess, lock: string): Promise<number> {
  return c.until(`${c.label(n)} executes a client request`, async () => {
    const r = await c.probe(n, 'acquire', { lock, owner: `owner-${lock}` }, probeDeadlineMs);
    if (r.kind === 'answer' && r.answer.kind === 'executed') return Date.now();
    await sleep(firstServedPollMs);
    return undefined;
  }, viewChangeTimeoutMs);
}

/**
 * When the lease a lapse line reports ran out (epoch ms). The line names each backup whose last
 * grant answered an ask made `N ms ago` when the line was written; the lease held until `leaseMs`
 * after the oldest of those asks. Worked out from the line rather than taken as the line's time,
 * because the line waits for the next renew timer (up to `leaseRenewMs` later, more on a loaded
 * machine). Null when a backup never granted in that view (the lease never held).
 */
function leaseEndOf(line: Record<string, unknown>): number | null {
  const msg = String(line['msg']);
  if (msg.includes('(none in view')) return null;
  const ages = [...msg.matchAll(/\((\d+) ms ago\)/g)].map((m) => Number(m[1]));
  if (ages.length === 0) return null;
  return timeOf(line) - Math.max(...ages) + defaultRsmOptions.leaseMs;
}

/** Log times are whole milliseconds and the lapse line's ages are rounded: the comparison allows this much. */
const logRoundingMs = 2;

/** Seconds from `fromMs` to `toMs` (both epoch ms), as "0.62 s". */
const secs = (fromMs: number, toMs: number): string => `${((toMs - fromMs) / 1000).toFixed(2)} s`;

export const leaseScenarios: readonly Scenario[] = [
  {
    number: 27,
    name: 'the primary cut off from its peers only (clients still reach it), under lock load: it falls silent, the new view serves after the lease, no lock has two holders',
    nodes: 3,
    async run(c) {
      // Proves that a primary that loses its backups but not its clients stops naming itself once its lease lapses, that the view replacing it serves, and that the lock tester's caching clients never see two holders.
      await c.grow();
      const [A, B, C] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
      const G = c.growth();
      const oldVid = G.length;
      // Lock tester test 2 (six clients take turns holding `a` for a second, through their caches)
      // puts a cached grant and waiters on both sides of the cut; test 5 hands one client's cached
      // grant between its local users while another client waits. Tests 1, 3 and 4 add only time.
      await underLoad(c, async () => {
        const cutAt = Date.now();
        await c.split([A], [B, C]); // peer channels only, both ways: the tester's clients reach every node
        const served = firstServed(c, B, 'first27');
        const silent = c.probe(A, 'acquire', { lock: 'probe27', owner: 'probe27' });

        const lapse = await c.until(`${c.label(A)} logs that its lease lapsed`, async () => logged(c, A, lapseLine)[0], viewChangeTimeoutMs);
        check(String(lapse['msg']).includes(`of view ${oldVid}:`), () => `${c.label(A)}'s lapse names another view than ${oldVid}: ${String(lapse['msg'])}`);
        const members = await askMembers({ cluster: c.cluster, node: A.address, deadlineMs: probeDeadlineMs, tls: c.clientTls });
        c.note(`${c.label(A)} asked for members after the lapse: ${describeProbe(members)}`);
        check(members.kind === 'answer' && members.answer.kind === 'members' && members.answer.vid === oldVid && members.answer.primary === null,
          () => `${c.label(A)}, whose lease lapsed, answered members with ${describeProbe(members)}, not view ${oldVid} with no primary`);

        const next = await c.expectView([B, C], { history: [...G, [B, C]], primary: B });
        const servedAt = await served;
        expectNoSuccess(c, A, await silent, 'cut off from its peers');
        const serving = logged(c, B, servingLine).find((l) => l['vid'] === next.vid);
        check(serving !== undefined, `${c.label(B)} never logged that it serves view ${next.vid}`);
        // Never two actives: the new view serves only once the old primary's lease ran out (both
        // processes read this machine's clock; the nodes run with the default lease).
        const leaseEnd = leaseEndOf(lapse);
        check(leaseEnd !== null, () => `${c.label(A)}'s lapse line names a backup that never granted: ${String(lapse['msg'])}`);
        check(timeOf(serving!) + logRoundingMs >= leaseEnd!,
          () => `${c.label(B)} served view ${next.vid} at ${String(serving!['time'])}, before ${c.label(A)}'s lease of view ${oldVid} ran out at ${new Date(leaseEnd!).toISOString()}`);
        const waited = logged(c, B, waitingLine).find((l) => l['vid'] === next.vid);
        c.note(`lease figures: cut → ${c.label(A)}'s lease ran out ${secs(cutAt, leaseEnd!)}, its lapse line ${secs(cutAt, timeOf(lapse))}; ` +
          `→ ${c.label(B)} serves view ${next.vid} ${secs(cutAt, timeOf(serving!))}` +
          `${waited === undefined ? ' (it waited out no lease)' : ` (after waiting out ${String(waited['waitMs'])} ms of lease from ${secs(cutAt, timeOf(waited))})`}; ` +
          `→ its first served request ${secs(cutAt, servedAt)}`);

        await c.heal(A, B, C);
        await c.expectView([B, C, A], { history: [...G, [B, C], [B, C, A]], primary: B });
      }, [2, 5]);
      check((await holderOf(c, 'probe27')) === null, 'the acquire sent to the cut-off n1 was executed');
      await expectServes(c);
      await c.expectSameState(c.nodes);
    },
  },
];
