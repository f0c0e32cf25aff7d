import type { ClientTransport } from '../../src/env/transport.js';
import type { NodeId } from '../../src/env/types.js';
import type { NodeWorld } from '../../src/env/world.js';
import type { NodeCallbacks } from '../../src/node/node-stack.js';
import type { ShellMutations } from '../../src/env/shell.js';
import { type TestState, testApp } from '../../src/apps/test-app.js';
import type { App } from '../../src/rsm/app.js';
import type { ConfigMutations } from '../../src/config/view-manager.js';
import type { PaxosMutations } from '../../src/paxos/context.js';
import type { RsmMutations } from '../../src/rsm/replica.js';
import type { RsmClient } from '../../src/client/rsm-client.js';
import { DeadlineExceededError } from '../../src/client/errors.js';
import { checkLinearizable } from '../lincheck/check.js';
import { appendCalls } from '../lincheck/mappings.js';
import { type AppendInput, type AppendOutput, appendModel } from '../lincheck/models.js';
import { type CallMapping, HistoryRecorder } from '../lincheck/recorder.js';
import type { CheckResult, History, Model } from '../lincheck/types.js';
import { RsmChecker } from './checkers/rsm-checker.js';
import { SimCluster, type StackProcess, sameList } from './cluster.js';
import { drawDisk } from './disk.js';
import { FaultInjector, type FaultPlan } from './faults.js';
import { drawNetwork } from './network.js';
import { Prng } from './prng.js';
import type { RunResult } from './run-result.js';
import type { Simulation } from './simulation.js';

/** Options of a whole-stack run (`runStackSimulation`), over client histories of `I`/`O` operations. */
export interface StackRunOptions<I, O> {
  readonly seed: number;
  readonly keepTrace?: boolean;
  readonly traceLogs?: boolean;
  readonly mutations?: PaxosMutations & ShellMutations & ConfigMutations & RsmMutations;
  /**
   * Told the client history and the checker's verdict when the history is not linearizable (e.g.
   * to draw its picture: `npm run sim -- --layer rsm --seed S` does).
   */
  readonly onViolation?: (history: History<I, O>, result: Extract<CheckResult, { verdict: 'violation' }>) => void;
  /** How many replicas; default drawn from the seed (3–5). The testkit lets a user fix it. */
  readonly nodes?: number;
  /** How many concurrent clients; default drawn from the seed (2–5). */
  readonly clients?: number;
  /**
   * `none`: a run without faults (a network that neither loses, duplicates nor slows messages; no
   * crashes, pauses, partitions, disk errors or breakpoints), e.g. to tell an app's own bug from
   * one that needs faults. Default `all`.
   */
  readonly faults?: 'all' | 'none';
}

export type RsmRunOptions = StackRunOptions<AppendInput, AppendOutput>;

/** What a workload's clients see of the run they work in. */
export interface WorkloadRun {
  readonly sim: Simulation;
  /** The replicas' node ids. */
  readonly servers: readonly NodeId[];
  /** The replica-side checker (it watches every execution); the append workload records its calls there. */
  readonly rsm: RsmChecker;
  /** False once the run stops its clients: a client then starts no further call. */
  issuing(): boolean;
  /**
   * A unit of a client's work (a call, a lock cycle) that began at `startedMs` succeeded; once
   * the cluster has settled, units begun after it count for liveness.
   */
  progressed(clientId: string, startedMs: number): void;
}

/**
 * What the clients of a whole-stack run do and what is checked of them: the app the replicas
 * run, each client's loop, the model their recorded history must linearize in, and the final
 * checks on the replicas of the quiet view. One per run (it may count its own figures).
 */
