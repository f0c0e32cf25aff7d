/**
 * The scenarios of `npm run tester -- --netns`: three-node clusters whose nodes each run in a
 * network namespace of their own (network.ts), with faults made by the kernel, not by the nodes'
 * test control service (faults.ts): a two-sided split with the primary on either side, a
 * flapping link, and 50 ms latency with 1 % loss. Each runs the background lock load and prints
 * what an operator wants to know: how long the failover took and the throughput.
 *
 * They are numbered on their own (0 to 3), since they need the namespaces; the clients (this
 * process) run in a namespace of their own too, and reach every node in every scenario.
 */
import type { NodeProcess } from '../../harness/node-process.js';
import { sleep } from '../../harness/node-process.js';
import type { TesterCluster } from '../cluster.js';
import type { LockLoad } from '../load.js';
import { check } from '../report.js';
import type { Scenario } from '../scenarios.js';
import { expectNoSuccess, expectServes } from '../steps.js';
import { joinTimeoutMs, loadWarmupMs, viewChangeTimeoutMs } from '../timing.js';
import type { NetnsFaults } from './faults.js';

/** The port every node listens on (each has an address of its own); its control service is on the next one. */
export const netnsNodePort = 7000;

/**
 * How long a scenario measures the load's throughput in a steady state. 3 s: many hundreds of
 * operations on loopback-speed links, tens even at 100 ms round trips, so the figure means
 * something, and short enough for the CI test.
 */
const throughputWindowMs = 3000;

/**
 * The flapping link: down this long, then up this long, over and over for `flapForMs`. 300 ms
 * down is under the failure detector's 500 ms (5 missed heartbeats of 100 ms) and 300 ms up
 * lets a few heartbeats through, so a suspicion may or may not form each time: the pattern
 * that makes a detector flap. 6 s: twenty cycles.
 */
const flapDownMs = 300;
const flapUpMs = 300;
const flapForMs = 6000;

/** Latency (one way, between any two nodes) and loss (per packet, per direction) of scenario 3. */
const latencyMs = 50;
const lossProbability = 0.01;

/** How many requests, one after another, scenario 3 times to check that the delay is in force (the quickest counts). */
const delayCheckRequests = 5;

/** The quickest of `count` acquire/release requests made one after another through one client, in ms. */
async function quickestRequestMs(c: TesterCluster, count: number): Promise<number> {
  const client = c.client();
  let quickest = Infinity;
  for (let i = 0; i < count; i++) {
    const startedAt = performance.now();
    const grant = (await c.call(client, 'acquire', { lock: 'netns3', owner: client.clientId })) as { token?: number };
    quickest = Math.min(quickest, performance.now() - startedAt);
    await c.call(client, 'release', { lock: 'netns3', owner: client.clientId, token: grant.token ?? 0 });
  }
  client.close();
  return quickest;
}

