import * as grpc from '@grpc/grpc-js';
import { invariant } from '../env/errors.js';
import type { Logger } from '../env/logger.js';
import { type Metrics, noMetrics } from '../env/metrics.js';
import type { ClientStream, ServerStream, StreamCodec, StreamHandlers } from '../env/streams.js';
import type { AnswerChannel, CallFailure, Channel, ClientTransport, ReturnAddress, ServiceCodec, Transport, WireCodec } from '../env/transport.js';
import type { NodeId } from '../env/types.js';
import { nodeId } from '../env/validate.js';
import { type TransportOptions, transportOptions } from '../options.js';
import { GrpcCalls } from './grpc-calls.js';
import { GrpcChannels } from './grpc-channels.js';
import { clientCallChannel } from './grpc-call-streams.js';
import { PeerClients, checkClusterId, checkClusterName, errorText } from './grpc-peers.js';
import { type ServerContext, isolated, serviceClaims } from './grpc-server.js';
import { openGrpcStream } from './grpc-stream-client.js';
import { GrpcStreams } from './grpc-streams.js';
import type { PeerLinkStats } from './grpc-peer-link.js';
import { PeerLinks } from './grpc-peer-links.js';
import { PeerStreamServer } from './grpc-peer-stream-server.js';
import { PartitionFilter } from './partition-filter.js';
import { TlsAuth } from './tls-auth.js';
import { channelCredentials, serverCredentials } from './tls-credentials.js';
import type { NodeTls } from './tls-files.js';

export interface GrpcTransportConfig {
  /** This node's id, `host:port`: what peers dial, and what they put in `to`. */
  readonly self: NodeId;
  /**
   * The name of the cluster this node belongs to, sent in every envelope. A message carrying
   * another name (or none) is refused, so that a leftover process of another cluster on a reused
   * address can neither feed nor crash this node. Non-empty, at most
   * `limits.maxClusterNameLength` characters; every node of a cluster must be given the same.
   */
  readonly cluster: string;
  /**
   * The cluster's id (see `Transport`: cluster identity), sent in every envelope and in calls and
   * streams this node makes; a message or call of another id is refused. Null or absent: this node
   * has not learned it yet (a joiner with a fresh data directory); it then sends and accepts only
   * on channels that admit newcomers, until `adoptClusterId`.
   */
  readonly clusterId?: string | null;
  /**
   * Where the server binds; default `self`. Set it when the advertised address is not a local
   * one (e.g. `self` = `node1.example:7001`, bind = `0.0.0.0:7001`). Its port must be `self`'s.
   */
  readonly bindAddress?: string;
  readonly logger: Logger;
  readonly options?: Partial<TransportOptions>;
  /**
   * Mutual TLS (runtime/tls-files.ts, `loadNodeTls`): the server presents the node's certificate
   * and checks callers (runtime/tls-auth.ts: peers by the cluster CA and the host their `from`
   * names, clients by the client CA when client auth is on), and peers are dialled with it.
   * Absent: plaintext, everyone admitted (tests and development only).
   */
  readonly tls?: NodeTls;
  /** Where evicted streams are counted (default `noMetrics`). */
  readonly metrics?: Metrics;
}

