import { createKvApp, kvApp, kvLeaseSpec } from '../../src/apps/kv/kv-app.js';
import type { KvState } from '../../src/apps/kv/kv-state.js';
import { leaseKeeperOptions } from '../../src/options/leases.js';
import { defaultRsmOptions } from '../../src/options/rsm.js';
import { type KvInput, type KvModelState, type KvOutput, kvModel } from '../lincheck/kv-model.js';
import { kvCalls, kvInternalCalls } from '../lincheck/kv-mappings.js';
import { checkWatchers } from './checkers/feed-checker.js';
import { checkKvLeases } from './checkers/kv-lease-checker.js';
import { drawClockDrift } from './drifting-clock.js';
import { internalClient } from './internal-ops.js';
import { expireOnReplicaClock } from './kv-mutations.js';
import { KvReference } from './kv-reference.js';
import { type KvClientShared, KvSimClient, kvRunBounds } from './kv-sim-client.js';
import { Prng } from './prng.js';
import { type KvWatcher, startKvWatchers } from './kv-watchers.js';
import { type StackRunOptions, type Workload, type WorkloadRun, runStackSimulation } from './rsm-run.js';
import type { RunResult } from './run-result.js';

/** Options of a KV run: the stack's, and the KV app's own mutation. */
export interface KvRunOptions extends StackRunOptions<KvInput, KvOutput> {
  /** Every replica expires leases by its own clock inside its handlers (`expireOnReplicaClock`): the bug the keeper exists to avoid. */
  readonly expireOnReplicaClock?: boolean;
  /** The nodes run no lease keeper (a test of the expiry liveness check: leases never expire). */
  readonly noLeaseKeeper?: boolean;
  /** The store compacts its history by itself (a small `maxHistoryBytes`); default: drawn per run (`kvRunBounds.smallHistoryShare`). */
  readonly smallHistory?: boolean;
}

/**
 * The KV workload: `kvApp` (in a share of runs with a small history bound, so that the store
 * compacts by itself; those runs make no compaction and no read at an old revision, which
 * `kvModel` cannot predict then) on the replicas with the lease keeper on every node (`kvLeaseSpec`,
 * as `synod node --app kv`), 2–5 `KvSimClient`s over a small key space, watchers on the client
 * machines (`startKvWatchers`). Checked:
 * - the whole client history, with the nodes' own `leaseExpire` requests, against `kvModel`;
 * - the final view's replicas hold equal states, and every revision they still hold is the
 *   reference's (`KvReference`, recorded from the primaries' committed states);
 * - every watcher's every stretch against the reference (`checkWatchers`: no gap, duplicate,
 *   reorder or event that did not happen), and every open watcher caught up at the end;
 * - leases (`checkKvLeases`): none expires before its TTL after its last renewal was sent, and
 *   each ended lease took exactly its keys in one revision; once the cluster is quiet, none
 *   outlives its TTL (`checkLeasesEnded`).
 */