/** Operations per second the load completed after `sinceMs`, over `windowMs`. */
async function throughput(load: LockLoad, windowMs: number): Promise<number> {
  const since = performance.now();
  await sleep(windowMs);
  return load.operationsSince(since) / (windowMs / 1000);
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

function fmt(opsPerS: number): string {
  return `${opsPerS.toFixed(0)} ops/s`;
}

/** Stops the load and checks that none of its operations broke the lock service's promises. */
async function stopLoad(c: TesterCluster, load: LockLoad): Promise<{ longestStallMs: number; cycles: number }> {
  const report = await load.stop();
  check(report.errors.length === 0, () => `background load: ${report.errors.join('; ')}`);
  c.note(`load: ${report.cycles} cycles, longest stall ${report.longestStallMs} ms`);
  return report;
}

/**
 * Waits until exactly `members` (in any order) serve one view, each a normal replica agreeing on
 * the primary, and returns that view's id and primary. For scenarios where loss or a flapping
 * link may add view changes of their own, so the history and the order are not known.
 */
async function expectServingSet(c: TesterCluster, members: readonly NodeProcess[], timeoutMs: number): Promise<{ vid: number; primary: string }> {
  const want = members.map((m) => m.address).sort().join(',');
  return c.until(`${c.list(members)} serving one view`, async () => {
    const statuses = await Promise.all(members.map((m) => c.status(m)));
    const s0 = statuses[0]!;
    const agreed = statuses.every((s) => s.configStatus === 'member' && s.replicaStatus === 'normal' && s.vid === s0.vid &&
      s.primary === s0.primary && [...s.members].sort().join(',') === want);
    return agreed && s0.primary !== null ? { vid: s0.vid, primary: s0.primary } : undefined;
  }, timeoutMs);
}

/**
 * The netns scenarios, acting on the network through `faults`; `report` prints the figures
 * (failover times, throughput) of each, whatever the verbosity.
 */
export function netnsScenarios(faults: NetnsFaults, report: (line: string) => void): Scenario[] {
  const figures = (n: number, line: string): void => report(`  [netns ${n}] ${line}`);
  return [
    {
      number: 0,
      name: 'two-sided split 2|1 by iptables, primary on the majority side: the lone backup is removed, rejoins after the heal',
      nodes: 3,
      async run(c) {
        // Proves that a real network split (packets dropped by the kernel) costs the majority one view change and loses nothing.
        await c.grow();
        const [A, B, C] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
        const G = c.growth();
        const load = c.startLoad();
        await sleep(loadWarmupMs);
        const before = await throughput(load, throughputWindowMs);
        const cutAt = performance.now();
        faults.cut([0, 1], [2]);
        c.note('iptables split [n1,n2] | [n3]');
        await c.expectView([A, B], { history: [...G, [A, B]], primary: A });
        const failoverMs = performance.now() - cutAt;
        const during = await throughput(load, throughputWindowMs);
        const healAt = performance.now();
        faults.heal();
        await c.expectView([A, B, C], { history: [...G, [A, B], [A, B, C]], primary: A, timeoutMs: joinTimeoutMs });
        const rejoinMs = performance.now() - healAt;
        const { longestStallMs } = await stopLoad(c, load);
        await expectServes(c);
        figures(0, `n3 cut off: view [n1,n2] serving after ${failoverMs.toFixed(0)} ms; n3 back ${rejoinMs.toFixed(0)} ms after the heal; ` +
          `throughput ${fmt(before)} before, ${fmt(during)} during the split; longest stall ${longestStallMs} ms`);
      },
    },
    {
      number: 1,
      name: 'two-sided split 1|2 by iptables, primary alone on the minority side: it answers no client, the majority takes over',
      nodes: 3,
      async run(c) {
        // Proves that a primary cut off by the network cannot answer, that the other side elects n2, and that n1 rejoins after the heal.
        await c.grow();
        const [A, B, C] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
        const G = c.growth();
        const load = c.startLoad();
        await sleep(loadWarmupMs);
        const cutAt = performance.now();
        faults.cut([0], [1, 2]);
        c.note('iptables split [n1] | [n2,n3]');
        await c.expectView([B, C], { history: [...G, [B, C]], primary: B });
        const failoverMs = performance.now() - cutAt;
        expectNoSuccess(c, A, await c.probe(A, 'acquire', { lock: 'netns1', owner: 'netns1' }), 'alone on the minority side');
        const during = await throughput(load, throughputWindowMs);
        faults.heal();
        // The heal lifts each namespace's rules in turn: for a moment n1 may reach one peer and not
        // the other, and be added and removed again before it stays. What must hold is the end:
        // all three serve one view.
        await expectServingSet(c, [B, C, A], joinTimeoutMs + viewChangeTimeoutMs);
        const { longestStallMs } = await stopLoad(c, load);
        const probe = c.client();
        const stat = (await c.call(probe, 'stat', { lock: 'netns1' })) as { holder?: unknown };
        check((stat.holder ?? null) === null, `the acquire sent to the cut-off n1 was executed: ${JSON.stringify(stat)}`);
        figures(1, `primary n1 cut off: n2 primary of [n2,n3] after ${failoverMs.toFixed(0)} ms; ` +
          `throughput ${fmt(during)} on the majority side; longest stall ${longestStallMs} ms`);
      },
    },
    {
      number: 2,
      name: `flapping link: the primary's link down ${flapDownMs} ms, up ${flapUpMs} ms, for ${flapForMs / 1000} s; then all three serve one view`,
      nodes: 3,
      async run(c) {
        // Proves that a link going up and down (the carrier, not a rule) loses nothing and breaks no promise, and that the cluster settles afterwards.
        await c.grow();
        const [A] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
        const load = c.startLoad();
        await sleep(loadWarmupMs);
        const vidBefore = (await c.status(A)).vid;
        const flapAt = performance.now();
        let flaps = 0;
        while (performance.now() - flapAt < flapForMs) {
          faults.link(0, false);
          await sleep(flapDownMs);
          faults.link(0, true);
          await sleep(flapUpMs);
          flaps++;
        }
        const opsDuring = load.operationsSince(flapAt) / ((performance.now() - flapAt) / 1000);
        const settleAt = performance.now();
        const settled = await expectServingSet(c, c.nodes, joinTimeoutMs + viewChangeTimeoutMs);
        const settleMs = performance.now() - settleAt;
        const after = await throughput(load, throughputWindowMs);
        const { longestStallMs } = await stopLoad(c, load);
        await c.expectSameState(c.nodes);
        figures(2, `${flaps} flaps; ${plural(settled.vid - vidBefore, 'view change')}; all three serving view ${settled.vid} (primary ${c.label(settled.primary)}) ` +
          `${settleMs.toFixed(0)} ms after the last flap; throughput ${fmt(opsDuring)} while flapping, ${fmt(after)} after; longest stall ${longestStallMs} ms`);
      },
    },
    {
      number: 3,
      name: `${latencyMs} ms latency (delaying relays) and ${lossProbability * 100} % loss (iptables statistic): throughput, then the primary killed`,
      nodes: 3,
      async run(c) {
        // Proves that a slow lossy network keeps the cluster correct and serving, and measures a failover on it.
        await faults.delay(latencyMs, netnsNodePort); // before the nodes start: a REDIRECT applies to new connections only
        faults.loss(lossProbability);
        c.note(`links: ${latencyMs} ms each way between nodes, ${lossProbability * 100} % loss on every host`);
        const growAt = performance.now();
        await c.grow();
        const growMs = performance.now() - growAt;
        const [A, B, C] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
        // The delay must be in force: a replicated request waits for the backups, one node-to-node round trip at least.
        const quickestMs = await quickestRequestMs(c, delayCheckRequests);
        check(quickestMs >= 2 * latencyMs, `a replicated request took ${quickestMs.toFixed(0)} ms, under the ${2 * latencyMs} ms round trip of the delayed links`);
        const load = c.startLoad();
        await sleep(loadWarmupMs);
        const steady = await throughput(load, throughputWindowMs);
        // Loss alone may cost view changes (a heartbeat retransmitted twice is later than suspicion):
        // kill the primary of a view of all three, not of a two-member view that a third death would stall.
        const calm = await expectServingSet(c, c.nodes, joinTimeoutMs);
        const vidBefore = calm.vid;
        const P = c.nodes.find((n) => n.address === calm.primary)!;
        const killAt = performance.now();
        await c.crash(P);
        const rest = c.nodes.filter((n) => n !== P);
        const failed = await expectServingSet(c, rest, viewChangeTimeoutMs);
        const failoverMs = performance.now() - killAt;
        const after = await throughput(load, throughputWindowMs);
        const { longestStallMs } = await stopLoad(c, load);
        await c.restart(P);
        await expectServingSet(c, [B, C, A], joinTimeoutMs);
        await c.expectSameState(c.nodes);
        figures(3, `grown to three in ${growMs.toFixed(0)} ms; quickest request ${quickestMs.toFixed(0)} ms; throughput ${fmt(steady)}; ` +
          `${plural(vidBefore - c.nodes.length, 'view change')} of the loss alone; primary ${c.label(P)} killed: ` +
          `${c.label(failed.primary)} primary of view ${failed.vid} after ${failoverMs.toFixed(0)} ms (${plural(failed.vid - vidBefore, 'view change')}); ` +
          `throughput ${fmt(after)} after; longest stall ${longestStallMs} ms`);
      },
    },
  ];
}