export interface Workload<S, M, I, O> {
  /** Names the run in its trace (`rsm run seed=…`). */
  readonly name: string;
  readonly app: App<S>;
  /** Which client calls are recorded, as operations of `model`. */
  readonly calls: CallMapping<I, O>;
  readonly model: Model<M, I, O>;
  /** What `progressed` counts, for the liveness failure message (`calls`, `lock cycles`). */
  readonly progressUnit: string;
  /** Draws the workload's own shape (once the cluster started, before any client). Optional. */
  setUp?(run: WorkloadRun): void;
  /**
   * Sets one client to work: one call at a time, until `run.issuing()` turns false. `machine` is
   * the simulated machine the client runs on (for a workload that runs more on it, e.g. a lock
   * client with its callback subscriber).
   */
  startClient(client: RsmClient, run: WorkloadRun, machine: ClientMachine): void;
  /**
   * Final checks on the members of the final view once it is quiet (runs that settled with no
   * failure so far): each member's state and snapshot (base64 of its state bytes).
   */
  checkFinal(states: ReadonlyMap<NodeId, S>, snapshots: ReadonlyMap<NodeId, string>, run: WorkloadRun): void;
  /** For an app with callbacks: the callback service's sessions and options on every node. Optional. */
  readonly callbacks?: NodeCallbacks<S>;
  /** Adds fault kinds of the workload's own (e.g. cutting clients off) before the faults start. Optional. */
  addFaults?(faults: FaultInjector<StackProcess<S>>, run: WorkloadRun): void;
  /**
   * Calls in flight that the history does not record (`calls` maps them to no input), which the
   * run also waits for before it compares the replicas: one still in flight may have executed on
   * some of them only. Optional (default none).
   */
  unrecordedRunning?(): number;
  /** A check of the whole history beyond `model` (e.g. across its parts): a failure sentence, or null. Optional. */
  checkHistory?(history: History<I, O>): string | null;
  /** Figures for the run's result line. */
  stats(run: WorkloadRun): Record<string, number>;
}

/** A client's simulated machine: its world (clock, logger) and its transport. */
export interface ClientMachine {
  readonly world: NodeWorld;
  readonly transport: ClientTransport;
}

/** Share of runs whose faults may kill every holder of the replicated state (the refusal path). */
const rsmChaosShare = 0.1;

/** Bounds of the run, in virtual milliseconds. */
export const rsmRunBounds = {
  faultEndMs: [3000, 8000] as const,
  /** A client gives up on a call after this long (its outcome is then unknown). */
  clientDeadlineMs: 4000,
  /** Once faults end: every node a member of one view, every replica serving it, within this long. */
  settleBoundMs: 20000,
  /** After that, every client must complete this many further calls (lock runs: lock cycles)… */
  callsAfterSettle: 3,
  /** …within this long. */
  liveBoundMs: 10000,
  /** Share of client calls that read the list's length (the rest append). */
  readShare: 0.2,
  /**
   * Wall-clock budget of the linearizability check of a run's client history (a few hundred
   * operations; checked in milliseconds). Past it the verdict is unknown: counted in the stats
   * (`lincheckUnknown`), not a failure, since wall time must not decide a seeded run's outcome.
   */
  lincheckBudgetMs: 20_000,
};

/**
 * The test app's append workload: each client appends unique items or reads the list's length,
 * one call at a time; the final list is checked for lost, duplicated, refused and reordered
 * appends (see `RsmChecker`), the history against `appendModel`.
 */
function appendWorkload(): Workload<TestState, number, AppendInput, AppendOutput> {
  return {
    name: 'rsm',
    app: testApp,
    calls: appendCalls,
    model: appendModel,
    progressUnit: 'calls',
    startClient(client, run) {
      const { sim, rsm } = run;
      const rng = sim.rng;
      const id = client.clientId;
      let n = 0;
      const next = (): void => {
        if (!run.issuing()) return;
        if (rng.chance(rsmRunBounds.readShare)) {
          const invokedMs = sim.now;
          client.submit('length', null, { deadlineMs: rsmRunBounds.clientDeadlineMs }, (r) => {
            if (r.ok) run.progressed(id, invokedMs);
            sim.schedule(rng.uniform(0, 30), next);
          });
          return;
        }
        const item = `${id}:${++n}`;
        const record = rsm.invoked(id, item);
        client.submit('append', { item }, { deadlineMs: rsmRunBounds.clientDeadlineMs }, (r) => {
          record.completedMs = sim.now;
          if (r.ok) {
            record.result = { kind: 'ok', index: r.value as number };
            run.progressed(id, record.invokedMs);
          } else {
            record.result = r.error instanceof DeadlineExceededError ? { kind: 'unknown' } : { kind: 'failed', error: r.error.message };
          }
          sim.schedule(rng.uniform(0, 30), next);
        });
      };
      sim.schedule(rng.uniform(0, 100), next);
    },
    checkFinal(states, snapshots, run) {
      run.rsm.checkFinal(new Map([...states].map(([id, s]) => [id, [...s.list]])), snapshots);
    },
    stats({ rsm }) {
      return {
        calls: rsm.calls.length,
        acked: rsm.calls.filter((c) => c.result?.kind === 'ok').length,
        unknown: rsm.calls.filter((c) => c.result?.kind === 'unknown').length,
      };
    },
  };
}

