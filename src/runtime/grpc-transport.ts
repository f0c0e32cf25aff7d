import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { InvalidMessageError, invariant } from '../env/errors.js';
import type { Logger } from '../env/logger.js';
import { type AnswerChannel, type CallFailure, type Channel, type ClientTransport, ReturnAddress, type ServiceCodec, type Transport, type WireCodec } from '../env/transport.js';
import type { NodeId } from '../env/types.js';
import { type Fields, nodeId } from '../env/validate.js';
import { type TransportOptions, transportOptions } from '../options.js';
import {
  PeerClients,
  callChannel,
  callMethod,
  callMethodName,
  checkClusterName,
  describeClusterName,
  errorText,
  fieldOf,
} from './grpc-peers.js';
import { clusterMetadata, networkCodes, wrongClusterCode } from './grpc-status.js';
import { PartitionFilter } from './partition-filter.js';
import { serviceDefinition } from './proto.js';

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
   * Where the server binds; default `self`. Set it when the advertised address is not a local
   * one (e.g. `self` = `node1.example:7001`, bind = `0.0.0.0:7001`). Its port must be `self`'s.
   */
  readonly bindAddress?: string;
  readonly logger: Logger;
  readonly options?: Partial<TransportOptions>;
}

/** The one RPC of every channel's service: `rpc Deliver(Envelope) returns (Ack)`. */
const deliverMethod = 'Deliver';

type Deliver = MethodDefinition<Fields, object, Fields, object>;

interface OpenChannel {
  readonly service: string;
  readonly method: Deliver;
  readonly codec: WireCodec<unknown>;
  readonly receive: (from: NodeId, msg: unknown) => void;
}

interface ServedService {
  readonly service: string;
  readonly codec: ServiceCodec<unknown, unknown>;
  readonly receive: (from: ReturnAddress, request: unknown) => void;
}

/** A client call waiting for its answer. */
interface PendingCall {
  readonly served: ServedService;
  readonly respond: grpc.sendUnaryData<Fields>;
}

interface Refusal {
  readonly ok: false;
  readonly code: grpc.status;
  readonly details: string;
  /** Trailing metadata (a refusal of another cluster names this node's cluster here). */
  readonly metadata?: grpc.Metadata;
}

/** What the receiving side decided about one envelope. */
type Verdict = { readonly ok: true; readonly from: NodeId; readonly msg: unknown } | Refusal;

/** What the serving side decided about one client call. */
type CallVerdict = { readonly ok: true; readonly request: unknown } | Refusal;

