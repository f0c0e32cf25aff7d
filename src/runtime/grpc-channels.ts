import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { InvalidMessageError, invariant } from '../env/errors.js';
import type { Channel, WireCodec } from '../env/transport.js';
import type { NodeId } from '../env/types.js';
import { type Fields, nodeId } from '../env/validate.js';
import { type PeerClients, describeClusterName, errorText, fieldOf } from './grpc-peers.js';
import { type Refusal, type ServerContext, admitClusterId, refuse, wrongCluster } from './grpc-server.js';
import { networkCodes } from './grpc-status.js';
import { maySend } from '../env/cluster-id.js';
import { serviceDefinition } from './proto.js';
import { UndecodableRequest, addCheckedService } from './grpc-undecodable.js';
import type { PeerLinks } from './grpc-peer-links.js';
import type { PeerCaller } from './tls-auth.js';

/** The one RPC of every channel's service: `rpc Deliver(Envelope) returns (Ack)`. */
const deliverMethod = 'Deliver';

type Deliver = MethodDefinition<Fields, object, Fields, object>;

interface OpenChannel {
  readonly service: string;
  readonly method: Deliver;
  readonly codec: WireCodec<unknown>;
  readonly receive: (from: NodeId, msg: unknown) => void;
  /** See `WireCodec.admitsNewcomers`. */
  readonly admitsNewcomers: boolean;
}

/** What the receiving side decided about one envelope. */
type Verdict = { readonly ok: true; readonly from: NodeId; readonly msg: unknown } | Refusal;

/**
 * The peer channels of `GrpcTransport` (`Transport.open`): one gRPC service per layer, with one
 * unary method `Deliver(Envelope) returns (Ack)`, whose Ack only says the receiver accepted the
 * message for processing. With `peerMessages: 'stream'` (the default) messages to peers travel
 * as frames of the peer stream instead (`PeerLinks`), each carrying the channel's envelope as its
 * own bytes; the receiving side (`receiveFrame`) runs the same checks on them. Every envelope carries `from`, `to`, `cluster` and `cluster_id` (empty
 * while this node has not learned it), set after the codec's fields so that a codec cannot
 * overwrite them. The checks and what each refusal means are documented on `GrpcTransport`.
 */
export class GrpcChannels {
  readonly #ctx: ServerContext;
  readonly #peers: PeerClients;
  /** The peer streams messages to peers go by; null: each goes as a unary call (`peerMessages: 'unary'`). */
  readonly #links: PeerLinks | null;
  /** The gRPC services of the channels opened so far, in opening order. */
  readonly #services: string[] = [];
  readonly #byService = new Map<string, OpenChannel>();

  constructor(ctx: ServerContext, peers: PeerClients, links: PeerLinks | null) {
    this.#ctx = ctx;
    this.#peers = peers;
    this.#links = links;
  }

