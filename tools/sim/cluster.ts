import type { Members, NodeId } from '../../src/env/types.js';
import type { ClientOptions, ConfigOptions, PaxosOptions, RsmOptions, TransportOptions } from '../../src/options.js';
import type { App } from '../../src/rsm/app.js';
import type { ReplicaObserver, RsmMutations } from '../../src/rsm/replica.js';
import { RsmClient } from '../../src/client/rsm-client.js';
import type { ConfigMutations, SelfStatus } from '../../src/config/view-manager.js';
import { Breakpoints } from '../../src/node/breakpoints.js';
import { type NodeCallbacks, NodeStack, type NodeStackOptions } from '../../src/node/node-stack.js';
import type { PaxosMutations } from '../../src/paxos/context.js';
import type { ShellMutations } from '../../src/env/shell.js';
import { ConfigChecker } from './checkers/config-checker.js';
import { PaxosChecker } from './checkers/paxos-checker.js';
import type { NetworkProfile } from './network.js';
import type { DiskProfile } from './disk.js';
import { type SimNode, Simulation } from './simulation.js';
import { type SimMutations, diskMember, startIdentity } from './sim-identity.js';

export interface SimClusterOptions<S = unknown> {
  readonly seed: number;
  /** The replicated app; without one, nodes run Paxos and config only. */
  readonly app?: App<S>;
  readonly rsm?: Partial<RsmOptions>;
  /** Watches every replica (checkers); `node` is the replica's id. */
  readonly replicaObserver?: (node: NodeId) => ReplicaObserver;
  /** For an app with callbacks: sessions and options of the callback service every node serves (as production does). */
  readonly callbacks?: NodeCallbacks<S>;
  /** For an app with leases (the KV store's): every node runs the lease keeper, as `synod node --app kv` does. */
  readonly leases?: NodeStackOptions<S>['leases'];
  /** Stream bounds and keepalive of every machine's transport (sim-streams.ts). */
  readonly transport?: Partial<TransportOptions>;
  /** Node ids; the first is the cluster's first node. Default n1..n3. */
  readonly ids?: readonly NodeId[];
  readonly network?: NetworkProfile;
  readonly disk?: DiskProfile;
  readonly paxos?: Partial<PaxosOptions>;
  readonly config?: Partial<ConfigOptions>;
  readonly keepTrace?: boolean;
  readonly traceLogs?: boolean;
  readonly mutations?: PaxosMutations & ShellMutations & ConfigMutations & RsmMutations & SimMutations;
  /** ρₛ of every machine's clock (`SimulationOptions.clockDrift`); default 0. */
  readonly clockDrift?: number;
}

/** What a simulated node runs: the node stack and its breakpoints. */
export interface StackProcess<S = unknown> {
  readonly stack: NodeStack<S>;
  readonly breakpoints: Breakpoints;
  stop(): void;
  readonly [field: string]: unknown;
}

/** A node's view of the world, for assertions. */
export interface NodeView {
  readonly vid: number;
  readonly members: Members;
  readonly status: SelfStatus;
}

/**
 * A simulated cluster of full node stacks with the checkers attached: the fluent API scenario
 * tests are written in (`start`, `crash`, `partition`, `runUntil` …) and the base of the
 * randomized config runs. Nothing starts until asked.
 */
export class SimCluster<S = unknown> {
  readonly sim: Simulation;
  readonly ids: readonly NodeId[];
  readonly first: NodeId;
  readonly paxosChecker: PaxosChecker;
  readonly configChecker: ConfigChecker;
  readonly #nodes = new Map<NodeId, SimNode<StackProcess<S>>>();
  readonly #clients = new Map<NodeId, SimNode<{ client: RsmClient }>>();
  /** Clusters created so far (by the first node on a fresh disk): numbers the ids, which draw nothing from the run's generator. */
  #created = 0;

