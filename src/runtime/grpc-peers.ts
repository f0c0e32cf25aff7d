import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { InvalidMessageError, invariant } from '../env/errors.js';
import type { Logger } from '../env/logger.js';
import type { CallFailure, Channel, ServiceCodec } from '../env/transport.js';
import type { NodeId } from '../env/types.js';
import type { Fields } from '../env/validate.js';
import { type TransportOptions, limits } from '../options.js';
import { callFailureOf, networkCodes, statusName } from './grpc-status.js';
import { serviceDefinition } from './proto.js';

/**
 * The client side of gRPC, shared by `GrpcTransport` (a node, which may also act as a client)
 * and `GrpcClientTransport` (a client only): cached connections to peers (with the client's
 * keepalive), and calls of request/response services (streams: grpc-stream-client.ts). Internal
 * to `src/runtime`.
 */

/** The one RPC of every request/response service: `rpc Call(<request>) returns (<answer>)`. */
export const callMethodName = 'Call';

export type UnaryMethod = MethodDefinition<Fields, Fields, Fields, Fields>;

/** The unary `Call` method of `service`; a service without one is a programmer error. */
export function callMethod(service: string): UnaryMethod {
  // proto-loader types every method as MethodDefinition<object, object>; messages are plain field maps.
  const method = serviceDefinition(service)[callMethodName] as UnaryMethod | undefined;
  invariant(
    method !== undefined && !method.requestStream && !method.responseStream,
    () => `service ${service} has no unary ${callMethodName} method`,
  );
  return method;
}

/** The cluster fields of a call or stream request: the name, and the id when the caller gives one. */
export function identityFields(ctx: Pick<CallContext, 'cluster' | 'clusterId'>): Fields {
  const id = ctx.clusterId?.() ?? null;
  return id === null ? { cluster: ctx.cluster } : { cluster: ctx.cluster, cluster_id: id };
}

/** Checks a configured cluster id (null: none); an empty or overlong one is a programmer or operator error. */
export function checkClusterId(id: unknown, owner: string): string | null {
  if (id === null || id === undefined) return null;
  if (typeof id !== 'string' || id.length === 0 || id.length > limits.maxClusterIdLength) {
    throw new RangeError(`${owner} cluster id must be null or a string of 1 to ${limits.maxClusterIdLength} characters, got ` +
      `${typeof id === 'string' ? JSON.stringify(id.slice(0, 80)) : String(id)}`);
  }
  return id;
}

/** Checks a configured cluster name (a programmer or operator error throws at construction). */
export function checkClusterName(name: unknown, owner: string): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > limits.maxClusterNameLength) {
    throw new RangeError(
      `${owner} cluster must be a non-empty string of at most ${limits.maxClusterNameLength} characters, ` +
        `got ${typeof name === 'string' ? JSON.stringify(name.slice(0, 80)) : String(name)}`,
    );
  }
  return name;
}

/** A received message's cluster field, for a log line or an error (it may be absent or absurd). */
export function describeClusterName(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) return '(none)';
  if (value.length > limits.maxClusterNameLength) return `${JSON.stringify(value.slice(0, limits.maxClusterNameLength))}…`;
  return JSON.stringify(value);
}

