/**
 * `startNode()`: one node of a synod cluster inside the user's own process, running the user's
 * app, on the production world (gRPC on `me`, its durable logs in `dataDir`). The same node the
 * `synod node` command runs, behind a small typed handle.
 */
import type { Logger } from '../env/logger.js';
import type { NodeId } from '../env/types.js';
import type { CallbackOptions, ConfigOptions, PaxosOptions, RsmOptions, TransportOptions } from '../options.js';
import type { App } from '../rsm/app.js';
import type { JoinRefusedError } from '../config/app-identity.js';
import { type LogLevel, createLogger } from '../runtime/logging.js';
import type { NodeStatus } from './status.js';
import { SynodNode } from './synod-node.js';

export interface StartNodeOptions<S> {
  /** This node's address, `host:port`: it listens there, and peers and clients reach it there. */
  readonly me: NodeId;
  /**
   * The cluster's first node. The node whose `me` is `first` creates the cluster when its data
   * directory is new; every other node joins the cluster through the nodes it learns from there.
   */
  readonly first: NodeId;
  /** Where this node keeps its durable logs; one directory per node, never shared, never wiped while it is a member. */
  readonly dataDir: string;
  /** The replicated app every node of the cluster runs (same name, same major version). */
  readonly app: App<S>;
  /** The cluster's name; default `synod@<first>`. Every message carries it; nodes refuse another cluster's. */
  readonly cluster?: string;
  /** Default: pino at `logLevel` on standard output. */
  readonly logger?: Logger;
  /** Level of the default logger; default `info`. */
  readonly logLevel?: LogLevel;
  readonly paxos?: Partial<PaxosOptions>;
  readonly config?: Partial<ConfigOptions>;
  readonly rsm?: Partial<RsmOptions>;
  readonly transport?: Partial<TransportOptions>;
  /** The callback service, for an app with callbacks. */
  readonly callbacks?: Partial<CallbackOptions>;
  /**
   * The cluster refused this node because it runs another app (or an incompatible version): the
   * node has stopped itself. A refusal before `startNode` resolved rejects it instead.
   */
  readonly onJoinRefused?: (error: JoinRefusedError) => void;
}

/** A running node. */
export interface NodeHandle {
  /** The node's address. */
  readonly address: NodeId;
  /** Drawn fresh at every start: tells this process life apart from earlier ones at the same address. */
  readonly incarnation: string;
  /** What the node believes now: its view, the primary, its replica's status, its last executed viewstamp. */
  status(): NodeStatus;
  /** Stops serving, flushes the logs and releases the port. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts a node: checks the data directory (it belongs to this address and cluster), replays its
 * durable log, listens on `me`, and joins the cluster. Rejects (nothing left running) when the
 * data directory belongs to another node, cluster or app (`DataDirMismatchError`,
 * `DataDirAppMismatchError`), its log is damaged (`CorruptLogError`), the port is taken, or the
 * cluster refuses this node's app (`JoinRefusedError`).
 * A fatal condition later (a failed disk) stops the process, as it would a `synod node`.
 */
export async function startNode<S>(options: StartNodeOptions<S>): Promise<NodeHandle> {
  const logger = options.logger ?? createLogger({ level: options.logLevel ?? 'info', base: { node: options.me } });
  const node = await SynodNode.start({
    me: options.me,
    first: options.first,
    cluster: options.cluster,
    dataDir: options.dataDir,
    logger,
    app: { app: options.app },
    onJoinRefused: options.onJoinRefused,
    paxos: options.paxos,
    config: options.config,
    rsm: options.rsm,
    transport: options.transport,
    callbacks: options.callbacks,
  });
  let stopped: Promise<void> | null = null;
  return {
    address: node.me,
    incarnation: node.incarnation,
    status: () => node.status(),
    stop: () => (stopped ??= node.close()),
  };
}
