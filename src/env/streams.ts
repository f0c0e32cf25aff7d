import type { NodeId } from './types.js';

/**
 * Server-streaming services: a client opens a stream with one request, the server pushes an
 * ordered sequence of messages down it, and the stream ends once, with a typed reason
 * (`StreamEnd`). What `Transport.serveStream` serves and `ClientTransport.openStream` opens; the
 * callback service (`CallbackHub`, the lock service's revoke and retry) is the first user.
 *
 * Failure semantics (every implementation, and every user relies on exactly these):
 * - While a stream lasts, its messages arrive whole, in the order the server sent them, without
 *   gaps and without duplicates. The client hears `accepted` before the first message.
 * - A stream may end at any time, for a reason of the server's (`ServerStream.end`), of the
 *   transport's (the node is isolated or closing, the client fell behind, too many streams), or
 *   of the connection's (a crash, a network cut noticed by keepalive). Each side hears of the end
 *   once; the client hears nothing after it.
 * - Nothing is ever re-sent by the transport: messages sent after the client stopped hearing are
 *   lost with the stream. A user that must not lose one re-sends it on the next stream (the
 *   callback hub sends every outstanding callback on every new stream).
 * - Bounded: a node holds at most `TransportOptions.maxStreams` open streams (one more is
 *   refused `overloaded`), and at most `maxQueuedStreamMessages` messages of one stream that
 *   its client has not received yet (one more ends the stream `overloaded`).
 */

/**
 * Why a stream ended, as either side hears it. `detail` is for people (logs, error messages) and
 * is never parsed. The mapping to a wire's status codes lives in the transport
 * (`runtime/grpc-status.ts` for gRPC).
 */
export type StreamEnd =
  /** The server is not the serving primary: subscribe at `primary` (null: it knows none; ask around, retry shortly). */
  | { readonly kind: 'not-primary'; readonly primary: NodeId | null; readonly detail: string }
  /** The server is the primary but does not serve yet (a view change is under way): retry there shortly. */
  | { readonly kind: 'not-serving-yet'; readonly detail: string }
  /** The server is isolated, stopping or shutting down, or does not serve this service (yet): retry, there or elsewhere, later. */
  | { readonly kind: 'unavailable'; readonly detail: string }
  /** A newer stream of the same subscriber took this one's place (the client's own doing). */
  | { readonly kind: 'replaced'; readonly detail: string }
  /** The subscription names what belongs to another client (the callback service: an owner bound to another client id): not retried. */
  | { readonly kind: 'owner-taken'; readonly detail: string }
  /** The client fell behind (more than `maxQueuedStreamMessages` unreceived), or the server holds `maxStreams`: back off. */
  | { readonly kind: 'overloaded'; readonly detail: string }
  /** The server refused the request as malformed (it failed the service's checks): a bug of the client. */
  | { readonly kind: 'invalid-request'; readonly detail: string }
  /** The server belongs to another cluster: `actual` is its cluster's name, `expected` the client's. */
  | { readonly kind: 'wrong-cluster'; readonly expected: string; readonly actual: string; readonly detail: string }
  /** The connection could not be made or broke: the server is down, or the network was cut long enough for keepalive to notice. */
  | { readonly kind: 'unreachable'; readonly detail: string }
  /** Heard by the server only: the client closed the stream. */
  | { readonly kind: 'cancelled'; readonly detail: string }
  /** The server failed on the stream, or a message failed the client's checks (`decodeMessage`). */
  | { readonly kind: 'internal'; readonly detail: string };

/** The ends a server may give a stream itself (the others are the transport's or the connection's). */
export type ServerStreamEnd = Extract<StreamEnd, {
  readonly kind: 'not-primary' | 'not-serving-yet' | 'unavailable' | 'replaced' | 'owner-taken' | 'overloaded' | 'invalid-request' | 'internal';
}>;

/** `kind: detail` (with the primary of a not-primary end), for messages. */
export function describeStreamEnd(end: StreamEnd): string {
  const primary = end.kind === 'not-primary' ? ` (primary ${end.primary ?? 'unknown'})` : '';
  return `${end.kind}${primary}: ${end.detail}`;
}

/**
 * A server-streaming service's wire format: the request as the fields of its gRPC message (which
 * also carries `string cluster = 1`, set by the transport), each streamed message as the fields of
 * its message, both checked on the way in. The service's one method is `Subscribe`. Codecs are pure.
 */
export interface StreamCodec<Req, Msg> {
  /** Fully qualified gRPC service name (e.g. `synod.rsm.Callbacks`). */
  readonly service: string;
  encodeRequest(request: Req): Record<string, unknown>;
  /** Throws `InvalidMessageError` for bad input. */
  decodeRequest(wire: Record<string, unknown>): Req;
  encodeMessage(message: Msg): Record<string, unknown>;
  /** Throws `InvalidMessageError` for bad input. */
  decodeMessage(wire: Record<string, unknown>): Msg;
}

/**
 * The server's end of one stream, handed to the service with its request. It starts pending:
 * the server either `accept`s it (the client hears `accepted`) and `send`s messages, or `end`s
 * it at once (a refusal: the client hears only the end).
 */
export interface ServerStream<Msg> {
  /** Who opened it, for logs (the client's address as the transport knows it). */
  readonly peer: string;
  /** False once the stream ended, for any reason. */
  readonly open: boolean;
  /** Tells the client the stream is accepted. Idempotent; does nothing once ended. */
  accept(): void;
  /**
   * Queues `message` for the client, after everything sent before (accepting the stream first if
   * it was pending). Returns false when it was not queued: the stream had ended, or it ends now
   * because the client has `maxQueuedStreamMessages` messages it has not received yet (`overloaded`).
   */
  send(message: Msg): boolean;
  /** Ends the stream with `reason` once what was sent has gone out. Idempotent; the first end counts. */
  end(reason: ServerStreamEnd): void;
  /**
   * Registers the listener of the stream's end, called once with the reason whatever ended it
   * (the server's own `end` too), never inside a call on the stream (if the stream has ended
   * already, soon after registering). One listener per stream.
   */
  onEnded(listener: (end: StreamEnd) => void): void;
  /**
   * For a producer of many large messages (the snapshot service): calls `resume` once the
   * messages queued for the client have mostly gone out (at once, on a later turn, when few wait),
   * so that the producer never holds more than a few in memory and never reaches
   * `maxQueuedStreamMessages`. Also called once the stream ended (the producer then sees `open`
   * false). Optional: a transport without it (the simulator's) takes the producer's messages as
   * they come, and the producer must then send few.
   */
  whenWritable?(resume: () => void): void;
}

/** What the client hears of one stream it opened. */
export interface StreamHandlers<Msg> {
  /** The server accepted the stream; at most once, before any message. */
  accepted(): void;
  /** The next message, in the order the server sent them. */
  message(message: Msg): void;
  /** The stream ended (or could not be opened): exactly once, last, never inside `openStream`. */
  ended(end: StreamEnd): void;
}

/** The client's end of a stream. */
export interface ClientStream {
  /** Closes the stream (the server hears `cancelled`); afterwards no handler of it runs. Idempotent. */
  close(): void;
}
