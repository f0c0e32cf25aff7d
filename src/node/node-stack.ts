import type { Logger } from '../env/logger.js';
import type { MemberId, NodeId } from '../env/types.js';
import type { NodeWorld } from '../env/world.js';
import type { ShellMutations } from '../env/shell.js';
import {
  type CallbackOptions, type ConfigOptions, type FeedOptions, type PaxosOptions, type RsmOptions, callbackOptions, configOptions, feedOptions, limits,
  paxosOptions, rsmOptions,
} from '../options.js';
import type { App } from '../rsm/app.js';
import { RsmLayer } from '../rsm/rsm-layer.js';
import type { ReplicaObserver, RsmMutations } from '../rsm/replica.js';
import type { Breakpoints } from './breakpoints.js';
import { CallbackHub } from './callback-hub.js';
import { ClientSweeper } from './client-sweeper.js';
import { FeedHub } from './feed-hub.js';
import { SessionKeeper, type SessionSpec } from './sessions.js';
import { LeaseKeeper, type LeaseSpec } from './lease-keeper.js';
import type { LeaseKeeperOptions } from '../options/leases.js';
import { type NodeStatus, statusViewsTail } from './status.js';
import type { AppIdentity, JoinRefusedError } from '../config/app-identity.js';
import { ConfigLayer } from '../config/config-layer.js';
import type { ClusterIdPort, ConfigListener, ConfigMutations } from '../config/view-manager.js';
import type { PaxosMutations } from '../paxos/context.js';
import type { PaxosValue } from '../paxos/messages.js';
import { PaxosLayer } from '../paxos/paxos-layer.js';
import { viewRule } from '../config/view-rule.js';

/**
 * What a node serves for an app with callbacks (`App.callbacks`): the callback service
 * (`CallbackHub`), with owner ids of at most `maxOwnerLength` characters; with `sessions`, the
 * serving primary also expires owners that stay without a callback stream (`SessionKeeper`).
 */
export interface NodeCallbacks<S> {
  readonly sessions?: SessionSpec<S>;
  readonly maxOwnerLength?: number;
  readonly options?: Partial<CallbackOptions>;
}

export interface NodeStackOptions<S> {
  /** The cluster's first node, as the data directory recorded it (view 1 is `[first]`). */
  readonly first: NodeId;
  /**
   * This node as views list it (`MemberId`): its address and its data directory's disk id, as
   * `identity.json` keeps them. Default: the address alone (the cluster's first node, and data
   * directories from before disk ids).
   */
  readonly member?: MemberId;
  readonly incarnation: string;
  /**
   * The cluster's id as this node holds it (see `ClusterIdPort`): the first node's at its first
   * life already, a joiner's once a member answered its join request. The world's transport
   * must carry the same id (the port's `adopt` gives it to both).
   */
  readonly clusterId: ClusterIdPort;
  /** Addresses to ask when joining besides the members of the latest view known (see `ViewManagerDeps.contacts`). */
  readonly contacts?: readonly NodeId[];
  /**
   * True when this is the first process ever to run on this node's storage (its data directory
   * was just created). Only then may the first node hold the app's initial state; any later
   * process lost whatever was in memory, even if it never wrote a durable record.
   */
  readonly firstLife: boolean;
  /**
   * The replicated application; without one the node runs Paxos and config only. Its name and
   * version are the node's app identity, checked when it joins a cluster.
   */
  readonly app?: App<S>;
  /**
   * A member refused this node's join: it runs an app the cluster cannot share, and can never be
   * a member. Default: the node halts (`NodeWorld.halt`; the simulator marks it crashed).
   * Production passes its own (the process stops and exits 1 with the error's message).
   */
  readonly onJoinRefused?: (error: JoinRefusedError) => void;
  /** The callback service and sessions, for an app with callbacks (default: the service, no sessions). */
  readonly callbacks?: NodeCallbacks<S>;
  /** The feed service's tunables, for an app with feeds (`App.feeds`). */
  readonly feeds?: Partial<FeedOptions>;
  /** The transport's `TransportOptions.maxMessageBytes` (one feed event may take nearly all of it). Default `limits.maxMessageBytes`. */
  readonly maxMessageBytes?: number;
  /** An app with leases (`LeaseSpec`, the KV store's): the serving primary expires those not renewed for their TTL (`LeaseKeeper`). */
  readonly leases?: { readonly spec: LeaseSpec<S>; readonly options?: Partial<LeaseKeeperOptions> };
  /** Wall-clock milliseconds; numbers the sessions' expiry requests above an earlier process's. Default `Date.now`. */
  readonly wallClockMs?: () => number;
  readonly breakpoints?: Breakpoints;
  readonly paxos?: Partial<PaxosOptions>;
  readonly config?: Partial<ConfigOptions>;
  readonly rsm?: Partial<RsmOptions>;
  /** Watches the replica (simulator checkers, tests). */
  readonly replicaObserver?: ReplicaObserver;
  /** Hears every committed view (the RSM layer, when there is one; tests). */
  readonly onViewCommitted?: ConfigListener['onViewCommitted'];
  /** Hears every Paxos decision, after the config layer (simulator checkers). */
  readonly onDecided?: (instance: number, value: PaxosValue) => void;
  /** Hears every value the config layer proposes (simulator checkers: validity). */
  readonly onPropose?: (instance: number, value: PaxosValue) => void;
  readonly wantsMembership?: boolean;
  /** Test-only (the durability benchmark's baseline): the replicated state in memory only. Default true. */
  readonly durableRsm?: boolean;
  /** Test-only protocol breakage. */
  readonly mutations?: PaxosMutations & ShellMutations & ConfigMutations & RsmMutations;
  /** Test-only check (the simulator): `ReplicaDeps.verifyQueries`. */
  readonly verifyQueries?: boolean;
}

