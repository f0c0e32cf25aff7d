import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { silentLogger } from '../../src/env/logger.js';
import { type NodeProcess, sleep } from '../harness/node-process.js';
import { checkLinearizable } from '../lincheck/check.js';
import { type LockInput, type LockOutput, lockModel, lockTokenConflict } from '../lincheck/models.js';
import { writeViolationPicture } from '../lincheck/render.js';
import type { CheckResult, History } from '../lincheck/types.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { TesterCluster } from '../tester/cluster.js';
import { StatusMonitor } from './monitor.js';
import { LockHistoryRecorder, type RecordedCounts } from './recorder.js';
import {
  type BreakpointNumber, type ClusterPicture, FaultSchedule, type FaultKind, type FaultPlan, describePlan, faultKinds, faultedNodes, isExclusive,
} from './schedule.js';
import {
  breakpoint2IsolateMaxMs, breakpointWindowMs, checkTimeBudgetMs, disarmGraceMs, faultRetryMs, livenessCycles, livenessTimeoutMs,
  nemesisSessionTimeoutMs, recoveryTimeoutMs, settleTimeoutMs, statusPollMs, warmupMs,
} from './timing.js';
import { LockWorkload } from './workload.js';

export interface NemesisOptions {
  /** How long faults are injected (ms), after a short warm-up. */
  readonly durationMs: number;
  /** Seeds the fault schedule and the clients' choices. */
  readonly seed: number;
  /** Cluster size: 3 or 5. */
  readonly nodes: number;
  /** Lock clients (default 5), each its own owner. */
  readonly clients?: number;
  /** Locks they contend for (default 3). */
  readonly locks?: number;
  /** The run's directory: node data directories and logs, and the picture of a violation. */
  readonly dir: string;
  /**
   * Log level of the nodes' log files: debug, info or warn (default info). Not error: session
   * expiries (which the lock model does not model) are found in the logs, at warn.
   */
  readonly logLevel?: 'debug' | 'info' | 'warn';
  /** Progress lines (each fault as it starts and ends, the phases); default nowhere. */
  readonly write?: (line: string) => void;
  /** Time budget of the linearizability check; default `checkTimeBudgetMs`. */
  readonly checkTimeBudgetMs?: number;
  /**
   * Deadline of every client call; default `lockCallDeadlineMs` (15 s: unknown outcomes are
   * rare). A short one (e.g. 300 ms) makes calls cut by faults end with unknown outcomes, so the
   * check must consider both ways for many of them.
   */
  readonly callDeadlineMs?: number;
  /**
   * Test-only RSM mutations the nodes run with (`synod lock-server --test-mutate NAME`), to
   * watch the check catch a broken protocol on real processes; default none.
   */
  readonly mutations?: readonly string[];
}

export type NemesisVerdict = 'ok' | 'violation' | 'unknown' | 'unchecked';

export interface NemesisResult {
  readonly seed: number;
  readonly nodes: number;
  readonly clients: number;
  readonly durationMs: number;
  /** The recorded operations (server calls), and the lock cycles the users completed. */
  readonly operations: RecordedCounts & { readonly cycles: number };
  /** Faults injected, by kind. */
  readonly faults: Readonly<Record<FaultKind, number>>;
  /** Crash breakpoints armed, by number, and how many of them fired (killed their node). */
  readonly breakpoints: { readonly armed: Readonly<Record<BreakpointNumber, number>>; readonly fired: Readonly<Record<BreakpointNumber, number>> };
  /** The checker's verdict; `unchecked` when the run never got to a checkable history. */
  readonly verdict: NemesisVerdict;
  readonly check: CheckResult | null;
  /** Where the picture of a violation was written. */
  readonly picturePath?: string;
  /** The cluster or a client did not make progress when it should have, as sentences. */
  readonly livenessFailures: readonly string[];
  /** Everything else that went wrong (a fault that could not be injected, a node that died unplanned, a history that cannot be checked). */
  readonly problems: readonly string[];
  /** Verdict ok, no liveness failure, no problem. */
  readonly passed: boolean;
  readonly elapsedMs: number;
  /** The recorded history (what was checked). */
  readonly history: History<LockInput, LockOutput>;
  readonly dir: string;
}

