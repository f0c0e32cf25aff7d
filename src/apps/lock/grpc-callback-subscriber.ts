import { type Logger, silentLogger } from '../../env/logger.js';
import type { NodeId } from '../../env/types.js';
import type { TransportOptions } from '../../options.js';
import { GrpcClientTransport } from '../../runtime/grpc-client-transport.js';
import { realClock } from '../../runtime/real-clock.js';
import { type CallbackSubscriberOptions, StreamCallbackSubscriber } from './callback-subscriber.js';

export interface GrpcCallbackSubscriberConfig {
  /** The cluster's name, sent with every stream (a node of another cluster refuses it). */
  readonly cluster: string;
  /** Members to try when no primary is known (any members of the cluster). */
  readonly members: readonly NodeId[];
  /** The current primary guess (null: none known); see `CallbackSubscriberConfig.primary`. */
  readonly primary: () => NodeId | null;
  /** A transport to share (the caller closes it); default one of its own, closed in `close()`. */
  readonly transport?: GrpcClientTransport;
  readonly logger?: Logger;
  readonly options?: Partial<CallbackSubscriberOptions>;
  /** Of its own transport (e.g. `clientKeepaliveTimeMs`); ignored with a shared one. */
  readonly transportOptions?: Partial<TransportOptions>;
}

/**
 * The production `CallbackSubscriber`: a `StreamCallbackSubscriber` over gRPC, on real time.
 * A stream whose server stops sending keepalives ends after `keepaliveSilenceMs`, sooner than the
 * connection's own keepalive (`TransportOptions.clientKeepaliveTimeMs`) would notice.
 */
export class GrpcCallbackSubscriber extends StreamCallbackSubscriber {
  readonly #ownTransport: GrpcClientTransport | null;

  constructor(config: GrpcCallbackSubscriberConfig) {
    const logger = config.logger ?? silentLogger;
    const own = config.transport === undefined ? new GrpcClientTransport({ cluster: config.cluster, logger, options: config.transportOptions }) : null;
    super({ transport: config.transport ?? own!, members: config.members, primary: config.primary, clock: realClock, logger, options: config.options });
    this.#ownTransport = own;
  }

  /** Closes every subscription, and the transport if it is its own. Idempotent. */
  override close(): void {
    super.close();
    void this.#ownTransport?.close();
  }
}