/**
 * The layers of one node, stacked: Paxos under config under the RSM (when the node runs an app),
 * and beside the RSM, for an app with callbacks, the callback service and client sessions.
 * Production (`SynodNode`) and the simulator build nodes with this same class, so both run the
 * same wiring. Upcalls go up through one-method listeners; calls go down directly. Each layer's
 * options are resolved here, once (`withDefaults`), and passed down whole.
 */
export class NodeStack<S = unknown> {
  readonly paxos: PaxosLayer;
  readonly config: ConfigLayer;
  readonly rsm: RsmLayer<S> | null;
  /** The callback service, when the app has callbacks. */
  readonly callbacks: CallbackHub | null;
  /** Client sessions, when the app has callbacks and `NodeCallbacks.sessions` was given. */
  readonly sessions: SessionKeeper<S> | null;
  /** The feed service, when the app has feeds. */
  readonly feeds: FeedHub<S> | null;
  /** The app's leases, when `NodeStackOptions.leases` was given (with an app). */
  readonly leases: LeaseKeeper<S> | null;
  /** Sweeps the client table while this node is the serving primary (with an app). */
  readonly sweeper: ClientSweeper | null;
  /** The app this node runs (null: none). */
  readonly app: AppIdentity | null;
  readonly #world: NodeWorld;
  readonly #opts: NodeStackOptions<S>;