/**
 * One randomized run of the whole stack with the test app: 3–5 replicas, 2–5 concurrent clients
 * appending unique items, and every fault: crashes (also mid-step), pauses, partitions, loss,
 * duplication, reordering, slow and failing disks, and breakpoints 1–4. Checks the RSM safety
 * properties as it goes and at the end (see `RsmChecker`), plus Paxos and config safety, and
 * liveness once faults stop: the cluster settles and every client's calls succeed again.
 */
export function runRsmSimulation(opts: RsmRunOptions): RunResult {
  return runStackSimulation(appendWorkload(), opts);
}

/**
 * One randomized run of the whole stack with `workload`'s app and clients (see
 * `runRsmSimulation` for the faults): Paxos, config and RSM safety as it goes; once faults stop,
 * the cluster settles (or refuses, where no complete state is left) and every client makes
 * progress again; then the workload's final checks on the replicas and the linearizability of
 * the whole client history with the workload's model.
 */
export function runStackSimulation<S, M, I, O>(workload: Workload<S, M, I, O>, opts: StackRunOptions<I, O>): RunResult {
  const seed = opts.seed;
  const shape = new Prng(seed ^ 0x2545f491);
  // Every draw is made even where the caller fixes the value, so the rest of the shape stays the same.
  const faulty = opts.faults !== 'none';
  const drawnNetwork = drawNetwork(shape, 0.1);
  const network = faulty ? drawnNetwork : { ...drawnNetwork, slowRate: 0, dropRate: 0, duplicateRate: 0, reconnectDelayMaxMs: 0 };
  const disk = drawDisk(shape);
  const drawnCount = shape.between(3, 5);
  const count = opts.nodes ?? drawnCount;
  const drawnClients = shape.between(2, 5);
  const clientCount = opts.clients ?? drawnClients;
  // Some runs ship the state in tiny chunks, so that transfers really span many messages.
  const chunkBytes = shape.chance(0.3) ? shape.between(16, 256) : undefined;
  const ids: NodeId[] = Array.from({ length: count }, (_, i) => `n${i + 1}`);
  let checker: RsmChecker | null = null;
  const cluster = new SimCluster<S>({
    seed,
    ids,
    network,
    disk,
    app: workload.app,
    callbacks: workload.callbacks,
    ...(chunkBytes === undefined ? {} : { rsm: { stateChunkBytes: chunkBytes } }),
    replicaObserver: (id) => ({ executed: (vs, r, o) => checker?.executed(id, vs, r, o) }),
    keepTrace: opts.keepTrace,
    traceLogs: opts.traceLogs,
    mutations: opts.mutations,
  });
  const { sim } = cluster;
  checker = new RsmChecker(sim);
  const rsm = checker;
  const rng = sim.rng;
  cluster.start();

  // Clients: each works one call at a time until told to stop. Every call is recorded for the
  // linearizability check.
  const recorder = new HistoryRecorder(workload.calls);
  let issuing = true;
  const clients: RsmClient[] = [];
  const okAfter = new Map<string, number>();
  let settledAt = Number.POSITIVE_INFINITY;
  const run: WorkloadRun = {
    sim,
    servers: ids,
    rsm,
    issuing: () => issuing,
    progressed: (id, startedMs) => {
      if (startedMs >= settledAt) okAfter.set(id, (okAfter.get(id) ?? 0) + 1);
    },
  };
  workload.setUp?.(run);
  for (let k = 1; k <= clientCount; k++) {
    const client = cluster.addClient(`c${k}`);
    client.observe(recorder);
    clients.push(client);
    const machine = cluster.clientNode(client.clientId);
    workload.startClient(client, run, { world: machine.world!, transport: machine.clientTransport });
  }

  const plan: FaultPlan = {
    endMs: rng.uniform(...rsmRunBounds.faultEndMs),
    meanGapMs: rng.uniform(150, 600),
    weights: { crash: 3, crashMidStep: 1, flap: 0.3, pause: 1, partition: 1, isolate: 1, diskError: 0.2 },
    downMs: [50, 1500],
    quickRestartMs: [1, 50],
    flapCount: [2, 6],
    flapUpMs: [20, 300],
    pauseMs: [50, 1500],
    partitionMs: [100, 2000],
  };
  const faults = new FaultInjector(sim, plan, () => cluster.nodes);
  // Most runs keep the replicated state alive somewhere (the faults the design promises to
  // survive): a process is killed only if another live one holds a state at least as new. The
  // rest are chaos runs, where every holder may die and the cluster must then refuse to serve.
  const chaos = rng.chance(rsmChaosShare) && faulty;
  sim.log(`${workload.name} run seed=${seed} nodes=${count} clients=${clientCount} chaos=${chaos} ${JSON.stringify(network)} disk=${JSON.stringify(disk)}`);
  if (!chaos) {
    const complete = (n: (typeof cluster.nodes)[number]): boolean => n.status !== 'down' && n.process?.stack.rsm?.core.stateComplete === true;
    faults.protect((victim) => cluster.nodes.some((n) => n !== victim && n.status === 'up' && complete(n)), complete);
  }
  let breakpointsArmed = 0;
  faults.addKind(1.5, () => {
    const up = cluster.nodes.filter((n) => n.up && (chaos || cluster.nodes.some((o) => o !== n && o.up && o.process?.stack.rsm?.core.stateComplete === true)));
    if (up.length === 0) return;
    const node = rng.pick(up);
    const n = rng.pick([1, 2, 3, 4] as const);
    breakpointsArmed++;
    sim.log(`arm breakpoint ${n} on ${node.id}`);
    node.process?.breakpoints.arm(n);
  }, () => {
    for (const n of cluster.nodes) n.process?.breakpoints.disarm();
  });
  workload.addFaults?.(faults, run);
  if (faulty) faults.start();
  sim.runUntil(plan.endMs + 1);
  // If every process that held the replicated state crashed, the state is gone (it lives in
  // memory): the cluster must then refuse to serve rather than serve a state missing
  // acknowledged requests, and nothing more can be expected of it.
  const holders = cluster.nodes.filter((n) => n.status !== 'down' && n.process?.stack.rsm?.core.stateComplete === true);
  const stateLost = holders.length === 0;
  if (stateLost) sim.log('every holder of the replicated state crashed: the state is lost; the cluster must refuse');

  // Faults are over: the cluster must settle (one view, every replica serving it) …
  const settled = (): boolean => {
    const v = cluster.view(ids[0]!);
    return v !== null && ids.every((id) => {
      const w = cluster.view(id);
      const r = cluster.node(id).process?.stack.rsm?.core;
      return w !== null && w.status === 'member' && w.vid === v.vid && sameList(w.members, v.members) && r?.status === 'normal' && r.vid === v.vid;
    });
  };
  // A cluster may also end up refusing for the documented reason even though some node still
  // holds the state: every member of the view lacks a complete state, because the holders were
  // removed (a removal accepted during the faults may complete after them). That is safe, and
  // counted; anything else that keeps the cluster from serving is a liveness failure.
  const refusing = (): boolean => {
    const v = cluster.view(ids[0]!);
    const primary = v === null ? undefined : cluster.node(cluster.node(ids[0]!).process?.stack.rsm?.core.primaryOf(v.vid) ?? ids[0]!);
    return ids.every((id) => cluster.view(id)?.vid === v?.vid) && primary?.process?.stack.rsm?.core.refusing === true;
  };
  const settleStart = sim.now;
  sim.runUntil(settleStart + rsmRunBounds.settleBoundMs, () => settled() || (!stateLost && refusing()));
  const refused = !stateLost && !settled() && refusing();
  if (stateLost) {
    if (settled()) sim.fail('refusal: the replicated state was lost, yet a view serves (it must refuse)');
  } else if (refused) {
    sim.log('the cluster refuses: no member of its view holds a complete state');
  } else if (!settled()) {
    const rs = ids.map((id) => `${id}:${cluster.node(id).process?.stack.rsm?.core.status ?? 'down'}`).join(' ');
    sim.fail(`liveness: ${rsmRunBounds.settleBoundMs} ms after faults ended the cluster has not settled: ${cluster.describe()} rsm ${rs}`);
  } else {
    // … and every client's calls must succeed again.
    settledAt = sim.now;
    const enough = (): boolean => clients.every((c) => (okAfter.get(c.clientId) ?? 0) >= rsmRunBounds.callsAfterSettle);
    sim.runUntil(settledAt + rsmRunBounds.liveBoundMs, enough);
    if (!enough()) {
      const counts = clients.map((c) => `${c.clientId}:${okAfter.get(c.clientId) ?? 0}`).join(' ');
      sim.fail(`liveness: within ${rsmRunBounds.liveBoundMs} ms after the cluster settled, not every client ` +
        `completed ${rsmRunBounds.callsAfterSettle} ${workload.progressUnit} (${counts}): ${cluster.describe()}`);
    }
  }
  // Stop issuing; let calls in progress finish; then compare the replicas of the quiet view.
  issuing = false;
  sim.runUntil(sim.now + rsmRunBounds.clientDeadlineMs + 1000, () => recorder.running === 0 && (workload.unrecordedRunning?.() ?? 0) === 0);
  const states = new Map<NodeId, S>();
  const snapshots = new Map<NodeId, string>();
  const finalView = cluster.view(ids[0]!);
  for (const id of finalView?.members ?? []) {
    const core = cluster.node(id).process?.stack.rsm?.core;
    const bytes = core?.snapshotBytes();
    if (core === undefined || core.state === null || bytes === null || bytes === undefined) continue;
    states.set(id, core.state);
    snapshots.set(id, Buffer.from(bytes).toString('base64'));
  }
  if (sim.failures.length === 0 && !stateLost && settled()) workload.checkFinal(states, snapshots, run);
  // Linearizability of the whole client history (also in runs that lost the state: what was
  // acknowledged before must still be explained, and nothing may be acknowledged after).
  const history = recorder.history();
  const verdict = checkLinearizable(history, workload.model, { timeBudgetMs: rsmRunBounds.lincheckBudgetMs });
  if (verdict.verdict === 'violation') {
    sim.fail(`linearizability: the client history (${history.length} operations) has no linearization: ${verdict.explanation}`);
    opts.onViolation?.(history, verdict);
  }
  const beyond = workload.checkHistory?.(history) ?? null;
  if (beyond !== null) sim.fail(`linearizability: ${beyond}`);
  for (const n of cluster.nodes) n.crash('end of run');

  return {
    seed,
    ok: sim.failures.length === 0,
    failures: sim.failures,
    digest: sim.trace.digest(),
    stats: {
      nodes: count,
      clients: clientCount,
      ...workload.stats(run),
      operations: history.length,
      lincheckUnknown: verdict.verdict === 'unknown' ? 1 : 0,
      executions: rsm.executions,
      views: cluster.configChecker.latest.vid,
      faults: faults.injected,
      breakpoints: breakpointsArmed,
      stateLost: stateLost ? 1 : 0,
      refused: refused ? 1 : 0,
      chaos: chaos ? 1 : 0,
      events: sim.events,
    },
    ...(sim.trace.lines === null ? {} : { trace: sim.trace.lines }),
  };
}
