/**
 * The nemesis's end phase, once no fault starts any more: end every fault that is left, wait
 * until the cluster settles into one view of all its nodes, and demand that every client makes
 * progress again. Separate from the run (nemesis.ts) because it is a fixed sequence with its own
 * bounds (`settleTimeoutMs`, `livenessTimeoutMs`) whose only outcome is a liveness failure or none.
 */
import { sleep } from '../harness/node-process.js';
import type { TesterCluster } from '../tester/cluster.js';
import { retried } from './injector.js';
import type { StatusMonitor } from './monitor.js';
import { livenessCycles, livenessTimeoutMs, settleTimeoutMs, statusPollMs } from './timing.js';
import type { LockWorkload } from './workload.js';

/** Ends every fault that is left: SIGCONT, heal every partition, disarm breakpoints, restart dead nodes. */
export async function healAll(c: TesterCluster, log: (line: string) => void): Promise<void> {
  for (const n of c.nodes) if (n.running && n.paused) c.resume(n);
  await Promise.all(c.nodes.filter((n) => n.running).map(async (n) => {
    await retried(() => n.control('Heal', {}));
    await retried(() => n.control('Breakpoint', { breakpoint: 0, disarm: true }));
  }));
  for (const n of c.nodes) {
    if (!n.running) {
      c.forgetDeath(n);
      await c.restart(n);
      log(`${c.label(n)} was down: restarted`);
    }
  }
}

/**
 * Waits until the cluster settled (every node a normal member of one view of all of them);
 * returns null, or the liveness failure if it does not within `settleTimeoutMs`.
 */
export async function settle(c: TesterCluster, monitor: StatusMonitor, log: (line: string) => void): Promise<string | null> {
  const since = performance.now();
  const deadline = since + settleTimeoutMs;
  for (;;) {
    const s = monitor.settled(since);
    if (s !== null) {
      log(`settled: view ${s.vid} ${c.list(s.members)}, primary ${c.label(s.primary!)}, after ${((performance.now() - since) / 1000).toFixed(1)} s`);
      return null;
    }
    if (performance.now() > deadline) {
      return `the cluster did not settle (every node a normal member of one view of all nodes) within ${settleTimeoutMs} ms ` +
        `after every fault was healed; ${await c.describe()}`;
    }
    await sleep(statusPollMs);
  }
}

/**
 * Every user must complete `livenessCycles` more cycles within `livenessTimeoutMs`; returns null,
 * or the liveness failure naming the users that did not.
 */
export async function expectProgress(c: TesterCluster, workload: Pick<LockWorkload, 'cyclesByUser'>, log: (line: string) => void): Promise<string | null> {
  const since = performance.now();
  const base = workload.cyclesByUser();
  const deadline = since + livenessTimeoutMs;
  const lagging = (): string[] => [...workload.cyclesByUser()].filter(([u, n]) => n < base.get(u)! + livenessCycles).map(([u]) => u);
  while (lagging().length > 0 && performance.now() < deadline) await sleep(statusPollMs);
  const late = lagging();
  if (late.length === 0) {
    log(`every client completed ${livenessCycles} more cycles (lock cycles, or KV operations) after the cluster settled (${((performance.now() - since) / 1000).toFixed(1)} s)`);
    return null;
  }
  const now = workload.cyclesByUser();
  return `after the cluster settled, ${late.map((u) => `${u} (${now.get(u)! - base.get(u)!} cycles)`).join(', ')} did not complete ` +
    `${livenessCycles} cycles (lock cycles, or KV operations) within ${livenessTimeoutMs} ms; ${await c.describe()}`;
}
