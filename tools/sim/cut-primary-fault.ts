import type { NodeId } from '../../src/env/types.js';
import type { SimCluster, StackProcess } from './cluster.js';
import type { FaultInjector } from './faults.js';

/** Share of the cuts that are one-way (half of them drop the primary's messages, half its peers'). */
export const oneWayCutShare = 1 / 3;

/** How many cuts of each shape a run made. */
export interface PrimaryCutCounts {
  both: number;
  /** The primary's messages to its peers were lost; theirs reached it. */
  fromPrimary: number;
  /** The peers' messages to the primary were lost; its reached them. */
  toPrimary: number;
}

/**
 * The `cut-primary-from-peers` fault (leases-design §4.3): the serving primary is cut from the
 * other replicas only, for a partition's duration, while every client machine still reaches every
 * node, the primary included. This is the issue's scenario: a deposed primary that clients still
 * talk to. A third of the cuts are one-way. Weighted as a partition, and held back where a
 * partition would be (`FaultInjector.mayPartition`: the peers' side must keep a live holder of a
 * complete state in runs that protect one). Draws from the run's generator, as the other faults.
 *
 * A two-way cut is a network split between the primary and its peers (ended by the next heal, as
 * any partition); a one-way cut is a block on one direction only, lifted after its duration or at
 * the final heal.
 */
export function addCutPrimaryFault<S>(faults: FaultInjector<StackProcess<S>>, cluster: SimCluster<S>, weight: number): PrimaryCutCounts {
  const { sim } = cluster;
  const counts: PrimaryCutCounts = { both: 0, fromPrimary: 0, toPrimary: 0 };
  const blocks = sim.network.blocks;
  const lift = (block: (typeof blocks)[number]): void => {
    const k = blocks.indexOf(block);
    if (k >= 0) blocks.splice(k, 1);
  };
  const mine = new Set<(typeof blocks)[number]>();
  faults.addKind(weight, () => {
    const primary = servingPrimary(cluster);
    if (primary === null) return;
    const peers = cluster.ids.filter((id) => id !== primary);
    if (peers.length === 0 || !faults.mayPartition([primary], peers)) return;
    const durationMs = faults.drawPartitionMs();
    if (!sim.rng.chance(oneWayCutShare)) {
      counts.both++;
      sim.log(`cut primary ${primary} from its peers [${peers.join(',')}] (both ways) for ${durationMs.toFixed(0)} ms`);
      sim.network.split([primary], peers);
      sim.schedule(durationMs, () => sim.network.heal());
      return;
    }
    const fromPrimary = sim.rng.chance(0.5);
    if (fromPrimary) counts.fromPrimary++;
    else counts.toPrimary++;
    sim.log(`cut primary ${primary} from its peers [${peers.join(',')}] (${fromPrimary ? 'its messages to them lost' : 'theirs to it lost'}) for ${durationMs.toFixed(0)} ms`);
    const block = fromPrimary
      ? (from: NodeId, to: NodeId) => from === primary && peers.includes(to)
      : (from: NodeId, to: NodeId) => to === primary && peers.includes(from);
    blocks.push(block);
    mine.add(block);
    sim.schedule(durationMs, () => {
      lift(block);
      mine.delete(block);
    });
  }, () => {
    for (const block of mine) lift(block);
    mine.clear();
  });
  return counts;
}

/** The serving primary of the newest view any live replica serves as primary, or null. */
export function servingPrimary<S>(cluster: SimCluster<S>): NodeId | null {
  let best: { id: NodeId; vid: number } | null = null;
  for (const node of cluster.nodes) {
    const core = node.status === 'up' ? node.process?.stack.rsm?.core : undefined;
    if (core === undefined || core.status !== 'normal' || !core.isPrimary) continue;
    if (best === null || core.vid > best.vid) best = { id: node.id, vid: core.vid };
  }
  return best?.id ?? null;
}