function kvWorkload(opts: KvRunOptions): Workload<KvState, KvModelState, KvInput, KvOutput> {
  let run: WorkloadRun | null = null;
  let reference: KvReference | null = null;
  const watchers: KvWatcher[] = [];
  const counts: Record<string, number> = {
    calls: 0, unknown: 0, grants: 0, keepalives: 0, revokes: 0, leasesLost: 0, compactions: 0,
    watchers: 0, resubscribes: 0, resumptions: 0, compacted: 0, watchedEvents: 0, stretches: 0,
    expiriesChecked: 0, leaseEndsChecked: 0, minExpirySlackMs: -1, referenceRevisions: 0, referenceCrossChecked: 0,
  };
  let shared: KvClientShared | null = null;
  // Drawn from a generator of the run's own, before the simulation exists: the app depends on it.
  const shape = new Prng(opts.seed ^ 0x4b56_5f31);
  const drawnSmall = shape.chance(kvRunBounds.smallHistoryShare);
  const smallHistory = opts.smallHistory ?? drawnSmall;
  const maxHistoryBytes = shape.between(...kvRunBounds.smallHistoryBytes);
  const app = smallHistory ? createKvApp({ maxHistoryBytes }) : kvApp;
  const driftRate = Math.max(drawClockDrift(opts.seed, defaultRsmOptions.maxClockDriftPpm, opts.clockDriftX), defaultRsmOptions.maxClockDriftPpm / 1e6);
  /** Leases alive in the last committed state a primary showed: the run's end waits for them to expire (see `unrecordedRunning`). */
  let leasesAlive = 0;
  /** When the latest view's primary first executed a request of it (its lease clocks started no later). */
  let primaryVid = 0;
  let primarySinceMs = 0;
  /**
   * Liveness of expiry, once the cluster is quiet: a lease still alive must have been renewed,
   * granted, or seen by a new primary, within its TTL (stretched by the drift) plus the keeper's
   * check interval and a second for a renewal's and the expiry's round trips (the cluster is quiet:
   * no slow or lost messages). The primary's clocks start when it serves, no later than its first
   * execution in the view (`primarySinceMs`).
   */
  const checkLeasesEnded = (state: KvState | undefined, r: WorkloadRun): void => {
    if (state === undefined) return;
    const since = Math.max(primarySinceMs, shared?.lastLeaseCallMs ?? 0);
    for (const l of state.leases.values()) {
      const boundMs = l.ttlSeconds * 1000 * (1 + driftRate) + leaseKeeperOptions(undefined).checkIntervalMs + 1000;
      if (r.sim.now - since > boundMs) {
        r.sim.fail(`kv leases: liveness: lease ${l.id} (ttl ${l.ttlSeconds} s, ${l.renewals} renewals) is alive ${Math.round(r.sim.now - since)} ms after the last lease call and the primary's start, past ${Math.round(boundMs)} ms`);
      }
    }
  };
  const behind = (): KvWatcher[] => watchers.filter((w) => w.sub !== null && w.log.position < (shared?.ackedRevision ?? 0));
  return {
    name: 'kv',
    // The mutation's replica clock: the simulated machines' wall time (virtual time, as `SimCluster`
    // gives every node); handlers run only once clients call, after `setUp`.
    app: opts.expireOnReplicaClock === true ? expireOnReplicaClock(app, () => run?.sim.now ?? 0) : app,
    ...(opts.noLeaseKeeper === true ? {} : { leases: { spec: kvLeaseSpec } }),
    calls: kvCalls,
    internalCalls: kvInternalCalls,
    model: kvModel,
    progressUnit: 'calls',
    setUp(r) {
      run = r;
      reference = new KvReference(r.sim, smallHistory);
      shared = { counts, leases: new Set(), reference, ackedRevision: 1, storeCompacts: smallHistory, lastLeaseCallMs: 0 };
      r.sim.log(`kv run: ${smallHistory ? `the store compacts its history past ${maxHistoryBytes} bytes` : 'the store keeps its history (clients compact it)'}`);
    },
    executedByPrimary(id, vs, state) {
      reference?.committed(state, `${id} (primary of view ${vs.vid})`);
      leasesAlive = state.leases.size;
      if (vs.vid !== primaryVid) [primaryVid, primarySinceMs] = [vs.vid, run?.sim.now ?? 0];
    },
    startClient(client, r, machine) {
      for (let lane = 0; lane < r.callsPerClient; lane++) new KvSimClient(client, r, shared!, lane).start();
      watchers.push(...startKvWatchers(client, r, machine, reference!, counts));
    },
    // Once the clients stop, the run also waits (within its bound) for the leases left to expire,
    // so that every run ends its leases by the keeper and the checks see those expiries.
    unrecordedRunning: () => behind().length + leasesAlive,
    checkFinal(states, snapshots, r) {
      r.rsm.checkEqualState(snapshots, new Map([...states].map(([id, s]) => [id, `revision ${s.revision} (compacted to ${s.compactRevision}), ${s.kvs.size} keys, ${s.leases.size} leases`])));
      for (const [id, s] of states) reference!.checkFinal(s, id);
      for (const w of behind()) {
        r.sim.fail(`feed: liveness: watcher ${w.log.name} is at revision ${w.log.position} once the cluster is quiet, behind the acknowledged revision ${shared!.ackedRevision}`);
      }
      checkLeasesEnded([...states.values()][0], r);
      const { events, stretches } = checkWatchers(r.sim, watchers.map((w) => w.log), reference!.feed());
      counts['watchedEvents'] = events;
      counts['stretches'] = stretches;
    },
    checkHistory(history) {
      for (const w of watchers) {
        const sub = w.sub;
        w.sub = null;
        sub?.close();
      }
      const figures = checkKvLeases(run!.sim, history, reference!, internalClient, driftRate);
      counts['expiriesChecked'] = figures.expiriesChecked;
      counts['leaseEndsChecked'] = figures.endsChecked;
      counts['minExpirySlackMs'] = Math.round(figures.minSlackMs);
      return null;
    },
    stats: () => ({ ...counts, smallHistory: smallHistory ? 1 : 0, referenceRevisions: reference?.head ?? 0, referenceCrossChecked: reference?.crossChecked ?? 0, referenceHoles: reference?.holes ?? 0 }),
  };
}

/**
 * One randomized whole-stack run (every fault of `runRsmSimulation`) of the KV store: clients,
 * leases expired by the keeper, watchers, all checked (see `kvWorkload`).
 */
export function runKvSimulation(opts: KvRunOptions): RunResult {
  return runStackSimulation(kvWorkload(opts), opts);
}
