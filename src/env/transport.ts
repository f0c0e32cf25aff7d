import type { ClientStream, ServerStream, StreamCodec, StreamHandlers } from './streams.js';
import type { NodeId } from './types.js';

/**
 * How a layer's messages travel between nodes.
 *
 * Failure semantics (every implementation, and every core relies on exactly these):
 * - A message may be lost, delayed, duplicated or reordered. There is no delivery report: a
 *   protocol that needs an answer waits for a reply message and retransmits on its own timer.
 * - A delivered message arrives whole and as sent (the transport validates it through the
 *   layer's codec; a message that fails validation is refused with a typed error and logged,
 *   never handed to the core).
 * - `send` never throws for an unreachable or unknown peer, and never calls the receiver
 *   synchronously, not even for a message to oneself.
 *
 * A transport is divided into channels, one per layer (Paxos, config, RSM …); each channel has
 * its own wire format (a gRPC service in production) and its own receiver. Besides channels it
 * serves request/response services (`serve`) and server streams (`serveStream`, streams.ts),
 * each with failure semantics of its own.
 *
 * Cluster identity: every message between nodes carries the sender's cluster id (made when the
 * cluster was created, kept with each node's data), and a message of another id is refused, so
 * that a process of another cluster on a reused address (an old process of a re-created cluster)
 * can neither feed nor crash this node. A node that has not learned the id yet (a joiner with a
 * fresh data directory) sends and accepts only on the channels whose codec `admitsNewcomers`
 * (the join protocol, which is how it learns the id); a member accepts a newcomer's messages on
 * those channels only. The production transport also checks the cluster's name.
 */
export interface Transport {
  /** This node's address. */
  readonly self: NodeId;
  /**
   * Opens the channel described by `codec` and routes its incoming messages to `receive`.
   * Each channel name may be opened once per transport.
   */
  open<M>(codec: WireCodec<M>, receive: (from: NodeId, msg: M) => void): Channel<M>;
  /**
   * Serves a request/response service (the client service): each request arrives with a return
   * address of its own, and the returned channel's `answer(returnAddress, answer)` answers it.
   * Failure semantics: a request or its answer may be lost (the client retries on its own timer);
   * an answer to a return address that expired (the client gave up) is dropped; at most one
   * answer per request is delivered.
   */
  serve<Req, Ans>(codec: ServiceCodec<Req, Ans>, receive: (from: ReturnAddress, request: Req) => void): AnswerChannel<Ans>;
  /**
   * Serves a server-streaming service (the callback service): `accept` gets each admitted
   * stream's request and the server's end of it (see `ServerStream`; failure semantics in
   * streams.ts). Before `accept` sees it, a stream is refused by the transport when the node is
   * isolated or closing (`unavailable`), the client is of another cluster (`wrong-cluster`), the
   * request fails `decodeRequest` (`invalid-request`), or `maxStreams` are open (`overloaded`).
   * If `accept` throws, the stream ends `internal`. Each service may be served once per transport.
   */
  serveStream<Req, Msg>(codec: StreamCodec<Req, Msg>, accept: (request: Req, stream: ServerStream<Msg>) => void): void;
  /** Stops sending and receiving; releases sockets. */
  close(): Promise<void>;
}

/**
 * The client side of the services nodes serve: request/response services (`connect`, what
 * `RsmClient` talks through) and server streams (`openStream`, what the callback subscriber keeps
 * open). Answers come back to `receive`; `failed` tells that a request (the one sent, so that a
 * client with many in flight knows which) got no answer and why (a `CallFailure`), so the client can act at once instead of waiting for its own timeout. A
 * transport that cannot tell (a lost request) reports nothing: the request simply gets no answer.
 */
export interface ClientTransport {
  connect<Req, Ans>(
    codec: ServiceCodec<Req, Ans>,
    receive: (server: NodeId, answer: Ans) => void,
    failed?: (server: NodeId, failure: CallFailure, request: Req) => void,
  ): Channel<Req>;
  /**
   * Opens a stream of the server-streaming service of `codec` at `server` (failure semantics in
   * streams.ts): `handlers` hear `accepted`, the messages in order, and one end (`StreamEnd`,
   * e.g. `unreachable` when nothing listens there); none of them inside `openStream`.
   */
  openStream<Req, Msg>(codec: StreamCodec<Req, Msg>, server: NodeId, request: Req, handlers: StreamHandlers<Msg>): ClientStream;
  close(): Promise<void>;
}

