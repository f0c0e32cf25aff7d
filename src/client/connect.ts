/**
 * `connect()`: a client of a synod cluster for a user's program, with the production world
 * (gRPC, real time) filled in. It finds the cluster from the addresses given (its name, its
 * members), fails at once when the cluster named is not the one found, and keeps the process
 * alive while a call is pending, so that `await client.invoke(…)` at the end of a plain script
 * completes instead of the process exiting under it (every timer of the client and its transport
 * is unref'd by design: a closed client must never hold a process open).
 */
import { type Logger, silentLogger } from '../env/logger.js';
import type { NodeId } from '../env/types.js';
import {
  type ClientOptions,
  type ConnectTimingOptions,
  type FeedSubscriberOptions,
  type TransportOptions,
  defaultConnectTimingOptions,
  withDefaults,
} from '../options.js';
import type { Json } from '../rsm/app.js';
import { GrpcClientTransport } from '../runtime/grpc-client-transport.js';
import { realClock } from '../runtime/real-clock.js';
import { type ClientTls, type ClientTlsFiles, loadClientTls } from '../runtime/tls-files.js';
import { discoverCluster } from './discovery.js';
import { ClientClosedError } from './errors.js';
import { FeedReader, type FeedReaderOptions } from './feed-reader.js';
import { FeedSubscription } from './feed-subscription.js';
import { KeepAlive } from './keep-alive.js';
import { type CallOptions, RsmClient } from './rsm-client.js';

export interface ConnectOptions {
  /** Addresses (`host:port`) of any members of the cluster; one that answers is enough. */
  readonly members: readonly NodeId[];
  /**
   * The cluster's name. Default: found from the members (nodes name theirs when asked under
   * another). Given and wrong: `connect` rejects with `WrongClusterError` naming both.
   */
  readonly cluster?: string;
  /** The client's id, for at-most-once execution. Default a random UUID; never share one between two live clients. */
  readonly clientId?: string;
  /** Default: silent. */
  readonly logger?: Logger;
  /** The client's tunables (attempt timeout, backoff, default deadline). */
  readonly client?: Partial<ClientOptions>;
  /** The gRPC transport's tunables (call deadline, message size, reconnect backoff). */
  readonly transport?: Partial<TransportOptions>;
  /** How long finding the cluster may take. */
  readonly timing?: Partial<ConnectTimingOptions>;
  /**
   * Mutual TLS: PEM files of the cluster CA (to check the nodes) and, for nodes with client auth
   * on, this client's certificate and key (signed by the client CA). Read at `connect`; a bad file
   * rejects with `TlsFileError` naming it. Absent: plaintext (tests and development only).
   */
  readonly tls?: ClientTlsFiles;
}

/**
 * A connected client: `invoke(proc, args)` runs one procedure of the cluster's app exactly once,
 * wherever the primary is, and resolves to its reply; it rejects with a typed `RsmClientError`
 * (`AppRejectedError` for the app's own refusals, `DeadlineExceededError` when the outcome is
 * unknown, …). Calls run concurrently: up to `ClientOptions.maxCallsInFlight` (256) at once, later
 * ones wait in order. `close()` when done.
 */
export class SynodClient {
  /** The cluster's name, as given or found. */
  readonly cluster: string;
  readonly #rsm: RsmClient;
  readonly #transport: GrpcClientTransport;
  readonly #keepAlive = new KeepAlive();
  #closed = false;

  readonly #members: readonly NodeId[];
  readonly #logger: Logger;
  readonly #feeds = new Set<FeedReader>();

  /** @internal use `connect()`. */
  constructor(cluster: string, rsm: RsmClient, transport: GrpcClientTransport, members: readonly NodeId[], logger: Logger = silentLogger) {
    this.cluster = cluster;
    this.#rsm = rsm;
    this.#transport = transport;
    this.#members = members;
    this.#logger = logger;
  }