export function fieldOf(err: unknown): string | undefined {
  return err instanceof InvalidMessageError ? err.field : undefined;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * One `grpc.Client` (one HTTP/2 connection) per peer, at most `maxPeerClients`, least recently
 * used first (a Map iterates in insertion order, and a use re-inserts); plus the client calls in
 * flight (and streams open), so that `close()` can cancel them. After `close()` it hands out nothing.
 */
export class PeerClients {
  readonly #log: Logger;
  readonly #options: TransportOptions;
  readonly #credentials: grpc.ChannelCredentials;
  readonly #clients = new Map<NodeId, grpc.Client>();
  /** Calls and streams in flight, cancelled at `close()`. */
  readonly #calls = new Set<{ cancel(): void }>();
  #closed = false;

  /** `credentials`: mutual TLS (runtime/tls-credentials.ts); default plaintext. */
  constructor(log: Logger, options: TransportOptions, credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure()) {
    this.#log = log;
    this.#options = options;
    this.#credentials = credentials;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** How many clients are cached (for tests and status displays). */
  get size(): number {
    return this.#clients.size;
  }

  /** The largest message these clients send or receive (`TransportOptions.maxMessageBytes`). */
  get maxMessageBytes(): number {
    return this.#options.maxMessageBytes;
  }

  /**
   * The cached client for `peer`, created on first use, and marked most recently used; creating
   * one beyond `maxPeerClients` closes the least recently used one (calls it has not started yet
   * fail as UNAVAILABLE). Throws if gRPC cannot parse the address.
   */
  get(peer: NodeId): grpc.Client {
    invariant(!this.#closed, () => `a client for ${peer} asked of closed peer clients`);
    const cached = this.#clients.get(peer);
    if (cached !== undefined) {
      this.#clients.delete(peer);
      this.#clients.set(peer, cached);
      return cached;
    }
    let client: grpc.Client;
    try {
      client = new grpc.Client(peer, this.#credentials, {
        'grpc.max_send_message_length': this.#options.maxMessageBytes,
        'grpc.max_receive_message_length': this.#options.maxMessageBytes,
        'grpc.initial_reconnect_backoff_ms': this.#options.reconnectBackoffInitialMs,
        'grpc.max_reconnect_backoff_ms': this.#options.reconnectBackoffMaxMs,
        'grpc.keepalive_time_ms': this.#options.clientKeepaliveTimeMs,
        'grpc.keepalive_timeout_ms': this.#options.clientKeepaliveTimeoutMs,
      });
    } catch (err) {
      throw new Error(`cannot create a client for ${JSON.stringify(peer)}: ${errorText(err)}`, { cause: err });
    }
    this.#evictBeyond(this.#options.maxPeerClients - 1);
    this.#clients.set(peer, client);
    return client;
  }

  /**
   * `peer` just sent this node a message, so it is up. If the cached client to it is in gRPC's
   * reconnect backoff (it failed while the peer was down, and may wait up to
   * `reconnectBackoffMaxMs` before dialing again), replace it, so the next send dials at once.
   * Without this a restarted node hears its peers up to a second late and may suspect a healthy
   * one (found by the real-process tester: a rejoined node removed the serving primary).
   */
  heardFrom(peer: NodeId): void {
    const client = this.#clients.get(peer);
    if (client === undefined) return;
    if (client.getChannel().getConnectivityState(false) !== grpc.connectivityState.TRANSIENT_FAILURE) return;
    this.#clients.delete(peer);
    client.close();
    this.#log.debug({ peer }, 'peer is back: reconnecting at once instead of waiting out the backoff');
  }

  /** Remembers a call or stream in flight until `done` (so that `close()` cancels it). */
  track(call: { cancel(): void }): void {
    this.#calls.add(call);
  }

  done(call: { cancel(): void }): void {
    this.#calls.delete(call);
  }

  /** Cancels the calls in flight and closes every client. Idempotent. */
  close(): void {
    this.#closed = true;
    for (const call of this.#calls) call.cancel();
    this.#calls.clear();
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
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
}

/** What a channel of client calls needs from the transport that owns it. */
export interface CallContext {
  /** Sent in every request; the server refuses a request of another cluster. */
  readonly cluster: string;
  /**
   * The cluster id sent in every request when it gives one (a node calling another node, or a
   * client told the id); a server of another id refuses the request. Absent or null: none sent.
   */
  readonly clusterId?: () => string | null;
  readonly log: Logger;
  /** Deadline of each call. */
  readonly deadlineMs: number;
  /** Connections; once they are closed, `send` does nothing and no outcome is reported. */
  readonly peers: PeerClients;
  /** Why no call can leave now (e.g. the node is isolated), reported as `unreachable`; undefined: calls may leave. */
  readonly refusal?: () => string | undefined;
}

/**
 * The client side of a request/response service (`ClientTransport.connect`): `send(server, req)`
 * makes one unary `Call` to `server` (`host:port`) with the cluster name set and a deadline of
 * `deadlineMs`. A decoded answer goes to `receive(server, answer)`; any failure goes to
 * `failed(server, failure, request)` as a `CallFailure` (`callFailureOf` maps the gRPC status; an answer
 * that fails `decodeAnswer` is `invalid-answer`). Exactly one of the two is called per send,
 * never synchronously inside it, unless the owner was closed first.
 */
/**
 * Hands an answer's fields to `receive` once `codec` decoded them; an answer that fails the
 * codec is logged and reported to `fail` as `invalid-answer`; a receiver that throws is logged
 * (the answer is dropped). Shared by unary calls and call streams.
 */
export function deliverAnswer<Ans>(
  log: Logger,
  codec: Pick<ServiceCodec<unknown, Ans>, 'service' | 'decodeAnswer'>,
  server: NodeId,
  fields: Fields,
  receive: (server: NodeId, answer: Ans) => void,
  fail: (failure: CallFailure) => void,
): void {
  const { service } = codec;
  let answer: Ans;
  try {
    answer = codec.decodeAnswer(fields);
  } catch (err) {
    log.warn({ server, service, field: fieldOf(err), err }, 'answer refused: failed validation');
    fail({ kind: 'invalid-answer', detail: errorText(err) });
    return;
  }
  try {
    receive(server, answer);
  } catch (err) {
    log.error({ server, service, err }, 'receiver threw; answer dropped');
  }
}

/**
 * What a call or stream of `codec` to `server` sends: the request's fields with the cluster's
 * (last, so that a codec cannot overwrite them); or, without sending, the failure it ends with:
 * `unreachable` while this side refuses to call (`CallContext.refusal`, e.g. isolated), `internal`
 * when the codec cannot encode the request (both logged). `what` names it in the log lines.
 */
export function callWire<Req>(
  ctx: Pick<CallContext, 'log' | 'refusal' | 'cluster' | 'clusterId'>,
  codec: Pick<ServiceCodec<Req, unknown>, 'service' | 'encodeRequest'>,
  server: NodeId,
  request: Req,
  what: 'call' | 'stream',
): { readonly ok: true; readonly wire: Fields } | { readonly ok: false; readonly failure: { readonly kind: 'unreachable' | 'internal'; readonly detail: string } } {
  const { service } = codec;
  const refusal = ctx.refusal?.();
  if (refusal !== undefined) {
    ctx.log.debug({ server, service, refusal }, `${what} not made`);
    return { ok: false, failure: { kind: 'unreachable', detail: refusal } };
  }
  try {
    return { ok: true, wire: { ...codec.encodeRequest(request), ...identityFields(ctx) } };
  } catch (err) {
    ctx.log.error({ server, service, err }, `${what} not made: the codec cannot encode the request`);
    return { ok: false, failure: { kind: 'internal', detail: `cannot encode the request: ${errorText(err)}` } };
  }
}

/**
 * Calls `failed` with a call's failure (nothing once the connections are closed, or without a
 * `failed`); a callback that throws is logged. Shared by unary calls and call streams.
 */
export function failureReporter<Req>(
  ctx: Pick<CallContext, 'log' | 'peers'>,
  service: string,
  failed: ((server: NodeId, failure: CallFailure, request: Req) => void) | undefined,
): (server: NodeId, failure: CallFailure, request: Req) => void {
  return (server, failure, request) => {
    if (ctx.peers.closed || failed === undefined) return;
    try {
      failed(server, failure, request);
    } catch (err) {
      ctx.log.error({ server, service, err }, 'failure callback threw');
    }
  };
}

export function callChannel<Req, Ans>(
  ctx: CallContext,
  codec: ServiceCodec<Req, Ans>,
  receive: (server: NodeId, answer: Ans) => void,
  failed?: (server: NodeId, failure: CallFailure, request: Req) => void,
): Channel<Req> {
  const method = callMethod(codec.service);
  const { service } = codec;
  const { log, peers } = ctx;

  const fail = failureReporter(ctx, service, failed);
  const failLater = (server: NodeId, failure: CallFailure, request: Req): void => {
    setImmediate(() => fail(server, failure, request));
  };

  const answered = (server: NodeId, reply: Fields | undefined, request: Req): void =>
    deliverAnswer(log, codec, server, reply ?? {}, receive, (failure) => fail(server, failure, request));

  const refused = (server: NodeId, err: grpc.ServiceError, request: Req): void => {
    const failure = callFailureOf(err, ctx.cluster, peers.maxMessageBytes);
    const fields = { server, service, code: statusName(err.code), failure: failure.kind, details: err.details || err.message };
    // A server that is down or slow is normal (the client tries another); a refusal means the
    // two sides disagree about the cluster or the wire format, or the request is bad: visible.
    if (networkCodes.has(err.code)) log.debug(fields, 'call failed');
    else log.warn(fields, 'call refused by server');
    fail(server, failure, request);
  };

  return {
    send(server: NodeId, request: Req): void {
      if (peers.closed) return;
      const made = callWire(ctx, codec, server, request, 'call');
      if (!made.ok) {
        failLater(server, made.failure, request);
        return;
      }
      const { wire } = made;
      let client: grpc.Client;
      try {
        client = peers.get(server);
      } catch (err) {
        log.warn({ server, service, err }, 'call not made: cannot create a client for this address');
        failLater(server, { kind: 'unreachable', detail: errorText(err) }, request);
        return;
      }
      // grpc-js reports the outcome asynchronously; the flag keeps the set exact even if it did not.
      let finished = false;
      let call: grpc.ClientUnaryCall | undefined = undefined;
      call = client.makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        wire,
        { deadline: Date.now() + ctx.deadlineMs },
        (err, reply) => {
          finished = true;
          if (call !== undefined) peers.done(call);
          if (peers.closed) return;
          if (err !== null) refused(server, err, request);
          else answered(server, reply, request);
        },
      );
      if (!finished) peers.track(call);
    },
  };
}
