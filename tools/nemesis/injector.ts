/**
 * How the nemesis carries out each planned fault on the real cluster (`FaultInjector`): SIGKILL
 * and restart (of one node, or of every node at once), SIGSTOP and SIGCONT, isolation, splits and the primary cut off from its
 * peers only through the test control service, and
 * crash breakpoints given an occasion to fire. Separate from the run (nemesis.ts), which decides
 * when faults start, keeps count of them and waits for the cluster to recover: this file only
 * knows how to do one fault and end it.
 */
import type { NodeProcess } from '../harness/node-process.js';
import { sleep } from '../harness/node-process.js';
import type { TesterCluster } from '../tester/cluster.js';
import { logged } from '../tester/steps.js';
import type { StatusMonitor } from './monitor.js';
import type { BreakpointNumber, FaultPlan } from './schedule.js';
import { breakpoint2IsolateMaxMs, breakpointWindowMs, controlAttempts, controlRetryPauseMs, disarmGraceMs, statusPollMs } from './timing.js';

/** What a primary logs when its lease lapses (src/rsm/replica.ts). */
const lapseLine = /^rsm: \S+ lost its primary lease of view \d+: /;

/** Runs a control action, again after `controlRetryPauseMs` when it fails, up to `controlAttempts` times. */
export async function retried<T>(action: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await action();
    } catch (err) {
      if (attempt >= controlAttempts) throw err;
      await sleep(controlRetryPauseMs);
    }
  }
}

export interface FaultInjectorDeps {
  readonly cluster: TesterCluster;
  readonly monitor: StatusMonitor;
  /** A progress line of the run. */
  readonly log: (line: string) => void;
  /** Waits `ms`, or less if the injection phase ends meanwhile. */
  readonly hold: (ms: number) => Promise<void>;
  /** Resolves when the injection phase ends: faults in progress cut their durations short. */
  readonly stopping: Promise<void>;
  /** Whether the injection phase has ended. */
  readonly stopped: () => boolean;
}

/** Carries out planned faults; counts the crash breakpoints it armed and those that fired. */
export class FaultInjector {
  readonly armed: Record<BreakpointNumber, number> = { 1: 0, 2: 0, 3: 0, 4: 0 };
  readonly fired: Record<BreakpointNumber, number> = { 1: 0, 2: 0, 3: 0, 4: 0 };
  readonly #deps: FaultInjectorDeps;

  constructor(deps: FaultInjectorDeps) {
    this.#deps = deps;
  }

  /**
   * Carries out `plan` (fault `number` of the run) on `nodes`, its faulted nodes, and ends it;
   * resolves with the time it ended (restart, SIGCONT, heal).
   */
  async apply(plan: FaultPlan, nodes: readonly NodeProcess[], number: number): Promise<number> {
    const { cluster: c, log, hold } = this.#deps;
    switch (plan.kind) {
      case 'sigkill': {
        const n = nodes[0]!;
        await c.kill(n, 'SIGKILL');
        await hold(plan.downMs);
        await c.restart(n);
        log(`fault ${number}: ${c.label(n)} restarted`);
        return performance.now();
      }
      case 'sigstop': {
        const n = nodes[0]!;
        c.pause(n);
        await hold(plan.pauseMs);
        c.resume(n);
        log(`fault ${number}: SIGCONT ${c.label(n)}`);
        return performance.now();
      }
      case 'isolate': {
        const n = nodes[0]!;
        await retried(() => c.isolate(n));
        await hold(plan.ms);
        await retried(() => c.heal(n));
        log(`fault ${number}: ${c.label(n)} healed`);
        return performance.now();
      }
      case 'split': {
        await retried(() => c.split(nodes, c.nodes.filter((n) => !nodes.includes(n))));
        await hold(plan.ms);
        await retried(() => c.heal(...c.nodes.filter((n) => n.running)));
        log(`fault ${number}: split healed`);
        return performance.now();
      }
      case 'breakpoint':
        return this.#breakpoint(nodes[0]!, plan.breakpoint, plan.restartDelayMs, number);
      case 'isolate-primary-from-peers':
        return this.#cutPrimary(nodes[0]!, plan.ms, number);
      case 'cluster-kill': {
        await Promise.all(nodes.map((n) => c.kill(n, 'SIGKILL')));
        await hold(plan.downMs);
        await Promise.all(nodes.map((n) => c.restart(n)));
        log(`fault ${number}: every node restarted on its data directory`);
        return performance.now();
      }
    }
  }