  /** Replays the durable logs; throws `CorruptLogError` for a damaged one. Call `start` next. */
  constructor(world: NodeWorld, opts: NodeStackOptions<S>) {
    this.#world = world;
    this.#opts = opts;
    this.app = opts.app === undefined ? null : { name: opts.app.name, version: opts.app.version };
    let config: ConfigLayer | null = null;
    this.paxos = new PaxosLayer(world, {
      first: opts.first,
      member: opts.member,
      listener: {
        onDecided: (instance, value) => {
          config?.onDecided(instance, value);
          opts.onDecided?.(instance, value);
        },
      },
      breakpoints: opts.breakpoints,
      options: paxosOptions(opts.paxos),
      mutations: opts.mutations,
      // Views are Paxos values: what breaks the view rules is refused before it is persisted.
      rule: viewRule,
    });
    const paxos = this.paxos;
    let rsm: RsmLayer<S> | null = null;
    const configOptionsResolved = configOptions(opts.config);
    config = new ConfigLayer(world, {
      member: opts.member,
      incarnation: opts.incarnation,
      restarted: !opts.firstLife,
      paxos: {
        propose: (instance, value) => {
          opts.onPropose?.(instance, value);
          return paxos.propose(instance, value);
        },
        peerKnows: (peer, instance) => paxos.peerKnows(peer, instance),
        get highestKnown() {
          return paxos.core.highestKnown;
        },
        get oldestKnown() {
          return paxos.core.oldestKnown;
        },
        decided: (instance) => paxos.core.decided(instance),
      },
      listener: {
        onViewCommitted: (vid) => {
          opts.onViewCommitted?.(vid);
          rsm?.onViewCommitted();
        },
      },
      app: this.app,
      onJoinRefused: opts.onJoinRefused ?? ((error) => world.halt(error.message)),
      clusterId: opts.clusterId,
      contacts: opts.contacts,
      options: configOptionsResolved,
      wantsMembership: opts.wantsMembership,
      mutations: opts.mutations,
      // With an app whose state is in memory only, a silent member may hold the only copy of it:
      // never removed by stale members. With durable state, restarted members keep theirs.
      staleMayRemoveDead: opts.app === undefined || opts.durableRsm !== false,
      durableAbove: opts.app !== undefined && opts.durableRsm !== false,
    });
    this.config = config;
    const core = config.core;
    let hub: CallbackHub | null = null;
    let feedHub: FeedHub<S> | null = null;
    // Resolved once, for the RSM layer and the client table's sweeper alike.
    const resolvedRsm = opts.app === undefined ? null : rsmOptions(opts.rsm);
    if (resolvedRsm !== null) warnIfLeaseOutlastsDetection(resolvedRsm, configOptionsResolved, world.logger);
    this.rsm = opts.app === undefined || resolvedRsm === null ? null : new RsmLayer<S>(world, {
      app: opts.app,
      config: {
        get vid() {
          return core.vid;
        },
        get status() {
          return core.status;
        },
        members: (vid) => core.members(vid),
        memberIds: (vid) => core.memberIds(vid),
        member: core.member,
        get oldestVid() {
          return core.oldestVid;
        },
        setAdmission: (admission) => core.setAdmission(admission),
      },
      // The first node of a brand-new cluster starts with the app's initial state; so does a
      // first node whose first process died before its disk held that state, as long as the
      // cluster never went past view 1 (then nothing can have been executed anywhere).
      // By member id: a first node restarted on a new data directory to rejoin is another member.
      mayCreate: (opts.member ?? world.self) === opts.first && (opts.firstLife || paxos.core.highestKnown <= 1),
      durable: opts.durableRsm,
      options: resolvedRsm,
      breakpoints: opts.breakpoints,
      mutations: opts.mutations,
      verifyQueries: opts.verifyQueries,
      observer: opts.replicaObserver,
      callbacks: { onCallbacks: (callbacks) => hub?.deliver(callbacks), onAdvanced: (heads, at) => feedHub?.advanced(heads, at) },
    });
    rsm = this.rsm;
    [this.callbacks, this.sessions] = rsm !== null && resolvedRsm !== null && opts.app?.callbacks !== undefined
      ? callbackService(world, rsm, resolvedRsm, opts) : [null, null];
    hub = this.callbacks;
    const feeds = opts.app?.feeds;
    this.feeds = rsm === null || feeds === undefined || Object.keys(feeds).length === 0 ? null : FeedHub.serve<S>({
      self: world.self,
      transport: world.transport,
      replica: rsm.core,
      executor: world.executor,
      clock: world.clock,
      logger: world.logger.child({ layer: 'feeds' }),
      feeds,
      options: feedOptions(opts.feeds),
      maxMessageBytes: opts.maxMessageBytes ?? limits.maxMessageBytes,
      mutations: opts.mutations,
    });
    feedHub = this.feeds;
    this.leases = rsm === null || opts.leases === undefined ? null : leaseKeeper(world, rsm, opts.leases, opts.wallClockMs ?? Date.now, opts.mutations);
    this.sweeper = rsm === null || resolvedRsm === null ? null : clientSweeper(world, rsm, resolvedRsm, opts.wallClockMs ?? Date.now);
  }

  /** Starts the layers bottom-up, as one task of the node's executor. */
  start(): void {
    this.#world.executor.submit(() => {
      this.paxos.start();
      this.config.start();
    });
    this.callbacks?.start();
    this.feeds?.start();
    this.sessions?.start();
    this.leases?.start();
    this.sweeper?.start();
  }

  /** What this node believes now (read from the cores; call from an executor task). */
  status(): NodeStatus {
    const core = this.config.core;
    const replica = this.rsm?.core ?? null;
    const vid = core.vid;
    return {
      node: this.#world.self,
      member: core.member,
      incarnation: this.#opts.incarnation,
      clusterId: this.#opts.clusterId.current(),
      vid,
      members: vid === 0 ? [] : core.members(),
      memberIds: vid === 0 ? [] : core.memberIds(),
      primary: replica?.primaryOf(vid) ?? null,
      views: vid === 0 ? [] : core.views(statusViewsTail),
      viewsDecided: vid,
      configStatus: vid === 0 ? 'starting' : core.status,
      replicaStatus: replica?.status ?? null,
      lastExecuted: replica?.lastExecuted ?? null,
      stateComplete: replica?.stateComplete ?? false,
      refusing: replica?.refusing ?? false,
      inFlight: replica?.inFlight ?? 0,
      app: this.app,
      clientPath: this.rsm?.clientPath ?? { answers: 0, seconds: 0 },
    };
  }

  stop(): void {
    this.sweeper?.stop();
    this.leases?.stop();
    this.sessions?.stop();
    this.callbacks?.close();
    this.feeds?.close();
    this.rsm?.stop();
    this.config.stop();
    this.paxos.stop();
  }
}

