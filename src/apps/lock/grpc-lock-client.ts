import { RsmClient } from '../../client/rsm-client.js';
import type { ClientTls } from '../../runtime/tls-files.js';
import { type Logger, silentLogger } from '../../env/logger.js';
import type { NodeId } from '../../env/types.js';
import type { ClientOptions, LockClientOptions } from '../../options.js';
import { GrpcClientTransport } from '../../runtime/grpc-client-transport.js';
import { realClock } from '../../runtime/real-clock.js';
import type { CallbackSubscriberOptions } from './callback-subscriber.js';
import { GrpcCallbackSubscriber } from './grpc-callback-subscriber.js';
import { LockClient } from './lock-client.js';

/**
 * How long `GrpcLockClient.close({ giveBack: true })` waits for the server to take back what the
 * owner holds. Default 5000 ms, as `CallbackOptions.sessionTimeoutMs`: past it the session
 * expires by itself anyway.
 */
export const giveBackDeadlineMs = 5000;

export interface GrpcLockClientConfig {
  /** The cluster's name (`synod@<first node>` unless the nodes were given `--cluster`). */
  readonly cluster: string;
  /** Any members of the cluster. */
  readonly members: readonly NodeId[];
  /** The owner id the server knows this lock client by; unique per lock client. */
  readonly owner: string;
  /**
   * The client id of its `RsmClient`, which the server binds `owner` to; default a random UUID.
   * Keep it secret: any client presenting it passes for this one. Give the same one (with the
   * same owner) to a restarted client that should take over the locks of its earlier life;
   * under another client id the owner is refused (`owner-taken`) until that life's session
   * expired. Ids starting `synod:` are the nodes' own.
   */
  readonly clientId?: string;
  /**
   * A transport to share with other clients (the caller closes it); default one of its own,
   * closed in `close()`.
   */
  readonly transport?: GrpcClientTransport;
  /** Mutual TLS of its own transport (`GrpcClientTransportConfig.tls`; ignored with `transport`). Absent: plaintext. */
  readonly tls?: ClientTls;
  readonly logger?: Logger;
  readonly lockClient?: Partial<LockClientOptions>;
  readonly rsmClient?: Partial<ClientOptions>;
  /**
   * The members were found by asking the cluster (`findCluster`, as `connectLockService` does): an
   * address that answers as another cluster is then one bad replica to pass over, not a wrong
   * cluster name to give up on (`RsmClient`'s `clusterConfirmed`). Default false.
   */
  readonly clusterConfirmed?: boolean;
  readonly subscriber?: Partial<CallbackSubscriberOptions>;
}

/**
 * A `LockClient` wired to a cluster over gRPC: its own `RsmClient` (`clientId`, default random)
 * and its own `GrpcCallbackSubscriber` (which follows that `RsmClient`'s primary guess), both on one
 * `GrpcClientTransport` (given, or its own).
 */
export class GrpcLockClient {
  readonly lock: LockClient;
  readonly rsm: RsmClient;
  readonly subscriber: GrpcCallbackSubscriber;
  readonly #transport: GrpcClientTransport;
  readonly #ownTransport: boolean;
  #closed = false;

  constructor(config: GrpcLockClientConfig) {
    const logger = config.logger ?? silentLogger;
    this.#ownTransport = config.transport === undefined;
    this.#transport = config.transport ?? new GrpcClientTransport({ cluster: config.cluster, logger, tls: config.tls });
    this.rsm = new RsmClient({
      members: config.members,
      clientId: config.clientId,
      transport: this.#transport,
      clock: realClock,
      logger,
      options: config.rsmClient,
      clusterConfirmed: config.clusterConfirmed,
    });
    const rsm = this.rsm;
    this.subscriber = new GrpcCallbackSubscriber({
      cluster: config.cluster,
      members: config.members,
      transport: this.#transport,
      primary: () => rsm.core.primary,
      logger,
      options: config.subscriber,
    });
    this.lock = new LockClient({
      owner: config.owner,
      rsm: this.rsm,
      subscriptions: this.subscriber,
      clock: realClock,
      logger,
      options: config.lockClient,
    });
  }

  get owner(): string {
    return this.lock.owner;
  }

  /**
   * Closes the lock client, its subscription and its RSM client (and the transport, if its own).
   * With `giveBack`, first asks the server to take back every lock the owner holds or waits for
   * (`giveBack({ owner })`, after the lock client stopped, so nothing it sent can come after it),
   * so that others need not wait for the owner's session to expire; best effort, within
   * `giveBackDeadlineMs`. Without it, the server keeps the owner's grants until its session
   * expires (`LockClient.close`). Idempotent.
   */
  async close(opts: { giveBack?: boolean } = {}): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.lock.close();
    this.subscriber.close();
    if (opts.giveBack === true) {
      try {
        // RsmClient calls run in order: this one runs after any acquire or release still in flight.
        await this.rsm.invoke('giveBack', { owner: this.owner }, { deadlineMs: giveBackDeadlineMs });
      } catch {
        // The session expires by itself after the session timeout.
      }
    }
    this.rsm.close();
    if (this.#ownTransport) await this.#transport.close();
  }
}