/** Default number of lock clients and of locks: five owners on three locks keep FIFO queues busy. */
export const defaultClients = 5;
export const defaultLocks = 3;

/**
 * One nemesis run (issue 7): a real cluster of `synod lock-server` processes, concurrent caching
 * lock clients, a seeded random schedule of faults (`FaultSchedule`) for `durationMs`; then every
 * fault healed, the cluster settled and every client making progress again; then the history of
 * every client call checked for linearizability against `lockModel`. Never throws for what
 * happens to the cluster: everything is reported in the result. The caller owns `dir`.
 */
export async function runNemesis(opts: NemesisOptions): Promise<NemesisResult> {
  return new NemesisRun(opts).run();
}

class NemesisRun {
  readonly #opts: NemesisOptions;
  readonly #write: (line: string) => void;
  readonly #started = performance.now();
  readonly #clients: number;
  readonly #schedule: FaultSchedule;
  readonly #recorder = new LockHistoryRecorder();
  readonly #faults = Object.fromEntries(faultKinds.map((k) => [k, 0])) as Record<FaultKind, number>;
  readonly #armed: Record<BreakpointNumber, number> = { 1: 0, 2: 0, 3: 0, 4: 0 };
  readonly #fired: Record<BreakpointNumber, number> = { 1: 0, 2: 0, 3: 0, 4: 0 };
  /** Nodes under a fault, from its start until they are back. */
  readonly #faulty = new Set<NodeProcess>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #problems: string[] = [];
  readonly #liveness: string[] = [];
  #cluster: TesterCluster | null = null;
  #monitor: StatusMonitor | null = null;
  /** Set when no more faults may start (the injection phase is over, or the run went wrong). */
  #halted = false;
  #faultCount = 0;
  /** Faults under way that want the cluster to themselves (`isExclusive`). */
  #exclusive = 0;
  #unexpectedSeen = 0;
  #stopped = false;
  #resolveStopping!: () => void;
  /** Resolves when the injection phase ends: faults in progress cut their durations short. */
  readonly #stopping = new Promise<void>((resolve) => (this.#resolveStopping = resolve));

  constructor(opts: NemesisOptions) {
    if (opts.nodes !== 3 && opts.nodes !== 5) throw new RangeError(`the nemesis runs 3 or 5 nodes, got ${opts.nodes}`);
    this.#opts = opts;
    this.#write = opts.write ?? (() => {});
    this.#clients = opts.clients ?? defaultClients;
    this.#schedule = new FaultSchedule(opts.seed, opts.nodes);
  }