  /**
   * Subscribes to the app's feed `name` (`App.feeds`) with `filter`, from the position after
   * `options.after` (default 0: the feed's start, as far as the state still holds it): an async
   * iterator of event batches that follows the primary and resumes by itself across failovers,
   * with every event once and in order (see `FeedReader`, `FeedSubscription`). It throws
   * `FeedCompactedError` when the positions it needs are gone, `FeedRefusedError` for a filter or
   * feed the app refuses. `close()` the reader (or break out of the loop) when done; closing the
   * client closes it too.
   */
  feed(name: string, filter: Json = null, options: { readonly after?: number; readonly subscriber?: Partial<FeedSubscriberOptions> } & FeedReaderOptions = {}): FeedReader {
    if (this.#closed) throw new ClientClosedError();
    const reader: FeedReader = new FeedReader((handlers) => new FeedSubscription({
      transport: this.#transport,
      members: this.#members,
      primary: () => this.#rsm.core.primary,
      acceptedBy: (server) => this.#rsm.core.heardFromPrimary(server),
      clock: realClock,
      logger: this.#logger,
      options: options.subscriber,
    }, { feed: name, filter, after: options.after ?? 0 }, {
      ...handlers,
      ended: (error) => {
        this.#feeds.delete(reader);
        handlers.ended(error);
      },
    }), { ...options, hold: (p) => this.#keepAlive.during(p) });
    this.#feeds.add(reader);
    return reader;
  }

  get clientId(): string {
    return this.#rsm.clientId;
  }

  /** The replica this client believes is primary now (null: none known yet). */
  get primary(): NodeId | null {
    return this.#rsm.core.primary;
  }

  /** Runs `proc(args)` on the cluster; resolves to the app's reply. */
  async invoke(proc: string, args: Json = null, options: CallOptions = {}): Promise<Json> {
    return this.#keepAlive.during(this.#rsm.invoke(proc, args, options));
  }

  /** Ends the client: calls still pending end with `ClientClosedError` (they may or may not have executed). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const reader of [...this.#feeds]) reader.close();
    this.#rsm.close();
    await this.#transport.close();
  }

}


/**
 * Connects to a synod cluster: finds it from `members` (its name, unless given, and its current
 * members) and returns a client over gRPC. Rejects with `WrongClusterError` when `cluster` is
 * given and the nodes belong to another, or `DiscoveryError` when no address answered within
 * `timing.connectDeadlineMs`.
 */
export async function connect(options: ConnectOptions): Promise<SynodClient> {
  const logger = options.logger ?? silentLogger;
  const tls = options.tls === undefined ? undefined : loadClientTls(options.tls);
  const found = await findCluster(options, tls);
  const transport = new GrpcClientTransport({ cluster: found.cluster, logger, options: options.transport, tls });
  const rsm = new RsmClient({
    members: found.members,
    transport,
    clock: realClock,
    clientId: options.clientId,
    // Discovery found this cluster: an address of another one is from now on one bad replica.
    clusterConfirmed: true,
    logger,
    options: options.client,
  });
  return new SynodClient(found.cluster, rsm, transport, found.members, logger);
}

/**
 * What `connect()` does before it makes a client (for the clients of the built-in apps too): finds
 * the cluster from `members`, keeping the process alive meanwhile. `members` in the result are the
 * current view's, then the addresses given (which may include nodes since removed).
 */
export async function findCluster(options: Pick<ConnectOptions, 'members' | 'cluster' | 'logger' | 'timing'>, tls?: ClientTls): Promise<{ readonly cluster: string; readonly members: readonly NodeId[] }> {
  // Plain JavaScript callers may pass the addresses themselves: say what connect() takes.
  if (typeof options !== 'object' || options === null || !Array.isArray(options.members)) {
    throw new TypeError('connect() takes an options object whose members are addresses of the cluster, e.g. connect({ members: [\'127.0.0.1:7001\'] })');
  }
  const timing = withDefaults(defaultConnectTimingOptions, options.timing, 'timing');
  const found = await new KeepAlive().during(discoverCluster(options.members, {
    cluster: options.cluster,
    deadlineMs: timing.connectDeadlineMs,
    attemptTimeoutMs: timing.connectAttemptTimeoutMs,
    retryMs: timing.connectRetryMs,
    tls,
  }));
  options.logger?.debug({ cluster: found.cluster, node: found.node, members: found.members }, 'client: found the cluster');
  return { cluster: found.cluster, members: [...new Set([...found.members, ...options.members])] };
}
