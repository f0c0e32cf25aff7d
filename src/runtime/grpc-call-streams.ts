import * as grpc from '@grpc/grpc-js';
import type { CallFailure, Channel, ServiceCodec } from '../env/transport.js';
import type { NodeId } from '../env/types.js';
import type { Fields } from '../env/validate.js';
import type { TransportOptions } from '../options.js';
import { callStreamMethodName, maxAnswerBytesMetadataKey } from './grpc-call-stream-server.js';
import { type CallContext, type PeerClients, callChannel, callMethod, callWire, deliverAnswer, errorText, failureReporter } from './grpc-peers.js';
import { callFailureOf, networkCodes, statusName } from './grpc-status.js';
import { serviceDefinition } from './proto.js';

/**
 * The client side of a request/response service (`ClientTransport.connect`) as the transport's
 * `callWire` option says: over call streams (below) when it is `stream` and the service's proto
 * has a `Stream` method, else one unary call per request (`callChannel`, grpc-peers.ts). Both keep
 * the same contract: per send, exactly one of `receive` or `failed`, never inside `send`.
 */
export function clientCallChannel<Req, Ans>(
  ctx: CallContext,
  options: TransportOptions,
  codec: ServiceCodec<Req, Ans>,
  receive: (server: NodeId, answer: Ans) => void,
  failed?: (server: NodeId, failure: CallFailure, request: Req) => void,
): Channel<Req> {
  const streamable = serviceDefinition(codec.service)[callStreamMethodName] !== undefined;
  if (options.callWire === 'unary' || !streamable) return callChannel(ctx, codec, receive, failed);
  return streamCallChannel(ctx, options, codec, receive, failed);
}

/** What one request on a call stream hears: its answer's fields, or why it got none. */
interface Outstanding {
  readonly timer: NodeJS.Timeout;
  /** Its request message's size. */
  readonly bytes: number;
  readonly answer: (fields: Fields) => void;
  readonly fail: (failure: CallFailure) => void;
}

/**
 * Requests of `codec`'s service over call streams: `send(server, request)` puts the request on
 * the transport's one stream to `server` for this service (opened by the first request, shared by
 * every channel of the transport), numbered (`call_id`) and with the budget `ctx.deadlineMs`.
 * Per send, exactly one of:
 * - `receive(server, answer)`: its answer came and passed `decodeAnswer`;
 * - `failed(server, failure, request)`: a refusal of this request alone, mapped as a unary call's status is
 *   (`callFailureOf`: `wrong-cluster`, `invalid-request`, `overloaded` with the retry hint,
 *   `unreachable` while the server is isolated …); `invalid-answer` (failed `decodeAnswer`);
 *   `timeout` (no answer by `ctx.deadlineMs`: a later answer is dropped, and the server forgets
 *   the request at its budget); `unreachable` (the stream broke or ended: every request waiting
 *   on it; or it ended lately without carrying an answer and is not reopened yet, see
 *   `callStreamRetryBaseMs`); `unimplemented` (the server does not serve the stream);
 *   `overloaded` without a retry hint (this stream holds `maxCallsPerStream` requests or
 *   `maxCallStreamQueuedBytes` unsent bytes: refused here at once, never queued); or
 *   `invalid-request` (larger than `maxMessageBytes`, refused here) or `internal` (the codec
 *   cannot encode it).
 */
function streamCallChannel<Req, Ans>(
  ctx: CallContext,
  options: TransportOptions,
  codec: ServiceCodec<Req, Ans>,
  receive: (server: NodeId, answer: Ans) => void,
  failed?: (server: NodeId, failure: CallFailure, request: Req) => void,
): Channel<Req> {
  const { service } = codec;
  const { log, peers } = ctx;
  const streams = callStreamsOf(peers, options);
  const fail = failureReporter(ctx, service, failed);
  return {
    send(server: NodeId, request: Req): void {
      if (peers.closed) return;
      const later = (failure: CallFailure): void => void setImmediate(() => fail(server, failure, request));
      const made = callWire(ctx, codec, server, request, 'call');
      if (!made.ok) return later(made.failure);
      const { wire } = made;
      const outstanding = {
        answer: (fields: Fields): void => deliverAnswer(log, codec, server, fields, receive, (failure) => fail(server, failure, request)),
        fail: (failure: CallFailure) => fail(server, failure, request),
      };
      const refused = streams.send(ctx, service, server, wire, outstanding);
      if (refused !== null) later(refused);
    },
  };
}

/** The call streams of each connection pool (one per transport). */
const poolStreams = new WeakMap<PeerClients, CallStreams>();