  constructor(opts: SimClusterOptions<S>) {
    this.sim = new Simulation({
      seed: opts.seed,
      network: opts.network,
      disk: opts.disk,
      keepTrace: opts.keepTrace,
      traceLogs: opts.traceLogs,
      transport: opts.transport,
      clockDrift: opts.clockDrift,
    });
    this.ids = opts.ids ?? ['n1', 'n2', 'n3'];
    this.first = this.ids[0]!;
    // The checkers know which disk each node runs on: a wiped disk is a new history, not a lost one.
    this.paxosChecker = new PaxosChecker(this.sim, this.first, (id) => diskMember(id, this.node(id).disk));
    this.configChecker = new ConfigChecker(this.sim, this.first);
    for (const id of this.ids) {
      this.#nodes.set(id, this.sim.addNode<StackProcess<S>>(id, (world, node) => {
        const breakpoints = new Breakpoints();
        const { firstLife, clusterId, member } = startIdentity(this.sim, id, node.disk, this.first, () => `sim-${opts.seed}-${++this.#created}`, opts.mutations);
        const stack: NodeStack<S> = new NodeStack<S>(world, {
          clusterId,
          app: opts.app,
          rsm: opts.rsm,
          replicaObserver: opts.replicaObserver?.(id),
          callbacks: opts.callbacks,
          leases: opts.leases,
          // Wall time is virtual time on every machine: wall clocks roughly agree and run on
          // across restarts (the client table's first stamp, the numbering of a new life's
          // requests rely on that); the monotonic clock (`world.clock`) is each machine's own.
          wallClockMs: () => this.sim.now,
          first: this.first,
          member,
          incarnation: `${id}.${node.incarnation}`,
          firstLife,
          breakpoints,
          paxos: opts.paxos,
          config: opts.config,
          mutations: opts.mutations,
          // Every query's state is compared before and after it ran: a change the read-only view missed stops the run.
          verifyQueries: true,
          onDecided: (i, v) => this.paxosChecker.delivered(id, i, v),
          onPropose: (i, v) => this.paxosChecker.proposed(i, v),
          onViewCommitted: (vid) => {
            const core = stack.config.core;
            // The upcall comes after config moved on; with a small compaction window (`drawCompaction`)
            // the view may be forgotten by then. Paxos' checker has watched its value all the same.
            if (!core.knows(vid)) {
              this.sim.log(`view ${id} vid=${vid} (forgotten by now: compacted) ${core.status}`);
              return;
            }
            // Member ids (with disk ids): the address of a wiped member is listed anew under another id.
            this.sim.log(`view ${id} vid=${vid} [${core.memberIds(vid).join(',')}] ${core.status}`);
            this.configChecker.committed(id, vid, core.memberIds(vid), vid > 1 && core.knows(vid - 1) ? core.memberIds(vid - 1) : undefined);
          },
        });
        if (node.incarnation > 1) this.paxosChecker.restarted(id, (i) => stack.paxos.core.decided(i), stack.paxos.core.oldestKnown);
        stack.start();
        return { stack, breakpoints, stop: () => stack.stop() };
      }));
    }
  }

  node(id: NodeId): SimNode<StackProcess<S>> {
    const node = this.#nodes.get(id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  get nodes(): Array<SimNode<StackProcess<S>>> {
    return [...this.#nodes.values()];
  }

  /**
   * Adds and starts a client (a simulated machine of its own) that knows `members` (default:
   * every node). Its calls go through the simulated network like any message.
   */
  addClient(id: NodeId, opts: { members?: readonly NodeId[]; options?: Partial<ClientOptions> } = {}): RsmClient {
    const node = this.sim.addNode<{ client: RsmClient }>(id, (world, self) => ({
      client: new RsmClient({
        clientId: id,
        members: opts.members ?? this.ids,
        transport: self.clientTransport,
        clock: world.clock,
        wallClockMs: () => this.sim.now, // as the nodes': wall time runs on across lives
        random: world.random,
        logger: world.logger,
        options: opts.options,
      }),
    }));
    this.#clients.set(id, node);
    node.start();
    return node.process!.client;
  }

  /** The machine of a client added with `addClient` (its world: clock, logger, client transport). */
  clientNode(id: NodeId): SimNode<{ client: RsmClient }> {
    const node = this.#clients.get(id);
    if (node === undefined) throw new Error(`no client ${id}`);
    return node;
  }

  /** Starts (or restarts) the named nodes, default all that are down. */
  start(...ids: NodeId[]): this {
    for (const id of ids.length > 0 ? ids : this.ids) if (this.node(id).status === 'down') this.node(id).start();
    return this;
  }

  crash(...ids: NodeId[]): this {
    for (const id of ids) this.node(id).crash('scenario');
    return this;
  }

  /**
   * Stops the named nodes and wipes their disks (a lost data directory): started again, each is a
   * new disk (`SimDisk.number`) and, but for the cluster's first node, a new member (`n3@2`).
   */
  wipe(...ids: NodeId[]): this {
    for (const id of ids) {
      const node = this.node(id);
      node.crash('disk wiped');
      node.disk.wipe();
      this.sim.log(`wipe ${id}: disk ${node.disk.number} from now on`);
    }
    return this;
  }

  pause(...ids: NodeId[]): this {
    for (const id of ids) this.node(id).pause();
    return this;
  }

  resume(...ids: NodeId[]): this {
    for (const id of ids) this.node(id).resume();
    return this;
  }

  /** Cuts every link between `side` and every other node. */
  isolate(...side: NodeId[]): this {
    this.sim.network.split(side, this.ids.filter((id) => !side.includes(id)));
    return this;
  }

  heal(): this {
    this.sim.network.heal();
    return this;
  }

  armBreakpoint(id: NodeId, n: 1 | 2 | 3 | 4): this {
    this.node(id).process?.breakpoints.arm(n);
    return this;
  }

  /**
   * `id`'s live process (its incarnation) and that process's clock reading now, or null while it
   * is down: for checkers that compare a process's beliefs with its own clock (never another's).
   */
  clockReading(id: NodeId): { readonly incarnation: number; readonly nowMs: number } | null {
    const node = this.node(id);
    const clock = node.world?.clock;
    return node.status === 'down' || clock === undefined ? null : { incarnation: node.incarnation, nowMs: clock.now() };
  }

  /** What `id` believes now, or null if it is down. */
  view(id: NodeId): NodeView | null {
    const stack = this.node(id).process?.stack;
    if (stack === undefined) return null;
    const core = stack.config.core;
    if (core.vid === 0) return null;
    return { vid: core.vid, members: core.members(), status: core.status };
  }

  runFor(ms: number): this {
    this.sim.runUntil(this.sim.now + ms);
    return this;
  }

  /** Runs until `condition` holds (checked after every event) or `timeoutMs` passes; returns whether it held. */
  runUntil(condition: () => boolean, timeoutMs: number): boolean {
    if (condition()) return true;
    this.sim.runUntil(this.sim.now + timeoutMs, condition);
    return condition();
  }

  /** Whether every named node is up, a `member`, and has `members` as its current view. */
  allSee(members: Members, on: readonly NodeId[] = members): boolean {
    return on.every((id) => {
      const v = this.view(id);
      return v !== null && sameList(v.members, members) && (v.status === 'member' || !members.includes(id));
    });
  }

  /** A one-line picture of every node's belief, for failure messages. */
  describe(): string {
    return this.ids.map((id) => {
      const n = this.node(id);
      const v = this.view(id);
      return v === null ? `${id}:${n.status}` : `${id}:v${v.vid}[${v.members.join(',')}]${v.status === 'member' ? '' : `(${v.status})`}`;
    }).join(' ');
  }
}

export function sameList(a: Members, b: Members): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
