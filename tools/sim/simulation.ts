import type { Clock, TimerHandle } from '../../src/env/clock.js';
import type { DurableLog } from '../../src/env/durable-log.js';
import { Executor } from '../../src/env/executor.js';
import type { Logger } from '../../src/env/logger.js';
import { type AnswerChannel, type CallFailure, type Channel, type ClientTransport, ReturnAddress, type ServiceCodec, type Transport, type WireCodec } from '../../src/env/transport.js';
import type { NodeId } from '../../src/env/types.js';
import type { NodeWorld } from '../../src/env/world.js';
import { EventQueue } from './event-queue.js';
import { type DiskProfile, SimDisk, SimDurableLog, defaultDiskProfile } from './disk.js';
import { type NetworkProfile, SimNetwork, calmNetwork } from './network.js';
import { Prng } from './prng.js';
import { Trace } from './trace.js';

export interface SimulationOptions {
  readonly seed: number;
  /** Keep the trace's lines (for printing a replay); the digest is computed either way. */
  readonly keepTrace?: boolean;
  /** Also keep the cores' log lines in the trace (debug level and up). */
  readonly traceLogs?: boolean;
  readonly network?: NetworkProfile;
  readonly disk?: DiskProfile;
}

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
 * A deterministic world for whole clusters in one process: virtual time, one seeded PRNG, a
 * network, disks, and nodes that crash, restart and pause. `run*` pops events in (time, order)
 * and runs each to completion; nothing else ever runs, so a seed replays a run exactly.
 */
export class Simulation {
  readonly rng: Prng;
  readonly trace: Trace;
  readonly network: SimNetwork;
  readonly diskProfile: DiskProfile;
  readonly nodes = new Map<NodeId, SimNode<SimProcess>>();
  /** Checker violations and node failures; a run passes when this stays empty. */
  readonly failures: string[] = [];
  readonly #queue = new EventQueue();
  readonly #traceLogs: boolean;
  #now = 0;
  events = 0;

  constructor(opts: SimulationOptions) {
    this.rng = new Prng(opts.seed);
    this.trace = new Trace(opts.keepTrace === true);
    this.#traceLogs = opts.traceLogs === true && opts.keepTrace === true;
    this.diskProfile = opts.disk ?? defaultDiskProfile;
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

/** How a simulated node takes in the messages of one service (decode, then hand over). */
interface Receiver {
  readonly decode: (wire: Record<string, unknown>) => unknown;
  readonly receive: (from: NodeId, msg: unknown) => void;
}

/** Answers of a request/response service travel to the client under this name. */
function answersOf(service: string): string {
  return `${service}#answers`;
}

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
      let msg: unknown;
      try {
        msg = r.decode(wire);
      } catch (err) {
        this.#sim.fail(`${this.id}: undecodable ${service} message from ${from}: ${(err as Error).message}`);
        return;
      }
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
    const sim = this.#sim;
    const guard = (fn: () => void): (() => void) => this.#guard(incarnation, fn);
    const id = this.id;
    const clock: Clock = {
      now: () => sim.now,
      setTimer(delayMs: number, fire: () => void): TimerHandle {
        let cancelled = false;
        sim.schedule(delayMs, guard(() => {
          if (!cancelled) fire();
        }));
        return { cancel: () => void (cancelled = true) };
      },
    };
    const receivers = this.#receivers;
    const register = (service: string, receiver: Receiver): void => {
      if (receivers.has(service)) throw new Error(`channel ${service} opened twice`);
      receivers.set(service, receiver);
    };
    const transport: Transport & ClientTransport = {
      self: id,
      open<M>(codec: WireCodec<M>, receive: (from: NodeId, msg: M) => void): Channel<M> {
        register(codec.service, { decode: (w) => codec.decode(w), receive: receive as (from: NodeId, msg: unknown) => void });
        return {
          send(to: NodeId, msg: M): void {
            const wire = { from: id, to, ...codec.encode(msg) };
            sim.network.send(id, to, codec.service, msg, wire, summarize(codec.service, msg));
          },
        };
      },
      // A request/response service: requests and answers are one-way messages here. Each
      // request gets a return address of its own, which remembers the client machine that asked;
      // it is answered at most once.
      serve<Req, Ans>(codec: ServiceCodec<Req, Ans>, receive: (from: ReturnAddress, request: Req) => void): AnswerChannel<Ans> {
        let calls = 0;
        const open = new Map<ReturnAddress, NodeId>();
        register(codec.service, {
          decode: (w) => codec.decodeRequest(w),
          receive: (from, request) => {
            const address = new ReturnAddress(`${from} call ${++calls}`);
            open.set(address, from);
            receive(address, request as Req);
          },
        });
        return {
          answer(to: ReturnAddress, answer: Ans): void {
            const client = open.get(to);
            if (client === undefined) return; // answered already
            open.delete(to);
            sim.network.send(id, client, answersOf(codec.service), answer, codec.encodeAnswer(answer), summarize(codec.service, answer));
          },
        };
      },
      connect<Req, Ans>(
        codec: ServiceCodec<Req, Ans>,
        receive: (server: NodeId, answer: Ans) => void,
        failed?: (server: NodeId, failure: CallFailure) => void,
      ): Channel<Req> {
        register(answersOf(codec.service), { decode: (w) => codec.decodeAnswer(w), receive: receive as (from: NodeId, msg: unknown) => void });
        return {
          send(server: NodeId, request: Req): void {
            // A server that is down refuses the connection at once, as a closed port would.
            if (sim.nodes.get(server)?.status === 'down' && failed !== undefined) {
              sim.schedule(0, guard(() => failed(server, { kind: 'unreachable', detail: 'connection refused' })));
              return;
            }
            sim.network.send(id, server, codec.service, request, codec.encodeRequest(request), summarize(codec.service, request));
          },
        };
      },
      close: async () => {},
    };
    this.#clientTransport = transport;
    const scheduler = {
      get now() {
        return sim.now;
      },
      rng: sim.rng,
      at: (atMs: number, fn: () => void) => sim.scheduleAt(atMs, guard(fn)),
    };
    const executor = new Executor((err) => {
      sim.fail(`${id} stopped by an error: ${(err as Error).stack ?? String(err)}`);
      sim.schedule(0, () => {
        if (this.incarnation === incarnation) this.crash('fatal error');
      });
    });
    return {
      self: id,
      executor,
      clock,
      random: sim.rng,
      logger: sim.loggerFor(id),
      transport,
      durableLog: (name: string): DurableLog => new SimDurableLog(this.disk.store(name), scheduler, sim.diskProfile),
      halt: (reason: string) => {
        sim.schedule(0, () => {
          if (this.incarnation === incarnation) this.crash(`halt: ${reason}`);
        });
        executor.stop();
      },
    };
  }
}

/** A short description of a message for the trace: channel, kind, instance. */
function summarize(service: string, msg: unknown): string {
  const m = msg as { kind?: unknown; instance?: unknown };
  const channel = service.slice(service.lastIndexOf('.') + 1).toLowerCase();
  const instance = typeof m.instance === 'number' ? ` i=${m.instance}` : '';
  return `${channel}.${String(m.kind)}${instance}`;
}
