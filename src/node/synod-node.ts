import { randomUUID } from 'node:crypto';
import type { Logger } from '../env/logger.js';
import type { NodeId } from '../env/types.js';
import type { NodeWorld } from '../env/world.js';
import { type CallbackOptions, type ConfigOptions, type FeedOptions, type PaxosOptions, type RsmOptions, type TransportOptions, callbackOptions, checkRsmFitsTransport, rsmOptions, transportOptions } from '../options.js';
import type { App } from '../rsm/app.js';
import type { RsmMutations } from '../rsm/replica.js';
import type { CallbackHub } from './callback-hub.js';
import type { SessionSpec } from './sessions.js';
import type { LeaseSpec } from './lease-keeper.js';
import type { LeaseKeeperOptions } from '../options/leases.js';
import { type NodeStatus, nodeServiceCodec } from './status.js';
import { type ProductionWorld, createProductionWorld } from '../runtime/node-world.js';
import { Breakpoints } from './breakpoints.js';
import { ControlServer } from './control-server.js';
import { type TlsFiles, loadNodeTls } from '../runtime/tls-files.js';
import { checkIdentity, memberOfIdentity } from './identity.js';
import { serveSnapshots } from './snapshot-service.js';
import { NodeStack } from './node-stack.js';
import { type AppIdentity, type JoinRefusedError, formatApp } from '../config/app-identity.js';
import { type ObserveOptions, observeOptions } from '../options/observe.js';
import { PromMetrics } from '../runtime/prom-metrics.js';
import { type NodeOps, startNodeOps } from './node-ops.js';

/**
 * The app a node runs, with what the node serves for it. An app with callbacks (`App.callbacks`)
 * gets the callback service (`CallbackHub`), with owner ids of at most `maxOwnerLength`
 * characters; with `sessions`, the serving primary also expires owners that stay without a
 * callback stream (`SessionKeeper`).
 */
export interface NodeApp<S> {
  readonly app: App<S>;
  readonly sessions?: SessionSpec<S>;
  readonly maxOwnerLength?: number;
  /** The app's leases (the KV store's): the serving primary expires those not renewed for their TTL (`LeaseKeeper`). */
  readonly leases?: LeaseSpec<S>;
}

