import type { NodeId } from '../../src/env/types.js';
import type { Viewstamp } from '../../src/rsm/viewstamp.js';
import type { SimCluster, StackProcess } from './cluster.js';
import { servingPrimary } from './cut-primary-fault.js';
import { slowDiskProfile } from './disk.js';
import type { FaultInjector } from './faults.js';
import { Prng } from './prng.js';
import type { SimNode } from './simulation.js';

/** How a run cuts the power of a primary's backups. All times are virtual milliseconds. */
export interface PowerCutBackupsPlan {
  /** Attempts are made in [0, endMs) (the other faults' window); at `endMs` everything heals. */
  readonly endMs: number;
  /** Share of runs that attempt it at all. */
  readonly share: number;
  /** How many attempts such a run makes, at uniform times in the first `armedShare` of the window: [min, max]. */
  readonly attempts: readonly [number, number];
  /** Attempts start early enough that the backups can form a view without the old primary before the heal. */
  readonly armedShare: number;
  /** How long an armed attempt waits for the primary to execute a request before it gives up. */
  readonly armedForMs: readonly [number, number];
  /** How long the old primary stays up after its answer, so the answer leaves it: uniform in [min, max]. */
  readonly answerGraceMs: readonly [number, number];
  /** How long each backup stays down: uniform in [min, max]. */
  readonly downMs: readonly [number, number];
}

/** While an attempt finds no view to arm on, it looks again this often (virtual ms). */
const armRetryMs = 25;

/** The plan of the whole-stack runs that have the fault. */
export const defaultPowerCutBackupsPlan = (endMs: number): PowerCutBackupsPlan => ({
  endMs, share: 1, attempts: [1, 2], armedShare: 0.5, armedForMs: [200, 1500], answerGraceMs: [1, 5], downMs: [50, 500],
});

/** One armed attempt: the serving primary of `vid` and its backups, whose disks are slow meanwhile. */
interface Armed<S> {
  readonly primary: SimNode<StackProcess<S>>;
  readonly incarnation: number;
  readonly vid: number;
  readonly backups: ReadonlyArray<SimNode<StackProcess<S>>>;
  /** The first seqno of `vid` the primary stamped once its backups' disks were slow: from it on, their records go to the slow disks. */
  readonly slowFrom: number;
  /** The trigger came (the power is cut next, unless something changed meanwhile). */
  fired: boolean;
}

/**
 * The `power-cut-backups` fault: the serving primary's backups run on disks much slower than its
 * own (`slowDiskProfile`, tens to hundreds of ms per fsync); once the primary executed a request it
 * stamped after that (every backup acknowledged it; the observer hears of it after the primary's
 * own records are durable, so its answer has left), every backup loses power at once, and with it
 * every record its disk had not made durable (`SimDisk.loseUnsynced`: the worst outcome a crash
 * draws from), and the old primary crashes 1–5 ms later and stays down until some replica serves
 * a view without it (or the faults end). Then it restarts on its own disk. The backups come back
 * after their own downtimes.
 *
 * Why a correct synod must survive it: it crashes the members of one view and no more, as the
 * power cut of every node the runs already make does, and every disk survives; the backups are a
 * majority of the view (at least two of them), so they can decide a view without the old
 * primary, and each acknowledged only what its disk had made durable: the answered request is on
 * every backup's disk, and the new view's state holds it. A backup that acknowledged a batch
 * before its fsync (the `ackBatchBeforeFsync` mutation) has forgotten it; the old primary, whose
 * disk still holds it (its `stamped` record), is out while the new view serves without it, and is
 * given the new view's state when it rejoins: an acknowledged request lost (the RSM checker) or
 * its index given to a later request (real-time order, linearizability). With equal disks the
 * window, the backups' fsync less the primary's, is too short to hit: hence the slow disks.
 *
 * Every choice draws from a generator of its own, seeded from the run's seed, never from the
 * run's: a run the fault never arms in makes the same draws and messages as without it (only the
 * fault's own looks for a view to arm on are added as events), and every run replays exactly. An
 * attempt is made only while no `FaultInjector.restrict` condition (a lost disk not yet replaced,
 * `WipeFault`) spares the nodes it takes; like the power cut of every node, it ignores `protect`.
 * From the cut until the old primary runs again it restricts the injector's other faults in turn
 * (the power cut of every node and the breakpoints, which no restriction holds back, excepted).
 */
