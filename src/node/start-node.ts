/**
 * `startNode()`: one node of a synod cluster inside the user's own process, running the user's
 * app, on the production world (gRPC on `me`, its durable logs in `dataDir`). The same node the
 * `synod node` command runs, behind a small typed handle.
 */
import type { TlsFiles } from '../runtime/tls-files.js';
import type { Logger } from '../env/logger.js';
import type { NodeId } from '../env/types.js';
import type { LeaseSpec } from './lease-keeper.js';
import type { CallbackOptions, ConfigOptions, FeedOptions, ObserveOptions, PaxosOptions, RsmOptions, TransportOptions } from '../options.js';
import type { App } from '../rsm/app.js';
import type { JoinRefusedError } from '../config/app-identity.js';
import { type LogLevel, createLogger } from '../runtime/logging.js';
import type { NodeStatus } from './status.js';
import { SynodNode } from './synod-node.js';

export interface StartNodeOptions<S> {
  /** This node's address, `host:port`: it listens there, and peers and clients reach it there. */
  readonly me: NodeId;
  /**
   * The cluster's first node. The node whose `me` is `first` creates the cluster (and its id) when
   * its data directory is new; every other node joins the cluster through it. Once a data
   * directory has an identity it keeps its cluster's first node, name and id, and `first` is only
   * a contact: any live member will do.
   */
  readonly first: NodeId;
  /** More contacts to ask when joining: any live members (default none). */
  readonly join?: readonly NodeId[];
  /** Where this node keeps its durable logs; one directory per node, never shared; a wiped one makes this node a new member (a new disk id, `MemberId`), which is re-added. */
  readonly dataDir: string;
  /** The replicated app every node of the cluster runs (same name, same major version). */
  readonly app: App<S>;
  /**
   * The cluster's name; default: the data directory's, and for a new one `synod@<first>`. Every
   * message carries it; nodes refuse another cluster's.
   */
  readonly cluster?: string;
  /** Default: pino at `logLevel` on standard output. */
  readonly logger?: Logger;
  /** Level of the default logger; default `info`. */
  readonly logLevel?: LogLevel;
  readonly paxos?: Partial<PaxosOptions>;
  readonly config?: Partial<ConfigOptions>;
  readonly rsm?: Partial<RsmOptions>;
  readonly transport?: Partial<TransportOptions>;
  /** Mutual TLS from PEM files (`SynodNodeConfig.tls`); absent: plaintext (tests and development only). */
  readonly tls?: TlsFiles;
  /** The callback service, for an app with callbacks. */
  readonly callbacks?: Partial<CallbackOptions>;
  /** Serve /metrics, /healthz, /readyz and the status page on this `host:port` (default: none; see `SynodNodeConfig.metricsAddress`). */
  readonly metricsAddress?: string;
  /** Tunables of metrics, health and the status page. */
  readonly observe?: Partial<ObserveOptions>;
  /** The feed service, for an app with feeds (`App.feeds`). */
  readonly feeds?: Partial<FeedOptions>;
  /**
   * The app's leases (`LeaseSpec`: the KV store's `kvLeaseSpec`): the serving primary expires those
   * not renewed within their TTL. Default none (the built-in KV app needs it: `synod node --app kv`
   * passes it).
   */
  readonly leases?: LeaseSpec<S>;
}

/** A running node. */
export interface NodeHandle {
  /** The node's address. */
  readonly address: NodeId;
  /** Drawn fresh at every start: tells this process life apart from earlier ones at the same address. */
  readonly incarnation: string;
  /**
   * Resolves once the node is a member of a view (it created the cluster, or the cluster admitted
   * it); rejects with `JoinRefusedError` when the cluster refuses its app (the node has stopped
   * then), or with an `Error` when the node is stopped first. It may take as long as the cluster
   * needs (a restarted member waits for a majority of its view to come back): add your own
   * deadline if you need one.
   */
  readonly ready: Promise<void>;
  /**
   * Resolves when the node has stopped: with undefined after `stop()`, with the
   * `JoinRefusedError` when the cluster refused it. A process that only runs this node can exit
   * with a failure on the latter.
   */
  readonly stopped: Promise<JoinRefusedError | undefined>;
  /** Where metrics, health and the status page are served (`host:port`, the port bound when 0 was asked), or null when not asked. */
  readonly metricsAddress: string | null;
  /** What the node believes now: its view, the primary, its replica's status, its last executed viewstamp. Throws once stopped. */
  status(): NodeStatus;
  /** Stops serving, flushes the logs and releases the port. Idempotent. */
  stop(): Promise<void>;
}

/** How often `NodeHandle.ready` looks whether the node became a member (a status read, in process). */
const readyPollMs = 20;

/**
 * Starts a node: checks the data directory (it belongs to this address, cluster and app), replays
 * its durable log, listens on `me`, and starts joining the cluster (`ready` says when it is a
 * member). Rejects (nothing left running) when the data directory belongs to another node,
 * cluster or app (`DataDirMismatchError`, `DataDirAppMismatchError`), its log is damaged
 * (`CorruptLogError`), or the port is taken. A fatal condition later (a failed disk) stops the
 * process, as it would a `synod node`.
 */
export async function startNode<S>(options: StartNodeOptions<S>): Promise<NodeHandle> {
  const logger = options.logger ?? createLogger({ level: options.logLevel ?? 'info', base: { node: options.me } });
  let settleStopped!: (refusal: JoinRefusedError | undefined) => void;
  const stopped = new Promise<JoinRefusedError | undefined>((resolve) => (settleStopped = resolve));
  const node = await SynodNode.start({
    me: options.me,
    first: options.first,
    join: options.join,
    cluster: options.cluster,
    dataDir: options.dataDir,
    logger,
    app: { app: options.app, ...(options.leases === undefined ? {} : { leases: options.leases }) },
    // The node has closed itself by now.
    onJoinRefused: (error) => settleStopped(error),
    paxos: options.paxos,
    config: options.config,
    rsm: options.rsm,
    transport: options.transport,
    tls: options.tls,
    callbacks: options.callbacks,
    metricsAddress: options.metricsAddress,
    observe: options.observe,
    feeds: options.feeds,
  });
  let closing: Promise<void> | null = null;
  let done = false;
  void stopped.then(() => (done = true));
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (done) {
        clearInterval(timer);
        void stopped.then((refusal) => reject(refusal ?? new Error(`node ${options.me} was stopped before it became a member`)));
        return;
      }
      let member = false;
      try {
        member = node.status().configStatus === 'member';
      } catch {
        return; // closing: the next tick sees it stopped
      }
      if (member) {
        clearInterval(timer);
        resolve();
      }
    }, readyPollMs);
    timer.unref();
  });
  ready.catch(() => {}); // a caller that never looks at `ready` must not see an unhandled rejection
  return {
    address: node.me,
    incarnation: node.incarnation,
    metricsAddress: node.metricsAddress,
    ready,
    stopped,
    status: () => {
      if (done || closing !== null) throw new Error(`node ${options.me} is stopped`);
      return node.status();
    },
    stop: () => (closing ??= node.close().then(() => settleStopped(undefined))),
  };
}
