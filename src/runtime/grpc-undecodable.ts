import * as grpc from '@grpc/grpc-js';
import type * as protoLoader from '@grpc/proto-loader';
import type { Logger } from '../env/logger.js';
import { streamEndStatus } from './grpc-status.js';
import { serviceDefinition } from './proto.js';

/**
 * Requests whose bytes are not a message of their type. grpc-js reads a request with the
 * method's deserializer before any handler runs, and when that throws (bytes cut short, a field
 * with the wrong wire type, a wire type that does not exist, groups nested past the stack) it
 * answers INTERNAL, "Error deserializing request": to the sender that reads as a failure of the
 * server, not of its request. Every service synod serves is added with `addCheckedService`
 * instead, whose deserializer never throws: bytes that do not decode become an
 * `UndecodableRequest`, which the handler's wrapper refuses INVALID_ARGUMENT (a stream:
 * `invalid-request`), naming the type, and logs at warn, before the handler sees anything.
 * (Found by the fuzzer, tools/fuzz/.)
 */
export class UndecodableRequest {
  constructor(
    /** The request type, e.g. `Envelope`. */
    readonly type: string,
    /** What the decoder said. */
    readonly reason: string,
  ) {}

  /** The refusal's text. */
  get details(): string {
    return `invalid message: the request is not a ${this.type} message: ${this.reason}`;
  }
}

// Handlers as grpc-js types them for any request and answer.
type UnaryHandler = grpc.handleUnaryCall<unknown, unknown>;
type StreamHandler = grpc.handleServerStreamingCall<unknown, unknown>;

/**
 * Adds service `name` to `server` as `server.addService(def, impl)` would, except that a request
 * that does not decode is refused (see `UndecodableRequest`) instead of answered INTERNAL. `def`
 * is the service's definition from proto/ unless the caller wraps its deserializers (a throw of
 * theirs is refused the same way). Unary and server-streaming methods only (all synod has).
 */
export function addCheckedService(server: grpc.Server, name: string, impl: grpc.UntypedServiceImplementation, log: Logger,
  def: grpc.ServiceDefinition = serviceDefinition(name) as grpc.ServiceDefinition): void {
  const checked: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const [method, m] of Object.entries(def)) {
    // proto-loader's definitions name the request type; a wrapped one may not (then the method's name).
    const type = ((m as Partial<protoLoader.MethodDefinition<object, object>>).requestType?.type as { name?: string } | undefined)?.name ?? method;
    checked[method] = {
      ...m,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return m.requestDeserialize(bytes);
        } catch (err) {
          return new UndecodableRequest(type, err instanceof Error ? err.message : String(err));
        }
      },
    };
    const handler = impl[method];
    if (handler === undefined) continue;
    const refused = (request: unknown, peer: string): request is UndecodableRequest => {
      if (!(request instanceof UndecodableRequest)) return false;
      log.warn({ service: name, method, client: peer, reason: request.reason }, 'request refused: its bytes are not a message of its type');
      return true;
    };
    handlers[method] = m.responseStream
      ? ((call) => {
        if (refused(call.request, call.getPeer())) call.emit('error', streamEndStatus({ kind: 'invalid-request', detail: call.request.details }));
        else (handler as StreamHandler)(call);
      }) satisfies StreamHandler
      : ((call, callback) => {
        if (refused(call.request, call.getPeer())) callback({ code: grpc.status.INVALID_ARGUMENT, details: call.request.details });
        else (handler as UnaryHandler)(call, callback);
      }) satisfies UnaryHandler;
  }
  server.addService(checked as grpc.ServiceDefinition, handlers);
}