/**
 * The production `Transport`: every channel is a gRPC service (named by its codec) with one
 * unary method, `Deliver(Envelope) returns (Ack)`. The Ack only says the receiver accepted the
 * message for processing; answers travel as messages of their own.
 *
 * Peer streams (`TransportOptions.peerMessages`, default `'stream'`): instead of one `Deliver` call
 * per message, a node sends every channel's messages to one peer over two long-lived
 * `synod.peer.Peer/Stream`s (proto/peer.proto), one `Frame` per message naming the channel's
 * service and carrying its envelope as the bytes a `Deliver` would carry: the control lane takes
 * envelopes of at most `peerControlFrameBytes`, the bulk lane larger ones, so small messages never
 * wait behind large ones. Everything below about envelopes, checks and refusals holds for frames
 * alike: the receiver runs the same checks on each frame's envelope, logs the same lines, and
 * answers a refused frame with a `Notice` (its number, the status code and details a `Deliver`
 * would have got) that the sender logs as it logs a refused call; the stream goes on. A channel not
 * opened yet is a notice UNIMPLEMENTED. Frames of one lane arrive in send order; across lanes a
 * later message may arrive first. The sender follows each stream's backpressure: while it cannot
 * take more, frames wait up to `peerControlQueueBytes` (control) or `peerQueueBytes` (bulk) per
 * peer and beyond that are dropped (counted per lane in `peerStats()`, warn at most once a second).
 * A broken stream loses what it had not delivered and is reopened by the next send of its lane,
 * after a backoff if it never got going (grpc-peer-lane.ts); a restarted peer gets new streams.
 * `close()` half-closes every outgoing stream and ends every incoming one. A node serves peer
 * streams whatever it sends, at most `maxPeerStreams` at once (one more is refused
 * RESOURCE_EXHAUSTED). Frames count against `maxMessageBytes` whole: a frame above it is refused on
 * the sending side with the warn line an oversized call gets.
 *
 * Lifecycle: `await GrpcTransport.listen(config)` binds the server and returns a transport that
 * serves at once; `open()` may be called at any time after that (grpc-js ≥ 1.2 adds services to
 * a running server). Until a channel is opened, peers' messages for it are answered
 * UNIMPLEMENTED, which senders treat like a lost message. `close()` ends both directions.
 *
 * Every envelope carries `from`, `to`, `cluster` (the sender's cluster name) and `cluster_id`
 * (the sender's cluster id, empty while it has not learned one), set by the transport after the
 * codec's fields, so that a codec cannot overwrite them. While this node has no cluster id, a
 * message on a channel whose codec does not admit newcomers is not sent (debug).
 *
 * Failure semantics are those of `Transport`, plus: a refused message is answered with a gRPC
 * status the sender logs (INVALID_ARGUMENT: failed the codec or the envelope check, or its bytes
 * are not a message of its type at all (grpc-undecodable.ts; every service, calls and streams too);
 * FAILED_PRECONDITION: sent by a node of another cluster (or without a cluster name), of another
 * cluster id (both named; the refusal's trailing metadata names this node's cluster and id), by a
 * node without an id on a channel that does not admit newcomers, to a node without an id on such
 * a channel (logged at debug), or addressed to another node id; UNAVAILABLE: the sender is
 * partitioned from this node (on every channel, or on this one: `blockPeers`), or the node is
 * closing; RESOURCE_EXHAUSTED: above `maxMessageBytes`). The receiver logs each refusal at warn
 * (debug for UNAVAILABLE), except RESOURCE_EXHAUSTED, see below.
 *
 * Oversized messages are refused by grpc-js itself, not by this class, and what each side sees
 * differs:
 * - the sender, when it runs this transport with the same `maxMessageBytes`: its own grpc-js
 *   refuses to send the message; the send callback gets RESOURCE_EXHAUSTED ("Attempted to send
 *   message with a size larger than …") and logs it at warn. Nothing goes on the wire, so the receiver sees nothing.
 * - the receiver, when a sender with a larger limit sends it anyway: grpc-js answers
 *   RESOURCE_EXHAUSTED ("Received message larger than max") before any handler of this class
 *   runs, so the receiver writes NO log line; the refusal is visible only on the sender (which,
 *   if it runs this transport, logs it at warn). Diagnose oversized messages from senders' logs.
 *
 * Connections: one `grpc.Client` (one HTTP/2 connection) per peer, shared by all channels; after
 * a failure gRPC reconnects it with backoff capped at `reconnectBackoffMaxMs`, so a restarted
 * peer is reached again without any action here. At most `maxPeerClients` clients are kept: a
 * send to one more peer closes the least recently used client (calls it has not started yet
 * fail as UNAVAILABLE, i.e. are lost like any message) and the next send to that peer dials it
 * afresh. This bounds what a stream of messages from ever new sender ids can make this node hold.
 *
 * Request/response services (`serve`, the client service): a gRPC service (named by the codec)
 * with a unary method, `Call(<request>) returns (<answer>)`, and, when its proto offers one, a
 * call stream `Stream(stream <request>) returns (stream <answer>)` carrying many requests, each
 * checked, bounded and answered as a `Call` is, its refusal sent on the stream as a `Refusal`
 * (grpc-call-stream-server.ts; a streamed request waits at most its `budget_ms`; call streams end
 * UNAVAILABLE when the node is isolated or closes; at most `maxCallStreams`). The request message carries
 * `string cluster = 1` and a `oneof body`, the answer a `oneof body`. Each admitted call waits,
 * under a return address of its own (a `ReturnAddress` labelled `call <n>`, n counting up from 1
 * per transport), until the channel's `answer(returnAddress, answer)` completes it with OK and the encoded
 * answer. It is completed at most once: a second answer, or one for a call the client cancelled
 * or whose deadline passed (both forget the call), is dropped with a debug line. A call is
 * refused at once with: UNAVAILABLE while the node is isolated (`isolate()`) or closing;
 * FAILED_PRECONDITION when its cluster name is another or missing, or when it carries a cluster id
 * (`string cluster_id = 2`; nodes calling nodes send theirs, clients need none) that is not this
 * node's (warn); INVALID_ARGUMENT when
 * it fails `decodeRequest`, naming the field (warn; the receiver is not called);
 * RESOURCE_EXHAUSTED when `maxPendingCalls` calls or `maxPendingCallBytes` bytes of requests
 * already wait (checked before decoding; trailing metadata `synod-retry-after-ms` carries
 * `overloadRetryAfterMs`; warn, at most one line a second with the count). Partitions between nodes
 * (`blockPeers`) do not apply to client calls: clients are not nodes. A call still waiting when
 * the node is isolated is answered UNAVAILABLE instead of its answer; `close()` answers every
 * waiting call UNAVAILABLE. If the receiver throws, the call is answered INTERNAL.
 *
 * Server-streaming services (`serveStream`, the callback service): a gRPC service (named by the
 * codec) with one method, `Subscribe(<request>) returns (stream <message>)`; the request carries
 * `string cluster = 1` (and may carry `cluster_id`). A stream is admitted as a client call is
 * (`unavailable` while isolated or closing, `wrong-cluster` for another cluster's name or id,
 * warn), then refused `overloaded` when
 * `maxStreams` are open (warn) and `invalid-request` when it fails `decodeRequest` (warn), and
 * otherwise handed to the service as a `ServerStream` (grpc-streams.ts). Accepting it sends the
 * response headers; a stream with more than `maxQueuedStreamMessages` messages waiting for its
 * client ends `overloaded`. Every end travels as a status with its kind in the trailers
 * (`streamEndStatus`, runtime/grpc-status.ts). `isolate()` and `close()` end every open stream
 * `unavailable`. The server pings every connection after `keepaliveTimeMs` without traffic and
 * drops one that does not answer within `keepaliveTimeoutMs`, so that the stream of a client that
 * vanished without closing its connection ends too (its service hears `cancelled`).
 *
 * A node may act as a client too (`connect`, `openStream`: the `ClientTransport` side): calls
 * and streams use the same peer connections as the channels, and have the semantics of
 * `GrpcClientTransport`; an isolated node's calls fail at once as UNAVAILABLE, its streams end
 * `unreachable`.
 */
