/**
 * One simulated machine (`SimNode`): a disk that survives restarts and at most one running
 * process, which starts, crashes (losing memory and unsynced writes), pauses and resumes, and
 * receives what the network delivers. Separate from `Simulation` (the event loop, the clock, the
 * trace) and from node-world.ts (what a process is wired to): this file is the process's life.
 */
import type { ClientTransport } from '../../src/env/transport.js';
import type { NodeId } from '../../src/env/types.js';
import type { NodeWorld } from '../../src/env/world.js';
import { SimDisk } from './disk.js';
import { type Receiver, makeNodeWorld } from './node-world.js';
import { judgeClusterId } from '../../src/env/cluster-id.js';
import type { Simulation } from './simulation.js';

/**
 * Anything a simulated node runs; `stop` is called when the node crashes. (The index signature
 * lets a process be any object, not only one that happens to define `stop`.)
 */
export interface SimProcess {
  stop?(): void;
  readonly [field: string]: unknown;
}

/** Builds a node's process on a fresh world (at the first start and at every restart). */
export type Boot<P extends SimProcess> = (world: NodeWorld, node: SimNode<P>) => P;

export type NodeStatus = 'up' | 'down' | 'paused';

/**
 * One simulated machine: a disk that survives restarts, and at most one running process.
 * Every callback into the process (timer, disk completion, message) is tied to the process's
 * incarnation and dropped once that process is gone; while the node is paused they are held
 * and run in order on resume, as a SIGSTOPped process would see them.
 */
export class SimNode<P extends SimProcess> {
  readonly id: NodeId;
  readonly disk = new SimDisk();
  status: NodeStatus = 'down';
  /** Process starts so far; the current process's number. */
  incarnation = 0;
  process: P | null = null;
  world: NodeWorld | null = null;
  readonly #sim: Simulation;
  readonly #boot: Boot<P>;
  #receivers = new Map<string, Receiver>();
  #held: Array<() => void> = [];
  #clientTransport: ClientTransport | null = null;
  /** Armed by `crashAfterNextMessage`: crash this long after the next message is handled. */
  #crashAfterMessageMs: number | null = null;
  #crashEpoch = 0;

  constructor(sim: Simulation, id: NodeId, boot: Boot<P>) {
    this.#sim = sim;
    this.id = id;
    this.#boot = boot;
  }

  get up(): boolean {
    return this.status === 'up';
  }

  /** Starts a fresh process (first start, or restart after a crash). */
  start(): void {
    if (this.status !== 'down') throw new Error(`${this.id} is ${this.status}, cannot start`);
    this.incarnation++;
    this.status = 'up';
    this.#receivers = new Map();
    this.#held = [];
    this.#sim.log(`start ${this.id} #${this.incarnation}`);
    if (this.incarnation > 1) this.#sim.network.restarted(this.id);
    const world = this.#makeWorld(this.incarnation);
    this.world = world;
    try {
      this.process = this.#boot(world, this);
    } catch (err) {
      this.#sim.fail(`${this.id} failed to start: ${(err as Error).stack ?? String(err)}`);
      this.crash('start failed');
    }
  }

  /** The process dies: memory gone, unsynced writes partly lost, in-flight callbacks dropped. */
  crash(reason: string): void {
    if (this.status === 'down') return;
    const lost = this.disk.crash(this.#sim.rng);
    this.#sim.log(`crash ${this.id} #${this.incarnation} (${reason}; ${lost} unsynced records lost)`);
    this.status = 'down';
    this.world?.executor.stop();
    this.#sim.streams.processGone(this.id);
    this.process?.stop?.();
    this.process = null;
    this.world = null;
    this.#receivers = new Map();
    this.#held = [];
  }

  /**
   * Crashes the node `delayMs` after it has handled its next incoming message: an adversarial
   * crash that lands inside a protocol step (after a promise, before the next write …).
   */
  crashAfterNextMessage(delayMs: number): void {
    if (this.status === 'down') return;
    this.#crashAfterMessageMs = delayMs;
  }

  /** Cancels an armed `crashAfterNextMessage`, also one whose crash is already scheduled. */
  disarmCrash(): void {
    this.#crashAfterMessageMs = null;
    this.#crashEpoch++;
  }

  pause(): void {
    if (this.status !== 'up') return;
    this.status = 'paused';
    this.#sim.log(`pause ${this.id}`);
  }

  resume(): void {
    if (this.status !== 'paused') return;
    this.status = 'up';
    this.#sim.log(`resume ${this.id}`);
    const held = this.#held;
    this.#held = [];
    for (const fn of held) this.#sim.schedule(0, this.#guard(this.incarnation, fn));
  }

  /** The client side of this node's transport (simulated clients are nodes too). */
  get clientTransport(): ClientTransport {
    if (this.#clientTransport === null) throw new Error(`${this.id} is not running`);
    return this.#clientTransport;
  }

  /** Network delivery to whatever process runs here now. */
  receive(service: string, from: NodeId, wire: Record<string, unknown>): void {
    this.#guard(this.incarnation, () => {
      const r = this.#receivers.get(service);
      if (r === undefined) return;
      if (r.channel !== undefined && this.disk.identity !== null) {
        const theirs = wire['cluster_id'];
        const verdict = judgeClusterId(this.disk.identity?.clusterId ?? null, typeof theirs === 'string' ? theirs : '', r.channel.admitsNewcomers);
        if (verdict !== 'admitted') {
          this.#sim.log(`refuse ${from}>${this.id} ${service}: ${verdict}`);
          return;
        }
      }
      let msg: unknown;
      try {
        msg = r.decode(wire);
      } catch (err) {
        const untrusted = this.#sim.untrusted.get(wire);
        if (untrusted !== undefined) untrusted.refused(this.id, err);
        else this.#sim.fail(`${this.id}: undecodable ${service} message from ${from}: ${(err as Error).message}`);
        return;
      }
      this.#sim.untrusted.get(wire)?.accepted(this.id);
      r.receive(from, msg);
      const crashDelay = this.#crashAfterMessageMs;
      if (crashDelay !== null) {
        this.#crashAfterMessageMs = null;
        const incarnation = this.incarnation;
        const epoch = this.#crashEpoch;
        this.#sim.schedule(crashDelay, () => {
          if (this.incarnation === incarnation && this.#crashEpoch === epoch) this.crash(`fault injector: after handling a message from ${from}`);
        });
      }
    })();
  }

  /** Wraps a callback of process `incarnation`: dropped if that process is gone, held while paused. */
  #guard(incarnation: number, fn: () => void): () => void {
    return () => {
      if (this.incarnation !== incarnation || this.status === 'down') return;
      if (this.status === 'paused') {
        this.#held.push(fn);
        return;
      }
      fn();
    };
  }

  #makeWorld(incarnation: number): NodeWorld {
    const receivers = this.#receivers;
    const { world, transport } = makeNodeWorld({
      sim: this.#sim,
      id: this.id,
      disk: this.disk,
      guard: (fn) => this.#guard(incarnation, fn),
      register: (service, receiver) => {
        if (receivers.has(service)) throw new Error(`channel ${service} opened twice`);
        receivers.set(service, receiver);
      },
      crashIfCurrent: (reason) => {
        if (this.incarnation === incarnation) this.crash(reason);
      },
    });
    this.#clientTransport = transport;
    return world;
  }
}
