import { invariant } from '../env/errors.js';
import type { Logger } from '../env/logger.js';
import type { ClientStream, StreamCodec, StreamHandlers } from '../env/streams.js';
import type { CallFailure, Channel, ClientTransport, ServiceCodec } from '../env/transport.js';
import type { NodeId } from '../env/types.js';
import { type TransportOptions, transportOptions } from '../options.js';
import { clientCallChannel } from './grpc-call-streams.js';
import { PeerClients, checkClusterId, checkClusterName } from './grpc-peers.js';
import { openGrpcStream } from './grpc-stream-client.js';
import { channelCredentials } from './tls-credentials.js';
import type { ClientTls } from './tls-files.js';

export interface GrpcClientTransportConfig {
  /** The name of the cluster the client talks to, sent in every call; servers of another cluster refuse the call. */
  readonly cluster: string;
  /**
   * The cluster's id, if the client knows it (`NodeStatus.clusterId`): sent in every call and
   * stream, and a node of another id refuses them. Default none: a client names the cluster by name.
   */
  readonly clusterId?: string;
  readonly logger: Logger;
  /**
   * Uses `callDeadlineMs` (each call's deadline), `maxPeerClients` (connections kept),
   * `maxMessageBytes`, the reconnect backoff and the client keepalive; the others concern servers.
   */
  readonly options?: Partial<TransportOptions>;
  /**
   * Mutual TLS (`loadClientTls`): nodes must present a certificate of the cluster CA naming the
   * address dialled; this client presents its own certificate when it has one (nodes with client
   * auth on refuse calls without it, UNAUTHENTICATED). Absent: plaintext.
   */
  readonly tls?: ClientTls;
}

/**
 * The production `ClientTransport`: calls request/response services (e.g. `synod.rsm.Client`) of
 * the nodes of one cluster over gRPC. No server, no listening port.
 *
 * `connect(codec, receive, failed)` may be called any number of times, even for one service;
 * its channel's `send(server, request)` makes one unary `Call` to `server` (`host:port`, a node
 * id) with the cluster name (and the cluster id, when given) set and a deadline of `callDeadlineMs`;
 * or, with `callWire: 'stream'` (the default) and a service whose proto has a `Stream` method,
 * puts the request on the transport's one call stream to that server (grpc-call-streams.ts: same
 * outcomes per request, plus a stream's own end failing its waiting requests `unreachable`, and
 * `overloaded` beyond `maxCallsPerStream` / `maxCallStreamQueuedBytes`). Per send, exactly one of:
 * - `receive(server, answer)`: the server answered, and the answer passed `decodeAnswer`;
 * - `failed(server, failure, request)`: the call of `request` failed; `failure` is a `CallFailure` (the gRPC status
 *   mapped by `callFailureOf`, `runtime/grpc-status.ts`): `unreachable` (UNAVAILABLE: server
 *   down, connection refused, server isolated or shutting down), `timeout` (DEADLINE_EXCEEDED: no
 *   answer within the deadline; the server forgets the call), `wrong-cluster` (the server is of
 *   another cluster; its name, which the server sends in the refusal's trailing metadata, is
 *   `actual`), `invalid-request` (INVALID_ARGUMENT: the request failed the server's
 *   `decodeRequest`; the detail names the field), `overloaded` (RESOURCE_EXHAUSTED: the server
 *   holds `maxPendingCalls` calls or `maxPendingCallBytes` bytes of them, with its retry hint in
 *   `retryAfterMs`; or a message is above `maxMessageBytes`), `unimplemented` (the
 *   server does not serve this service, e.g. it is starting up), `internal` (the server failed on
 *   the request, or this side could not encode it), or `invalid-answer` (the answer failed
 *   `decodeAnswer`, logged at warn). Each `detail` starts with the gRPC status name.
 * Neither is ever called inside `send`. Without `failed`, failures are only logged.
 * Failures that mean "not there" (UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, UNIMPLEMENTED) are
 * logged at debug, other refusals at warn.
 *
 * `openStream(codec, server, request, handlers)` opens one `Subscribe` stream of a
 * server-streaming service (e.g. `synod.rsm.Callbacks`) at `server`, with the cluster name set
 * and no deadline: `accepted` when the server sent its headers, then each message that passed
 * `decodeMessage`, then one `StreamEnd`: the kind the server ended it with (read from the
 * trailers), or the connection's (`unreachable`: refused, broken, or silent past the client
 * keepalive), `wrong-cluster`, or `internal` for a message that failed `decodeMessage`.
 *
 * Connections: one `grpc.Client` per server, at most `maxPeerClients`, least recently used closed
 * first (as `GrpcTransport` does for its peers); gRPC reconnects a failed one with backoff. While
 * a call or stream is open on one, it pings the server after `clientKeepaliveTimeMs` without
 * traffic and drops the connection if the ping is not answered in `clientKeepaliveTimeoutMs`.
 *
 * `close()` cancels the calls and streams in flight and closes every connection; it is
 * idempotent. After it, `send` does nothing and no answer, failure or stream event is reported.
 */
export class GrpcClientTransport implements ClientTransport {
  readonly #cluster: string;
  readonly #clusterId: string | null;
  readonly #log: Logger;
  readonly #options: TransportOptions;
  readonly #peers: PeerClients;

  constructor(config: GrpcClientTransportConfig) {
    this.#cluster = checkClusterName(config.cluster, 'GrpcClientTransport');
    this.#clusterId = checkClusterId(config.clusterId, 'GrpcClientTransport');
    this.#log = config.logger;
    this.#options = transportOptions(config.options);
    this.#peers = new PeerClients(this.#log, this.#options, config.tls === undefined ? undefined : channelCredentials(config.tls));
  }

  connect<Req, Ans>(
    codec: ServiceCodec<Req, Ans>,
    receive: (server: NodeId, answer: Ans) => void,
    failed?: (server: NodeId, failure: CallFailure, request: Req) => void,
  ): Channel<Req> {
    invariant(!this.#peers.closed, () => `connect(${codec.service}) on a closed client transport`);
    const context = {
      cluster: this.#cluster,
      clusterId: () => this.#clusterId,
      log: this.#log,
      deadlineMs: this.#options.callDeadlineMs,
      peers: this.#peers,
    };
    return clientCallChannel(context, this.#options, codec, receive, failed);
  }

  openStream<Req, Msg>(codec: StreamCodec<Req, Msg>, server: NodeId, request: Req, handlers: StreamHandlers<Msg>): ClientStream {
    invariant(!this.#peers.closed, () => `openStream(${codec.service}) on a closed client transport`);
    return openGrpcStream({ cluster: this.#cluster, clusterId: () => this.#clusterId, log: this.#log, peers: this.#peers }, codec, server, request, handlers);
  }

  /** Servers a connection is kept to now (at most `maxPeerClients`). */
  get connections(): number {
    return this.#peers.size;
  }

  close(): Promise<void> {
    if (!this.#peers.closed) {
      this.#peers.close();
      this.#log.debug({ cluster: this.#cluster }, 'client transport closed');
    }
    return Promise.resolve();
  }
}
