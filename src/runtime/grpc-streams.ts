import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { InvalidMessageError, invariant } from '../env/errors.js';
import type { ServerStream, ServerStreamEnd, StreamCodec, StreamEnd } from '../env/streams.js';
import type { Fields } from '../env/validate.js';
import { describeClusterName, errorText, fieldOf } from './grpc-peers.js';
import { type ServerContext, admitClient } from './grpc-server.js';
import { streamEndStatus } from './grpc-status.js';
import { addCheckedService } from './grpc-undecodable.js';
import { serviceDefinition } from './proto.js';

/** The one RPC of every server-streaming service: `rpc Subscribe(<request>) returns (stream <message>)`. */
export const streamMethodName = 'Subscribe';

export type StreamMethod = MethodDefinition<Fields, Fields, Fields, Fields>;

/** The server-streaming `Subscribe` method of `service`; a service without one is a programmer error. */
export function streamMethod(service: string): StreamMethod {
  // proto-loader types every method as MethodDefinition<object, object>; messages are plain field maps.
  const method = serviceDefinition(service)[streamMethodName] as StreamMethod | undefined;
  invariant(
    method !== undefined && !method.requestStream && method.responseStream,
    () => `service ${service} has no server-streaming ${streamMethodName} method`,
  );
  return method;
}

type Call = grpc.ServerWritableStream<Fields, Fields>;

/**
 * The server side of `GrpcTransport`'s streams (`Transport.serveStream`): each call of a
 * service's `Subscribe` is admitted as a client call is (the node is not closing or isolated, the
 * cluster is this one's), then checked against `maxStreams` and the codec, and handed to the
 * service as a `ServerStream` (`GrpcServerStream`). Accepting a stream sends the response
 * headers, which the client hears as `accepted`; a refusal is a status without headers. This
 * class ends every open stream `unavailable` when the node is isolated or closes.
 */
export class GrpcStreams {
  readonly #ctx: ServerContext;
  /** Streams not ended yet (pending or accepted), at most `maxStreams`. */
  readonly #open = new Set<GrpcServerStream<unknown>>();

  constructor(ctx: ServerContext) {
    this.#ctx = ctx;
  }

  /** Streams open now. */
  get size(): number {
    return this.#open.size;
  }

  serve<Req, Msg>(codec: StreamCodec<Req, Msg>, accept: (request: Req, stream: ServerStream<Msg>) => void): void {
    const ctx = this.#ctx;
    invariant(!ctx.closing(), () => `serveStream(${codec.service}) on a closed transport`);
    ctx.claim(codec.service, 'service');
    streamMethod(codec.service);
    const handler: grpc.handleServerStreamingCall<Fields, Fields> = (call) => this.#admit(codec as StreamCodec<unknown, unknown>, accept as (request: unknown, stream: ServerStream<unknown>) => void, call);
    addCheckedService(ctx.server, codec.service, { [streamMethodName]: handler }, ctx.log);
    ctx.log.debug({ self: ctx.self, service: codec.service }, 'serving a stream');
  }

  /** Ends every open stream `unavailable` (the node was isolated: nothing more may reach a client). */
  isolated(): void {
    this.#endAll({ kind: 'unavailable', detail: `${this.#ctx.self} is isolated` });
  }

  /** Ends every open stream `unavailable` (the node is closing: they would hold the server until `closeGraceMs`). */
  closeAll(): void {
    this.#endAll({ kind: 'unavailable', detail: `${this.#ctx.self} is shutting down` });
  }