  /** Ends the injection phase: no fault starts any more, and those in progress end early. */
  #stop(): void {
    this.#stopped = true;
    this.#resolveStopping();
  }

  #log(line: string): void {
    const secs = ((performance.now() - this.#started) / 1000).toFixed(1);
    this.#write(`[+${secs.padStart(5)}s] ${line}`);
  }

  get #c(): TesterCluster {
    return this.#cluster!;
  }

  get #m(): StatusMonitor {
    return this.#monitor!;
  }

  async run(): Promise<NemesisResult> {
    const opts = this.#opts;
    let workload: LockWorkload | null = null;
    let transport: GrpcClientTransport | null = null;
    const alive = setInterval(() => {}, keepAliveIntervalMs); // the clients' timers are unref'd
    try {
      const cluster = await TesterCluster.create({
        dir: opts.dir, size: opts.nodes, supervise: false, logLevel: opts.logLevel ?? 'info',
        nodeArgs: ['--session-timeout-ms', String(nemesisSessionTimeoutMs), ...(opts.mutations ?? []).flatMap((m) => ['--test-mutate', m])],
      });
      this.#cluster = cluster;
      await cluster.grow();
      this.#log(`cluster of ${opts.nodes} lock-server processes serving: ${cluster.list(cluster.nodes)} (${opts.dir})`);
      this.#monitor = new StatusMonitor(cluster);
      this.#m.start();

      transport = new GrpcClientTransport({ cluster: cluster.cluster, logger: silentLogger });
      workload = new LockWorkload({
        cluster: cluster.cluster, members: cluster.nodes.map((n) => n.address), transport, clients: this.#clients,
        locks: opts.locks ?? defaultLocks, seed: opts.seed, recorder: this.#recorder,
        callDeadlineMs: opts.callDeadlineMs,
      });
      workload.start();
      this.#log(`${this.#clients} lock clients on ${workload.lockNames.join(', ')}; faults for ${(opts.durationMs / 1000).toFixed(1)} s`);
      await sleep(warmupMs);

      await this.#inject(opts.durationMs);
      await this.#healAll();
      if (await this.#settle()) await this.#expectProgress(workload);
    } catch (err) {
      this.#problems.push(`the run failed: ${(err as Error).stack ?? String(err)}`);
    } finally {
      this.#halted = true;
      this.#stop();
      await Promise.allSettled([...this.#tasks]);
      await workload?.stop();
      this.#recorder.stop();
      for (const f of workload?.failures() ?? []) this.#liveness.push(`client ${f}`);
      await workload?.close();
      this.#noteUnexpectedDeaths();
      await this.#monitor?.stop();
      await this.#cluster?.close();
      await transport?.close();
      clearInterval(alive);
    }
    return this.#verdict(workload?.cycles ?? 0);
  }

  // ---- the injection phase -------------------------------------------------------------------

  async #inject(durationMs: number): Promise<void> {
    const end = performance.now() + durationMs;
    while (performance.now() < end && !this.#halted) {
      this.#noteUnexpectedDeaths();
      if (this.#halted) break;
      const plan = this.#schedule.next(this.#picture());
      if (plan === null) {
        await sleep(faultRetryMs);
        continue;
      }
      const task = this.#fault(plan);
      this.#tasks.add(task);
      void task.finally(() => this.#tasks.delete(task));
      await Promise.race([sleep(Math.min(this.#schedule.nextGapMs(), Math.max(0, end - performance.now()))), this.#stopping]);
    }
    this.#log(`fault injection over (${this.#faultCount} faults); healing everything`);
    this.#stop();
    await Promise.allSettled([...this.#tasks]);
  }

  #picture(): ClusterPicture {
    const c = this.#c;
    const primary = this.#m.primary();
    return {
      nodes: c.nodes.map((n) => c.label(n)),
      faulty: new Set([...this.#faulty].map((n) => c.label(n))),
      healthy: new Set(c.nodes.filter((n) => this.#m.isHealthy(n)).map((n) => c.label(n))),
      primary: primary === null ? null : c.label(primary),
      exclusive: this.#exclusive > 0,
    };
  }

  #node(label: string): NodeProcess {
    const n = this.#c.nodes.find((x) => this.#c.label(x) === label);
    if (n === undefined) throw new Error(`no node ${label}`);
    return n;
  }

  /** Waits `ms`, or less if the injection phase ends meanwhile. */
  #hold(ms: number): Promise<void> {
    return Promise.race([sleep(ms), this.#stopping]);
  }

  #halt(problem: string): void {
    this.#problems.push(problem);
    this.#log(`PROBLEM: ${problem}`);
    this.#halted = true;
  }

  #noteUnexpectedDeaths(): void {
    const deaths = this.#cluster?.unexpectedDeaths ?? [];
    while (this.#unexpectedSeen < deaths.length) this.#halt(deaths[this.#unexpectedSeen++]!);
  }

  /** One fault: inject it, end it, and wait until its nodes are back. */
  async #fault(plan: FaultPlan): Promise<void> {
    const nodes = faultedNodes(plan).map((l) => this.#node(l));
    for (const n of nodes) this.#faulty.add(n);
    const number = ++this.#faultCount;
    const exclusive = isExclusive(plan);
    if (exclusive) this.#exclusive++;
    this.#faults[plan.kind]++;
    this.#log(`fault ${number}: ${describePlan(plan)}`);
    try {
      const endedAt = await this.#apply(plan, nodes, number);
      await this.#awaitBack(nodes, endedAt, number);
      for (const n of nodes) this.#faulty.delete(n);
    } catch (err) {
      if (err instanceof RecoveryFailure) return; // reported as a liveness failure; its nodes stay faulty
      this.#halt(`fault ${number} (${describePlan(plan)}): ${(err as Error).message}`);
    } finally {
      if (exclusive) this.#exclusive--;
    }
  }

  /** Carries out `plan` and ends it; resolves with the time it ended (restart, SIGCONT, heal). */
  async #apply(plan: FaultPlan, nodes: readonly NodeProcess[], number: number): Promise<number> {
    const c = this.#c;
    switch (plan.kind) {
      case 'sigkill': {
        const n = nodes[0]!;
        await c.kill(n, 'SIGKILL');
        await this.#hold(plan.downMs);
        await c.restart(n);
        this.#log(`fault ${number}: ${c.label(n)} restarted`);
        return performance.now();
      }
      case 'sigstop': {
        const n = nodes[0]!;
        c.pause(n);
        await this.#hold(plan.pauseMs);
        c.resume(n);
        this.#log(`fault ${number}: SIGCONT ${c.label(n)}`);
        return performance.now();
      }
      case 'isolate': {
        const n = nodes[0]!;
        await retried(() => c.isolate(n));
        await this.#hold(plan.ms);
        await retried(() => c.heal(n));
        this.#log(`fault ${number}: ${c.label(n)} healed`);
        return performance.now();
      }
      case 'split': {
        await retried(() => c.split(nodes, c.nodes.filter((n) => !nodes.includes(n))));
        await this.#hold(plan.ms);
        await retried(() => c.heal(...c.nodes.filter((n) => n.running)));
        this.#log(`fault ${number}: split healed`);
        return performance.now();
      }
      case 'breakpoint':
        return this.#breakpoint(plan.node, plan.breakpoint, plan.restartDelayMs, number);
    }
  }

  /**
   * Arms crash breakpoint `bp` on the node and gives it an occasion to fire without faulting any
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
  async #breakpoint(label: string, bp: BreakpointNumber, restartDelayMs: number, number: number): Promise<number> {
    const c = this.#c;
    const n = this.#node(label);
    const armedAt = performance.now();
    const died = c.expectDeath(n, new RegExp(`breakpoint ${bp}`), { stayDown: true }).then(() => true, (err: Error) => {
      if (/did not die/.test(err.message)) return false;
      throw err; // it died of something else
    });
    this.#armed[bp]++;
    await c.arm(n, bp);
    if (bp === 2) {
      await retried(() => c.isolate(n));
      const isolatedAt = performance.now();
      const removed = (): boolean => c.nodes.some((o) => {
        const r = o === n ? undefined : this.#m.latest(o);
        return r !== undefined && r.atMs > isolatedAt && !r.status.members.includes(n.address);
      });
      const until = isolatedAt + breakpoint2IsolateMaxMs;
      while (!removed() && performance.now() < until && n.running && !this.#stopped) await sleep(statusPollMs);
      if (n.running) await retried(() => c.heal(n));
      this.#log(`fault ${number}: ${label} isolated until ${removed() ? 'removed' : 'the limit'}, healed: it dies when it commits the view that adds it back`);
    } else if (bp === 3 || bp === 4) {
      const view = await c.configView(n);
      const without = c.nodes.filter((o) => view.members.includes(o.address) && o !== n);
      const outcome = await c.propose(n, view.vid + 1, without);
      this.#log(`fault ${number}: ${label} proposes ${c.list(without)} for view ${view.vid + 1}: ${outcome}`);
    }
    const left = Math.max(0, armedAt + breakpointWindowMs - performance.now());
    let fired = await Promise.race([died, sleep(left).then(() => false), this.#stopping.then(() => false)]);
    if (!fired) {
      try {
        await n.control('Breakpoint', { breakpoint: 0, disarm: true });
      } catch {
        // it may just have died of it
      }
      fired = await Promise.race([died, sleep(disarmGraceMs).then(() => false)]);
      if (!fired && !c.forgetDeath(n)) fired = await died; // the plan was used up: it died after all
      if (!fired) {
        const why = this.#stopped ? 'before the injection phase ended' : `within ${breakpointWindowMs} ms`;
        this.#log(`fault ${number}: breakpoint ${bp} on ${label} did not fire ${why}; disarmed`);
        return performance.now();
      }
    }
    this.#fired[bp]++;
    this.#log(`fault ${number}: ${label} died of breakpoint ${bp}`);
    await this.#hold(restartDelayMs);
    await c.restart(n);
    this.#log(`fault ${number}: ${label} restarted`);
    return performance.now();
  }

  /** Waits until every node of `nodes` is back (healthy, read after `sinceMs`); a liveness failure after `recoveryTimeoutMs`. */
  async #awaitBack(nodes: readonly NodeProcess[], sinceMs: number, number: number): Promise<void> {
    const deadline = sinceMs + recoveryTimeoutMs;
    while (!nodes.every((n) => this.#m.isHealthy(n, sinceMs))) {
      if (performance.now() > deadline) {
        const failure = `fault ${number}: ${this.#c.list(nodes)} not back (a normal member of the current view) within ${recoveryTimeoutMs} ms ` +
          `after the fault ended; ${await this.#c.describe()}`;
        this.#liveness.push(failure);
        this.#log(`LIVENESS: ${failure}`);
        this.#halted = true;
        throw new RecoveryFailure(failure);
      }
      await sleep(statusPollMs);
    }
    const vid = this.#m.latest(nodes[0]!)?.status.vid;
    this.#log(`fault ${number}: ${this.#c.list(nodes)} back in view ${vid} after ${((performance.now() - sinceMs) / 1000).toFixed(1)} s`);
  }

  // ---- the end -------------------------------------------------------------------------------

  /** Ends every fault that is left: SIGCONT, heal every partition, disarm breakpoints, restart dead nodes. */
  async #healAll(): Promise<void> {
    const c = this.#c;
    for (const n of c.nodes) if (n.running && n.paused) c.resume(n);
    await Promise.all(c.nodes.filter((n) => n.running).map(async (n) => {
      await retried(() => n.control('Heal', {}));
      await retried(() => n.control('Breakpoint', { breakpoint: 0, disarm: true }));
    }));
    for (const n of c.nodes) {
      if (!n.running) {
        c.forgetDeath(n);
        await c.restart(n);
        this.#log(`${c.label(n)} was down: restarted`);
      }
    }
    this.#faulty.clear();
  }

  /** Waits until the cluster settled (every node a normal member of one view of all of them); false (a liveness failure) if it does not. */
  async #settle(): Promise<boolean> {
    const since = performance.now();
    const deadline = since + settleTimeoutMs;
    for (;;) {
      const s = this.#m.settled(since);
      if (s !== null) {
        this.#log(`settled: view ${s.vid} ${this.#c.list(s.members)}, primary ${this.#c.label(s.primary!)}, after ${((performance.now() - since) / 1000).toFixed(1)} s`);
        return true;
      }
      if (performance.now() > deadline) {
        const failure = `the cluster did not settle (every node a normal member of one view of all nodes) within ${settleTimeoutMs} ms ` +
          `after every fault was healed; ${await this.#c.describe()}`;
        this.#liveness.push(failure);
        this.#log(`LIVENESS: ${failure}`);
        return false;
      }
      await sleep(statusPollMs);
    }
  }

  /** Every user must complete `livenessCycles` more cycles within `livenessTimeoutMs`. */
  async #expectProgress(workload: LockWorkload): Promise<void> {
    const since = performance.now();
    const base = workload.cyclesByUser();
    const deadline = since + livenessTimeoutMs;
    const lagging = (): string[] => [...workload.cyclesByUser()].filter(([u, n]) => n < base.get(u)! + livenessCycles).map(([u]) => u);
    while (lagging().length > 0 && performance.now() < deadline) await sleep(statusPollMs);
    const late = lagging();
    if (late.length === 0) {
      this.#log(`every client completed ${livenessCycles} more lock cycles after the cluster settled (${((performance.now() - since) / 1000).toFixed(1)} s)`);
      return;
    }
    const now = workload.cyclesByUser();
    const failure = `after the cluster settled, ${late.map((u) => `${u} (${now.get(u)! - base.get(u)!} cycles)`).join(', ')} did not complete ` +
      `${livenessCycles} lock cycles within ${livenessTimeoutMs} ms; ${await this.#c.describe()}`;
    this.#liveness.push(failure);
    this.#log(`LIVENESS: ${failure}`);
  }

  #verdict(cycles: number): NemesisResult {
    const opts = this.#opts;
    const history = this.#recorder.history();
    const expiries = serverExpiries(this.#cluster);
    const problems = [...this.#problems, ...this.#recorder.problems, ...expiries];
    let check: CheckResult | null = null;
    let picturePath: string | undefined;
    if (this.#recorder.problems.length === 0 && expiries.length === 0 && history.length > 0) {
      check = checkLinearizable(history, lockModel, { timeBudgetMs: opts.checkTimeBudgetMs ?? checkTimeBudgetMs });
      if (check.verdict === 'violation') {
        try {
          picturePath = writeViolationPicture(opts.dir, history, lockModel, check, { name: 'violation', title: `nemesis seed ${opts.seed}, ${opts.nodes} nodes` });
        } catch (err) {
          problems.push(`could not write the picture of the violation: ${(err as Error).message}`);
        }
      } else if (check.verdict === 'unknown') {
        problems.push(`the check gave no verdict: ${check.reason}`);
      }
      const conflict = lockTokenConflict(history);
      if (conflict !== null) problems.push(`fencing tokens: ${conflict}`);
    }
    const verdict: NemesisVerdict = check === null ? 'unchecked' : check.verdict;
    return {
      seed: opts.seed,
      nodes: opts.nodes,
      clients: this.#clients,
      durationMs: opts.durationMs,
      operations: { ...this.#recorder.counts(), cycles },
      faults: { ...this.#faults },
      breakpoints: { armed: { ...this.#armed }, fired: { ...this.#fired } },
      verdict,
      check,
      picturePath,
      livenessFailures: [...this.#liveness],
      problems,
      passed: verdict === 'ok' && problems.length === 0 && this.#liveness.length === 0,
      elapsedMs: performance.now() - this.#started,
      history,
      dir: opts.dir,
    };
  }
}

/**
 * What a node logs when it expires a session (src/node/sessions.ts): at info level when it
 * submits the expiry, at warn level once it was executed.
 */
const expiryLogLine = /sessions: (owner has had no callback stream for the session timeout; expiring|session expired)/;

/**
 * Sessions the servers expired during the run, as problems, found in the nodes' log files. An
 * expiry is a request the primary submits itself, so no client observer sees it; the long
 * session timeout (`nemesisSessionTimeoutMs`) should make it impossible, and this checks it (at
 * log level error and above the lines are not written).
 */
function serverExpiries(cluster: TesterCluster | null): string[] {
  if (cluster === null) return [];
  const found: string[] = [];
  for (const n of cluster.nodes) {
    const file = join(dirname(n.dataDir), `${cluster.label(n)}.log`);
    if (!existsSync(file)) continue;
    const lines = readFileSync(file, 'utf8').split('\n').filter((l) => expiryLogLine.test(l));
    if (lines.length > 0) {
      found.push(`${cluster.label(n)} expired a session during the run (${lines.length} log lines in ${file}, first: ${lines[0]!.slice(0, 300)}); ` +
        'the lock model does not model expire, so the history cannot be checked soundly');
    }
  }
  return found;
}

/** Period of the timer that keeps the process alive during a run. */
const keepAliveIntervalMs = 1000;

/** A faulted node did not come back in time (already reported as a liveness failure). */
class RecoveryFailure extends Error {
  override readonly name = 'RecoveryFailure';
}

/** Attempts of a control action (isolate, heal, …) that failed, e.g. a control call timed out on a loaded machine. */
const controlAttempts = 3;
const controlRetryPauseMs = 200;

async function retried<T>(action: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await action();
    } catch (err) {
      if (attempt >= controlAttempts) throw err;
      await sleep(controlRetryPauseMs);
    }
  }
}