/**
 * Why a client call got no answer. Each kind asks for its own reaction of the client (see
 * `ClientCore.onFailed`); `detail` says more, for people (logs, error messages), and is never
 * parsed. The mapping from a wire's status codes to these kinds lives in the transport
 * (`runtime/grpc-status.ts` for gRPC).
 */
export type CallFailure =
  /** Not delivered: nothing listens there, the connection broke, or the server is isolated or shutting down. */
  | { readonly kind: 'unreachable'; readonly detail: string }
  /** No answer within the call's deadline; the server may still act on the request. */
  | { readonly kind: 'timeout'; readonly detail: string }
  /** The server belongs to another cluster: `actual` is its cluster's name, `expected` the one the client gave. */
  | { readonly kind: 'wrong-cluster'; readonly expected: string; readonly actual: string; readonly detail: string }
  /** The server refused the request as malformed (it failed the service's checks); nothing ran. */
  | { readonly kind: 'invalid-request'; readonly detail: string }
  /**
   * The server holds too many calls or call bytes, or a message was above the size limit: back
   * off, at least `retryAfterMs` when the server said how long.
   */
  | { readonly kind: 'overloaded'; readonly detail: string; readonly retryAfterMs?: number }
  /** The server does not serve this service (yet: a node that is starting up). */
  | { readonly kind: 'unimplemented'; readonly detail: string }
  /** The server failed on the request, or this side could not send it. */
  | { readonly kind: 'internal'; readonly detail: string }
  /** The server's answer failed the service's checks (`decodeAnswer`). */
  | { readonly kind: 'invalid-answer'; readonly detail: string };

/** `kind: detail`, for messages. */
export function describeCallFailure(failure: CallFailure): string {
  return `${failure.kind}: ${failure.detail}`;
}

/**
 * Where an answer goes back to: a call waiting in the transport that received it (production),
 * a client machine's call (the simulator), or a request a node made of its own layer
 * (`LayerShell.localReturnAddress`). Opaque to the cores, which only hand it back with the
 * answer. Made only by transports and the layer shell; compared by identity, so it can never be
 * mistaken for a node id, nor one transport's address for another's. `label` is for logs only.
 */
export class ReturnAddress {
  readonly label: string;
  /** Only the nominal type matters: no structurally equal object is a return address. */
  readonly #brand = 'return-address';

  constructor(label: string) {
    this.label = label;
  }

  toString(): string {
    return this.label;
  }

  /** Log lines (pino, the simulator's trace) show the label. */
  toJSON(): string {
    return this.label;
  }
}

export interface Channel<M> {
  /** Best effort; see the failure semantics on `Transport`. */
  send(to: NodeId, msg: M): void;
}

/** The serving side of a request/response service: answers go to the return address a request came with. */
export interface AnswerChannel<A> {
  /** Best effort, at most once per return address; see `Transport.serve`. */
  answer(to: ReturnAddress, answer: A): void;
}

/**
 * A request/response service's wire format: requests and answers each as the fields of their
 * gRPC message (the `oneof body` of `Call` and `Answer`), checked on the way in. Codecs are pure.
 */
export interface ServiceCodec<Req, Ans> {
  /** Fully qualified gRPC service name (e.g. `synod.rsm.Client`); its one method is `Call`. */
  readonly service: string;
  encodeRequest(request: Req): Record<string, unknown>;
  /** Throws `InvalidMessageError` for bad input. */
  decodeRequest(wire: Record<string, unknown>): Req;
  encodeAnswer(answer: Ans): Record<string, unknown>;
  /** Throws `InvalidMessageError` for bad input. */
  decodeAnswer(wire: Record<string, unknown>): Ans;
}

/**
 * A layer's wire format: how its messages map to the plain objects of its gRPC service's
 * envelope, and how an incoming object is checked before the core sees it. Codecs are pure.
 */
export interface WireCodec<M> {
  /** Channel name, and the fully qualified gRPC service that carries it (e.g. `synod.paxos.Paxos`). */
  readonly service: string;
  /** The message's body as the fields of the service's envelope (its `oneof body`). */
  encode(msg: M): Record<string, unknown>;
  /** Checks and converts an envelope's body; throws `InvalidMessageError` for bad input. */
  decode(wire: Record<string, unknown>): M;
  /**
   * Whether this channel's messages travel to and from a node that has not learned its cluster's
   * id yet (a joiner with a fresh data directory): true only for the join protocol's channel (the
   * config layer's), which is how a joiner learns the id. Every other channel neither sends nor
   * accepts anything until the node knows it (see `Transport`). Default false.
   */
  readonly admitsNewcomers?: boolean;
}
