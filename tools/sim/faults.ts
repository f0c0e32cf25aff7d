import type { NodeId } from '../../src/env/types.js';
import type { SimProcess, Simulation, SimNode } from './simulation.js';

/** How long after the faults end an armed disk error is still watched for (beyond any simulated fsync). */
const diskErrorWatchMs = 2000;

/**
 * After the final heal, the injector keeps restarting any node that goes down for this long: a
 * fault armed before the end (a breakpoint, a disk error already in flight) may still fire just
 * after it, and "faults end" must mean every node runs again.
 */
const superviseAfterHealMs = 2000;

/** How hard a run is hit. All times are virtual milliseconds. */
export interface FaultPlan {
  /** Faults are injected in [0, endMs); at `endMs` everything heals and every node runs again. */
  readonly endMs: number;
  /** Mean time between two injected faults (exponentially distributed). */
  readonly meanGapMs: number;
  /** Relative weights of the fault kinds. */
  readonly weights: {
    readonly crash: number;
    /** Crash right after the node handles its next message, then restart within `quickRestartMs`. */
    readonly crashMidStep: number;
    /** A crash loop: the node dies and restarts `flapCount` times, up `flapUpMs`, down `quickRestartMs`. */
    readonly flap: number;
    readonly pause: number;
    readonly partition: number;
    readonly isolate: number;
    /** The node's next fsync fails: it must halt (and is restarted later). */
    readonly diskError: number;
  };
  /** How long a crashed node stays down / a node stays paused / a partition lasts: uniform in [min, max]. */
  readonly downMs: readonly [number, number];
  readonly quickRestartMs: readonly [number, number];
  readonly flapCount: readonly [number, number];
  readonly flapUpMs: readonly [number, number];
  readonly pauseMs: readonly [number, number];
  readonly partitionMs: readonly [number, number];
}

/**
 * Injects random crashes (with restarts), pauses, partitions and isolations into a simulation,
 * all drawn from the simulation's PRNG, until the plan's end; then heals the network, resumes
 * paused nodes and restarts crashed ones. Layer-specific faults (breakpoints) plug in as `extra`.
 */
export class FaultInjector<P extends SimProcess = SimProcess> {
  readonly #sim: Simulation;
  readonly #plan: FaultPlan;
  readonly #nodes: () => ReadonlyArray<SimNode<P>>;
  readonly #extra: Array<{ weight: number; inject: () => void }> = [];
  readonly #heals: Array<() => void> = [];
  /** Nodes the run takes down on purpose after the faults (never restarted by supervision). */
  readonly #spared = new Set<string>();
  /** Which nodes a killing fault may pick (all, unless a run protects something). */
  #protected: (node: SimNode<P>) => boolean = () => true;
  /** Further conditions on the nodes a killing fault may pick (`restrict`). */
  readonly #restrictions: Array<(node: SimNode<P>) => boolean> = [];
  #essential: ((node: SimNode<P>) => boolean) | null = null;
  injected = 0;

  constructor(sim: Simulation, plan: FaultPlan, nodes: () => ReadonlyArray<SimNode<P>>) {
    this.#sim = sim;
    this.#plan = plan;
    this.#nodes = nodes;
  }

  /**
   * Adds a fault kind of its own (e.g. arming a crash breakpoint on a random node), and what
   * ends it at the final heal (e.g. disarming every breakpoint).
   */
  addKind(weight: number, inject: () => void, heal?: () => void): void {
    this.#extra.push({ weight, inject });
    if (heal !== undefined) this.#heals.push(heal);
  }

  /**
   * Restricts every fault that takes a node away (crash, mid-step crash, crash loop, disk error,
   * pause, isolation) to nodes `mayDisturb` allows, e.g. never the last live holder of some state;
   * and a partition to splits whose majority side keeps at least one node that `essential` marks.
   */
  protect(mayDisturb: (node: SimNode<P>) => boolean, essential: (node: SimNode<P>) => boolean): void {
    this.#protected = mayDisturb;
    this.#essential = essential;
  }

  /**
   * Adds a condition every fault that takes a node away must meet, on top of `protect`'s (e.g.
   * `WipeFault`'s); while it spares any node, no partition is made either.
   */
  restrict(mayDisturb: (node: SimNode<P>) => boolean): void {
    this.#restrictions.push(mayDisturb);
  }