function callStreamsOf(peers: PeerClients, options: TransportOptions): CallStreams {
  let streams = poolStreams.get(peers);
  if (streams === undefined) {
    streams = new CallStreams(peers, options);
    poolStreams.set(peers, streams);
  }
  return streams;
}

/** When a stream that ended before its server accepted it may be opened again. */
interface Backoff {
  readonly endsInARow: number;
  readonly notBeforeMs: number;
}

/**
 * A transport's call streams: at most one open per (service, server); the next request after one
 * ended opens a new one, at once if its server had accepted it, else after a backoff (`Backoff`).
 * Remembered backoffs are at most `maxPeerClients`, oldest forgotten first.
 */
class CallStreams {
  readonly #peers: PeerClients;
  readonly #options: TransportOptions;
  readonly #open = new Map<string, ClientCallStream>();
  readonly #backoffs = new Map<string, Backoff>();
  /**
   * The largest request each server took, learnt when one larger ended a stream (grpc-js ends the
   * whole stream for it): larger ones are refused here from then on, so that one cannot end it
   * again. At most `maxPeerClients`, oldest forgotten first.
   */
  readonly #serverLimits = new Map<string, number>();

  constructor(peers: PeerClients, options: TransportOptions) {
    this.#peers = peers;
    this.#options = options;
  }

