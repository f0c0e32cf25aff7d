import type { ClientTransport } from '../../src/env/transport.js';
import type { NodeId } from '../../src/env/types.js';
import type { NodeWorld } from '../../src/env/world.js';
import type { NodeCallbacks, NodeStackOptions } from '../../src/node/node-stack.js';
import type { Viewstamp } from '../../src/rsm/viewstamp.js';
import type { ShellMutations } from '../../src/env/shell.js';
import type { App } from '../../src/rsm/app.js';
import type { ConfigMutations } from '../../src/config/view-manager.js';
import type { PaxosMutations } from '../../src/paxos/context.js';
import type { RsmMutations } from '../../src/rsm/replica.js';
import type { SimMutations } from './sim-identity.js';
import type { RsmClient } from '../../src/client/rsm-client.js';
import type { AppendInput, AppendOutput } from '../lincheck/models.js';
import type { InternalCallMapping } from '../lincheck/mappings.js';
import type { CallMapping } from '../lincheck/recorder.js';
import type { CheckResult, History, Model } from '../lincheck/types.js';
import type { RsmChecker } from './checkers/rsm-checker.js';
import type { StackProcess } from './cluster.js';
import type { FaultInjector } from './faults.js';
import type { Simulation } from './simulation.js';

// What a whole-stack run (`runStackSimulation`, rsm-run.ts) is given: its options, the workload
// that sets its clients to work and checks them, and the bounds the run keeps to.

/** Options of a whole-stack run (`runStackSimulation`), over client histories of `I`/`O` operations. */
export interface StackRunOptions<I, O> {
  readonly seed: number;
  readonly keepTrace?: boolean;
  readonly traceLogs?: boolean;
  readonly mutations?: PaxosMutations & ShellMutations & ConfigMutations & RsmMutations & SimMutations;
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
  /** Make the client table forget idle clients within the run (`drawTableLimits`); default: in a drawn share of runs. */
  readonly shortTable?: boolean;
  /**
   * `--clock-drift-x K`: every machine's clock drifts up to K·ρ (ρ: the nodes' `maxClockDriftPpm`)
   * in every run, K > 1 past the bound the lease relies on. Default: ρₛ drawn per run from {0, ρ/2, ρ}.
   */
  readonly clockDriftX?: number;
  /**
   * `--calls-per-client K`: each client keeps K calls in flight at once (the append workload: K
   * loops on one `RsmClient`, so its requests are numbered concurrently and the client table's
   * window is exercised). Default 1. Workloads whose clients are not plain `RsmClient` loops ignore it.
   */
  readonly callsPerClient?: number;
  /**
   * `--power-cut-backups`: the run has the `power-cut-backups` fault (power-cut-backups-fault.ts:
   * the serving primary's backups on slow disks lose power right after it executed a request, and
   * it is kept out until a view forms without it). Default off (see the fault's doc for why).
   */
  readonly powerCutBackups?: boolean;
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
  /** Calls each client keeps in flight (`StackRunOptions.callsPerClient`, default 1). */
  readonly callsPerClient: number;
  /** The client table's `clientRetentionMs` when the run drew a short table (`drawTableLimits`); undefined otherwise. */
  readonly tableRetentionMs: number | undefined;
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
  /**
   * The requests the nodes make on their own that the model must see (the lock service's session
   * expiries and ends of lock-delay), recorded under a pseudo-client (`InternalOpRecorder`). Optional.
   */
  readonly internalCalls?: InternalCallMapping<I, O>;
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
  /** For an app with leases (the KV store's `kvLeaseSpec`): the lease keeper every node runs. Optional. */
  readonly leases?: NodeStackOptions<S>['leases'];
  /**
   * Replica `id`, the serving primary of view `vs.vid`, which has at least one backup, executed
   * the request at `vs` and holds `state` after it: every backup of the view acknowledged it
   * first, durably, so that state is committed (no later view, no power cut loses it). Left out:
   * a view of one (its primary executes before its own step is durable) and a primary leaving
   * its view (it executes what is in flight unacknowledged). E.g. to record the app's history before a compaction forgets it. Optional.
   */
  executedByPrimary?(id: NodeId, vs: Viewstamp, state: S): void;
  /** Adds fault kinds of the workload's own (e.g. cutting clients off) before the faults start. Optional. */
  addFaults?(faults: FaultInjector<StackProcess<S>>, run: WorkloadRun): void;
  /** Called once the faults ended (everything healed), while the cluster settles: e.g. a disturbance of the workload's own that outlives the faults. Optional. */
  afterFaults?(run: WorkloadRun): void;
  /**
   * When the last of the faults `afterFaults` added ends (simulated ms; e.g. a held cut's lift):
   * liveness is measured from the later of it and the cluster settling, so that a client cut off
   * on purpose past the settle is given the same time as the others once it is back.
   */
  faultsOverAtMs?(): number;
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
