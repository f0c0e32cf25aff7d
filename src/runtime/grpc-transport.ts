import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { InvalidMessageError, invariant } from '../env/errors.js';
import type { Logger } from '../env/logger.js';
import type { Channel, Transport, WireCodec } from '../env/transport.js';
import type { NodeId } from '../env/types.js';
import { type Fields, nodeId } from '../env/validate.js';
import { type TransportOptions, defaultTransportOptions, limits, withDefaults } from '../options.js';
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

/** Codes that mean "the network or the peer is not there (yet)": expected, logged at debug. */
const networkCodes: ReadonlySet<grpc.status> = new Set([
  grpc.status.UNAVAILABLE,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.CANCELLED,
  // The peer runs but has not opened this channel yet (it is starting up).
  grpc.status.UNIMPLEMENTED,
]);

type Deliver = MethodDefinition<Fields, object, Fields, object>;

interface OpenChannel {
  readonly service: string;
  readonly method: Deliver;
  readonly codec: WireCodec<unknown>;
  readonly receive: (from: NodeId, msg: unknown) => void;
}

/** What the receiving side decided about one envelope. */
type Verdict =
  | { readonly ok: true; readonly from: NodeId; readonly msg: unknown }
  | { readonly ok: false; readonly code: grpc.status; readonly details: string };

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
 */
export class GrpcTransport implements Transport {
  readonly self: NodeId;
  readonly #cluster: string;
  readonly #log: Logger;
  readonly #options: TransportOptions;
  readonly #server: grpc.Server;
  readonly #partition: PartitionFilter;
  /** Open channels by service name. */
  readonly #channels = new Map<string, OpenChannel>();
  /**
   * One client per peer, at most `maxPeerClients`, least recently used first (a Map iterates in
   * insertion order, and a use re-inserts). Never holds `self` (messages to oneself do not use
   * the network).
   */
  readonly #clients = new Map<NodeId, grpc.Client>();
  #closing: Promise<void> | undefined;

  private constructor(config: GrpcTransportConfig) {
    this.self = nodeId(config.self, 'self');
    this.#cluster = checkClusterName(config.cluster);
    this.#log = config.logger;
    this.#options = withDefaults(defaultTransportOptions, config.options, 'transport');
    if (!Number.isInteger(this.#options.maxPeerClients)) {
      throw new RangeError(`transport.maxPeerClients must be a positive integer, got ${this.#options.maxPeerClients}`);
    }
    this.#partition = new PartitionFilter(this.self);
    this.#server = new grpc.Server({
      'grpc.max_receive_message_length': this.#options.maxMessageBytes,
      'grpc.max_send_message_length': this.#options.maxMessageBytes,
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
        callback({ code: verdict.code, details: verdict.details });
        return;
      }
      callback(null, {});
      this.#hand(channel, verdict.from, verdict.msg);
    };
    // Adding a service to a bound server is supported since grpc-js 1.2 (grpc-node PR #1614).
    this.#server.addService(service, { [deliverMethod]: handler });
    return { send: (to, msg) => this.#send(channel, to, msg) };
  }

  /** Drops all traffic with every peer, both ways, until `heal()`. Messages to oneself still arrive. */
  isolate(): void {
    this.#log.info({ self: this.self }, 'partition: isolated from every peer');
    this.#partition.isolate();
  }

  /** Drops all traffic with `ids`, both ways, until `heal()` (adds to what is already blocked). */
  blockPeers(ids: readonly NodeId[]): void {
    this.#log.info({ self: this.self, peers: ids }, 'partition: blocking peers');
    this.#partition.blockPeers(ids);
  }

  /** Restores traffic with every peer. */
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
    const client = this.#client(to);
    if (client === undefined) return;
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
      return refuse(
        grpc.status.FAILED_PRECONDITION,
        `message from ${from} of cluster ${theirs} reached ${this.self} of cluster ${ours}`,
      );
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
    try {
      channel.receive(from, msg);
    } catch (err) {
      this.#log.error({ from, service: channel.service, err }, 'receiver threw; message dropped');
    }
  }

  /**
   * The cached client for `peer`, created on first use; undefined if gRPC refuses the address.
   * Marks it most recently used; creating one beyond `maxPeerClients` evicts the least recent.
   */
  #client(peer: NodeId): grpc.Client | undefined {
    const cached = this.#clients.get(peer);
    if (cached !== undefined) {
      this.#clients.delete(peer);
      this.#clients.set(peer, cached);
      return cached;
    }
    let client: grpc.Client;
    try {
      client = new grpc.Client(peer, grpc.credentials.createInsecure(), {
        'grpc.max_send_message_length': this.#options.maxMessageBytes,
        'grpc.max_receive_message_length': this.#options.maxMessageBytes,
        'grpc.initial_reconnect_backoff_ms': this.#options.reconnectBackoffInitialMs,
        'grpc.max_reconnect_backoff_ms': this.#options.reconnectBackoffMaxMs,
      });
    } catch (err) {
      // An address gRPC cannot even parse: the peer is unreachable, which send tolerates.
      this.#log.warn({ to: peer, err }, 'send dropped: cannot create a client for this address');
      return undefined;
    }
    this.#evictBeyond(this.#options.maxPeerClients - 1);
    this.#clients.set(peer, client);
    return client;
  }

  /** Closes and forgets least recently used clients until at most `keep` remain. */
  #evictBeyond(keep: number): void {
    for (const [peer, client] of this.#clients) {
      if (this.#clients.size <= keep) return;
      client.close();
      this.#clients.delete(peer);
      this.#log.debug({ peer, maxPeerClients: this.#options.maxPeerClients }, 'peer client evicted (least recently used)');
    }
  }

  async #shutdown(): Promise<void> {
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
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

/** Checks the configured cluster name (a programmer or operator error throws at `listen`). */
function checkClusterName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > limits.maxClusterNameLength) {
    throw new RangeError(
      `GrpcTransport cluster must be a non-empty string of at most ${limits.maxClusterNameLength} characters, ` +
        `got ${typeof name === 'string' ? JSON.stringify(name.slice(0, 80)) : String(name)}`,
    );
  }
  return name;
}

/** A received envelope's cluster field, for a log line or an error (it may be absent or absurd). */
function describeClusterName(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) return '(none)';
  if (value.length > limits.maxClusterNameLength) return `${JSON.stringify(value.slice(0, limits.maxClusterNameLength))}…`;
  return JSON.stringify(value);
}

function refuse(code: grpc.status, details: string): Verdict {
  return { ok: false, code, details };
}

function fieldOf(err: unknown): string | undefined {
  return err instanceof InvalidMessageError ? err.field : undefined;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