/**
 * The production `Transport`: every channel is a gRPC service (named by its codec) with one
 * unary method, `Deliver(Envelope) returns (Ack)`. The Ack only says the receiver accepted the
 * message for processing; answers travel as messages of their own.
 *
 * Lifecycle: `await GrpcTransport.listen(config)` binds the server and returns a transport that
 * serves at once; `open()` may be called at any time after that (grpc-js ≥ 1.2 adds services to
 * a running server). Until a channel is opened, peers' messages for it are answered
 * UNIMPLEMENTED, which senders treat like a lost message. `close()` ends both directions.
 *
 * Every envelope carries `from`, `to` and `cluster` (the sender's cluster name), set by the
 * transport after the codec's fields, so that a codec cannot overwrite them.
 *
 * Failure semantics are those of `Transport`, plus: a refused message is answered with a gRPC
 * status the sender logs (INVALID_ARGUMENT: failed the codec or the envelope check;
 * FAILED_PRECONDITION: sent by a node of another cluster (or without a cluster name), or
 * addressed to another node id; UNAVAILABLE: the sender is partitioned from this node, or the
 * node is closing; RESOURCE_EXHAUSTED: above `maxMessageBytes`). The receiver logs each refusal
 * at warn (debug for UNAVAILABLE), except RESOURCE_EXHAUSTED, see below.
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
 * with one unary method, `Call(<request>) returns (<answer>)`; the request message carries
 * `string cluster = 1` and a `oneof body`, the answer a `oneof body`. Each admitted call waits,
 * under a return address of its own (a `ReturnAddress` labelled `call <n>`, n counting up from 1
 * per transport), until the channel's `answer(returnAddress, answer)` completes it with OK and the encoded
 * answer. It is completed at most once: a second answer, or one for a call the client cancelled
 * or whose deadline passed (both forget the call), is dropped with a debug line. A call is
 * refused at once with: UNAVAILABLE while the node is isolated (`isolate()`) or closing;
 * FAILED_PRECONDITION when its cluster name is another or missing (warn); INVALID_ARGUMENT when
 * it fails `decodeRequest`, naming the field (warn; the receiver is not called);
 * RESOURCE_EXHAUSTED when `maxPendingCalls` calls already wait (warn). Partitions between nodes
 * (`blockPeers`) do not apply to client calls: clients are not nodes. A call still waiting when
 * the node is isolated is answered UNAVAILABLE instead of its answer; `close()` answers every
 * waiting call UNAVAILABLE. If the receiver throws, the call is answered INTERNAL.
 *
 * Server-streaming services (`serveStream`, the callback service): each call is admitted as a
 * client call is (UNAVAILABLE while isolated or closing, FAILED_PRECONDITION for another
 * cluster's), then handed with its open stream to the caller, who owns it from then on (writes
 * to it, ends it). The transport only ends, with UNAVAILABLE, the streams still open at
 * `close()`, so that they do not hold the server for `closeGraceMs`. The server pings every
 * connection after `keepaliveTimeMs` without traffic and drops one that does not answer within
 * `keepaliveTimeoutMs`, so that the stream of a client that vanished without closing its
 * connection ends too (its owner sees 'cancelled').
 *
 * A node may act as a client too (`connect`, the `ClientTransport` side): calls use the same
 * peer connections as the channels, and have the semantics of `GrpcClientTransport`; an isolated
 * node's calls fail at once as UNAVAILABLE.
 */
export class GrpcTransport implements Transport, ClientTransport {
  readonly self: NodeId;
  readonly #cluster: string;
  readonly #log: Logger;
  readonly #options: TransportOptions;
  readonly #server: grpc.Server;
  readonly #partition: PartitionFilter;
  /** Open channels by service name. */
  readonly #channels = new Map<string, OpenChannel>();
  /** Served request/response services by service name. */
  readonly #served = new Map<string, ServedService>();
  /** Client calls waiting for their answer, at most `maxPendingCalls`. */
  readonly #pending = new Map<ReturnAddress, PendingCall>();
  /** Streams of server-streaming services still open (see `serveStream`), ended at `close()`. */
  readonly #streams = new Set<grpc.ServerWritableStream<Fields, Fields>>();
  /** The number in the last return address handed out. */
  #callCount = 0;
  /**
   * Connections to peers (see the class comment). Never holds `self` for the channels (messages
   * to oneself do not use the network); a client call to oneself does dial it.
   */
  readonly #peers: PeerClients;
  #closing: Promise<void> | undefined;

