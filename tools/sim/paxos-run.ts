import type { NodeId } from '../../src/env/types.js';
import type { ShellMutations } from '../../src/env/shell.js';
import type { PaxosMutations } from '../../src/paxos/context.js';
import type { PaxosValue } from '../../src/paxos/messages.js';
import { PaxosLayer } from '../../src/paxos/paxos-layer.js';
import { drawCompaction } from './compaction.js';
import { PaxosChecker } from './checkers/paxos-checker.js';
import { FaultInjector, type FaultPlan } from './faults.js';
import type { NetworkProfile } from './network.js';
import type { RunResult } from './run-result.js';
import { Simulation, type SimNode, type SimProcess } from './simulation.js';
import { defaultDiskProfile, lyingDiskProfile, slowDiskProfile } from './disk.js';

export interface PaxosRunOptions {
  readonly seed: number;
  readonly keepTrace?: boolean;
  readonly traceLogs?: boolean;
  /** Test-only: break Paxos on purpose; the checkers must then fail some seeds. */
  readonly mutations?: PaxosMutations & ShellMutations;
  /** Test-only: run on a disk that lies about fsync. */
  readonly lyingDisk?: boolean;
}

/** Bounds of the run, in virtual milliseconds. */
export const paxosRunBounds = {
  /** Faults end at a random time in this range. */
  faultEndMs: [2000, 6000] as const,
  /** After faults end, a new instance must be decided within this long (progress). */
  progressBoundMs: 5000,
  /** Proposers keep proposing this long after faults end, then stop. */
  proposeAfterFaultsMs: 3000,
  /** After proposers stop, every node must know every decided instance within this long. */
  learnBoundMs: 10000,
};

interface PaxosProcess extends SimProcess {
  readonly layer: PaxosLayer;
}

/**
 * One randomized run of the Paxos layer alone: 3–7 nodes, concurrent proposers with different
 * values (member lists, so each instance's acceptors are the previous instance's value), loss,
 * duplication, reordering, partitions, pauses, and crashes that lose unsynced writes. Checks
 * agreement, validity and durability throughout, then liveness once the faults stop: progress,
 * and every node learning every decision within a bound.
 */
