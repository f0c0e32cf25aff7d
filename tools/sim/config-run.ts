import type { NodeId } from '../../src/env/types.js';
import type { ShellMutations } from '../../src/env/shell.js';
import type { PaxosMutations } from '../../src/paxos/context.js';
import type { ConfigMutations } from '../../src/config/view-manager.js';
import { SimCluster, sameList } from './cluster.js';
import { FaultInjector, type FaultPlan } from './faults.js';
import { drawNetwork } from './network.js';
import { drawCompaction } from './compaction.js';
import { Prng } from './prng.js';
import { drawDisk } from './disk.js';
import { Forger } from './forger.js';
import type { SimMutations } from './sim-identity.js';
import { WipeFault, defaultWipePlan } from './wipe-fault.js';
import type { RunResult } from './run-result.js';

export interface ConfigRunOptions {
  readonly seed: number;
  readonly keepTrace?: boolean;
  readonly traceLogs?: boolean;
  readonly mutations?: PaxosMutations & ShellMutations & ConfigMutations & SimMutations;
}

/** Bounds of the run, in virtual milliseconds. */
export const configRunBounds = {
  /** Faults end at a random time in this range. */
  faultEndMs: [3000, 8000] as const,
  /**
   * Once faults end, within this long every node must be a member (not stale) of one agreed
   * view that then stays put for `quietMs`; and again after a minority of that view dies for
   * good, with the dead removed.
   */
  settleBoundMs: 20000,
  quietMs: 2000,
};

/**
 * Runs until every `live` node is a member of one agreed view that contains none of `dead`, and
 * that stays so for `quietMs`. Returns how long it took to settle, or null (and fails the run).
 */
function settle(cluster: SimCluster, live: readonly NodeId[], dead: readonly NodeId[], when: string): number | null {
  const { sim } = cluster;
  const settled = (): boolean => {
    const v = cluster.view(live[0]!);
    return v !== null && dead.every((d) => !v.members.includes(d)) && live.every((id) => {
      const w = cluster.view(id);
      return w !== null && w.status === 'member' && w.vid === v.vid && sameList(w.members, v.members);
    });
  };
  const start = sim.now;
  let settledAt: number | null = null;
  sim.runUntil(start + configRunBounds.settleBoundMs, () => {
    if (!settled()) settledAt = null;
    else settledAt ??= sim.now;
    return settledAt !== null && sim.now - settledAt >= configRunBounds.quietMs;
  });
  if (settledAt === null || sim.now - settledAt < configRunBounds.quietMs) {
    sim.fail(`liveness: ${configRunBounds.settleBoundMs} ms ${when}, the cluster has not settled: ${cluster.describe()}`);
    return null;
  }
  return Math.round(settledAt - start);
}

/**
 * One randomized run of the config layer over Paxos: 3–7 nodes start, join one by one, and live
 * through crashes (also mid-step and in crash loops), pauses, partitions, loss, duplication,
 * reordering, Paxos breakpoints 3 and 4, forged Paxos messages that break the view rules
 * (`Forger`), and lost disks (`WipeFault`). Checks Paxos safety, that every node commits the same views, that each view is one
 * member away from the last, and, once faults stop, that the cluster converges: dead nodes
 * removed, everybody else a member of one stable view.
 */
export function runConfigSimulation(opts: ConfigRunOptions): RunResult {
  const seed = opts.seed;
  const shape = new Prng(seed ^ 0x5bd1e995);
  const network = drawNetwork(shape, 0.15);
  const disk = drawDisk(shape);
  const count = shape.between(3, 7);
  const ids: NodeId[] = Array.from({ length: count }, (_, i) => `n${i + 1}`);
  const cluster = new SimCluster({
    seed,
    ids,
    network,
    disk,
    keepTrace: opts.keepTrace,
    traceLogs: opts.traceLogs,
    mutations: opts.mutations,
    paxos: drawCompaction(seed),
  });
  const { sim } = cluster;
  const rng = sim.rng;
  sim.log(`config run seed=${seed} nodes=${count} ${JSON.stringify(network)} disk=${JSON.stringify(disk)}`);
  cluster.start();

  const plan: FaultPlan = {
    endMs: rng.uniform(...configRunBounds.faultEndMs),
    meanGapMs: rng.uniform(100, 600),
    weights: { crash: 3, crashMidStep: 1, flap: 0.5, pause: 1, partition: 1, isolate: 1, diskError: 0.3 },
    downMs: [50, 1500],
    quickRestartMs: [1, 50],
    flapCount: [2, 8],
    flapUpMs: [20, 300],
    pauseMs: [50, 1500],
    partitionMs: [100, 2000],
  };
  const faults = new FaultInjector(sim, plan, () => cluster.nodes);
  let breakpointsArmed = 0;
  faults.addKind(1, () => {
    const up = cluster.nodes.filter((n) => n.up);
    if (up.length === 0) return;
    const node = rng.pick(up);
    const n = rng.chance(0.5) ? 3 : 4;
    breakpointsArmed++;
    sim.log(`arm breakpoint ${n} on ${node.id}`);
    cluster.armBreakpoint(node.id, n);
  }, () => {
    for (const n of cluster.nodes) n.process?.breakpoints.disarm();
  });
  const forger = new Forger(sim, () => cluster.nodes);
  faults.addKind(1, () => forger.forge());
  faults.start();
  const wipes = new WipeFault(cluster, seed, defaultWipePlan(plan.endMs));
  wipes.start(faults);
  sim.runUntil(plan.endMs + 1);

  // Phase 1: faults end (the injector heals, resumes and restarts everything). Every node must
  // become a member of one agreed, stable view.
  const recovery = settle(cluster, ids, [], 'after faults ended');

  // Phase 2: a minority of that stable view dies for good; the rest must remove it and settle.
  const stable = cluster.view(ids[0]!)?.members ?? [];
  const permanentlyDead = recovery === null ? [] : rng.shuffle(stable).slice(0, rng.between(0, Math.floor((stable.length - 1) / 2)));
  sim.log(`permanently dead: [${permanentlyDead.join(',')}]`);
  for (const id of permanentlyDead) {
    faults.spare(id);
    cluster.node(id).crash('permanently dead');
  }
  const live = ids.filter((id) => !permanentlyDead.includes(id));
  const removal = recovery === null ? null : settle(cluster, live, permanentlyDead, `after [${permanentlyDead.join(',')}] died for good`);

  const finalView = cluster.view(live[0]!);
  for (const n of cluster.nodes) n.crash('end of run');
  return {
    seed,
    ok: sim.failures.length === 0,
    failures: sim.failures,
    digest: sim.trace.digest(),
    stats: {
      nodes: count,
      views: cluster.configChecker.latest.vid,
      finalMembers: finalView?.members.length ?? 0,
      recoveryMs: recovery ?? -1,
      removalMs: removal ?? -1,
      faults: faults.injected,
      breakpoints: breakpointsArmed,
      forged: forger.forged,
      wipes: wipes.wiped,
      messages: sim.network.sent,
      events: sim.events,
    },
    ...(sim.trace.lines === null ? {} : { trace: sim.trace.lines }),
  };
}