  /**
   * Whether every `restrict` condition lets a fault take `node` away now; `protect`'s condition
   * is not asked (for a fault that, like a power cut, may take every node at once).
   */
  restrictionsAllow(node: SimNode<P>): boolean {
    return this.#restrictions.every((r) => r(node));
  }

  #mayKill(node: SimNode<P>): boolean {
    return this.#protected(node) && this.#restrictions.every((r) => r(node));
  }

  /** The run kills `id` on purpose after the faults: supervision must leave it down. */
  spare(id: string): void {
    this.#spared.add(id);
  }

  /** Schedules the whole plan: random faults, then the final heal at `endMs`. */
  start(): void {
    this.#scheduleNext();
    this.#sim.schedule(this.#plan.endMs - this.#sim.now, () => this.healAll());
  }

  /** Ends every fault: heal partitions, make the network reliable, resume, restart, and supervise a while. */
  healAll(): void {
    const sim = this.#sim;
    for (const heal of this.#heals) heal();
    const until = sim.now + superviseAfterHealMs;
    const supervise = (): void => {
      for (const node of this.#nodes()) if (node.status === 'down' && !this.#spared.has(node.id)) node.start();
      if (sim.now < until) sim.schedule(5, supervise);
    };
    sim.schedule(5, supervise);
    sim.log('faults end: heal, resume, restart; no more loss, duplication or slow messages');
    sim.network.heal();
    sim.network.profile = { ...sim.network.profile, dropRate: 0, duplicateRate: 0, slowRate: 0 };
    for (const node of this.#nodes()) {
      node.disarmCrash();
      node.disk.clearFaults();
      if (node.status === 'paused') node.resume();
      if (node.status === 'down') node.start();
    }
  }

  #scheduleNext(): void {
    const sim = this.#sim;
    const gap = -Math.log(1 - sim.rng.next()) * this.#plan.meanGapMs;
    if (sim.now + gap >= this.#plan.endMs) return;
    sim.schedule(gap, () => {
      this.#injectOne();
      this.#scheduleNext();
    });
  }

  #injectOne(): void {
    const sim = this.#sim;
    const { weights } = this.#plan;
    const kinds: Array<{ weight: number; inject: () => void }> = [
      { weight: weights.crash, inject: () => this.#crash() },
      { weight: weights.crashMidStep, inject: () => this.#crashMidStep() },
      { weight: weights.flap, inject: () => this.#flap() },
      { weight: weights.pause, inject: () => this.#pause() },
      { weight: weights.partition, inject: () => this.#partition() },
      { weight: weights.isolate, inject: () => this.#isolate() },
      { weight: weights.diskError, inject: () => this.#diskError() },
      ...this.#extra,
    ];
    const total = kinds.reduce((s, k) => s + k.weight, 0);
    let r = sim.rng.next() * total;
    for (const kind of kinds) {
      r -= kind.weight;
      if (r < 0) {
        this.injected++;
        kind.inject();
        return;
      }
    }
  }

  #within(range: readonly [number, number]): number {
    return this.#sim.rng.uniform(range[0], range[1]);
  }

  #crash(): void {
    const up = this.#nodes().filter((n) => n.status === 'up' && this.#mayKill(n));
    if (up.length === 0) return;
    const node = this.#sim.rng.pick(up);
    node.crash('fault injector');
    this.#restartLater(node);
  }

  #diskError(): void {
    const up = this.#nodes().filter((n) => n.status === 'up' && this.#mayKill(n));
    if (up.length === 0) return;
    const node = this.#sim.rng.pick(up);
    this.#sim.log(`disk error armed on ${node.id}`);
    node.disk.failNextSync();
    const incarnation = node.incarnation;
    // A sync already issued when the faults end still fails afterwards: keep watching a while
    // longer than the slowest simulated fsync, and restart the node whenever it halts.
    const watchUntil = this.#plan.endMs + diskErrorWatchMs;
    const check = (): void => {
      if (node.incarnation !== incarnation) return;
      if (node.status === 'down') this.#restartLater(node);
      else if (this.#sim.now < watchUntil) this.#sim.schedule(5, check);
    };
    this.#sim.schedule(5, check);
  }

  #crashMidStep(): void {
    const up = this.#nodes().filter((n) => n.status === 'up' && this.#mayKill(n));
    if (up.length === 0) return;
    const node = this.#sim.rng.pick(up);
    const incarnation = node.incarnation;
    node.crashAfterNextMessage(this.#sim.rng.uniform(0, 1));
    // Restart soon after the crash, if it happens before the plan ends.
    const check = (): void => {
      if (node.incarnation !== incarnation) return;
      if (node.status === 'down') this.#restartLater(node, this.#plan.quickRestartMs);
      else if (this.#sim.now < this.#plan.endMs) this.#sim.schedule(1, check);
    };
    this.#sim.schedule(1, check);
  }

  #flap(): void {
    const up = this.#nodes().filter((n) => n.status === 'up' && this.#mayKill(n));
    if (up.length === 0) return;
    const node = this.#sim.rng.pick(up);
    let left = Math.round(this.#within(this.#plan.flapCount));
    const cycle = (): void => {
      if (left-- <= 0 || this.#sim.now >= this.#plan.endMs || node.status !== 'up') return;
      this.#sim.schedule(this.#within(this.#plan.flapUpMs), () => {
        if (node.status !== 'up' || this.#sim.now >= this.#plan.endMs || !this.#mayKill(node)) return;
        node.crash('fault injector: crash loop');
        this.#sim.schedule(this.#within(this.#plan.quickRestartMs), () => {
          if (node.status === 'down' && this.#sim.now < this.#plan.endMs) {
            node.start();
            cycle();
          }
        });
      });
    };
    cycle();
  }

  /** Restarts `node` after a random downtime (unless the final heal already did). */
  #restartLater(node: SimNode<P>, downMs: readonly [number, number] = this.#plan.downMs): void {
    const at = Math.min(this.#sim.now + this.#within(downMs), this.#plan.endMs);
    this.#sim.schedule(at - this.#sim.now, () => {
      if (node.status === 'down') node.start();
    });
  }

  #pause(): void {
    const up = this.#nodes().filter((n) => n.status === 'up' && this.#mayKill(n));
    if (up.length === 0) return;
    const node = this.#sim.rng.pick(up);
    node.pause();
    this.#sim.schedule(this.#within(this.#plan.pauseMs), () => node.resume());
  }

  #partition(): void {
    if (!this.#partitionsAllowed()) return;
    const ids = this.#sim.rng.shuffle(this.#nodes().map((n) => n.id));
    const cut = this.#sim.rng.between(1, Math.max(1, ids.length - 1));
    const [a, b] = [ids.slice(0, cut), ids.slice(cut)];
    if (!this.mayPartition(a, b)) return;
    this.#split(a, b);
  }

  /**
   * Whether a cut between `a` and `b` may be made now (for fault kinds of a run's own, as for
   * partitions): no restriction spares a node, and the larger side keeps a live node that
   * `protect` marks essential.
   */
  mayPartition(a: readonly NodeId[], b: readonly NodeId[]): boolean {
    if (!this.#partitionsAllowed()) return false;
    const essential = this.#essential;
    if (essential === null) return true;
    const major = a.length > b.length ? a : b;
    return this.#nodes().some((n) => major.includes(n.id) && n.status !== 'down' && essential(n));
  }

  /** How long a cut lasts: drawn from the plan's `partitionMs`. */
  drawPartitionMs(): number {
    return this.#within(this.#plan.partitionMs);
  }

  /** A restriction (`restrict`) holds back partitions too while it spares any node: a cut makes members look dead. */
  #partitionsAllowed(): boolean {
    return !this.#restrictions.some((r) => !this.#nodes().every(r));
  }

  #isolate(): void {
    const candidates = this.#nodes().filter((n) => this.#mayKill(n));
    if (candidates.length === 0) return;
    const lone = this.#sim.rng.pick(candidates).id;
    this.#split([lone], this.#nodes().map((n) => n.id).filter((id) => id !== lone));
  }

  #split(side: NodeId[], others: NodeId[]): void {
    const sim = this.#sim;
    sim.network.split(side, others);
    sim.schedule(this.#within(this.#plan.partitionMs), () => sim.network.heal());
  }
}