  #endAll(end: ServerStreamEnd): void {
    for (const stream of [...this.#open]) stream.end(end);
  }

  /** The checks of one new stream, in order; a refused stream ends with the reason and is never handed on. */
  #admit(codec: StreamCodec<unknown, unknown>, accept: (request: unknown, stream: ServerStream<unknown>) => void, call: Call): void {
    const ctx = this.#ctx;
    const { service } = codec;
    const peer = call.getPeer();
    const refuse = (end: StreamEnd): void => void call.emit('error', streamEndStatus(end));
    const refused = admitClient(ctx, service, peer, call.request['cluster'], 'stream', call.request['cluster_id']);
    if (refused !== null) {
      refuse(refused.code === grpc.status.UNAVAILABLE
        ? { kind: 'unavailable', detail: refused.details }
        : { kind: 'wrong-cluster', expected: describeClusterName(call.request['cluster']), actual: ctx.cluster, detail: refused.details });
      return;
    }
    const denied = ctx.auth.client(call, service);
    if (denied !== null) {
      call.emit('error', { code: denied.code, details: denied.details });
      return;
    }
    const maxStreams = ctx.options.maxStreams;
    if (this.#open.size >= maxStreams) {
      ctx.log.warn({ service, client: peer, maxStreams }, 'stream refused: too many streams open');
      refuse({ kind: 'overloaded', detail: `${ctx.self} holds ${this.#open.size} streams (maxStreams ${maxStreams})` });
      return;
    }
    let request: unknown;
    try {
      request = codec.decodeRequest(call.request);
    } catch (err) {
      ctx.log.warn({ client: peer, service, field: fieldOf(err), err }, 'stream refused: failed validation');
      refuse({ kind: 'invalid-request', detail: err instanceof InvalidMessageError ? err.message : `invalid request: ${errorText(err)}` });
      return;
    }
    const stream = new GrpcServerStream(ctx, codec, call, () => this.#open.delete(stream));
    this.#open.add(stream);
    try {
      accept(request, stream);
    } catch (err) {
      ctx.log.error({ service, client: peer, err }, 'stream service threw; stream ended internal');
      stream.end({ kind: 'internal', detail: `${ctx.self} failed on this stream` });
    }
  }
}

/**
 * One stream at the server (`ServerStream`) over a grpc-js server stream. Pending until accepted
 * (the response headers go out then) or ended (a status with the end's kind in its trailers, after
 * what was written). Its client going away (a cancel, or the connection dropped by keepalive) is
 * heard as grpc-js's `cancelled`.
 */
class GrpcServerStream<Msg> implements ServerStream<Msg> {
  readonly peer: string;
  readonly #ctx: ServerContext;
  readonly #codec: StreamCodec<unknown, Msg>;
  readonly #call: Call;
  readonly #gone: () => void;
  #phase: 'pending' | 'accepted' | 'ended' = 'pending';
  #end: StreamEnd | null = null;
  #listener: ((end: StreamEnd) => void) | null = null;

  constructor(ctx: ServerContext, codec: StreamCodec<unknown, Msg>, call: Call, gone: () => void) {
    this.peer = call.getPeer();
    this.#ctx = ctx;
    this.#codec = codec;
    this.#call = call;
    this.#gone = gone;
    const lost = (): void => this.#ended({ kind: 'cancelled', detail: `the client ${this.peer} closed the stream or its connection went away` });
    call.once('cancelled', lost);
    call.once('close', lost);
  }

  get open(): boolean {
    return this.#phase !== 'ended';
  }

  accept(): void {
    if (this.#phase !== 'pending') return;
    this.#phase = 'accepted';
    this.#call.sendMetadata(new grpc.Metadata());
  }

  send(message: Msg): boolean {
    if (this.#phase === 'ended') return false;
    this.accept();
    const max = this.#ctx.options.maxQueuedStreamMessages;
    if (this.#call.writableLength >= max) {
      this.#ctx.log.warn({ service: this.#codec.service, client: this.peer, queued: this.#call.writableLength }, 'stream ended: the client does not read it');
      this.#ctx.metrics.count('synod_stream_evictions_total', { service: this.#codec.service });
      this.end({ kind: 'overloaded', detail: `more than ${max} messages wait unread (maxQueuedStreamMessages)` });
      return false;
    }
    let wire: Fields;
    try {
      wire = this.#codec.encodeMessage(message);
    } catch (err) {
      this.#ctx.log.error({ service: this.#codec.service, client: this.peer, err }, 'stream ended: the codec cannot encode a message');
      this.end({ kind: 'internal', detail: `${this.#ctx.self} cannot encode a message` });
      return false;
    }
    this.#call.write(wire);
    return true;
  }

  end(reason: ServerStreamEnd): void {
    if (this.#phase === 'ended') return;
    // grpc-js sends the status once what was written before has gone out.
    this.#call.emit('error', streamEndStatus(reason));
    this.#ended(reason);
  }

  whenWritable(resume: () => void): void {
    // grpc-js's server stream is an object-mode Writable: it asks for a drain once its queue
    // reached the high-water mark, and emits `drain` when the queue has gone out.
    if (this.#phase === 'ended' || !this.#call.writableNeedDrain) {
      setImmediate(resume);
      return;
    }
    let called = false;
    const once = (): void => {
      if (called) return;
      called = true;
      this.#call.off('drain', once);
      this.#call.off('close', once);
      resume();
    };
    this.#call.once('drain', once);
    this.#call.once('close', once);
  }

  onEnded(listener: (end: StreamEnd) => void): void {
    invariant(this.#listener === null, 'one end listener per stream');
    this.#listener = listener;
    if (this.#end !== null) this.#notify(this.#end);
  }

  #ended(end: StreamEnd): void {
    if (this.#phase === 'ended') return;
    this.#phase = 'ended';
    this.#end = end;
    this.#gone();
    if (this.#listener !== null) this.#notify(end);
  }

  /** Tells the listener on a later turn, never inside a call on the stream. */
  #notify(end: StreamEnd): void {
    const listener = this.#listener!;
    setImmediate(() => {
      try {
        listener(end);
      } catch (err) {
        this.#ctx.log.error({ service: this.#codec.service, client: this.peer, err }, 'stream end listener threw');
      }
    });
  }
}
