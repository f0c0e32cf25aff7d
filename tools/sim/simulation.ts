/**
 * The simulator's world (`Simulation`): virtual time, the event queue, one seeded PRNG, the
 * network and the streams over it, the trace and its digest, and the nodes. The machines themselves are in sim-node.ts,
 * the wiring of a node's process in node-world.ts.
 */
import type { Logger } from '../../src/env/logger.js';
import type { NodeId } from '../../src/env/types.js';
import type { TransportOptions } from '../../src/options.js';
import { EventQueue } from './event-queue.js';
import { type DiskProfile, defaultDiskProfile } from './disk.js';
import { SimClocks } from './drifting-clock.js';
import { type NetworkProfile, SimNetwork, calmNetwork } from './network.js';
import { Prng } from './prng.js';
import { SimStreams } from './sim-streams.js';
import { type Boot, type SimProcess, SimNode } from './sim-node.js';
import { Trace } from './trace.js';

export { type Boot, type NodeStatus, type SimProcess, SimNode } from './sim-node.js';

/** What the injector of an untrusted wire message hears of it (`Simulation.untrusted`). */
export interface UntrustedWire {
  /** The receiver's codec accepted it: it was handed to the node. */
  accepted(node: NodeId): void;
  /** The receiver's codec refused it with `err`: nothing was handed to the node. */
  refused(node: NodeId, err: unknown): void;
}

export interface SimulationOptions {
  readonly seed: number;
  /** Keep the trace's lines (for printing a replay); the digest is computed either way. */
  readonly keepTrace?: boolean;
  /** Also keep the cores' log lines in the trace (debug level and up). */
  readonly traceLogs?: boolean;
  readonly network?: NetworkProfile;
  readonly disk?: DiskProfile;
  /** The stream bounds and keepalive of every node's transport (sim-streams.ts); default `defaultTransportOptions`. */
  readonly transport?: Partial<TransportOptions>;
  /**
   * ρₛ: the largest rate error of every machine's clock against virtual time (drifting-clock.ts),
   * e.g. 0.01 for 1 %. Default 0: exact rates (every clock still starts at an offset of its own).
   */
  readonly clockDrift?: number;
}

/**
 * A deterministic world for whole clusters in one process: virtual time, one seeded PRNG, a
 * network, disks, and nodes that crash, restart and pause. `run*` pops events in (time, order)
 * and runs each to completion; nothing else ever runs, so a seed replays a run exactly.
 */
export class Simulation {
  readonly rng: Prng;
  readonly trace: Trace;
  readonly network: SimNetwork;
  /** Server streams between the nodes (over `network`). */
  readonly streams: SimStreams;
  readonly diskProfile: DiskProfile;
  /** Every machine incarnation's own monotonic clock (drifting-clock.ts); `now` is virtual (real) time. */
  readonly clocks: SimClocks;
  readonly nodes = new Map<NodeId, SimNode<SimProcess>>();
  /** Checker violations and node failures; a run passes when this stays empty. */
  readonly failures: string[] = [];
  /**
   * Wire messages that no node of the simulation sent: the fuzzer (tools/fuzz/) injects them as
   * if from a peer or a client, and hears here whether the receiver's codec took each one in or
   * refused it. For them a refusal is an answer to observe, not a failure of the run.
   */
  readonly untrusted = new WeakMap<object, UntrustedWire>();
  readonly #queue = new EventQueue();
  readonly #traceLogs: boolean;
  #now = 0;
  events = 0;

  constructor(opts: SimulationOptions) {
    this.rng = new Prng(opts.seed);
    this.trace = new Trace(opts.keepTrace === true);
    this.#traceLogs = opts.traceLogs === true && opts.keepTrace === true;
    this.diskProfile = opts.disk ?? defaultDiskProfile;
    this.clocks = new SimClocks(opts.seed, opts.clockDrift ?? 0);
    const sim = this; // the network reads the clock through this reference
    this.network = new SimNetwork(
      {
        get now() {
          return sim.now;
        },
        rng: this.rng,
        schedule: (delayMs, fn) => this.schedule(delayMs, fn),
        trace: (line) => this.log(line),
        deliver: (to, service, from, wire) => this.nodes.get(to)?.receive(service, from, wire),
      },
      opts.network ?? calmNetwork,
    );
    this.streams = new SimStreams({
      get now() {
        return sim.now;
      },
      scheduleAt: (timeMs, fn) => this.scheduleAt(timeMs, fn),
      log: (line) => this.log(line),
      network: this.network,
      status: (id) => this.nodes.get(id)?.status,
    }, opts.transport);
  }

  get now(): number {
    return this.#now;
  }

  schedule(delayMs: number, fn: () => void): void {
    this.#queue.push(this.#now + Math.max(0, delayMs), fn);
  }

  /**
   * Runs `fn` at absolute virtual time `timeMs` (not before now). Use this, not
   * `schedule(timeMs - now)`, where events must keep an order computed in absolute times:
   * `now + (t - now)` is not always `t` in floating point, and one ulp reorders them.
   */
  scheduleAt(timeMs: number, fn: () => void): void {
    this.#queue.push(Math.max(this.#now, timeMs), fn);
  }

  /** Adds a trace line at the current virtual time. */
  log(line: string): void {
    this.trace.add(this.#now, line);
  }

  /**
   * Records a checker violation or node failure. Only its first line feeds the trace digest
   * (stack traces name file paths, and the digest must not depend on where the code lives).
   */
  fail(message: string): void {
    this.failures.push(`t=${this.#now.toFixed(1)}ms ${message}`);
    this.log(`FAIL ${message.split('\n')[0]}`);
  }

  addNode<P extends SimProcess>(id: NodeId, boot: Boot<P>): SimNode<P> {
    const node = new SimNode<P>(this, id, boot);
    this.nodes.set(id, node as unknown as SimNode<SimProcess>);
    return node;
  }

  /** Runs events up to virtual time `untilMs`, or until `stop()` holds after an event. */
  runUntil(untilMs: number, stop?: () => boolean): void {
    for (;;) {
      const next = this.#queue.peekTime();
      if (next === undefined || next > untilMs) break;
      const entry = this.#queue.pop()!;
      this.#now = entry.time;
      this.events++;
      entry.run();
      if (stop?.() === true) return;
    }
    if (this.#now < untilMs) this.#now = untilMs;
  }

  /** Runs until no event is left (only for worlds without periodic timers). */
  runUntilIdle(maxEvents = 1_000_000): void {
    for (let i = 0; i < maxEvents; i++) {
      const entry = this.#queue.pop();
      if (entry === undefined) return;
      this.#now = entry.time;
      this.events++;
      entry.run();
    }
    throw new Error(`simulation still busy after ${maxEvents} events`);
  }

  /** A logger whose lines go into the trace (when kept) with the node's id. */
  loggerFor(id: NodeId): Logger {
    if (!this.#traceLogs) return quietLogger;
    const make = (bindings: object): Logger => {
      const write = (level: string) => (fields: object, msg: string) =>
        this.trace.add(this.#now, `${level} ${id} ${msg} ${JSON.stringify({ ...bindings, ...fields })}`, true);
      return {
        debug: write('debug'),
        info: write('info'),
        warn: write('warn'),
        error: write('error'),
        child: (more) => make({ ...bindings, ...more }),
      };
    };
    return make({});
  }
}

const quietLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => quietLogger,
};
