import * as grpc from '@grpc/grpc-js';
import { invariant } from '../env/errors.js';
import type { Fields } from '../env/validate.js';
import { type ServerContext, admitClient } from './grpc-server.js';
import { serviceDefinition } from './proto.js';

/**
 * The server-streaming services of `GrpcTransport` (`serveStream`, the callback service): a
 * stream is admitted as a client call is, then handed to its opener, who owns it from then on.
 * This class only ends, with UNAVAILABLE, the streams still open when the node closes.
 */
export class GrpcStreams {
  readonly #ctx: ServerContext;
  /** Streams still open, ended at `closeAll()`. */
  readonly #streams = new Set<grpc.ServerWritableStream<Fields, Fields>>();

  constructor(ctx: ServerContext) {
    this.#ctx = ctx;
  }

  serve(service: string, method: string, open: (request: Fields, stream: grpc.ServerWritableStream<Fields, Fields>) => void): void {
    const ctx = this.#ctx;
    invariant(!ctx.closing(), () => `serveStream(${service}) on a closed transport`);
    ctx.claim(service, 'service');
    const definition = serviceDefinition(service);
    const m = definition[method];
    invariant(m !== undefined && !m.requestStream && m.responseStream, () => `service ${service} has no server-streaming ${method} method`);
    const handler: grpc.handleServerStreamingCall<Fields, Fields> = (stream) => {
      const refused = admitClient(ctx, service, stream.getPeer(), stream.request['cluster'], 'stream');
      if (refused !== null) {
        stream.emit('error', { code: refused.code, details: refused.details, metadata: refused.metadata });
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
        ctx.log.error({ service, client: stream.getPeer(), err }, 'stream opener threw; stream ended INTERNAL');
        stream.emit('error', { code: grpc.status.INTERNAL, details: `${ctx.self} failed on this subscription` });
      }
    };
    ctx.server.addService(definition, { [method]: handler });
    ctx.log.debug({ self: ctx.self, service, method }, 'serving a stream');
  }

  /** Ends every open stream with UNAVAILABLE (the node is closing). */
  closeAll(): void {
    for (const stream of this.#streams) stream.emit('error', { code: grpc.status.UNAVAILABLE, details: `${this.#ctx.self} is shutting down` });
    this.#streams.clear();
  }
}