export function runPaxosSimulation(opts: PaxosRunOptions): RunResult {
  const seed = opts.seed;
  // Draw the run's shape from a throwaway generator of the same seed, so the network profile
  // is fixed before the simulation's own generator starts.
  const shape = new Simulation({ seed }).rng;
  const maxDelayMs = shape.uniform(1, 20);
  const network: NetworkProfile = {
    minDelayMs: 0.1,
    maxDelayMs,
    slowRate: shape.uniform(0, 0.1),
    slowDelayMs: maxDelayMs + shape.uniform(20, 400),
    dropRate: shape.chance(0.2) ? 0 : shape.uniform(0, 0.25),
    duplicateRate: shape.uniform(0, 0.1),
    reconnectDelayMaxMs: shape.chance(0.5) ? 0 : shape.uniform(100, 1000),
  };
  const disk = opts.lyingDisk === true ? lyingDiskProfile : shape.chance(0.2) ? slowDiskProfile : defaultDiskProfile;
  const sim = new Simulation({
    seed,
    network,
    disk,
    keepTrace: opts.keepTrace,
    traceLogs: opts.traceLogs,
  });
  const rng = sim.rng;
  const count = rng.between(3, 7);
  const ids: NodeId[] = Array.from({ length: count }, (_, i) => `n${i + 1}`);
  const first = ids[0]!;
  const checker = new PaxosChecker(sim, first);
  const compaction = drawCompaction(seed);
  sim.log(`paxos run seed=${seed} nodes=${count} ${JSON.stringify(network)} disk=${JSON.stringify(disk)}` +
    (compaction === undefined ? '' : ` compaction=${JSON.stringify(compaction)}`));

  const randomValue = (): PaxosValue =>
    rng.shuffle(ids).slice(0, rng.between(Math.max(1, Math.floor(count / 2)), count));

  const nodes: Array<SimNode<PaxosProcess>> = ids.map((id) =>
    sim.addNode<PaxosProcess>(id, (world, node) => {
      const layer = new PaxosLayer(world, {
        first,
        listener: { onDecided: (i, v) => checker.delivered(id, i, v) },
        mutations: opts.mutations,
        options: compaction,
      });
      if (node.incarnation > 1) checker.restarted(id, (i) => layer.core.decided(i), layer.core.oldestKnown);
      world.executor.submit(() => layer.start());
      return { layer, stop: () => layer.stop() };
    }),
  );
  for (const node of nodes) node.start();

  // Proposers: each node, at random intervals, proposes a random member list for the next
  // instance it does not know, as an application above Paxos would.
  const plan: FaultPlan = {
    endMs: rng.uniform(...paxosRunBounds.faultEndMs),
    meanGapMs: rng.uniform(50, 400),
    weights: { crash: 2, crashMidStep: 2, flap: 1, pause: 1, partition: 1, isolate: 1, diskError: 0.3 },
    downMs: [1, 500],
    quickRestartMs: [0.5, 20],
    flapCount: [3, 30],
    flapUpMs: [2, 40],
    pauseMs: [5, 600],
    partitionMs: [20, 1000],
  };
  const proposeUntil = plan.endMs + paxosRunBounds.proposeAfterFaultsMs;
  const meanProposeGapMs = rng.uniform(5, 200);
  let proposals = 0;
  const drive = (node: SimNode<PaxosProcess>): void => {
    sim.schedule(rng.uniform(0.5, 1.5) * meanProposeGapMs, () => {
      if (sim.now >= proposeUntil) return;
      const layer = node.process?.layer;
      const world = node.world;
      if (node.up && layer !== undefined && world !== null) {
        world.executor.submit(() => {
          const instance = layer.core.highestKnown + 1;
          const value = randomValue();
          const outcome = layer.propose(instance, value);
          // Only a value the proposer took up counts as proposed (validity); nothing is decided
          // inside propose itself, so recording after the call is in time.
          if (outcome === 'started' || outcome === 'in-progress') checker.proposed(instance, value);
          if (outcome === 'started') proposals++;
        });
      }
      drive(node);
    });
  };
  nodes.forEach(drive);

  const faults = new FaultInjector(sim, plan, () => nodes);
  faults.start();

  // Run through the faults, then check progress, then learning.
  sim.runUntil(plan.endMs);
  const decidedAtFaultEnd = checker.maxDecided;
  sim.runUntil(plan.endMs + paxosRunBounds.progressBoundMs, () => checker.maxDecided > decidedAtFaultEnd);
  if (checker.maxDecided <= decidedAtFaultEnd) {
    sim.fail(`liveness: no instance decided within ${paxosRunBounds.progressBoundMs} ms after faults ended ` +
      `(highest decided ${decidedAtFaultEnd})`);
  }
  sim.runUntil(proposeUntil);
  const learnDeadline = proposeUntil + paxosRunBounds.learnBoundMs;
  const everyoneKnows = (): boolean =>
    nodes.every((n) => n.process !== null && n.process.layer.core.highestKnown === checker.maxDecided);
  sim.runUntil(learnDeadline, everyoneKnows);
  if (!everyoneKnows()) {
    const known = nodes.map((n) => `${n.id}:${n.process?.layer.core.highestKnown ?? 'down'}`).join(' ');
    sim.fail(`liveness: ${paxosRunBounds.learnBoundMs} ms after proposals stopped, not every node knows ` +
      `every decided instance (highest ${checker.maxDecided}; ${known})`);
  }
  for (const node of nodes) node.crash('end of run');

  return {
    seed,
    ok: sim.failures.length === 0,
    failures: sim.failures,
    digest: sim.trace.digest(),
    stats: {
      nodes: count,
      decided: checker.maxDecided,
      proposals,
      faults: faults.injected,
      messages: sim.network.sent,
      events: sim.events,
    },
    ...(sim.trace.lines === null ? {} : { trace: sim.trace.lines }),
  };
}