export class GrpcTransport implements Transport, ClientTransport {
  readonly self: NodeId;
  readonly #cluster: string;
  /** Null until learned (see `GrpcTransportConfig.clusterId`); once set, never changes. */
  #clusterId: string | null;
  readonly #log: Logger;
  readonly #options: TransportOptions;
  readonly #server: grpc.Server;
  readonly #partition: PartitionFilter;
  readonly #ctx: ServerContext;
  readonly #channels: GrpcChannels;
  readonly #calls: GrpcCalls;
  readonly #streams: GrpcStreams;
  /**
   * Connections to peers (see the class comment). Never holds `self` for the channels (messages
   * to oneself do not use the network); a client call to oneself does dial it.
   */
  readonly #peers: PeerClients;
  /** The outgoing peer streams; null with `peerMessages: 'unary'`. */
  readonly #links: PeerLinks | null;
  readonly #peerStreams: PeerStreamServer;
  readonly #tls: NodeTls | null;
  #closing: Promise<void> | undefined;

  private constructor(config: GrpcTransportConfig) {
    this.self = nodeId(config.self, 'self');
    this.#cluster = checkClusterName(config.cluster, 'GrpcTransport');
    this.#clusterId = checkClusterId(config.clusterId, 'GrpcTransport');
    this.#log = config.logger;
    this.#options = transportOptions(config.options);
    this.#tls = config.tls ?? null;
    this.#peers = new PeerClients(this.#log, this.#options, this.#tls === null ? undefined : channelCredentials(this.#tls));
    this.#partition = new PartitionFilter(this.self);
    this.#server = new grpc.Server({
      'grpc.max_receive_message_length': this.#options.maxMessageBytes,
      'grpc.max_send_message_length': this.#options.maxMessageBytes,
      'grpc.keepalive_time_ms': this.#options.keepaliveTimeMs,
      'grpc.keepalive_timeout_ms': this.#options.keepaliveTimeoutMs,
    });
    this.#ctx = {
      self: this.self,
      cluster: this.#cluster,
      clusterId: () => this.#clusterId,
      log: this.#log,
      options: this.#options,
      server: this.#server,
      partition: this.#partition,
      auth: new TlsAuth(this.#tls, this.self, this.#log),
      closing: () => this.#closing !== undefined,
      claim: serviceClaims(),
      metrics: config.metrics ?? noMetrics,
    };
    this.#links = this.#options.peerMessages === 'stream' ? new PeerLinks(this.#log, this.#options, this.#peers) : null;
    this.#channels = new GrpcChannels(this.#ctx, this.#peers, this.#links);
    this.#peerStreams = new PeerStreamServer(this.#ctx, (service, envelope, caller) => this.#channels.receiveFrame(service, envelope, caller));
    this.#calls = new GrpcCalls(this.#ctx);
    this.#streams = new GrpcStreams(this.#ctx);
  }

  /** Creates a transport serving on `config.bindAddress ?? config.self`. Rejects if it cannot bind. */
  static async listen(config: GrpcTransportConfig): Promise<GrpcTransport> {
    const transport = new GrpcTransport(config);
    await transport.#bind(config.bindAddress ?? transport.self);
    return transport;
  }

  /** Opens the channel of `codec`: a gRPC service with one unary `Deliver` (see the class comment). */
  open<M>(codec: WireCodec<M>, receive: (from: NodeId, msg: M) => void): Channel<M> {
    return this.#channels.open(codec, receive);
  }

  /**
   * Serves the request/response service of `codec` (see the class comment): `receive` gets each
   * admitted request with its return address; the returned channel's `answer(returnAddress,
   * answer)` answers it. Each service may be served once per transport.
   */
  serve<Req, Ans>(codec: ServiceCodec<Req, Ans>, receive: (from: ReturnAddress, request: Req) => void): AnswerChannel<Ans> {
    return this.#calls.serve(codec, receive);
  }

  /** Serves the server-streaming service of `codec` (see the class comment and `Transport.serveStream`). */
  serveStream<Req, Msg>(codec: StreamCodec<Req, Msg>, accept: (request: Req, stream: ServerStream<Msg>) => void): void {
    this.#streams.serve(codec, accept);
  }

  /**
   * Calls a request/response service of other nodes, as `GrpcClientTransport.connect` does (same
   * semantics and failures), over this node's peer connections. While this node is isolated
   * every call fails at once: `failed(server, { kind: 'unreachable', detail: '… is isolated' })`.
   */
  connect<Req, Ans>(
    codec: ServiceCodec<Req, Ans>,
    receive: (server: NodeId, answer: Ans) => void,
    failed?: (server: NodeId, failure: CallFailure, request: Req) => void,
  ): Channel<Req> {
    invariant(this.#closing === undefined, () => `connect(${codec.service}) on a closed transport`);
    const context = {
      cluster: this.#cluster,
      clusterId: () => this.#clusterId,
      log: this.#log,
      deadlineMs: this.#options.callDeadlineMs,
      peers: this.#peers,
      refusal: () => (isolated(this.#ctx) ? `${this.self} is isolated` : undefined),
    };
    return clientCallChannel(context, this.#options, codec, receive, failed);
  }

  /**
   * Opens a stream of another node's server-streaming service, as `GrpcClientTransport.openStream`
   * does, over this node's peer connections. While this node is isolated it ends at once
   * (`unreachable`, `… is isolated`).
   */
  openStream<Req, Msg>(codec: StreamCodec<Req, Msg>, server: NodeId, request: Req, handlers: StreamHandlers<Msg>): ClientStream {
    invariant(this.#closing === undefined, () => `openStream(${codec.service}) on a closed transport`);
    const context = {
      cluster: this.#cluster,
      clusterId: () => this.#clusterId,
      log: this.#log,
      peers: this.#peers,
      refusal: () => (isolated(this.#ctx) ? `${this.self} is isolated` : undefined),
    };
    return openGrpcStream(context, codec, server, request, handlers);
  }

  /** The cluster's id as this node knows it (null: not learned yet). */
  get clusterId(): string | null {
    return this.#clusterId;
  }

  /**
   * This node learned its cluster's id (a joiner, from the cluster that admits it): from now on
   * every message carries it and every channel is open. Idempotent for the same id; a different
   * one than a known id is a programmer error (an id never changes).
   */
  adoptClusterId(id: string): void {
    const checked = checkClusterId(id, 'GrpcTransport.adoptClusterId')!;
    invariant(this.#clusterId === null || this.#clusterId === checked,
      () => `${this.self} knows cluster id ${this.#clusterId}, and was told to adopt ${checked}`);
    if (this.#clusterId === null) this.#log.info({ self: this.self, clusterId: checked }, 'transport: cluster id learned');
    this.#clusterId = checked;
  }

  /** Client calls waiting for their answer now (for tests and status displays). */
  get pendingCalls(): number {
    return this.#calls.pending;
  }

  /** Bytes of the requests of the client calls waiting now (`maxPendingCallBytes`). */
  get pendingCallBytes(): number {
    return this.#calls.pendingBytes;
  }

  /** Call streams of clients open now (`maxCallStreams`; for tests and status displays). */
  get callStreams(): number {
    return this.#calls.streams;
  }

  /**
   * The outgoing peer streams' figures, one per peer this node sends to (at most
   * `maxPeerClients`), least recently used first; empty with `peerMessages: 'unary'`.
   */
  peerStats(): PeerLinkStats[] {
    return this.#links?.stats() ?? [];
  }

  /** Peer streams other nodes hold open to this node now. */
  get incomingPeerStreams(): number {
    return this.#peerStreams.open;
  }

  /** Whether this node is isolated now (`isolate()` until `heal()`): it serves no client. */
  get isolated(): boolean {
    return isolated(this.#ctx);
  }

  /**
   * Drops all traffic with every peer, both ways, until `heal()`. Messages to oneself still
   * arrive. Client calls are refused too (UNAVAILABLE), both incoming ones (new calls, and the
   * answer to a call already waiting) and this node's own (`connect`); every stream it serves
   * ends `unavailable` and new ones are refused: a partitioned primary can neither answer nor
   * push to clients, nor reach other servers.
   */
  isolate(): void {
    this.#log.info({ self: this.self }, 'partition: isolated from every peer');
    this.#partition.isolate();
    this.#streams.isolated();
    this.#calls.isolated();
  }

  /**
   * Drops all traffic with `ids`, both ways, until `heal()` (adds to what is already blocked):
   * on every channel, or with `services` on the channels of those gRPC services only (each one
   * a channel this node opened, `channelServices`; not empty), e.g. `['synod.rsm.Replica']` cuts
   * the RSM's replication and state transfer while Paxos and config traffic flows. Client calls
   * and streams are not affected: clients are not nodes, and a call carries no sender id.
   */
  blockPeers(ids: readonly NodeId[], services?: readonly string[]): void {
    if (services !== undefined) {
      const unknown = services.filter((s) => !this.#channels.services.includes(s));
      invariant(unknown.length === 0, () => `blockPeers: ${unknown.join(', ')} is no channel of ${this.self} (${this.#channels.services.join(', ')})`);
    }
    this.#log.info({ self: this.self, peers: ids, services: services ?? 'every channel' }, 'partition: blocking peers');
    this.#partition.blockPeers(ids, services);
  }

  /** The gRPC services of the channels this node opened so far (what `blockPeers` may name), in opening order. */
  get channelServices(): readonly string[] {
    return this.#channels.services;
  }

  /** Restores traffic with every peer, and client calls. */
  heal(): void {
    this.#log.info({ self: this.self }, 'partition: healed');
    this.#partition.heal();
  }

  /** Whether traffic with `peer` is dropped now: on the channel of `service`, or, without it, on every channel. */
  blocked(peer: NodeId, service?: string): boolean {
    return this.#partition.blocked(peer, service);
  }

  /**
   * Serves a plain gRPC service on this node's port, outside synod's envelopes: no cluster check,
   * answered while the node is isolated too. Only for the standard health service
   * (`grpc.health.v1`, `ReadinessWatch`), which load balancers and probes call as they are.
   */
  addPlainService(definition: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void {
    this.#server.addService(definition, implementation);
  }

  /** Idempotent; every call resolves when the server has shut down. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #bind(address: string): Promise<void> {
    let port: number;
    try {
      port = await new Promise<number>((resolve, reject) =>
        this.#server.bindAsync(address, this.#tls === null ? grpc.ServerCredentials.createInsecure() : serverCredentials(this.#tls), (err, bound) =>
          err === null ? resolve(bound) : reject(err),
        ),
      );
    } catch (err) {
      this.#server.forceShutdown();
      throw new Error(`${this.self}: cannot listen on ${address}: ${errorText(err)}`, { cause: err });
    }
    // The id is what peers dial: a server on another port (e.g. `:0` picked one) would be
    // unreachable under its own name.
    const wanted = Number(this.self.slice(this.self.lastIndexOf(':') + 1));
    if (port !== wanted) {
      this.#server.forceShutdown();
      throw new Error(`${this.self}: bound port ${port}, but the node id says ${wanted}`);
    }
    this.#log.debug({ self: this.self, address }, 'transport listening');
  }

  async #shutdown(): Promise<void> {
    // Incoming peer streams, calls and streams still open would hold the server until
    // closeGraceMs: tell their senders and clients now.
    this.#peerStreams.closeAll();
    this.#calls.closeAll();
    this.#streams.closeAll();
    // Half-closed, each outgoing stream ends once its peer read every frame (or closeGraceMs passed).
    await this.#links?.close();
    this.#peers.close();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, this.#options.closeGraceMs);
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.#log.debug({ self: this.self }, 'transport closed');
  }
}
