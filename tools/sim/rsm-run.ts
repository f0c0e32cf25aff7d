import type { NodeId } from '../../src/env/types.js';
import { type TestState, testApp } from '../../src/apps/test-app.js';
import type { App } from '../../src/rsm/app.js';
import type { RsmClient } from '../../src/client/rsm-client.js';
import { ClientExpiredError, DeadlineExceededError } from '../../src/client/errors.js';
import { formatViewstamp } from '../../src/rsm/viewstamp.js';
import { defaultRsmOptions } from '../../src/options/rsm.js';
import { checkLinearizable } from '../lincheck/check.js';
import { appendCalls } from '../lincheck/mappings.js';
import { type AppendInput, type AppendOutput, appendModel } from '../lincheck/models.js';
import { HistoryRecorder } from '../lincheck/recorder.js';
import { LeaseChecker } from './checkers/lease-checker.js';
import { RsmChecker } from './checkers/rsm-checker.js';
import { SimCluster, sameList } from './cluster.js';
import { addCutPrimaryFault } from './cut-primary-fault.js';
import { drawDisk, slowDiskProfile } from './disk.js';
import { drawClockDrift, inVirtualTime } from './drifting-clock.js';
import { FaultInjector, type FaultPlan } from './faults.js';
import { drawNetwork } from './network.js';
import { Prng } from './prng.js';
import type { RunResult } from './run-result.js';
import { type RsmRunOptions, type StackRunOptions, type Workload, type WorkloadRun, rsmRunBounds } from './stack-workload.js';
import { drawTableLimits } from './table-limits.js';
import { WipeFault, defaultWipePlan } from './wipe-fault.js';
import { InternalOpRecorder } from './internal-ops.js';
import { PowerCutBackupsFault, defaultPowerCutBackupsPlan } from './power-cut-backups-fault.js';

export type { ClientMachine, RsmRunOptions, StackRunOptions, Workload, WorkloadRun } from './stack-workload.js';
export { rsmRunBounds } from './stack-workload.js';

/** Share of runs whose faults may kill every holder of the replicated state (the refusal path). */
const rsmChaosShare = 0.25;

/**
 * The test app's append workload: each client appends unique items or reads the list's length,
 * one call at a time, or `callsPerClient` at a time; the final list is checked for lost, duplicated, refused and reordered
 * appends (see `RsmChecker`), the history against `appendModel`.
 */
export function appendWorkload<S extends TestState = TestState>(app: App<S> = testApp as unknown as App<S>): Workload<S, number, AppendInput, AppendOutput> {
  let expired = 0;
  let clientCuts = 0;
  const clientIds: string[] = [];
  return {
    name: 'rsm',
    app,
    calls: appendCalls,
    model: appendModel,
    progressUnit: 'calls',
    /**
     * With many calls per client and a table that forgets (opt-in runs only, so the draws of
     * every other run stay as they were): cutting a client off for longer than the table keeps
     * it, while its calls are in flight and messages are lost, duplicated and delayed, makes the
     * table forget it mid-call: the windowed expiry paths (the expired mode, the client settling
     * every number it used, late copies below the floor) run under faults.
     */
    addFaults(faults, run) {
      const retentionMs = run.tableRetentionMs;
      if (run.callsPerClient <= 1 || retentionMs === undefined) return;
      const { sim } = run;
      faults.addKind(1, () => {
        clientCuts++;
        sim.network.split([sim.rng.pick(clientIds)], run.servers);
        sim.schedule(retentionMs * sim.rng.uniform(1.2, 2.5), () => sim.network.heal());
      });
    },
    startClient(client, run) {
      const { sim, rsm } = run;
      const rng = sim.rng;
      const id = client.clientId;
      clientIds.push(id);
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
            // Told that the client's entry expired, as after a deadline: the outcome is unknown.
            expired += r.error instanceof ClientExpiredError ? 1 : 0;
            const unknown = r.error instanceof DeadlineExceededError || r.error instanceof ClientExpiredError;
            record.result = unknown ? { kind: 'unknown' } : { kind: 'failed', error: r.error.message };
          }
          sim.schedule(rng.uniform(0, 30), next);
        });
      };
      // `callsPerClient` loops on one client: its calls are in flight together.
      for (let lane = 0; lane < run.callsPerClient; lane++) sim.schedule(rng.uniform(0, 100), next);
    },
    checkFinal(states, snapshots, run) {
      run.rsm.checkFinal(new Map([...states].map(([id, s]) => [id, [...s.list]])), snapshots);
    },
    stats({ rsm }) {
      return {
        calls: rsm.calls.length,
        acked: rsm.calls.filter((c) => c.result?.kind === 'ok').length,
        unknown: rsm.calls.filter((c) => c.result?.kind === 'unknown').length,
        expired,
        clientCuts,
      };
    },
  };
}

