/**
 * One nemesis run (`runNemesis`): its phases — start the cluster and the clients, inject faults,
 * heal, settle, demand progress — and its result. Beside it: schedule.ts decides which faults,
 * injector.ts carries each out, monitor.ts watches the nodes, recovery.ts is the end phase,
 * workload.ts and recorder.ts are the clients and their history, verdict.ts judges that history.
 */
import { silentLogger } from '../../src/env/logger.js';
import { type NodeProcess, sleep } from '../harness/node-process.js';
import type { LockInput, LockOutput } from '../lincheck/models.js';
import type { KvInput, KvOutput } from '../lincheck/kv-model.js';
import type { CheckResult, History } from '../lincheck/types.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { TesterCluster } from '../tester/cluster.js';
import { keepAlive } from '../tester/run-dir.js';
import { FaultInjector } from './injector.js';
import { StatusMonitor } from './monitor.js';
import { LockHistoryRecorder, type RecordedCounts } from './recorder.js';
import { expectProgress, healAll, settle } from './recovery.js';
import {
  type BreakpointNumber, type ClusterPicture, FaultSchedule, type FaultKind, type FaultPlan, describePlan, faultKinds, faultedNodes, isExclusive,
} from './schedule.js';
import { checkTimeBudgetMs, faultRetryMs, nemesisSessionTimeoutMs, recoveryTimeoutMs, statusPollMs, warmupMs } from './timing.js';
import { judgeHistory } from './verdict.js';
import { LockWorkload } from './workload.js';
import { KvHistoryRecorder } from './kv-recorder.js';
import { type KvNemesisFigures, judgeKv } from './kv-verdict.js';
import { type KvEnd, KvWorkload } from './kv-workload.js';

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
  /** The kinds of fault drawn (`--faults`); default every kind (`faultKinds`). */
  readonly faultKinds?: readonly FaultKind[];
  /**
   * The app and its workload (`--app`): `lock` (default), the lock service's caching clients; `kv`,
   * `synod node --app kv` with KV clients, a lease client and watchers (kv-workload.ts), checked
   * against `kvModel` and the watch check (kv-verdict.ts).
   */
  readonly app?: 'lock' | 'kv';
  /** Run the cluster with mutual TLS and client authentication (`--tls`, `TesterClusterOptions.tls`). */
  readonly tls?: boolean;
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
  /**
   * Whole-cluster kills after which the clients were served again: every node back and some
   * client completing a lock cycle within `recoveryTimeoutMs` of the restarts (one that was not
   * is a liveness failure). Equal to `faults['cluster-kill']`, but for one cut short by the end
   * of the injection phase, which the end phase's progress check (`expectProgress`) covers.
   */
  readonly clusterKillsServedAgain: number;
  /**
   * The local holder check (`LockWorkload.holderViolations`): local grants it saw, and two users
   * holding one lock at once or a fencing token going back (each also a problem).
   */
  readonly localHolders: { readonly grants: number; readonly violations: readonly string[] };
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
  /** The recorded history (what was checked); a KV run's is in `kv`. */
  readonly history: History<LockInput, LockOutput>;
  /** A KV run's figures (operations, watchers, the final revision) and its history; null for a lock run. */
  readonly kv: (KvNemesisFigures & { readonly history: History<KvInput, KvOutput> }) | null;
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
  readonly #kvRecorder = new KvHistoryRecorder();
  /** What a KV run's watchers and final read saw (null: not got). */
  #kvEnd: KvEnd | null = null;
  readonly #faults = Object.fromEntries(faultKinds.map((k) => [k, 0])) as Record<FaultKind, number>;
  /** Nodes under a fault, from its start until they are back. */
  readonly #faulty = new Set<NodeProcess>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #problems: string[] = [];
  readonly #liveness: string[] = [];
  #cluster: TesterCluster | null = null;
  #workload: LockWorkload | KvWorkload | null = null;
  #clusterKillsServedAgain = 0;
  #monitor: StatusMonitor | null = null;
  /** Made once the cluster and its monitor exist. */
  #injector: FaultInjector | null = null;
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
    this.#schedule = new FaultSchedule(opts.seed, opts.nodes, opts.faultKinds);
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
    let workload: LockWorkload | KvWorkload | null = null;
    let transport: GrpcClientTransport | null = null;
    const release = keepAlive();
    const log = (line: string): void => this.#log(line);
    try {
      const cluster = await TesterCluster.create({
        dir: opts.dir, size: opts.nodes, supervise: false, logLevel: opts.logLevel ?? 'info', tls: opts.tls, ...(opts.app === 'kv' ? { app: 'kv' } : {}),
        nodeArgs: ['--session-timeout-ms', String(nemesisSessionTimeoutMs), ...(opts.mutations ?? []).flatMap((m) => ['--test-mutate', m])],
      });
      this.#cluster = cluster;
      await cluster.grow();
      this.#log(`cluster of ${opts.nodes} ${opts.app === 'kv' ? 'KV node' : 'lock-server'} processes serving: ${cluster.list(cluster.nodes)} (${opts.dir})`);
      this.#monitor = new StatusMonitor(cluster);
      this.#m.start();
      this.#injector = new FaultInjector({
        cluster, monitor: this.#m, log, hold: (ms) => this.#hold(ms), stopping: this.#stopping, stopped: () => this.#stopped,
      });

      transport = new GrpcClientTransport({ cluster: cluster.cluster, logger: silentLogger, tls: cluster.clientTls });
      if (opts.app === 'kv') {
        const kv = new KvWorkload({
          members: cluster.nodes.map((n) => n.address), transport, clients: this.#clients, seed: opts.seed, recorder: this.#kvRecorder, callDeadlineMs: opts.callDeadlineMs,
          tls: cluster.clientTlsFiles,
        });
        workload = kv;
        this.#workload = kv;
        await kv.start();
        this.#log(`${kv.description}; faults for ${(opts.durationMs / 1000).toFixed(1)} s`);
      } else {
        const locks = new LockWorkload({
          cluster: cluster.cluster, members: cluster.nodes.map((n) => n.address), transport, clients: this.#clients,
          locks: opts.locks ?? defaultLocks, seed: opts.seed, recorder: this.#recorder,
          callDeadlineMs: opts.callDeadlineMs,
        });
        workload = locks;
        this.#workload = locks;
        locks.start();
        this.#log(`${this.#clients} lock clients on ${locks.lockNames.join(', ')}; faults for ${(opts.durationMs / 1000).toFixed(1)} s`);
      }
      await sleep(warmupMs);

      await this.#inject(opts.durationMs);
      await healAll(cluster, log);
      this.#faulty.clear();
      const failure = (await settle(cluster, this.#m, log)) ?? (await expectProgress(cluster, workload, log));
      if (failure !== null) this.#livenessFailure(failure);
    } catch (err) {
      this.#problems.push(`the run failed: ${(err as Error).stack ?? String(err)}`);
    } finally {
      this.#halted = true;
      this.#stop();
      await Promise.allSettled([...this.#tasks]);
      await workload?.stop();
      this.#recorder.stop();
      this.#kvRecorder.stop();
      for (const f of workload?.failures() ?? []) this.#liveness.push(`client ${f}`);
      if (workload instanceof KvWorkload && this.#problems.length === 0 && this.#liveness.length === 0) {
        try {
          this.#kvEnd = await workload.finish();
        } catch (err) {
          this.#problems.push(`the KV watchers' end: ${(err as Error).message}`);
        }
      }
      await workload?.close();
      this.#noteUnexpectedDeaths();
      await this.#monitor?.stop();
      await this.#cluster?.close();
      await transport?.close();
      release();
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
      const endedAt = await this.#injector!.apply(plan, nodes, number);
      const cyclesAtRestart = this.#workload?.cycles ?? 0;
      await this.#awaitBack(nodes, endedAt, number);
      if (plan.kind === 'cluster-kill') await this.#awaitServed(cyclesAtRestart, endedAt, number);
      for (const n of nodes) this.#faulty.delete(n);
    } catch (err) {
      if (err instanceof RecoveryFailure) return; // reported as a liveness failure; its nodes stay faulty
      this.#halt(`fault ${number} (${describePlan(plan)}): ${(err as Error).message}`);
    } finally {
      if (exclusive) this.#exclusive--;
    }
  }

  /** Waits until every node of `nodes` is back (healthy, read after `sinceMs`); a liveness failure after `recoveryTimeoutMs`. */
  async #awaitBack(nodes: readonly NodeProcess[], sinceMs: number, number: number): Promise<void> {
    const deadline = sinceMs + recoveryTimeoutMs;
    while (!nodes.every((n) => this.#m.isHealthy(n, sinceMs))) {
      if (performance.now() > deadline) {
        const failure = `fault ${number}: ${this.#c.list(nodes)} not back (a normal member of the current view) within ${recoveryTimeoutMs} ms ` +
          `after the fault ended; ${await this.#c.describe()}`;
        this.#livenessFailure(failure);
        this.#halted = true;
        throw new RecoveryFailure(failure);
      }
      await sleep(statusPollMs);
    }
    const vid = this.#m.latest(nodes[0]!)?.status.vid;
    this.#log(`fault ${number}: ${this.#c.list(nodes)} back in view ${vid} after ${((performance.now() - sinceMs) / 1000).toFixed(1)} s`);
  }

  /**
   * After a whole-cluster kill: some client completes a lock cycle (counted from `cycles`, the
   * count when the restarts were done, while no node could answer) within `recoveryTimeoutMs` of
   * `sinceMs`; a liveness failure otherwise. Nodes that look healthy prove only their statuses;
   * this proves that the restarted cluster serves its clients again.
   */
  async #awaitServed(cycles: number, sinceMs: number, number: number): Promise<void> {
    const deadline = sinceMs + recoveryTimeoutMs;
    const workload = this.#workload!;
    while (workload.cycles <= cycles && !this.#stopped) {
      if (performance.now() > deadline) {
        const failure = `fault ${number}: no client completed a lock cycle (or KV operation) within ${recoveryTimeoutMs} ms after every node was restarted; ${await this.#c.describe()}`;
        this.#livenessFailure(failure);
        this.#halted = true;
        throw new RecoveryFailure(failure);
      }
      await sleep(statusPollMs);
    }
    if (workload.cycles <= cycles) return; // the run ends: the end phase demands progress of every client anyway
    this.#clusterKillsServedAgain++;
    this.#log(`fault ${number}: clients served again ${((performance.now() - sinceMs) / 1000).toFixed(1)} s after the restarts`);
  }

  /** Records a liveness failure: the cluster or a client did not make progress when it should have. */
  #livenessFailure(failure: string): void {
    this.#liveness.push(failure);
    this.#log(`LIVENESS: ${failure}`);
  }

  #verdict(cycles: number): NemesisResult {
    const opts = this.#opts;
    const history = this.#recorder.history();
    const kvJudged = opts.app === 'kv'
      ? judgeKv({ recorder: this.#kvRecorder, end: this.#kvEnd, dir: opts.dir, seed: opts.seed, nodes: opts.nodes, checkTimeBudgetMs: opts.checkTimeBudgetMs ?? checkTimeBudgetMs })
      : null;
    const judged = kvJudged ?? judgeHistory({
      history, cluster: this.#cluster, recorderProblems: this.#recorder.problems,
      dir: opts.dir, seed: opts.seed, nodes: opts.nodes, checkTimeBudgetMs: opts.checkTimeBudgetMs ?? checkTimeBudgetMs,
    });
    const holderViolations = this.#workload instanceof LockWorkload ? this.#workload.holderViolations() : [];
    const problems = [...this.#problems, ...this.#recorder.problems, ...judged.problems, ...holderViolations.map((v) => `local holders: ${v}`)];
    const verdict: NemesisVerdict = judged.check === null ? 'unchecked' : judged.check.verdict;
    const noBreakpoints = { 1: 0, 2: 0, 3: 0, 4: 0 };
    return {
      seed: opts.seed,
      nodes: opts.nodes,
      clients: this.#clients,
      durationMs: opts.durationMs,
      operations: { ...this.#recorder.counts(), cycles },
      faults: { ...this.#faults },
      breakpoints: { armed: { ...(this.#injector?.armed ?? noBreakpoints) }, fired: { ...(this.#injector?.fired ?? noBreakpoints) } },
      clusterKillsServedAgain: this.#clusterKillsServedAgain,
      localHolders: { grants: this.#workload instanceof LockWorkload ? this.#workload.localGrants : 0, violations: holderViolations },
      verdict,
      check: judged.check,
      picturePath: judged.picturePath,
      livenessFailures: [...this.#liveness],
      problems,
      passed: verdict === 'ok' && problems.length === 0 && this.#liveness.length === 0,
      elapsedMs: performance.now() - this.#started,
      history,
      kv: kvJudged === null || kvJudged.figures === null ? null : { ...kvJudged.figures, history: kvJudged.history },
      dir: opts.dir,
    };
  }
}

/** A faulted node did not come back in time (already reported as a liveness failure). */
class RecoveryFailure extends Error {
  override readonly name = 'RecoveryFailure';
}
