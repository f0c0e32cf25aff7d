import type { NodeId } from '../../src/env/types.js';
import type { ClusterIdPort } from '../../src/config/ports.js';
import type { SimDisk } from './disk.js';
import type { Simulation } from './simulation.js';

/** What a simulated node stack's process is told about its identity at start. */
export interface SimStart {
  /** The disk had no identity: this process is its first life. */
  readonly firstLife: boolean;
  /** The cluster id on the disk (`NodeStackOptions.clusterId`). */
  readonly clusterId: ClusterIdPort;
}

/**
 * The identity of a simulated node stack at process start, as production's `identity.json`: on a
 * fresh disk the first node creates the cluster and its id (`newClusterId`, which must draw
 * nothing from the run's generator, so that a run's course does not depend on it), a joiner has
 * none until a member's join reply teaches it (`adopt`, durable at once like the file's write).
 * Trace lines say when a cluster is created and when an id is learned.
 */
export function startIdentity(sim: Simulation, id: NodeId, disk: SimDisk, first: NodeId, newClusterId: () => string): SimStart {
  const firstLife = disk.identity === null;
  const identity = disk.identity ??= { clusterId: id === first ? newClusterId() : null };
  if (firstLife && identity.clusterId !== null) sim.log(`${id} creates cluster ${identity.clusterId}`);
  return {
    firstLife,
    clusterId: {
      current: () => identity.clusterId,
      adopt: (clusterId) => {
        identity.clusterId = clusterId;
        sim.log(`${id} learns cluster id ${clusterId}`);
      },
    },
  };
}