  /**
   * Cuts the primary `n` off from every other node and them from it, on the peer channels only
   * (the clients reach every node), for `ms`, then heals every node. Says whether `n` logged that
   * its lease lapsed meanwhile, and when: a cut longer than the lease should make it fall silent.
   */
  async #cutPrimary(n: NodeProcess, ms: number, number: number): Promise<number> {
    const { cluster: c, log, hold } = this.#deps;
    const peers = c.nodes.filter((o) => o !== n);
    const lapsesBefore = logged(c, n, lapseLine).length;
    const cutAt = Date.now();
    await retried(() => c.split([n], peers));
    await hold(ms);
    await retried(() => c.heal(...c.nodes.filter((o) => o.running)));
    const lapse = logged(c, n, lapseLine)[lapsesBefore];
    const lapsed = lapse === undefined ? 'it logged no lapse of its lease'
      : `it logged its lease lapsed ${Date.parse(String(lapse['time'])) - cutAt} ms after the cut`;
    log(`fault ${number}: ${c.label(n)} healed; ${lapsed}`);
    return performance.now();
  }

  /**
   * Arms crash breakpoint `bp` on `n` and gives it an occasion to fire without faulting any
   * other node (the minority rule):
   * - 1 (a backup dies after executing a request, a primary after a backup executed one): the
   *   clients' next request;
   * - 2 (dies committing a view it is in): the node is isolated until the others removed it, then
   *   healed; it dies committing the view that adds it back;
   * - 3, 4 (a proposer stops between prepare and accept, or between accept and decide): the node
   *   proposes the next view without itself — the change its peers will make once it is dead —
   *   through the control service.
   * Once it died, it is restarted after `restartDelayMs`. One that did not fire within
   * `breakpointWindowMs` of arming is disarmed.
   */
  async #breakpoint(n: NodeProcess, bp: BreakpointNumber, restartDelayMs: number, number: number): Promise<number> {
    const { cluster: c, monitor, log, hold, stopping, stopped } = this.#deps;
    const label = c.label(n);
    const armedAt = performance.now();
    const died = c.expectDeath(n, new RegExp(`breakpoint ${bp}`), { stayDown: true }).then(() => true, (err: Error) => {
      if (/did not die/.test(err.message)) return false;
      throw err; // it died of something else
    });
    this.armed[bp]++;
    await c.arm(n, bp);
    if (bp === 2) {
      await retried(() => c.isolate(n));
      const isolatedAt = performance.now();
      const removed = (): boolean => c.nodes.some((o) => {
        const r = o === n ? undefined : monitor.latest(o);
        return r !== undefined && r.atMs > isolatedAt && !r.status.members.includes(n.address);
      });
      const until = isolatedAt + breakpoint2IsolateMaxMs;
      while (!removed() && performance.now() < until && n.running && !stopped()) await sleep(statusPollMs);
      if (n.running) await retried(() => c.heal(n));
      log(`fault ${number}: ${label} isolated until ${removed() ? 'removed' : 'the limit'}, healed: it dies when it commits the view that adds it back`);
    } else if (bp === 3 || bp === 4) {
      const view = await c.configView(n);
      const without = c.nodes.filter((o) => view.members.includes(o.address) && o !== n);
      const outcome = await c.propose(n, view.vid + 1, without);
      log(`fault ${number}: ${label} proposes ${c.list(without)} for view ${view.vid + 1}: ${outcome}`);
    }
    const left = Math.max(0, armedAt + breakpointWindowMs - performance.now());
    let fired = await Promise.race([died, sleep(left).then(() => false), stopping.then(() => false)]);
    if (!fired) {
      try {
        await n.control('Breakpoint', { breakpoint: 0, disarm: true });
      } catch {
        // it may just have died of it
      }
      fired = await Promise.race([died, sleep(disarmGraceMs).then(() => false)]);
      if (!fired && !c.forgetDeath(n)) fired = await died; // the plan was used up: it died after all
      if (!fired) {
        const why = stopped() ? 'before the injection phase ended' : `within ${breakpointWindowMs} ms`;
        log(`fault ${number}: breakpoint ${bp} on ${label} did not fire ${why}; disarmed`);
        return performance.now();
      }
    }
    this.fired[bp]++;
    log(`fault ${number}: ${label} died of breakpoint ${bp}`);
    await hold(restartDelayMs);
    await c.restart(n);
    log(`fault ${number}: ${label} restarted`);
    return performance.now();
  }
}
