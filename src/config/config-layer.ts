import { LayerShell } from '../env/shell.js';
import type { MemberId, Members, NodeId } from '../env/types.js';
import type { NodeWorld } from '../env/world.js';
import { noMetrics } from '../env/metrics.js';
import type { ConfigOptions } from '../options.js';
import type { AppIdentity, JoinRefusedError } from './app-identity.js';
import type { ClusterIdPort } from './ports.js';
import { configCodec } from './codec.js';
import type { ConfigMessage } from './messages.js';
import { type Admission, type ConfigListener, type ConfigMutations, type PaxosPort, ViewManager } from './view-manager.js';

export interface ConfigLayerOptions {
  /** This node as views list it (default its address); see `ViewManagerDeps.member`. */
  readonly member?: MemberId;
  readonly incarnation: string;
  readonly restarted: boolean;
  readonly paxos: PaxosPort;
  readonly listener: ConfigListener;
  /** The app this node runs (null: none); see `ViewManagerDeps.app`. */
  readonly app: AppIdentity | null;
  /** The cluster refused this node (another app); see `ViewManagerDeps.onJoinRefused`. */
  readonly onJoinRefused: (error: JoinRefusedError) => void;
  /** The cluster's id; see `ViewManagerDeps.clusterId`. */
  readonly clusterId: ClusterIdPort;
  /** See `ViewManagerDeps.contacts`. */
  readonly contacts?: readonly NodeId[];
  readonly options?: Partial<ConfigOptions>;
  readonly wantsMembership?: boolean;
  readonly mutations?: ConfigMutations;
  readonly staleMayRemoveDead?: boolean;
  readonly durableAbove?: boolean;
}

/**
 * The config layer of one node, wired to its world: the `ViewManager` core behind a
 * `LayerShell` with its own channel and no log of its own (views live in the Paxos log).
 * Paxos delivers decisions through `onDecided` (its listener), the layer above calls `add`,
 * `remove` and `setAdmission` (calls down) and hears `onViewCommitted`.
 */
export class ConfigLayer {
  readonly core: ViewManager;
  readonly #shell: LayerShell<ConfigMessage, never>;

  constructor(world: NodeWorld, opts: ConfigLayerOptions) {
    const metrics = world.metrics ?? noMetrics;
    let lastVid = 0;
    this.core = new ViewManager({
      self: world.self,
      member: opts.member,
      incarnation: opts.incarnation,
      restarted: opts.restarted,
      paxos: opts.paxos,
      listener: {
        onViewCommitted: (vid) => {
          if (vid !== lastVid) metrics.count('synod_view_changes_total');
          lastVid = vid;
          opts.listener.onViewCommitted(vid);
        },
      },
      metrics,
      app: opts.app,
      onJoinRefused: opts.onJoinRefused,
      clusterId: opts.clusterId,
      contacts: opts.contacts,
      random: world.random,
      logger: world.logger.child({ layer: 'config' }),
      options: opts.options,
      wantsMembership: opts.wantsMembership,
      mutations: opts.mutations,
      staleMayRemoveDead: opts.staleMayRemoveDead,
      durableAbove: opts.durableAbove,
    });
    this.#shell = new LayerShell<ConfigMessage, never>({
      executor: world.executor,
      clock: world.clock,
      transport: world.transport,
      codec: configCodec,
      log: null,
      onMessage: (from, msg, out) => this.core.onMessage(from, msg, out),
      onTimer: (key, out) => this.core.onTimer(key, out),
      onHalt: (reason) => world.halt(reason),
    });
  }

  /** Run from an executor task, after the Paxos layer started. */
  start(): void {
    this.#shell.run((out) => this.core.start(out));
  }

  /** Paxos listener: a decided instance is a committed view. */
  onDecided(instance: number, value: Members): void {
    this.#shell.run((out) => this.core.onDecided(instance, value, out));
  }

  add(node: NodeId, vid: number): boolean {
    return this.core.add(node, vid);
  }

  remove(node: NodeId, vid: number): boolean {
    return this.core.remove(node, vid);
  }

  setAdmission(admission: Admission): void {
    this.core.setAdmission(admission);
  }

  stop(): void {
    this.#shell.stop();
  }
}