  /** Puts a request on the stream to `server` (opening it if needed); a failure to report instead, or null. */
  send(ctx: CallContext, service: string, server: NodeId, wire: Fields, outstanding: Omit<Outstanding, 'timer' | 'bytes'>): CallFailure | null {
    const key = `${service} ${server}`;
    let stream = this.#open.get(key);
    if (stream === undefined) {
      const backoff = this.#backoffs.get(key);
      const waitMs = backoff === undefined ? 0 : backoff.notBeforeMs - Date.now();
      if (waitMs > 0) return { kind: 'unreachable', detail: `UNAVAILABLE: the call stream to ${server} was refused or broke before it was accepted; not reopened for ${waitMs} ms (callStreamRetryBaseMs)` };
    }
    let client: grpc.Client;
    try {
      // Every request marks its server's connection used, as a unary call does (`maxPeerClients`).
      client = this.#peers.get(server);
    } catch (err) {
      ctx.log.warn({ server, service, err }, 'call not made: cannot create a client for this address');
      return { kind: 'unreachable', detail: errorText(err) };
    }
    if (stream !== undefined && stream.client !== client) {
      // Its connection was closed as least recently used: the stream must not keep it alive.
      stream.close('its connection was closed (maxPeerClients)');
      stream = undefined;
    }
    if (stream === undefined) {
      const opened = new ClientCallStream(ctx, this.#options, service, server, client, (accepted, serverLimit) => this.#ended(key, opened, accepted, serverLimit));
      stream = opened;
      this.#open.set(key, stream);
    }
    return stream.send(wire, outstanding, this.#serverLimits.get(key));
  }

  #ended(key: string, stream: ClientCallStream, accepted: boolean, serverLimit: number | undefined): void {
    if (this.#open.get(key) === stream) this.#open.delete(key);
    if (serverLimit !== undefined) {
      this.#serverLimits.delete(key);
      this.#serverLimits.set(key, serverLimit);
      for (const old of this.#serverLimits.keys()) {
        if (this.#serverLimits.size <= this.#options.maxPeerClients) break;
        this.#serverLimits.delete(old);
      }
    }
    if (accepted) {
      this.#backoffs.delete(key);
      return;
    }
    const endsInARow = (this.#backoffs.get(key)?.endsInARow ?? 0) + 1;
    const { callStreamRetryBaseMs: base, callStreamRetryMaxMs: max } = this.#options;
    const waitMs = Math.min(max, base * 2 ** Math.min(endsInARow - 1, 30));
    this.#backoffs.delete(key);
    this.#backoffs.set(key, { endsInARow, notBeforeMs: Date.now() + waitMs });
    for (const old of this.#backoffs.keys()) {
      if (this.#backoffs.size <= this.#options.maxPeerClients) break;
      this.#backoffs.delete(old);
    }
  }
}

/**
 * One call stream at the client: a `Stream` call to `server` without a deadline (the client
 * keepalive ends it if the server goes silent), its requests waiting by `call_id`. It ends on its
 * server's status, on a break, when the transport closes (nothing reported then), or after
 * `callStreamIdleMs` with no request waiting (an open stream keeps its connection, and so the
 * process, alive: a program that ends without closing its client must still exit).
 */
class ClientCallStream {
  readonly #ctx: CallContext;
  readonly #options: TransportOptions;
  readonly #service: string;
  readonly #server: NodeId;
  /** The connection it runs on. */
  readonly client: grpc.Client;
  readonly #call: grpc.ClientDuplexStream<Buffer, Fields>;
  readonly #onEnded: (accepted: boolean, serverLimit: number | undefined) => void;
  readonly #waiting = new Map<number, Outstanding>();
  /** Armed while nothing waits: closes the stream `callStreamIdleMs` after it last emptied. */
  #idleTimer: NodeJS.Timeout | null = null;
  /** When the last waiting request left (answered, failed or expired). */
  #emptiedAtMs = 0;
  #nextCallId = 1;
  #queuedBytes = 0;
  /** The server accepted the stream (its headers came): it was there, so a break is reopened at once. */
  #accepted = false;
  #ended = false;

  constructor(ctx: CallContext, options: TransportOptions, service: string, server: NodeId, client: grpc.Client, onEnded: (accepted: boolean, serverLimit: number | undefined) => void) {
    this.#ctx = ctx;
    this.#options = options;
    this.#service = service;
    this.#server = server;
    this.#onEnded = onEnded;
    this.client = client;
    const method = serviceDefinition(service)[callStreamMethodName]!;
    // The server refuses an answer above this client's limit alone (grpc-js would end the stream).
    const metadata = new grpc.Metadata();
    metadata.set(maxAnswerBytesMetadataKey, String(options.maxMessageBytes));
    const call = client.makeBidiStreamRequest(method.path, (bytes: Buffer) => bytes, method.responseDeserialize as (bytes: Buffer) => Fields, metadata);
    this.#call = call;
    ctx.peers.track(call);
    call.on('metadata', () => void (this.#accepted = true));
    call.on('data', (fields: Fields) => this.#answer(fields));
    // grpc-js reports the end of a failed call twice (`error`, then `status`); the first counts.
    call.on('error', (err: grpc.ServiceError) => this.#end(err.code, err.details));
    call.on('status', (status: grpc.StatusObject) => this.#end(status.code, status.details));
  }

  send(wire: Fields, outstanding: Omit<Outstanding, 'timer' | 'bytes'>, serverLimit: number | undefined): CallFailure | null {
    const { maxCallsPerStream, maxCallStreamQueuedBytes, maxMessageBytes } = this.#options;
    const deadlineMs = this.#ctx.deadlineMs;
    if (this.#waiting.size >= maxCallsPerStream) {
      return { kind: 'overloaded', detail: `RESOURCE_EXHAUSTED: ${this.#waiting.size} requests wait on the call stream to ${this.#server} (maxCallsPerStream ${maxCallsPerStream})` };
    }
    const callId = this.#nextCallId++;
    const bytes = callMethod(this.#service).requestSerialize({ ...wire, call_id: callId, budget_ms: Math.max(1, Math.ceil(deadlineMs)) });
    if (bytes.length > maxMessageBytes) {
      return { kind: 'invalid-request', detail: `the request is larger than this client sends (transport.maxMessageBytes): ${bytes.length} bytes, max ${maxMessageBytes}` };
    }
    if (serverLimit !== undefined && bytes.length > serverLimit) {
      return { kind: 'invalid-request', detail: `the request is larger than the node accepts (its transport.maxMessageBytes): ${bytes.length} bytes, max ${serverLimit}` };
    }
    if (this.#queuedBytes > 0 && this.#queuedBytes + bytes.length > maxCallStreamQueuedBytes) {
      return { kind: 'overloaded', detail: `RESOURCE_EXHAUSTED: ${this.#queuedBytes} bytes wait unsent on the call stream to ${this.#server}; ${bytes.length} more would pass maxCallStreamQueuedBytes ${maxCallStreamQueuedBytes}` };
    }
    const timer = setTimeout(() => {
      const late = this.#waiting.get(callId);
      if (late === undefined) return;
      this.#waiting.delete(callId);
      this.#left();
      late.fail({ kind: 'timeout', detail: `DEADLINE_EXCEEDED: no answer from ${this.#server} within ${deadlineMs} ms (on its call stream)` });
    }, deadlineMs);
    timer.unref();
    this.#waiting.set(callId, { ...outstanding, timer, bytes: bytes.length });
    const size = bytes.length;
    this.#queuedBytes += size;
    this.#call.write(bytes, () => {
      this.#queuedBytes -= size;
    });
    return null;
  }

  #answer(fields: Fields): void {
    if (this.#ended) return;
    this.#accepted = true;
    const callId = fields['call_id'];
    const outstanding = typeof callId === 'number' ? this.#waiting.get(callId) : undefined;
    if (outstanding === undefined) {
      this.#ctx.log.debug({ server: this.#server, service: this.#service, callId }, 'answer dropped: its request is past its deadline');
      return;
    }
    this.#waiting.delete(callId as number);
    clearTimeout(outstanding.timer);
    this.#left();
    const refusal = fields['refusal'];
    if (refusal === undefined) {
      outstanding.answer(fields);
      return;
    }
    const err = statusOfRefusal(refusal as Fields);
    const failure = callFailureOf(err, this.#ctx.cluster, this.#options.maxMessageBytes);
    const logged = { server: this.#server, service: this.#service, code: statusName(err.code), failure: failure.kind, details: err.details };
    // As for unary calls: a server that is not there is normal, a refusal is visible.
    if (networkCodes.has(err.code)) this.#ctx.log.debug(logged, 'call failed');
    else this.#ctx.log.warn(logged, 'call refused by server');
    outstanding.fail(failure);
  }

  /** A request left `#waiting`: if none is left, the idle clock starts. */
  #left(): void {
    if (this.#waiting.size > 0 || this.#ended) return;
    this.#emptiedAtMs = performance.now();
    if (this.#idleTimer === null) this.#armIdle(this.#options.callStreamIdleMs);
  }

  #armIdle(ms: number): void {
    this.#idleTimer = setTimeout(() => this.#idle(), ms);
    this.#idleTimer.unref();
  }

  /** Closes the stream if nothing waited for `callStreamIdleMs`; else waits for the rest of it (one timer per idle period, not per request). */
  #idle(): void {
    this.#idleTimer = null;
    if (this.#waiting.size > 0 || this.#ended) return; // re-armed when it empties again
    const restMs = this.#emptiedAtMs + this.#options.callStreamIdleMs - performance.now();
    if (restMs > 1) {
      this.#armIdle(restMs);
      return;
    }
    this.#ctx.log.debug({ server: this.#server, service: this.#service }, 'call stream closed: idle');
    this.close('closed as idle');
  }

  /** Ends the stream from this side; requests waiting on it fail `unreachable` with `why`. */
  close(why: string): void {
    this.#accepted = true; // no failure of the server's: reopen at once when needed
    this.#end(grpc.status.CANCELLED, why);
    this.#call.cancel();
  }

  #end(code: grpc.status, details: string): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    this.#ctx.peers.done(this.#call);
    const failure: CallFailure = code === grpc.status.UNIMPLEMENTED
      ? { kind: 'unimplemented', detail: `${statusName(code)}: ${details}` }
      : { kind: 'unreachable', detail: `${statusName(code)}: the call stream to ${this.#server} ended: ${details}` };
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const outstanding of waiting) clearTimeout(outstanding.timer);
    if (this.#ctx.peers.closed) return;
    if (waiting.length > 0) this.#ctx.log.debug({ server: this.#server, service: this.#service, code: statusName(code), details, failed: waiting.length }, 'call stream ended');
    // The server's grpc-js ends the whole stream for one request above its limit: that request is
    // refused as a unary one would be (invalid-request), the others merely lost their stream.
    const tooLarge = code === grpc.status.RESOURCE_EXHAUSTED ? receivedTooLarge.exec(details) : null;
    const serverLimit = tooLarge !== null && Number(tooLarge[2]) !== this.#options.maxMessageBytes ? Number(tooLarge[2]) : undefined;
    this.#onEnded(this.#accepted, serverLimit);
    const oversized: CallFailure = { kind: 'invalid-request', detail: `the request is larger than the node accepts (its transport.maxMessageBytes): ${statusName(code)}: ${details}` };
    for (const outstanding of waiting) outstanding.fail(serverLimit !== undefined && outstanding.bytes > serverLimit ? oversized : failure);
  }
}

/** How grpc-js words a refusal to receive a message over its limit: "(size vs the receiver's limit)". */
const receivedTooLarge = /Received message larger than max \((\d+) vs (\d+)\)/;

/** A refusal read back as the status of a unary call it stands for. */
function statusOfRefusal(refusal: Fields): { code: grpc.status; details: string; metadata: grpc.Metadata } & Error {
  const metadata = new grpc.Metadata();
  const map = refusal['metadata'];
  if (typeof map === 'object' && map !== null) {
    for (const [key, value] of Object.entries(map)) {
      // A key gRPC refuses (a foreign server's) is left out: the kind then comes from the code alone.
      if (typeof value === 'string') {
        try {
          metadata.set(key, value);
        } catch {
          continue;
        }
      }
    }
  }
  const code = typeof refusal['code'] === 'number' ? (refusal['code'] as grpc.status) : grpc.status.UNKNOWN;
  const details = typeof refusal['details'] === 'string' ? refusal['details'] : '';
  return Object.assign(new Error(details), { code, details, metadata });
}
