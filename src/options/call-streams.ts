// The call streams' tunables (src/runtime/grpc-call-streams.ts, grpc-call-stream-server.ts): part of
// `TransportOptions`, kept in a file of their own because they concern one wire of client calls.

/** How a client transport carries the requests of a request/response service (`ClientTransport.connect`). */
export type CallWire = 'stream' | 'unary';

export interface CallStreamOptions {
  /**
   * `stream`: the requests to one server travel on one long-lived gRPC stream per service (its
   * `rpc Stream`), shared by every channel of the transport, each request tagged with a number and
   * its deadline; `unary`: one gRPC call per request (`rpc Call`), as before streams existed. A
   * service without a `Stream` method (the node service) is always called unary. Both give the same
   * answers and the same `CallFailure`s. Default `stream`: a unary call costs a new HTTP/2 stream,
   * headers and trailers per request, which dominated the client hop's CPU (issue 15); `unary` stays
   * selectable for one release, to compare the two.
   */
  readonly callWire: CallWire;
  /**
   * Most requests one call stream carries unanswered (a client's side: sent, not yet answered,
   * failed or past their deadline). One more fails at once `overloaded` without a retry hint, which
   * a client backs off from as from BUSY and then asks the same server again: the server is
   * healthy, this process has simply put more in flight to it than the bound. Default 4096: sixteen
   * times the deepest pipeline the benchmark drives from one client (256), and below the server's
   * `maxPendingCalls` (10000), so one client process cannot fill a node's whole edge by itself.
   */
  readonly maxCallsPerStream: number;
  /**
   * Most bytes written to one call stream and not yet taken by the connection (grpc-js, then Node's
   * HTTP/2 session), at each end: requests a client queued (one more request fails at once
   * `overloaded`, as above), and answers a server queued (one more ends that stream
   * `RESOURCE_EXHAUSTED`: its client's requests fail `unreachable` and it opens a new one). A
   * message is always let through when nothing is queued, so any message within `maxMessageBytes`
   * passes. Note: Node's HTTP/2 session takes written data before flow control lets it leave, so
   * what a peer that stopped reading leaves unsent is held there, as a unary call's unread answer
   * is; this bound covers what waits above it. Default 8 MiB: two messages of the largest size,
   * hundreds of times what small requests in flight queue.
   */
  readonly maxCallStreamQueuedBytes: number;
  /**
   * A call stream that ended before its server accepted it (the server is down, isolated, closing
   * or does not serve streams) is opened again only after a pause: `callStreamRetryBaseMs`, doubling
   * with each such end in a row up to `callStreamRetryMaxMs`; meanwhile requests to that server fail
   * at once `unreachable`, as unary calls to a server that is down do. A stream its server had
   * accepted is reopened by the next request at once after it ended (its server was there a moment
   * ago: it restarted, was isolated, or the connection broke). Defaults 50 ms and 1000 ms, as gRPC's reconnect backoff
   * (`reconnectBackoffInitialMs` … `reconnectBackoffMaxMs`) is of the order: a restarted server is
   * found again within a second, while a server that refuses every stream is asked at most once a
   * second per client.
   */
  readonly callStreamRetryBaseMs: number;
  readonly callStreamRetryMaxMs: number;
  /**
   * A client closes a call stream on which no request waited for this long. An open stream holds
   * its HTTP/2 connection active, which keeps the process alive (grpc-js refs a connection while a
   * call is open), and counts against the server's `maxCallStreams`. Default 250 ms: a program that
   * ends without closing its client (`connect(…).then(c => c.invoke(…))`) exits within it after its
   * last answer, as it exits at once with unary calls; a working client's gaps are far shorter, and
   * one that pauses longer reopens its stream for the cost of one unary call.
   */
  readonly callStreamIdleMs: number;
  /**
   * Most call streams a node serves at once (one per client transport and service); one more is
   * refused at once `RESOURCE_EXHAUSTED`, and its client's requests fail `unreachable`
   * (the client moves on to another replica, or asks again after `callStreamRetryBaseMs`). Default
   * 10000, as `maxStreams` and `maxPendingCalls`: far more client processes than one node serves,
   * while ever new streams cannot make a node hold them without bound.
   */
  readonly maxCallStreams: number;
}

export const defaultCallStreamOptions: CallStreamOptions = {
  callWire: 'stream',
  maxCallsPerStream: 4096,
  maxCallStreamQueuedBytes: 8 * 1024 * 1024,
  callStreamRetryBaseMs: 50,
  callStreamRetryMaxMs: 1000,
  callStreamIdleMs: 250,
  maxCallStreams: 10_000,
};

/** Refuses call stream options of the right type but a wrong value (`withDefaults` checked the types and signs). */
export function checkCallStreamOptions(o: CallStreamOptions): void {
  if (o.callWire !== 'stream' && o.callWire !== 'unary') throw new RangeError(`transport.callWire must be 'stream' or 'unary', got ${JSON.stringify(o.callWire)}`);
  for (const key of ['maxCallsPerStream', 'maxCallStreamQueuedBytes', 'maxCallStreams'] as const) {
    if (!Number.isInteger(o[key])) throw new RangeError(`transport.${key} must be a positive integer, got ${o[key]}`);
  }
  if (o.callStreamRetryMaxMs < o.callStreamRetryBaseMs) {
    throw new RangeError(`transport.callStreamRetryMaxMs (${o.callStreamRetryMaxMs}) must be at least callStreamRetryBaseMs (${o.callStreamRetryBaseMs})`);
  }
}