export interface SynodNodeConfig<S = unknown> {
  /** This node's address, `host:port`. */
  readonly me: NodeId;
  /**
   * For a new data directory: the cluster's first node, the one that creates it (view 1 is
   * `[first]`); the node whose `me` is `first` creates the cluster. For a data directory that has
   * an identity (a restart): only a contact, any live member; the first node, the cluster's name
   * and its id are the data directory's.
   */
  readonly first: NodeId;
  /** More contacts to ask when joining (any live members; `--join`). Default none. */
  readonly join?: readonly NodeId[];
  /**
   * The cluster's name: every message carries it and a node refuses messages of another
   * cluster (a leftover process on a reused port cannot interfere). Default: the data
   * directory's, and for a new one `synod@<first>`. A name other than the data directory's is
   * refused (`DataDirMismatchError`).
   */
  readonly cluster?: string;
  readonly dataDir: string;
  readonly logger: Logger;
  /**
   * Serve the test control service on this address (default: none). Never in production; keep it
   * on loopback (`defaultControlAddress`): it can isolate and kill the node. Every request must
   * name this node's cluster and cluster id.
   */
  readonly controlAddress?: string;
  readonly paxos?: Partial<PaxosOptions>;
  readonly config?: Partial<ConfigOptions>;
  readonly rsm?: Partial<RsmOptions>;
  /**
   * The replicated app this node runs (default: none, Paxos and config only). Its name and
   * version are part of the cluster: the data directory keeps them, and a cluster refuses a
   * joiner whose app is not compatible (see `App`).
   */
  readonly app?: NodeApp<S>;
  /**
   * A member refused this node's join because its app is not compatible with the cluster's: the
   * node can never be a member, so it closes itself and then calls this (default: nothing more;
   * the refusal is logged as an error). A refusal that comes before `start` resolved makes
   * `start` reject with the `JoinRefusedError` instead.
   */
  readonly onJoinRefused?: (error: JoinRefusedError) => void;
  /** The callback service and sessions (used only with an app that has callbacks). */
  readonly callbacks?: Partial<CallbackOptions>;
  /** The feed service (used only with an app that has feeds, `App.feeds`). */
  readonly feeds?: Partial<FeedOptions>;
  /** The lease keeper's options (used only with an app that has leases). */
  readonly leases?: Partial<LeaseKeeperOptions>;
  /**
   * Test-only RSM mutations (each breaks the protocol on purpose, to prove a checker catches it
   * on real processes: `npm run nemesis -- --mutate …`). Refused unless the control service is on:
   * never in production.
   */
  readonly testMutations?: RsmMutations;
  /**
   * Test-only (the durability benchmark's baseline, `npm run bench -- durability`): keep the
   * replicated state in memory only, as before it was durable (`NodeStackOptions.durableRsm`).
   * Refused unless the control service is on: never in production. Default false.
   */
  readonly testMemoryOnlyRsm?: boolean;
  readonly transport?: Partial<TransportOptions>;
  /**
   * Mutual TLS from PEM files (runtime/tls-files.ts): read and checked at start (a bad file
   * refuses the start with `TlsFileError` naming it). Every gRPC server of the node (peers,
   * clients, control) presents `cert`; peers must present one of the cluster CA naming the host
   * they claim; clients one of `clientCa` when it is given. Absent: plaintext (tests and development only).
   */
  readonly tls?: TlsFiles;
  /**
   * Serve metrics, health and the status page over HTTP on this address (`host:port`; port 0
   * picks one, see `SynodNode.metricsAddress`): `/metrics`, `/healthz`, `/readyz`, `/status`,
   * `/status.json` (`OpsServer`). Default: none (and no metrics are kept). The gRPC health
   * service (`grpc.health.v1`) is served on the node's own port either way.
   */
  readonly metricsAddress?: string;
  /** Tunables of metrics, health and the status page. */
  readonly observe?: Partial<ObserveOptions>;
  /** What stopping on a fatal condition means; default: the process dies at once. */
  readonly stop?: (reason: string) => void;
}


/**
 * The control service's address by convention: loopback (`127.0.0.1`), the node's port + 1.
 * Loopback, whatever host the node listens on: the service can isolate and kill the node, so only
 * processes on the node's own machine reach it unless the operator names another address.
 */
export function defaultControlAddress(me: NodeId): string {
  const colon = me.lastIndexOf(':');
  const port = Number(me.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port) || port < 1 || port >= 65535) {
    throw new RangeError(`node address ${me} must be host:port with a port below 65535`);
  }
  return `127.0.0.1:${port + 1}`;
}

/** Whether `address` (`host:port`) names a loopback host: 127.x.x.x, `[::1]` or `localhost`. */
export function isLoopbackAddress(address: string): boolean {
  const host = address.slice(0, address.lastIndexOf(':'));
  return /^127(\.\d{1,3}){3}$/.test(host) || host === '[::1]' || host === 'localhost';
}

/**
 * One synod node process: its layers (`NodeStack`: Paxos, config, and the RSM with an app) wired
 * to the production world; the callback service and client sessions when the app has callbacks;
 * and optionally the test control service.
 */
export class SynodNode {
  readonly me: NodeId;
  /** Drawn fresh at every start: tells this process apart from earlier ones at the same address. */
  readonly incarnation: string;
  readonly stack: NodeStack<never>;
  readonly #prod: ProductionWorld;
  readonly #control: ControlServer | null;
  readonly #ops: NodeOps;

  private constructor(
    me: NodeId,
    incarnation: string,
    stack: NodeStack<never>,
    prod: ProductionWorld,
    control: ControlServer | null,
    ops: NodeOps,
  ) {
    this.me = me;
    this.incarnation = incarnation;
    this.stack = stack;
    this.#prod = prod;
    this.#control = control;
    this.#ops = ops;
  }

  /** Where metrics, health and the status page are served (`host:port`), or null when they are not. */
  get metricsAddress(): string | null {
    return this.#ops.server?.address ?? null;
  }

