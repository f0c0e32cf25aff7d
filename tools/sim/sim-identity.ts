import { type MemberId, type NodeId, memberId } from '../../src/env/types.js';
import type { ClusterIdPort } from '../../src/config/ports.js';
import type { SimDisk } from './disk.js';
import type { Simulation } from './simulation.js';

/** What a simulated node stack's process is told about its identity at start. */
export interface SimStart {
  /** The disk had no identity: this process is its first life. */
  readonly firstLife: boolean;
  /** The cluster id on the disk (`NodeStackOptions.clusterId`). */
  readonly clusterId: ClusterIdPort;
  /** The node as views list it (`NodeStackOptions.member`): its address and its disk's id. */
  readonly member: MemberId;
}

/**
 * Test-only mutations of the simulated machines (not of the protocol): each breaks on purpose
 * what the simulator stands for in production, to show that a checker notices.
 */
export interface SimMutations {
  /**
   * A node restarted on a wiped disk keeps its address as member id (what a node was before disk
   * ids): it answers in place of the member the views list at its address, whose promises and
   * acceptances its disk no longer holds.
   */
  readonly wipeKeepsMemberId?: boolean;
}

/**
 * The disk `disk` of the machine `id` as a member id: the address for the machine's first disk,
 * `id@N` for its N-th (`SimDisk.number`). What checkers key a node's history by: a wipe starts a
 * new disk, whose history starts empty. A node stack on that disk is listed by this id too
 * (`startIdentity`), except the cluster's first node (its address, as production) and under the
 * `wipeKeepsMemberId` mutation.
 */
export function diskMember(id: NodeId, disk: SimDisk): MemberId {
  return memberId(id, disk.number === 1 ? null : String(disk.number));
}

/**
 * The identity of a simulated node stack at process start, as production's `identity.json`: on a
 * fresh disk the first node creates the cluster and its id (`newClusterId`, which must draw
 * nothing from the run's generator, so that a run's course does not depend on it), a joiner has
 * none until a member's join reply teaches it (`adopt`, durable at once like the file's write).
 * A fresh disk gets its disk id (`SimIdentity.disk`), made from its number, never drawn.
 * Trace lines say when a cluster is created, when an id is learned, and which member a later disk is.
 */
export function startIdentity(sim: Simulation, id: NodeId, disk: SimDisk, first: NodeId, newClusterId: () => string,
  mutations: SimMutations = {}): SimStart {
  const firstLife = disk.identity === null;
  const identity = disk.identity ??= {
    clusterId: id === first ? newClusterId() : null,
    disk: id === first || disk.number === 1 ? null : String(disk.number),
  };
  if (firstLife && identity.clusterId !== null) sim.log(`${id} creates cluster ${identity.clusterId}`);
  const member = mutations.wipeKeepsMemberId === true ? id : memberId(id, identity.disk);
  if (firstLife && disk.number > 1) sim.log(`${id} starts on disk ${disk.number} as member ${member}`);
  return {
    firstLife,
    member,
    clusterId: {
      current: () => identity.clusterId,
      adopt: (clusterId) => {
        identity.clusterId = clusterId;
        sim.log(`${id} learns cluster id ${clusterId}`);
      },
    },
  };
}