  open<M>(codec: WireCodec<M>, receive: (from: NodeId, msg: M) => void): Channel<M> {
    const ctx = this.#ctx;
    invariant(!ctx.closing(), () => `open(${codec.service}) on a closed transport`);
    ctx.claim(codec.service, 'channel');
    const service = serviceDefinition(codec.service);
    // proto-loader types every method as MethodDefinition<object, object>; envelopes are plain field maps.
    const method = service[deliverMethod] as Deliver | undefined;
    invariant(
      method !== undefined && !method.requestStream && !method.responseStream,
      () => `service ${codec.service} has no unary ${deliverMethod} method`,
    );
    // The channel holds the codec and receiver for one message type M; only this pair ever meets
    // (decode's output goes to receive), so they are kept as `unknown`.
    const channel: OpenChannel = {
      service: codec.service,
      method,
      codec: codec as WireCodec<unknown>,
      receive: receive as (from: NodeId, msg: unknown) => void,
      admitsNewcomers: codec.admitsNewcomers === true,
    };
    const handler: grpc.handleUnaryCall<Fields, object> = (call, callback) => {
      const caller = ctx.auth.peer(call, channel.service);
      if (!caller.ok) {
        callback({ code: caller.code, details: caller.details });
        return;
      }
      const verdict = this.#admit(channel, call.request, caller);
      if (!verdict.ok) {
        callback({ code: verdict.code, details: verdict.details, metadata: verdict.metadata });
        return;
      }
      callback(null, {});
      this.#hand(channel, verdict.from, verdict.msg);
    };
    // Adding a service to a bound server is supported since grpc-js 1.2 (grpc-node PR #1614).
    addCheckedService(ctx.server, codec.service, { [deliverMethod]: handler }, ctx.log);
    this.#services.push(codec.service);
    this.#byService.set(codec.service, channel);
    return { send: (to, msg) => this.#send(channel, to, msg) };
  }

  /**
   * One frame of a peer stream: the envelope (its bytes) of the channel of `service` gets the
   * checks of a unary `Deliver`, and is delivered if it passes. Returns the refusal a `Deliver`
   * would have been answered with: UNIMPLEMENTED for a channel not opened (yet), INVALID_ARGUMENT
   * for bytes that are no envelope of it (warn), and `#admit`'s refusals. Never throws.
   */
  receiveFrame(service: string, envelope: Buffer, caller: PeerCaller): Refusal | null {
    const channel = this.#byService.get(service);
    if (channel === undefined) return refuse(grpc.status.UNIMPLEMENTED, `${this.#ctx.self} has no channel ${JSON.stringify(service.slice(0, 200))} (yet)`);
    let wire: Fields;
    try {
      wire = channel.method.requestDeserialize(envelope);
    } catch (err) {
      const undecodable = new UndecodableRequest('Envelope', errorText(err));
      this.#ctx.log.warn({ service, reason: undecodable.reason }, 'message refused: its bytes are not a message of its type');
      return refuse(grpc.status.INVALID_ARGUMENT, undecodable.details);
    }
    const verdict = this.#admit(channel, wire, caller);
    if (!verdict.ok) return verdict;
    this.#hand(channel, verdict.from, verdict.msg);
    return null;
  }

  /** The gRPC services of the channels opened so far (what `blockPeers` may name). */
  get services(): readonly string[] {
    return this.#services;
  }

  #send(channel: OpenChannel, to: NodeId, msg: unknown): void {
    const { self, cluster, log, options, partition } = this.#ctx;
    if (this.#ctx.closing()) return;
    if (partition.blocked(to, channel.service)) {
      log.debug({ to, service: channel.service }, 'send dropped: peer is partitioned off');
      return;
    }
    const clusterId = this.#ctx.clusterId();
    if (!maySend(clusterId, channel.admitsNewcomers)) {
      log.debug({ to, service: channel.service }, 'send dropped: this node has not learned its cluster id yet (it is joining)');
      return;
    }
    let envelope: Fields;
    try {
      // from/to/cluster/cluster_id last: a codec cannot overwrite the addressing by returning such keys.
      envelope = { ...channel.codec.encode(msg), from: self, to, cluster, cluster_id: clusterId ?? '' };
    } catch (err) {
      log.error({ to, service: channel.service, err }, 'send dropped: the codec cannot encode the message');
      return;
    }
    if (to === self) {
      this.#sendToSelf(channel, envelope);
      return;
    }
    if (this.#links !== null) {
      let bytes: Buffer;
      try {
        bytes = channel.method.requestSerialize(envelope);
      } catch (err) {
        log.error({ to, service: channel.service, err }, 'send dropped: cannot serialize the message');
        return;
      }
      this.#links.send(to, channel.service, bytes);
      return;
    }
    let client: grpc.Client;
    try {
      client = this.#peers.get(to);
    } catch (err) {
      // An address gRPC cannot even parse: the peer is unreachable, which send tolerates.
      log.warn({ to, err }, 'send dropped: cannot create a client for this address');
      return;
    }
    client.makeUnaryRequest(
      channel.method.path,
      channel.method.requestSerialize,
      channel.method.responseDeserialize,
      envelope,
      { deadline: Date.now() + options.sendDeadlineMs },
      (err) => {
        if (err === null) return;
        const fields = { to, service: channel.service, code: grpc.status[err.code], details: err.details };
        // Lost messages are normal (protocols retransmit); anything else means the two nodes
        // disagree about identity or wire format, or a message is too big: an operator must see it.
        if (networkCodes.has(err.code)) log.debug(fields, 'send failed');
        else if (err.code === grpc.status.RESOURCE_EXHAUSTED) {
          // Refused by this node's grpc-js, or by the peer's, which logs nothing (see `GrpcTransport`).
          log.warn({ ...fields, maxMessageBytes: options.maxMessageBytes }, 'send refused: message too large');
        } else log.warn(fields, 'send refused by peer');
      },
    );
  }

  /**
   * Delivers a message to this node without the network, but after the same protobuf round trip
   * and checks as a remote one, so the codec sees exactly what it would see from a peer; and
   * never synchronously (the `Transport` contract).
   */
  #sendToSelf(channel: OpenChannel, envelope: Fields): void {
    const { self, log, options } = this.#ctx;
    let bytes: Buffer;
    try {
      bytes = channel.method.requestSerialize(envelope);
    } catch (err) {
      log.error({ to: self, service: channel.service, err }, 'send dropped: cannot serialize the message');
      return;
    }
    if (bytes.length > options.maxMessageBytes) {
      log.warn(
        { to: self, service: channel.service, bytes: bytes.length, maxMessageBytes: options.maxMessageBytes },
        'send dropped: message too large',
      );
      return;
    }
    setImmediate(() => {
      if (this.#ctx.closing()) return;
      let wire: Fields;
      try {
        wire = channel.method.requestDeserialize(bytes);
      } catch (err) {
        // Bytes this node serialized a moment ago: failing to read them back is a codec bug.
        log.error({ to: self, service: channel.service, err }, 'message dropped: cannot deserialize');
        return;
      }
      const verdict = this.#admit(channel, wire, null);
      if (verdict.ok) this.#hand(channel, verdict.from, verdict.msg);
    });
  }

  /**
   * The receiving side's checks, in order; logs every refusal. Never throws. `caller`: the peer
   * connection it came by, whose certificate must name the host of `from` (null: from this node).
   */
  #admit(channel: OpenChannel, wire: Fields, caller: PeerCaller | null): Verdict {
    const { self, cluster, log, partition } = this.#ctx;
    const { service } = channel;
    if (this.#ctx.closing()) return refuse(grpc.status.UNAVAILABLE, `${self} is shutting down`);
    let from: NodeId;
    let to: NodeId;
    try {
      from = nodeId(wire['from'], 'from');
      to = nodeId(wire['to'], 'to');
    } catch (err) {
      log.warn({ from: wire['from'], service, field: fieldOf(err), err }, 'message refused: bad envelope');
      return refuse(grpc.status.INVALID_ARGUMENT, errorText(err));
    }
    const misnamed = caller === null ? null : this.#ctx.auth.claims(caller, from, service);
    if (misnamed !== null) return refuse(misnamed.code, misnamed.details);
    if (wire['cluster'] !== cluster) {
      const theirs = describeClusterName(wire['cluster']);
      const ours = JSON.stringify(cluster);
      log.warn({ from, service, senderCluster: theirs, cluster: ours }, 'message refused: sent by a node of another cluster');
      return wrongCluster(cluster, `message from ${from} of cluster ${theirs} reached ${self} of cluster ${ours}`);
    }
    const wrongId = admitClusterId(this.#ctx, from, service, wire['cluster_id'], channel.admitsNewcomers);
    if (wrongId !== null) return wrongId;
    if (partition.blocked(from, service)) {
      log.debug({ from, service }, 'message dropped: sender is partitioned off');
      return refuse(grpc.status.UNAVAILABLE, `${self} is partitioned from ${from}`);
    }
    if (to !== self) {
      log.warn({ from, to, service }, 'message refused: addressed to another node');
      return refuse(grpc.status.FAILED_PRECONDITION, `message for ${to} reached ${self}`);
    }
    try {
      return { ok: true, from, msg: channel.codec.decode(wire) };
    } catch (err) {
      log.warn({ from, service, field: fieldOf(err), err }, 'message refused: failed validation');
      const details = err instanceof InvalidMessageError ? err.message : `invalid message: ${errorText(err)}`;
      return refuse(grpc.status.INVALID_ARGUMENT, details);
    }
  }

  /** Hands an admitted message to the channel's receiver; a throwing receiver must not take the server down. */
  #hand(channel: OpenChannel, from: NodeId, msg: unknown): void {
    if (from !== this.#ctx.self) {
      this.#peers.heardFrom(from);
      this.#links?.heardFrom(from);
    }
    try {
      channel.receive(from, msg);
    } catch (err) {
      this.#ctx.log.error({ from, service: channel.service, err }, 'receiver threw; message dropped');
    }
  }
}