  /** Whether the node is ready, as /readyz and grpc.health.v1 say (the last look, `ObserveOptions.readinessPollMs`). */
  get ready(): boolean {
    return this.#ops.readiness.readiness.ready;
  }

  /** The callback service, when the app has callbacks. */
  get callbacks(): CallbackHub | null {
    return this.stack.callbacks;
  }

  /**
   * Starts the node: checks the data directory's identity, replays the durable log (a damaged
   * log throws `CorruptLogError` naming file and offset, and nothing starts), then serves.
   */
  static async start<S>(config: SynodNodeConfig<S>): Promise<SynodNode> {
    // The node touches the state only through the app's own functions: past this point its type
    // does not matter, and the layers below take the app as it comes.
    const nodeApp = config.app as NodeApp<never> | undefined;
    const appIdentity: AppIdentity | null = nodeApp === undefined ? null : { name: nodeApp.app.name, version: nodeApp.app.version };
    // Bad options refuse the start before anything is touched.
    callbackOptions(config.callbacks);
    if (nodeApp !== undefined) checkRsmFitsTransport(rsmOptions(config.rsm), transportOptions(config.transport).maxMessageBytes);
    if (config.testMutations !== undefined && config.controlAddress === undefined) {
      throw new RangeError('test mutations break the protocol on purpose: they are refused unless the test control service is on');
    }
    if (config.testMemoryOnlyRsm === true && config.controlAddress === undefined) {
      throw new RangeError('a replicated state in memory only loses acknowledged requests: it is refused unless the test control service is on');
    }
    const tls = config.tls === undefined ? undefined : loadNodeTls(config.tls);
    const identity = checkIdentity(config.dataDir, {
      me: config.me, first: config.first, cluster: config.cluster, app: appIdentity, newClusterId: randomUUID, join: config.join,
    });
    const { first, cluster } = identity.identity;
    const contacts = [...new Set([...identity.contacts, ...(config.join ?? [])])].filter((c) => c !== config.me && c !== first);
    const firstLife = identity.firstLife;
    const incarnation = randomUUID();
    const logger = config.logger;
    if (identity.contacts.length > 0) {
      logger.info({ first, given: config.first }, 'node: the data directory names the cluster\'s first node; the --first given is a contact only');
    }
    if (config.controlAddress !== undefined && !isLoopbackAddress(config.controlAddress)) {
      logger.warn({ controlAddress: config.controlAddress },
        'control: the test control service (partition, crash breakpoints, propose) listens on a non-loopback address: ' +
        'anyone who reaches it can isolate or kill this node');
    }
    if (config.testMemoryOnlyRsm === true) {
      logger.warn({ memoryOnlyRsm: true }, 'rsm: test-only: the replicated state is kept in memory only; acknowledged requests are lost when the processes die');
    }
    const observe = observeOptions(config.observe);
    const metrics = config.metricsAddress === undefined ? undefined : new PromMetrics();
    const prod = await createProductionWorld({
      metrics,
      self: config.me,
      cluster,
      clusterId: identity.identity.clusterId,
      dataDir: config.dataDir,
      logger,
      transport: config.transport,
      tls,
      stop: config.stop,
    });
    try {
      // The address is ours now (the port is bound): only from here on may this start count as
      // the data directory's first life (see `IdentityCheck`).
      identity.record();
    } catch (err) {
      await prod.close();
      throw err;
    }
    const breakpoints = new Breakpoints();
    let stack: NodeStack<never>;
    // Set once the node is built; a refusal that comes earlier is kept for `start` to reject with.
    let started: SynodNode | null = null;
    let refusedEarly: JoinRefusedError | null = null;
    const onJoinRefused = (error: JoinRefusedError): void => {
      logger.error({ err: error, app: formatApp(appIdentity), clusterApp: formatApp(error.clusterApp) }, 'node refused by the cluster; stopping');
      if (started === null) {
        refusedEarly = error;
        return;
      }
      const node = started;
      // Not from inside the config layer's upcall: the close stops that layer.
      setImmediate(() => void node.close().finally(() => config.onJoinRefused?.(error)));
    };
    try {
      stack = new NodeStack<never>(prod.world, {
        first,
        member: memberOfIdentity(identity.identity),
        contacts,
        clusterId: {
          current: () => prod.transport.clusterId,
          // Durable first (the identity file), then every message carries it.
          adopt: (id) => {
            identity.adoptClusterId(id);
            prod.transport.adoptClusterId(id);
          },
        },
        incarnation,
        firstLife,
        breakpoints,
        app: nodeApp?.app,
        callbacks: { sessions: nodeApp?.sessions, maxOwnerLength: nodeApp?.maxOwnerLength, options: config.callbacks },
        feeds: config.feeds,
        maxMessageBytes: transportOptions(config.transport).maxMessageBytes,
        leases: nodeApp?.leases === undefined ? undefined : { spec: nodeApp.leases, options: config.leases },
        onJoinRefused,
        paxos: config.paxos,
        config: config.config,
        rsm: config.rsm,
        mutations: config.testMutations,
        durableRsm: config.testMemoryOnlyRsm === true ? false : undefined,
      });
    } catch (err) {
      await prod.close();
      throw err;
    }
    stack.start();
    const statusChannel = prod.transport.serve(nodeServiceCodec, (from) => {
      statusChannel.answer(from, runInNode(prod.world, () => stack.status()));
    });
    if (stack.rsm !== null && appIdentity !== null) {
      serveSnapshots({
        self: config.me,
        transport: prod.transport,
        replica: stack.rsm.core,
        app: appIdentity,
        clusterId: () => prod.transport.clusterId,
        inNode: (fn) => runInNode(prod.world, fn),
        chunkBytes: rsmOptions(config.rsm).stateChunkBytes,
        logger: logger.child({ layer: 'snapshots' }),
      });
    }
    let control: ControlServer | null = null;
    if (config.controlAddress !== undefined) {
      control = await ControlServer.listen(config.controlAddress, {
        self: config.me,
        cluster,
        clusterId: () => prod.transport.clusterId,
        incarnation,
        transport: prod.transport,
        breakpoints,
        paxos: stack.paxos,
        config: stack.config,
        inNode: (fn) => runInNode(prod.world, fn),
        logger: logger.child({ layer: 'control' }),
        tls,
      });
    }
    let ops: NodeOps;
    try {
      ops = await startNodeOps({
        me: config.me, stack, transport: prod.transport, inNode: (fn) => runInNode(prod.world, fn),
        metrics, metricsAddress: config.metricsAddress, observe, logger,
      });
    } catch (err) {
      stack.stop();
      await control?.close();
      await prod.close();
      throw err;
    }
    logger.info({ first, cluster, clusterId: prod.transport.clusterId, contacts, dataDir: config.dataDir, incarnation, app: formatApp(appIdentity),
      callbacks: stack.callbacks !== null, sessions: stack.sessions !== null,
      tls: tls === undefined ? 'off (plaintext)' : tls.clientCa === null ? 'mutual TLS' : 'mutual TLS, client certificates required' }, 'node started');
    const node = new SynodNode(config.me, incarnation, stack, prod, control, ops);
    started = node;
    const early: JoinRefusedError | null = refusedEarly;
    if (early !== null) {
      await node.close();
      throw early;
    }
    return node;
  }

  /** What this node believes now (its view, primary, replica status; see `NodeStatus`). */
  status(): NodeStatus {
    return runInNode(this.#prod.world, () => this.stack.status());
  }

  /** Stops serving, flushes the logs, releases the ports. */
  async close(): Promise<void> {
    await this.#ops.close();
    this.stack.stop();
    await this.#control?.close();
    await this.#prod.close();
  }
}

/** Runs `fn` as a task of the node's executor (the only place cores are touched) and returns its result. */
function runInNode<T>(world: NodeWorld, fn: () => T): T {
  let result: { value: T } | undefined;
  world.executor.submit(() => {
    result = { value: fn() };
  });
  if (result === undefined) throw new Error('the node is stopping');
  return result.value;
}
