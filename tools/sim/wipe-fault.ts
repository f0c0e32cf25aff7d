import { addressOf } from '../../src/env/types.js';
import { majority } from '../../src/paxos/context.js';
import type { SimCluster, StackProcess } from './cluster.js';
import type { FaultInjector } from './faults.js';
import { Prng } from './prng.js';
import { diskMember } from './sim-identity.js';
import type { SimNode } from './simulation.js';

/** How often a run loses a disk. All times are virtual milliseconds. */
export interface WipePlan {
  /** Wipes are attempted in [0, endMs) (the other faults' window). */
  readonly endMs: number;
  /** Share of runs that attempt wipes at all. */
  readonly share: number;
  /** How many attempts such a run makes, at uniform times: [min, max]. */
  readonly attempts: readonly [number, number];
  /** How long a wiped node stays down before it starts on its new disk: uniform in [min, max]. */
  readonly downMs: readonly [number, number];
}

/** The plan the randomized config and whole-stack runs use. */
export const defaultWipePlan = (endMs: number): WipePlan => ({ endMs, share: 0.5, attempts: [1, 3], downMs: [50, 1500] });

/**
 * The `wipe` fault: a node's data directory is lost. The node is stopped, its disk wiped, and it
 * starts again on a new disk as a new member (`n3@2`, see `startIdentity`), which the cluster must
 * recognise: remove the member whose disk is gone, add the new one, and never count the new disk
 * as the old one's acceptor or state holder.
 *
 * A lost disk is survivable only while a majority of every view's disks survive (the views that
 * list it can decide the next view only with a majority of their members' disks): so a wipe is
 * injected only when no member of the current view has lost its disk already (at most one is lost
 * and not yet replaced at any time), and when enough other members of that view are up to make a
 * majority without it. The same holds for every view proposed next, which may yet be decided (a
 * node wiped while a view adding it is in flight is a lost member of that view). Until the wiped
 * node is a member again on its new disk and no view decided or proposed lists the lost disk, no
 * other disk is wiped and the other faults take no other node away: until the new disk asks to
 * join, the members cannot tell the lost disk from a slow one, and a removal of a crashed or
 * restarted member meanwhile (or an addition of the lost disk, from a join request its old process
 * left queued) could leave a view whose lost disk is half of it. Only a member of the newest view
 * that knows itself one is wiped: a node outside may have a join request queued at a member, which
 * can add its old disk after the wipe (to a view of one, that makes a view of two, one lost). And
 * only at a quiet moment: the network whole, every member of those views up, in the newest view and
 * a member in its own eyes (a partitioned, lagging or restarted member is removed on sight, and the members count the lost
 * disk alive for a grace period after a view lists it). The cluster's first node is never wiped (its fresh disk would create a new
 * cluster, which is another story). A run may protect more (`mayWipe`, e.g. "another live replica
 * holds a complete state").
 *
 * Every choice draws from a generator of its own, seeded from the run's seed, never from the run's:
 * an attempt that finds no node to wipe leaves no trace, so a run without wipes is the same run,
 * event for event and digest for digest, as before the fault existed; a run replays exactly from
 * its seed either way.
 */
export class WipeFault<S> {
  readonly #cluster: SimCluster<S>;
  readonly #plan: WipePlan;
  readonly #rng: Prng;
  readonly #mayWipe: (node: SimNode<StackProcess<S>>) => boolean;
  /** Disks wiped so far in the run. */
  wiped = 0;
  /** Member ids of the disks wiped so far. */
  readonly #lost = new Set<string>();
  /** Wiped nodes not yet members on their new disks. */
  readonly #awaiting = new Set<SimNode<StackProcess<S>>>();

  constructor(cluster: SimCluster<S>, seed: number, plan: WipePlan, mayWipe: (node: SimNode<StackProcess<S>>) => boolean = () => true) {
    this.#cluster = cluster;
    this.#plan = plan;
    this.#rng = new Prng(seed ^ 0x7f4a7c15);
    this.#mayWipe = mayWipe;
  }

  /** Schedules this run's attempts (none in runs that draw none), and restricts `faults` while a lost disk is listed. */
  start(faults: FaultInjector<StackProcess<S>>): void {
    faults.restrict(() => this.#settled());
    const rng = this.#rng;
    if (!rng.chance(this.#plan.share)) return;
    const attempts = rng.between(...this.#plan.attempts);
    for (let k = 0; k < attempts; k++) {
      this.#cluster.sim.scheduleAt(rng.uniform(0, this.#plan.endMs), () => this.#attempt());
    }
  }

  #attempt(): void {
    const cluster = this.#cluster;
    const { sim } = cluster;
    const rng = this.#rng;
    // Drawn whatever happens, so that one attempt's outcome never shifts the next one's draws.
    const pick = rng.next();
    const downMs = rng.uniform(...this.#plan.downMs);
    const victims = cluster.nodes.filter((n) => this.#eligible(n));
    if (victims.length === 0) return;
    const node = victims[Math.floor(pick * victims.length)]!;
    this.wiped++;
    this.#lost.add(diskMember(node.id, node.disk));
    this.#awaiting.add(node);
    sim.log(`fault injector: wipe the disk of ${node.id} (listed as ${diskMember(node.id, node.disk)})`);
    cluster.wipe(node.id);
    const at = Math.min(sim.now + downMs, this.#plan.endMs);
    sim.scheduleAt(at, () => {
      if (node.status === 'down') node.start();
    });
  }

  /** Whether every wiped node is a member on its new disk and no view decided or proposed last lists a lost disk. */
  #settled(): boolean {
    if (this.#lost.size === 0) return true;
    const { decided, views } = this.#frontier();
    for (const node of this.#awaiting) if (decided.includes(diskMember(node.id, node.disk))) this.#awaiting.delete(node);
    return this.#awaiting.size === 0 && views.every((view) => view.every((m) => !this.#lost.has(m)));
  }

  /** The views to reckon with (`PaxosChecker.frontier`), from the newest one any node committed. */
  #frontier(): ReturnType<SimCluster<S>['paxosChecker']['frontier']> {
    return this.#cluster.paxosChecker.frontier(this.#cluster.configChecker.latest.vid);
  }

  /** Whether wiping `node` now keeps a majority of the current view's disks up (see the class comment). */
  #eligible(node: SimNode<StackProcess<S>>): boolean {
    const cluster = this.#cluster;
    if (node.id === cluster.first || node.status !== 'up' || !this.#mayWipe(node) || !this.#settled()) return false;
    const { decided, views } = this.#frontier();
    if (!decided.includes(diskMember(node.id, node.disk)) || node.process?.stack.config.core.status !== 'member') return false;
    if (cluster.sim.network.partitioned) return false;
    // A member that lags behind the newest view is removed on sight too ("reports another view").
    const newest = cluster.configChecker.latest.vid;
    const healthy = (m: string): boolean => {
      const n = cluster.node(addressOf(m));
      const config = n.process?.stack.config.core;
      return diskMember(n.id, n.disk) === m && n.status === 'up' && config?.status === 'member' && config.vid >= newest;
    };
    // Every member healthy: so the others up make a majority of each view without the victim once it has 3 members or more.
    return views.every((view) => view.every(healthy) && view.length - 1 >= majority(view.length));
  }
}