/** The client table's sweeper of a node with an app. */
function clientSweeper<S>(world: NodeWorld, rsm: RsmLayer<S>, options: RsmOptions, wallClockMs: () => number): ClientSweeper {
  return new ClientSweeper({
    self: world.self,
    executor: world.executor,
    clock: world.clock,
    wallClockMs,
    logger: world.logger.child({ layer: 'rsm' }),
    replica: rsm.core,
    submit: (request, onAnswer) => rsm.submitInternal(request, onAnswer),
    options,
    firstSeq: Math.floor(wallClockMs() * 1000),
  });
}

/** The lease keeper of a node whose app has leases. */
function leaseKeeper<S>(world: NodeWorld, rsm: RsmLayer<S>, leases: NonNullable<NodeStackOptions<S>['leases']>, wallClockMs: () => number, mutations: RsmMutations | undefined): LeaseKeeper<S> {
  return new LeaseKeeper<S>({
    self: world.self,
    executor: world.executor,
    clock: world.clock,
    logger: world.logger.child({ layer: 'leases' }),
    replica: rsm.core,
    submit: (request, onAnswer) => rsm.submitInternal(request, onAnswer),
    spec: leases.spec,
    options: leases.options,
    firstSeq: Math.floor(wallClockMs() * 1000),
    mutations,
  });
}

/** The callback service of a node whose app has callbacks, and its sessions if the app has them. */
function callbackService<S>(world: NodeWorld, rsm: RsmLayer<S>, rsmOpts: RsmOptions, opts: NodeStackOptions<S>): [CallbackHub, SessionKeeper<S> | null] {
  const options = callbackOptions(opts.callbacks?.options);
  const spec = opts.callbacks?.sessions;
  const clientOf = spec?.clientOf;
  const hub = CallbackHub.serve({
    self: world.self,
    transport: world.transport,
    replica: rsm.core,
    executor: world.executor,
    clock: world.clock,
    logger: world.logger.child({ layer: 'callbacks' }),
    options,
    maxClockDriftPpm: rsmOpts.maxClockDriftPpm,
    maxOwnerLength: opts.callbacks?.maxOwnerLength,
    ...(clientOf === undefined ? {} : {
      boundClient: (owner: string) => {
        const state = rsm.core.state;
        return state === null ? null : clientOf(state, owner);
      },
    }),
  });
  if (spec === undefined) return [hub, null];
  const sessions = new SessionKeeper<S>({
    self: world.self,
    executor: world.executor,
    clock: world.clock,
    logger: world.logger.child({ layer: 'sessions' }),
    replica: rsm.core,
    submit: (request, onAnswer) => rsm.submitInternal(request, onAnswer),
    connected: (owner) => hub.has(owner),
    confirmedAt: (owner) => hub.confirmedAt(owner),
    spec,
    options,
    firstSeq: Math.floor((opts.wallClockMs ?? Date.now)() * 1000),
  });
  return [hub, sessions];
}

/**
 * A lease longer than the failure detector's window lengthens every failover: a new view's primary
 * waits up to `leaseMs` after the old primary's last grant, which then outlasts the time it takes
 * to notice the old primary is gone. Allowed (it is safe), said once at start.
 */
function warnIfLeaseOutlastsDetection(rsm: RsmOptions, config: ConfigOptions, logger: Logger): void {
  const detectionMs = config.heartbeatIntervalMs * config.suspectAfterMissed;
  if (rsm.leaseMs > detectionMs) {
    logger.warn({ leaseMs: rsm.leaseMs, detectionMs }, 'rsm.leaseMs is longer than the failure detector\'s window (config.heartbeatIntervalMs × config.suspectAfterMissed): every failover waits for the difference');
  }
}