export class PowerCutBackupsFault<S> {
  readonly #cluster: SimCluster<S>;
  readonly #plan: PowerCutBackupsPlan;
  readonly #rng: Prng;
  #faults: FaultInjector<StackProcess<S>> | null = null;
  #armed: Armed<S> | null = null;
  /**
   * From the power cut until the old primary runs again: no other fault takes a node away (nor
   * cuts the network), so that the run shows what this fault is about. A restriction, as the
   * `WipeFault`'s: it changes nothing in runs this fault never cuts in.
   */
  #cutting = false;
  /** Attempts that found a serving primary with two backups or more and slowed their disks. */
  armings = 0;
  /** Attempts that cut the backups' power. */
  cuts = 0;

  constructor(cluster: SimCluster<S>, seed: number, plan: PowerCutBackupsPlan) {
    this.#cluster = cluster;
    this.#plan = plan;
    this.#rng = new Prng(seed ^ 0x5bd1e995);
  }

  /** Schedules this run's attempts (none in runs that draw none). */
  start(faults: FaultInjector<StackProcess<S>>): void {
    this.#faults = faults;
    faults.restrict(() => !this.#cutting);
    const rng = this.#rng;
    if (!rng.chance(this.#plan.share)) return;
    const attempts = rng.between(...this.#plan.attempts);
    for (let k = 0; k < attempts; k++) {
      this.#cluster.sim.scheduleAt(rng.uniform(0, this.#plan.endMs * this.#plan.armedShare), () => this.#arm());
    }
  }

  /**
   * Told of every execution on every replica (`ReplicaObserver.executed`, an upcall: on the
   * primary it comes once the request's records are durable there, after its answer left). The
   * trigger: the primary executed a request it stamped after the backups' disks turned slow.
   */
  executed(id: NodeId, vs: Viewstamp): void {
    const armed = this.#armed;
    if (armed === null || armed.fired || id !== armed.primary.id || vs.vid !== armed.vid || vs.seqno < armed.slowFrom) return;
    const core = armed.primary.process?.stack.rsm?.core;
    if (armed.primary.incarnation !== armed.incarnation || core?.status !== 'normal' || !core.isPrimary || core.vid !== armed.vid) return;
    armed.fired = true;
    // Inside the primary's handler: act as the next event, after its effects were handed over.
    this.#cluster.sim.schedule(0, () => this.#fire(armed, vs));
  }

  /** An attempt: waits for a serving primary with two backups or more, all up, then arms (until the window ends). */
  #arm(): void {
    const cluster = this.#cluster;
    const { sim } = cluster;
    // Drawn whatever happens, so that one attempt's outcome never shifts the next one's draws.
    const armedForMs = this.#rng.uniform(...this.#plan.armedForMs);
    const until = this.#plan.endMs * this.#plan.armedShare;
    const tryArm = (): void => {
      if (this.#armed === null && this.#tryArm(armedForMs)) return;
      if (this.#armed === null && sim.now + armRetryMs < until) sim.schedule(armRetryMs, tryArm);
    };
    tryArm();
  }

  /** Arms on the serving primary's view if it has two backups or more, all up and free to take; false if not. */
  #tryArm(armedForMs: number): boolean {
    const cluster = this.#cluster;
    const { sim } = cluster;
    const id = servingPrimary(cluster);
    if (id === null) return false;
    const primary = cluster.node(id);
    const core = primary.process?.stack.rsm?.core;
    const view = cluster.view(id);
    if (core === undefined || view === null || view.vid !== core.vid) return false;
    const backups = view.members.filter((m) => m !== id).map((m) => cluster.node(m));
    const faults = this.#faults!;
    if (backups.length < 2 || ![primary, ...backups].every((n) => n.status === 'up' && faults.restrictionsAllow(n))) return false;
    // Stamped so far in this view: what it executed and what is in flight (stamped in order).
    const last = core.lastExecuted;
    const stamped = (last?.vid === core.vid ? last.seqno : 0) + core.inFlight;
    const armed: Armed<S> = { primary, incarnation: primary.incarnation, vid: core.vid, backups, slowFrom: stamped + 1, fired: false };
    this.#armed = armed;
    this.armings++;
    for (const b of backups) b.disk.profile = slowDiskProfile;
    sim.log(`power-cut-backups armed: primary ${id} of view ${core.vid}, backups [${backups.map((b) => b.id).join(',')}] on slow disks`);
    sim.schedule(armedForMs, () => {
      if (this.#armed !== armed || armed.fired) return;
      sim.log(`power-cut-backups disarmed: ${id} executed nothing of view ${armed.vid} in ${armedForMs.toFixed(0)} ms`);
      this.#disarm(armed);
    });
    return true;
  }

  #disarm(armed: Armed<S>): void {
    for (const b of armed.backups) b.disk.profile = null;
    if (this.#armed !== armed) return;
    this.#armed = null;
    this.#cutting = false;
  }

  #fire(armed: Armed<S>, vs: Viewstamp): void {
    const { sim } = this.#cluster;
    const rng = this.#rng;
    const graceMs = rng.uniform(...this.#plan.answerGraceMs);
    const downMs = armed.backups.map(() => rng.uniform(...this.#plan.downMs));
    const faults = this.#faults!;
    const { primary } = armed;
    if (!armed.backups.every((b) => b.status === 'up' && faults.restrictionsAllow(b)) || !faults.restrictionsAllow(primary)) {
      this.#disarm(armed);
      return;
    }
    this.cuts++;
    this.#cutting = true;
    sim.log(`power-cut-backups: ${primary.id} executed ${vs.vid}.${vs.seqno}; power cut of its backups [${armed.backups.map((b) => b.id).join(',')}]`);
    for (const [k, b] of armed.backups.entries()) {
      const lost = b.disk.loseUnsynced();
      sim.log(`power-cut-backups: ${b.id} loses its ${lost} unsynced records`);
      b.crash('fault injector: power cut of the backups');
      b.disk.profile = null; // powered up again, the disk is not busy any more
      const at = Math.min(sim.now + downMs[k]!, this.#plan.endMs);
      sim.scheduleAt(at, () => {
        if (b.status === 'down') b.start();
      });
    }
    sim.schedule(graceMs, () => {
      if (primary.incarnation === armed.incarnation && primary.status !== 'down') primary.crash('fault injector: the old primary kept out');
      if (primary.status === 'down') this.#holdDown(armed);
      else this.#disarm(armed);
    });
  }

  /** Keeps the old primary down until a replica serves a view without it, or the faults end; then starts it. */
  #holdDown(armed: Armed<S>): void {
    const cluster = this.#cluster;
    const { sim } = cluster;
    const { primary } = armed;
    const check = (): void => {
      if (primary.status !== 'down') {
        this.#disarm(armed); // started by someone else (the final heal)
        return;
      }
      if (this.#servedWithout(primary.id, armed.vid) || sim.now >= this.#plan.endMs) {
        sim.log(`power-cut-backups: ${primary.id} starts again`);
        this.#disarm(armed);
        primary.start();
        return;
      }
      sim.schedule(10, check);
    };
    sim.schedule(10, check);
  }

  /** Whether some live replica serves a view after `vid` that does not list `id`. */
  #servedWithout(id: NodeId, vid: number): boolean {
    const cluster = this.#cluster;
    return cluster.nodes.some((n) => {
      const core = n.status === 'up' ? n.process?.stack.rsm?.core : undefined;
      const view = cluster.view(n.id);
      return core !== undefined && view !== null && core.status === 'normal' && core.vid > vid && view.vid === core.vid && !view.members.includes(id);
    });
  }
}