  private constructor(config: GrpcTransportConfig) {
    this.self = nodeId(config.self, 'self');
    this.#cluster = checkClusterName(config.cluster, 'GrpcTransport');
    this.#log = config.logger;
    this.#options = transportOptions(config.options);
    this.#peers = new PeerClients(this.#log, this.#options);
    this.#partition = new PartitionFilter(this.self);
    this.#server = new grpc.Server({
      'grpc.max_receive_message_length': this.#options.maxMessageBytes,
      'grpc.max_send_message_length': this.#options.maxMessageBytes,
      'grpc.keepalive_time_ms': this.#options.keepaliveTimeMs,
      'grpc.keepalive_timeout_ms': this.#options.keepaliveTimeoutMs,
    });
  }

  /** Creates a transport serving on `config.bindAddress ?? config.self`. Rejects if it cannot bind. */
  static async listen(config: GrpcTransportConfig): Promise<GrpcTransport> {
    const transport = new GrpcTransport(config);
    await transport.#bind(config.bindAddress ?? transport.self);
    return transport;
  }

  open<M>(codec: WireCodec<M>, receive: (from: NodeId, msg: M) => void): Channel<M> {
    invariant(this.#closing === undefined, () => `open(${codec.service}) on a closed transport`);
    invariant(!this.#channels.has(codec.service), () => `channel ${codec.service} opened twice`);
    invariant(!this.#served.has(codec.service), () => `channel ${codec.service} opened, but it is a served service`);
    const service = serviceDefinition(codec.service);
    // proto-loader types every method as MethodDefinition<object, object>; envelopes are plain field maps.
    const method = service[deliverMethod] as Deliver | undefined;
    invariant(
      method !== undefined && !method.requestStream && !method.responseStream,
      () => `service ${codec.service} has no unary ${deliverMethod} method`,
    );
    // The channel holds the codec and receiver for one message type M; the map is heterogeneous,
    // so it stores them as `unknown` and only this pair ever meets (decode's output goes to receive).
    const channel: OpenChannel = {
      service: codec.service,
      method,
      codec: codec as WireCodec<unknown>,
      receive: receive as (from: NodeId, msg: unknown) => void,
    };
    this.#channels.set(codec.service, channel);
    const handler: grpc.handleUnaryCall<Fields, object> = (call, callback) => {
      const verdict = this.#admit(channel, call.request);
      if (!verdict.ok) {
        callback({ code: verdict.code, details: verdict.details, metadata: verdict.metadata });
        return;
      }
      callback(null, {});
      this.#hand(channel, verdict.from, verdict.msg);
    };
    // Adding a service to a bound server is supported since grpc-js 1.2 (grpc-node PR #1614).
    this.#server.addService(service, { [deliverMethod]: handler });
    return { send: (to, msg) => this.#send(channel, to, msg) };
  }

  /**
   * Serves the request/response service of `codec` (see the class comment): `receive` gets each
   * admitted request with its return address; the returned channel's `answer(returnAddress,
   * answer)` answers it. Each service may be served once per transport.
   */
  serve<Req, Ans>(codec: ServiceCodec<Req, Ans>, receive: (from: ReturnAddress, request: Req) => void): AnswerChannel<Ans> {
    invariant(this.#closing === undefined, () => `serve(${codec.service}) on a closed transport`);
    invariant(!this.#served.has(codec.service), () => `service ${codec.service} served twice`);
    invariant(!this.#channels.has(codec.service), () => `service ${codec.service} served, but it is an open channel`);
    const method = callMethod(codec.service);
    // As for channels: the map is heterogeneous, and only this codec's requests reach this receiver.
    const served: ServedService = {
      service: codec.service,
      codec: codec as ServiceCodec<unknown, unknown>,
      receive: receive as (from: ReturnAddress, request: unknown) => void,
    };
    this.#served.set(codec.service, served);
    const handler: grpc.handleUnaryCall<Fields, Fields> = (call, respond) => this.#call(served, call, respond);
    this.#server.addService(serviceDefinition(codec.service), { [callMethodName]: handler });
    this.#log.debug({ self: this.self, service: codec.service, method: method.path }, 'serving');
    return { answer: (to, answer) => this.#answer(served, to, answer) };
  }

  /**
   * Serves the server-streaming method `method` of gRPC service `service` (see the class
   * comment). Its request message must carry `string cluster = 1`. A call is refused at once
   * with UNAVAILABLE while this node is isolated or closing, or FAILED_PRECONDITION when its
   * cluster name is another or missing (warn); otherwise `open(request, stream)` gets the request
   * as the plain fields of its message (checking the rest is the caller's business) and the
   * stream, which the caller writes to and ends (`stream.emit('error', { code, details })` ends it
   * with that status once what was written has gone out). If `open` throws, the stream is ended
   * with INTERNAL. Each service may be served once per transport.
   */
  serveStream(
    service: string,
    method: string,
    open: (request: Fields, stream: grpc.ServerWritableStream<Fields, Fields>) => void,
  ): void {
    invariant(this.#closing === undefined, () => `serveStream(${service}) on a closed transport`);
    invariant(!this.#served.has(service) && !this.#channels.has(service), () => `service ${service} served twice`);
    const definition = serviceDefinition(service);
    const m = definition[method];
    invariant(m !== undefined && !m.requestStream && m.responseStream, () => `service ${service} has no server-streaming ${method} method`);
    const handler: grpc.handleServerStreamingCall<Fields, Fields> = (stream) => {
      const verdict = this.#admitStream(service, stream);
      if (!verdict.ok) {
        stream.emit('error', { code: verdict.code, details: verdict.details, metadata: verdict.metadata });
        return;
      }
      this.#streams.add(stream);
      const forget = (): void => void this.#streams.delete(stream);
      stream.once('cancelled', forget);
      stream.once('finish', forget);
      stream.once('close', forget);
      try {
        open(stream.request, stream);
      } catch (err) {
        this.#log.error({ service, client: stream.getPeer(), err }, 'stream opener threw; stream ended INTERNAL');
        stream.emit('error', { code: grpc.status.INTERNAL, details: `${this.self} failed on this subscription` });
      }
    };
    this.#server.addService(definition, { [method]: handler });
    this.#log.debug({ self: this.self, service, method }, 'serving a stream');
  }

  /** The checks of a new stream of `serveStream`, as `#admitCall`'s (closing, isolated, cluster). */
  #admitStream(service: string, stream: grpc.ServerWritableStream<Fields, Fields>): { readonly ok: true } | Refusal {
    if (this.#closing !== undefined) return refuse(grpc.status.UNAVAILABLE, `${this.self} is shutting down`);
    if (this.#isolated()) {
      this.#log.debug({ service, client: stream.getPeer() }, 'stream refused: this node is isolated');
      return refuse(grpc.status.UNAVAILABLE, `${this.self} is isolated`);
    }
    const cluster = stream.request['cluster'];
    if (cluster !== this.#cluster) {
      const theirs = describeClusterName(cluster);
      const ours = JSON.stringify(this.#cluster);
      this.#log.warn({ client: stream.getPeer(), service, senderCluster: theirs, cluster: ours }, 'stream refused: opened by a client of another cluster');
      return this.#wrongCluster(`call from a client of cluster ${theirs} reached ${this.self} of cluster ${ours}`);
    }
    return { ok: true };
  }

  /** Whether this node is isolated now (`isolate()` until `heal()`): it serves no client. */
  get isolated(): boolean {
    return this.#isolated();
  }

  /**
   * Calls a request/response service of other nodes, as `GrpcClientTransport.connect` does (same
   * semantics and failures), over this node's peer connections. While this node is isolated
   * every call fails at once: `failed(server, { kind: 'unreachable', detail: '… is isolated' })`.
   */
  connect<Req, Ans>(
    codec: ServiceCodec<Req, Ans>,
    receive: (server: NodeId, answer: Ans) => void,
    failed?: (server: NodeId, failure: CallFailure) => void,
  ): Channel<Req> {
    invariant(this.#closing === undefined, () => `connect(${codec.service}) on a closed transport`);
    const context = {
      cluster: this.#cluster,
      log: this.#log,
      deadlineMs: this.#options.callDeadlineMs,
      peers: this.#peers,
      refusal: () => (this.#isolated() ? `${this.self} is isolated` : undefined),
    };
    return callChannel(context, codec, receive, failed);
  }

  /** Client calls waiting for their answer now (for tests and status displays). */
  get pendingCalls(): number {
    return this.#pending.size;
  }

  /**
   * Drops all traffic with every peer, both ways, until `heal()`. Messages to oneself still
   * arrive. Client calls are refused too (UNAVAILABLE), both incoming ones (new calls, and the
   * answer to a call already waiting) and this node's own (`connect`): a partitioned primary can
   * neither answer clients nor reach other servers.
   */
  isolate(): void {
    this.#log.info({ self: this.self }, 'partition: isolated from every peer');
    this.#partition.isolate();
  }

  /**
   * Drops all traffic with `ids`, both ways, until `heal()` (adds to what is already blocked).
   * Client calls are not affected: clients are not nodes, and a call carries no sender id.
   */
  blockPeers(ids: readonly NodeId[]): void {
    this.#log.info({ self: this.self, peers: ids }, 'partition: blocking peers');
    this.#partition.blockPeers(ids);
  }

  /** Restores traffic with every peer, and client calls. */
  heal(): void {
    this.#log.info({ self: this.self }, 'partition: healed');
    this.#partition.heal();
  }

  /** Whether traffic with `peer` is dropped now. */
  blocked(peer: NodeId): boolean {
    return this.#partition.blocked(peer);
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
        this.#server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, bound) =>
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

  #send(channel: OpenChannel, to: NodeId, msg: unknown): void {
    if (this.#closing !== undefined) return;
    if (this.#partition.blocked(to)) {
      this.#log.debug({ to, service: channel.service }, 'send dropped: peer is partitioned off');
      return;
    }
    let envelope: Fields;
    try {
      // from/to/cluster last: a codec cannot overwrite the addressing by returning such keys.
      envelope = { ...channel.codec.encode(msg), from: this.self, to, cluster: this.#cluster };
    } catch (err) {
      this.#log.error({ to, service: channel.service, err }, 'send dropped: the codec cannot encode the message');
      return;
    }
    if (to === this.self) {
      this.#sendToSelf(channel, envelope);
      return;
    }
    let client: grpc.Client;
    try {
      client = this.#peers.get(to);
    } catch (err) {
      // An address gRPC cannot even parse: the peer is unreachable, which send tolerates.
      this.#log.warn({ to, err }, 'send dropped: cannot create a client for this address');
      return;
    }
    client.makeUnaryRequest(
      channel.method.path,
      channel.method.requestSerialize,
      channel.method.responseDeserialize,
      envelope,
      { deadline: Date.now() + this.#options.sendDeadlineMs },
      (err) => {
        if (err === null) return;
        const fields = { to, service: channel.service, code: grpc.status[err.code], details: err.details };
        // Lost messages are normal (protocols retransmit); anything else means the two nodes
        // disagree about identity or wire format, or a message is too big: an operator must see it.
        if (networkCodes.has(err.code)) this.#log.debug(fields, 'send failed');
        else if (err.code === grpc.status.RESOURCE_EXHAUSTED) {
          // Refused by this node's grpc-js, or by the peer's, which logs nothing (see the class comment).
          this.#log.warn({ ...fields, maxMessageBytes: this.#options.maxMessageBytes }, 'send refused: message too large');
        } else this.#log.warn(fields, 'send refused by peer');
      },
    );
  }

  /**
   * Delivers a message to this node without the network, but after the same protobuf round trip
   * and checks as a remote one, so the codec sees exactly what it would see from a peer; and
   * never synchronously (the `Transport` contract).
   */
  #sendToSelf(channel: OpenChannel, envelope: Fields): void {
    let bytes: Buffer;
    try {
      bytes = channel.method.requestSerialize(envelope);
    } catch (err) {
      this.#log.error({ to: this.self, service: channel.service, err }, 'send dropped: cannot serialize the message');
      return;
    }
    if (bytes.length > this.#options.maxMessageBytes) {
      this.#log.warn(
        { to: this.self, service: channel.service, bytes: bytes.length, maxMessageBytes: this.#options.maxMessageBytes },
        'send dropped: message too large',
      );
      return;
    }
    setImmediate(() => {
      if (this.#closing !== undefined) return;
      let wire: Fields;
      try {
        wire = channel.method.requestDeserialize(bytes);
      } catch (err) {
        // Bytes this node serialized a moment ago: failing to read them back is a codec bug.
        this.#log.error({ to: this.self, service: channel.service, err }, 'message dropped: cannot deserialize');
        return;
      }
      const verdict = this.#admit(channel, wire);
      if (verdict.ok) this.#hand(channel, verdict.from, verdict.msg);
    });
  }

  /** The receiving side's checks, in order; logs every refusal. Never throws. */
  #admit(channel: OpenChannel, wire: Fields): Verdict {
    const { service } = channel;
    if (this.#closing !== undefined) return refuse(grpc.status.UNAVAILABLE, `${this.self} is shutting down`);
    let from: NodeId;
    let to: NodeId;
    try {
      from = nodeId(wire['from'], 'from');
      to = nodeId(wire['to'], 'to');
    } catch (err) {
      this.#log.warn({ from: wire['from'], service, field: fieldOf(err), err }, 'message refused: bad envelope');
      return refuse(grpc.status.INVALID_ARGUMENT, errorText(err));
    }
    if (wire['cluster'] !== this.#cluster) {
      const theirs = describeClusterName(wire['cluster']);
      const ours = JSON.stringify(this.#cluster);
      this.#log.warn({ from, service, senderCluster: theirs, cluster: ours }, 'message refused: sent by a node of another cluster');
      return this.#wrongCluster(`message from ${from} of cluster ${theirs} reached ${this.self} of cluster ${ours}`);
    }
    if (this.#partition.blocked(from)) {
      this.#log.debug({ from, service }, 'message dropped: sender is partitioned off');
      return refuse(grpc.status.UNAVAILABLE, `${this.self} is partitioned from ${from}`);
    }
    if (to !== this.self) {
      this.#log.warn({ from, to, service }, 'message refused: addressed to another node');
      return refuse(grpc.status.FAILED_PRECONDITION, `message for ${to} reached ${this.self}`);
    }
    try {
      return { ok: true, from, msg: channel.codec.decode(wire) };
    } catch (err) {
      this.#log.warn({ from, service, field: fieldOf(err), err }, 'message refused: failed validation');
      const details = err instanceof InvalidMessageError ? err.message : `invalid message: ${errorText(err)}`;
      return refuse(grpc.status.INVALID_ARGUMENT, details);
    }
  }

  /** Hands an admitted message to the channel's receiver; a throwing receiver must not take the server down. */
  #hand(channel: OpenChannel, from: NodeId, msg: unknown): void {
    if (from !== this.self) this.#peers.heardFrom(from);
    try {
      channel.receive(from, msg);
    } catch (err) {
      this.#log.error({ from, service: channel.service, err }, 'receiver threw; message dropped');
    }
  }

  /** Admits one client call, gives it a return address and hands it to the receiver (see the class comment). */
  #call(served: ServedService, call: grpc.ServerUnaryCall<Fields, Fields>, respond: grpc.sendUnaryData<Fields>): void {
    const verdict = this.#admitCall(served, call);
    if (!verdict.ok) {
      respond({ code: verdict.code, details: verdict.details, metadata: verdict.metadata });
      return;
    }
    const { service } = served;
    if (call.cancelled) {
      this.#log.debug({ service, client: call.getPeer() }, 'call dropped: cancelled before it was handed on');
      return;
    }
    const maxPendingCalls = this.#options.maxPendingCalls;
    if (this.#pending.size >= maxPendingCalls) {
      this.#log.warn({ service, client: call.getPeer(), maxPendingCalls }, 'call refused: too many calls waiting for an answer');
      respond({
        code: grpc.status.RESOURCE_EXHAUSTED,
        details: `${this.self} holds ${this.#pending.size} unanswered calls (maxPendingCalls ${maxPendingCalls})`,
      });
      return;
    }
    const returnAddress = new ReturnAddress(`call ${++this.#callCount}`);
    const pending: PendingCall = { served, respond };
    this.#pending.set(returnAddress, pending);
    // Emitted when the client cancels or the deadline passes (grpc-js may also emit it once the
    // answer went out: then the call is no longer pending and this does nothing).
    call.on('cancelled', () => {
      if (this.#pending.get(returnAddress) !== pending) return;
      this.#pending.delete(returnAddress);
      this.#log.debug({ service, returnAddress }, 'call forgotten: cancelled by the client or past its deadline');
    });
    try {
      served.receive(returnAddress, verdict.request);
    } catch (err) {
      this.#log.error({ service, returnAddress, err }, 'receiver threw; call answered INTERNAL');
      if (this.#pending.get(returnAddress) === pending) {
        this.#complete(returnAddress, pending, { code: grpc.status.INTERNAL, details: `${this.self} failed on this request` });
      }
    }
  }

  /** The serving side's checks of one client call, in order; logs every refusal. Never throws. */
  #admitCall(served: ServedService, call: grpc.ServerUnaryCall<Fields, Fields>): CallVerdict {
    const { service } = served;
    const wire = call.request;
    if (this.#closing !== undefined) return refuse(grpc.status.UNAVAILABLE, `${this.self} is shutting down`);
    if (this.#isolated()) {
      this.#log.debug({ service, client: call.getPeer() }, 'call refused: this node is isolated');
      return refuse(grpc.status.UNAVAILABLE, `${this.self} is isolated`);
    }
    if (wire['cluster'] !== this.#cluster) {
      const theirs = describeClusterName(wire['cluster']);
      const ours = JSON.stringify(this.#cluster);
      this.#log.warn(
        { client: call.getPeer(), service, senderCluster: theirs, cluster: ours },
        'call refused: made by a client of another cluster',
      );
      return this.#wrongCluster(`call from a client of cluster ${theirs} reached ${this.self} of cluster ${ours}`);
    }
    try {
      return { ok: true, request: served.codec.decodeRequest(wire) };
    } catch (err) {
      this.#log.warn({ client: call.getPeer(), service, field: fieldOf(err), err }, 'call refused: failed validation');
      const details = err instanceof InvalidMessageError ? err.message : `invalid request: ${errorText(err)}`;
      return refuse(grpc.status.INVALID_ARGUMENT, details);
    }
  }

  /** Answers the call waiting at `to`, if any (the served channel's `answer`). */
  #answer(served: ServedService, to: ReturnAddress, answer: unknown): void {
    if (this.#closing !== undefined) return;
    const { service } = served;
    const pending = this.#pending.get(to);
    if (pending === undefined) {
      this.#log.debug({ to, service }, 'answer dropped: no call waits at this return address (answered, cancelled or expired)');
      return;
    }
    if (pending.served !== served) {
      // A core answered through another service's channel: a bug, but not this call's fault.
      this.#log.error({ to, service, callService: pending.served.service }, 'answer dropped: the return address is of another service');
      return;
    }
    if (this.#isolated()) {
      this.#log.debug({ to, service }, 'answer dropped: this node is isolated; call answered UNAVAILABLE');
      this.#complete(to, pending, { code: grpc.status.UNAVAILABLE, details: `${this.self} is isolated` });
      return;
    }
    let wire: Fields;
    try {
      wire = served.codec.encodeAnswer(answer);
    } catch (err) {
      this.#log.error({ to, service, err }, 'answer dropped: the codec cannot encode it; call answered INTERNAL');
      this.#complete(to, pending, { code: grpc.status.INTERNAL, details: `${this.self} cannot encode its answer` });
      return;
    }
    this.#complete(to, pending, null, wire);
  }

  /** Forgets the call waiting at `address` and completes it: with `error`, or OK and `wire`. */
  #complete(address: ReturnAddress, pending: PendingCall, error: Partial<grpc.StatusObject> | null, wire?: Fields): void {
    this.#pending.delete(address);
    if (error !== null) pending.respond(error);
    else pending.respond(null, wire);
  }

  /** A refusal of another cluster's traffic, naming this node's cluster in the trailing metadata too. */
  #wrongCluster(details: string): Refusal {
    return { ok: false, code: wrongClusterCode, details, metadata: clusterMetadata(this.#cluster) };
  }

  /** Whether this node is cut off from every peer and client (`isolate()`). */
  #isolated(): boolean {
    return this.#partition.describe().isolated;
  }

  async #shutdown(): Promise<void> {
    this.#peers.close();
    // Calls still waiting would hold the server until closeGraceMs: tell their clients now.
    for (const [address, pending] of this.#pending) {
      this.#complete(address, pending, { code: grpc.status.UNAVAILABLE, details: `${this.self} is shutting down` });
    }
    for (const stream of this.#streams) stream.emit('error', { code: grpc.status.UNAVAILABLE, details: `${this.self} is shutting down` });
    this.#streams.clear();
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

function refuse(code: grpc.status, details: string): Refusal {
  return { ok: false, code, details };
}