/**
 * One randomized run of the whole stack with the test app: 3–5 replicas, 2–5 concurrent clients
 * appending unique items, and every fault: crashes (also mid-step), pauses, partitions, loss,
 * duplication, reordering, slow and failing disks, lost disks (`WipeFault`), and breakpoints 1–4. Checks the RSM safety
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
  // Every executed request waits for a backup's fsync and then the primary's: on a slow disk
  // (tens to hundreds of ms per fsync) progress takes that much longer, so the bounds stretch.
  const slowness = disk === slowDiskProfile ? 5 : 1;
  const liveBoundMs = rsmRunBounds.liveBoundMs * slowness;
  const drawnCount = shape.between(3, 5);
  const count = opts.nodes ?? drawnCount;
  const drawnClients = shape.between(2, 5);
  const clientCount = opts.clients ?? drawnClients;
  // Some runs ship the state in tiny chunks, so that transfers really span many messages.
  const chunkBytes = shape.chance(0.3) ? shape.between(16, 256) : undefined;
  const table = drawTableLimits(shape, clientCount + count, opts.shortTable === true, slowness);
  // Some runs snapshot every few requests, so that log generations really turn over under faults.
  const snapshotEveryRequests = shape.chance(0.4) ? shape.between(3, 40) : undefined;
  const ids: NodeId[] = Array.from({ length: count }, (_, i) => `n${i + 1}`);
  let checker: RsmChecker | null = null;
  let leases: LeaseChecker | null = null;
  let internalOps: InternalOpRecorder<I, O> | null = null;
  let backupCuts: PowerCutBackupsFault<S> | null = null;
  const clockDrift = drawClockDrift(seed, defaultRsmOptions.maxClockDriftPpm, opts.clockDriftX);
  const cluster = new SimCluster<S>({
    seed,
    clockDrift,
    ids,
    network,
    disk,
    app: workload.app,
    callbacks: workload.callbacks,
    leases: workload.leases,
    rsm: {
      ...(chunkBytes === undefined ? {} : { stateChunkBytes: chunkBytes }),
      ...(snapshotEveryRequests === undefined ? {} : { snapshotEveryRequests }),
      ...table.rsm,
    },
    replicaObserver: (id) => ({
      executed: (vs, r, o, ran) => {
        checker?.executed(id, vs, r, o);
        backupCuts?.executed(id, vs);
        internalOps?.executed(id, vs, r, o, ran);
        if (workload.executedByPrimary !== undefined) {
          const stack = cluster.node(id).process?.stack;
          const core = stack?.rsm?.core;
          // A view of one has no backup whose durable acknowledgement makes the step committed;
          // and a primary leaving its view executes what is in flight without acknowledgements
          // (`Pipeline.abandon`): only a primary still serving the view reports.
          const backups = stack !== undefined && stack.config.core.knows(vs.vid) && stack.config.core.memberIds(vs.vid).length > 1;
          const serving = core !== undefined && core.vid === vs.vid && core.status === 'normal' && core.primaryOf(vs.vid) === id;
          if (backups && serving && core.state !== null) workload.executedByPrimary(id, vs, core.state);
        }
      },
      restored: (last) => checker?.restored(id, last),
      serving: (vid) => leases?.serving(id, vid),
      leaseChanged: (vid, untilMs) => leases?.leaseChanged(id, vid, untilMs),
      queryAnswered: (vid, request, _outcome, atMs) => leases?.queryAnswered(id, vid, request, atMs),
    }),
    keepTrace: opts.keepTrace,
    traceLogs: opts.traceLogs,
    mutations: opts.mutations,
  });
  const { sim } = cluster;
  checker = new RsmChecker(sim);
  leases = new LeaseChecker(sim, { reading: (id) => cluster.clockReading(id) });
  const rsm = checker;
  const rng = sim.rng;
  cluster.start();

  // Clients: each works one call at a time until told to stop. Every call is recorded for the
  // linearizability check.
  const recorder = new HistoryRecorder(workload.calls);
  if (workload.internalCalls !== undefined) {
    internalOps = new InternalOpRecorder(recorder, workload.internalCalls, () => sim.now,
      (id, vid) => cluster.node(id).process?.stack.rsm?.core.primaryOf(vid) === id);
  }
  let issuing = true;
  const clients: RsmClient[] = [];
  const okAfter = new Map<string, number>();
  let settledAt = Number.POSITIVE_INFINITY;
  const run: WorkloadRun = {
    sim,
    servers: ids,
    rsm,
    issuing: () => issuing,
    callsPerClient: opts.callsPerClient ?? 1,
    tableRetentionMs: table.short ? table.rsm.clientRetentionMs : undefined,
    progressed: (id, startedMs) => {
      if (startedMs >= settledAt) okAfter.set(id, (okAfter.get(id) ?? 0) + 1);
    },
  };
  workload.setUp?.(run);
  for (let k = 1; k <= clientCount; k++) {
    const client = cluster.addClient(`c${k}`, { options: table.client });
    client.observe(inVirtualTime(sim, recorder));
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
  // Most runs keep a complete state alive in some process (a process is killed only if another
  // live one holds a complete state), which keeps them serving through most faults. The rest
  // are chaos runs, where every holder may die at any time (and power cuts take every node in
  // any run): the durable states must bring the cluster back all the same.
  const chaos = rng.chance(rsmChaosShare) && faulty;
  sim.log(`${workload.name} run seed=${seed} nodes=${count} clients=${clientCount} chaos=${chaos} drift=${driftPpm(clockDrift)}ppm ${JSON.stringify(network)} disk=${JSON.stringify(disk)} table=${JSON.stringify(table.rsm)}`);
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
  // A power cut: every node dies at once (each mid-step, its unsynced writes lost at random) and
  // comes back after its own downtime. Durable state must bring every acknowledged request back.
  let powerCuts = 0;
  faults.addKind(0.4, () => {
    powerCuts++;
    sim.log('power cut: every node crashes');
    for (const n of cluster.nodes) {
      if (n.status === 'down') continue;
      n.crash('fault injector: power cut');
      const at = Math.min(sim.now + rng.uniform(...plan.downMs), plan.endMs);
      sim.schedule(at - sim.now, () => {
        if (n.status === 'down') n.start();
      });
    }
  });
  // The scenario: the primary cut from its peers only (clients still reach it), also one-way.
  const primaryCuts = addCutPrimaryFault(faults, cluster, plan.weights.partition);
  workload.addFaults?.(faults, run);
  // A lost disk takes its replica's state with it: only while another live replica holds a
  // complete state (in chaos runs too), so that what was acknowledged survives on some disk.
  const wipes = new WipeFault(cluster, seed, defaultWipePlan(plan.endMs),
    (victim) => cluster.nodes.some((n) => n !== victim && n.status === 'up' && n.process?.stack.rsm?.core.stateComplete === true));
  // Opt-in (`powerCutBackups`): its slow disks and cuts change the runs it arms in, which would
  // move the seeds other suites rely on. Its draws come from a generator of its own.
  if (opts.powerCutBackups === true && faulty) backupCuts = new PowerCutBackupsFault(cluster, seed, defaultPowerCutBackupsPlan(plan.endMs));
  if (faulty) {
    faults.start();
    wipes.start(faults);
    backupCuts?.start(faults);
  }
  sim.runUntil(plan.endMs + 1);
  if (faulty) workload.afterFaults?.(run);
  // Faults are over: the cluster must settle (one view, every replica serving it) …
  const settled = (): boolean => {
    const v = cluster.view(ids[0]!);
    return v !== null && ids.every((id) => {
      const w = cluster.view(id);
      const r = cluster.node(id).process?.stack.rsm?.core;
      return w !== null && w.status === 'member' && w.vid === v.vid && sameList(w.members, v.members) && r?.status === 'normal' && r.vid === v.vid;
    });
  };
  // A view whose members hold no complete state refuses, safely: the state's holders were removed
  // (a removal accepted during the faults may complete after them) and the members left never
  // synced, so nobody can prove which views served. A removed holder that rejoins is the source
  // only when members that were normal once prove it complete (see `PrimarySync`); until a disk
  // id in the views lets a never-synced member testify too, such a run may end refusing. It is
  // counted (the suites cap the share); anything else that keeps the cluster from serving fails.
  const refusing = (): boolean => {
    const v = cluster.view(ids[0]!);
    const primary = v === null ? undefined : cluster.node(cluster.node(ids[0]!).process?.stack.rsm?.core.primaryOf(v.vid) ?? ids[0]!);
    return ids.every((id) => cluster.view(id)?.vid === v?.vid) && primary?.process?.stack.rsm?.core.refusing === true;
  };
  const settleStart = sim.now;
  // Every disk survives (crashes lose only what was not durable): whatever crashed and however
  // often, the cluster must serve again, or refuse for the reason above.
  sim.runUntil(settleStart + rsmRunBounds.settleBoundMs, settled);
  const refused = !settled() && refusing();
  if (refused) {
    sim.log(`the cluster refuses: no member of its view holds a complete state it can prove: ${cluster.describe()}`);
  } else if (!settled()) {
    const rs = ids.map((id) => `${id}:${cluster.node(id).process?.stack.rsm?.core.status ?? 'down'}`).join(' ');
    sim.fail(`liveness: ${rsmRunBounds.settleBoundMs} ms after faults ended the cluster has not settled: ${cluster.describe()} rsm ${rs}`);
  } else {
    // … and every client's calls must succeed again.
    settledAt = sim.now;
    const enough = (): boolean => clients.every((c) => (okAfter.get(c.clientId) ?? 0) >= rsmRunBounds.callsAfterSettle);
    const from = Math.max(settledAt, workload.faultsOverAtMs?.() ?? 0);
    sim.runUntil(from + liveBoundMs, enough);
    if (!enough()) {
      const counts = clients.map((c) => `${c.clientId}:${okAfter.get(c.clientId) ?? 0}`).join(' ');
      const since = from > settledAt ? `the cluster settled (and ${Math.round(from - settledAt)} ms more, until the last fault ended)` : 'the cluster settled';
      sim.fail(`liveness: within ${liveBoundMs} ms after ${since}, not every client ` +
        `completed ${rsmRunBounds.callsAfterSettle} ${workload.progressUnit} (${counts}): ${cluster.describe()}`);
    }
  }
  // Stop issuing; let calls in progress finish; then compare the replicas of the quiet view.
  issuing = false;
  sim.runUntil(sim.now + rsmRunBounds.clientDeadlineMs + 1000, () => recorder.running === 0 && (workload.unrecordedRunning?.() ?? 0) === 0);
  // The primary keeps sweeping the client table, so the view is quiet only between two requests:
  // compare the replicas when every one has executed the same ones.
  const lastExecuted = (): string[] => (cluster.view(ids[0]!)?.members ?? []).map((id) => formatViewstamp(cluster.node(id).process?.stack.rsm?.core.lastExecuted ?? null));
  if (settled()) sim.runUntil(sim.now + rsmRunBounds.settleBoundMs, () => new Set(lastExecuted()).size === 1);
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
  if (sim.failures.length === 0 && settled()) workload.checkFinal(states, snapshots, run);
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
      driftPpm: driftPpm(clockDrift),
      leaseBeliefs: leases.beliefsRecorded,
      // The nodes' own requests the history holds, by procedure (`internal:expire`, …).
      ...Object.fromEntries([...internalOps?.confirmed ?? []].map(([proc, n]) => [`internal:${proc}`, n])),
      ...workload.stats(run),
      operations: history.length,
      lincheckUnknown: verdict.verdict === 'unknown' ? 1 : 0,
      executions: rsm.executions,
      views: cluster.configChecker.latest.vid,
      faults: faults.injected,
      breakpoints: breakpointsArmed,
      powerCuts,
      primaryCuts: primaryCuts.both + primaryCuts.fromPrimary + primaryCuts.toPrimary,
      primaryCutsOneWay: primaryCuts.fromPrimary + primaryCuts.toPrimary,
      wipes: wipes.wiped,
      backupPowerCuts: backupCuts?.cuts ?? 0,
      refused: refused ? 1 : 0,
      chaos: chaos ? 1 : 0,
      shortTable: table.short ? 1 : 0,
      events: sim.events,
    },
    ...(sim.trace.lines === null ? {} : { trace: sim.trace.lines }),
  };
}

/** ρₛ in parts per million, rounded, for the run's line. */
function driftPpm(drift: number): number {
  return Math.round(drift * 1e6);
}
