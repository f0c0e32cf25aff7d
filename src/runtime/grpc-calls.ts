import * as grpc from '@grpc/grpc-js';
import { InvalidMessageError, invariant } from '../env/errors.js';
import { type AnswerChannel, ReturnAddress, type ServiceCodec } from '../env/transport.js';
import type { Fields } from '../env/validate.js';
import { callMethod, callMethodName, errorText, fieldOf } from './grpc-peers.js';
import { type Refusal, type ServerContext, admitClient, isolated, refuse } from './grpc-server.js';
import { CallStreamServer, callStreamMethodName } from './grpc-call-stream-server.js';
import { retryAfterMetadata } from './grpc-status.js';
import { addCheckedService } from './grpc-undecodable.js';
import { serviceDefinition } from './proto.js';

/** A served request/response service: its codec and receiver. */
export interface ServedService {
  readonly service: string;
  readonly codec: ServiceCodec<unknown, unknown>;
  readonly receive: (from: ReturnAddress, request: unknown) => void;
}

/**
 * How a waiting request is completed: with a refusal (`error`), or with its encoded answer. A
 * unary call's is grpc-js's `sendUnaryData`; a streamed request's writes an answer on its stream.
 */
export type Respond = (error: Partial<grpc.StatusObject> | null, wire?: Fields) => void;

/** A client call waiting for its answer. */
interface PendingCall {
  readonly served: ServedService;
  readonly respond: Respond;
  /** Its request message's size as received (`maxPendingCallBytes` counts these). */
  readonly bytes: number;
}

/** What the serving side decided about one client call. */
export type CallVerdict = { readonly ok: true; readonly request: unknown } | Refusal;

/**
 * Sizes of the request messages as received, by the decoded message (the object grpc-js hands
 * the handler): the bytes a waiting call holds, without estimating the decoded object.
 */
const receivedBytes = new WeakMap<object, number>();

/**
 * `service`'s definition with a request decoder of `Call` that records each message's size in
 * `receivedBytes`, and its `Stream` method, if any, carrying raw bytes both ways (the stream's
 * server decodes and encodes each message itself: grpc-call-stream-server.ts).
 */
function measuredDefinition(service: string): grpc.ServiceDefinition {
  const definition = serviceDefinition(service);
  const method = definition[callMethodName]!;
  const requestDeserialize = (bytes: Buffer): object => {
    const request = method.requestDeserialize(bytes) as object;
    receivedBytes.set(request, bytes.length);
    return request;
  };
  const measured: Record<string, unknown> = { ...definition, [callMethodName]: { ...method, requestDeserialize } };
  const stream = definition[callStreamMethodName];
  if (stream !== undefined) measured[callStreamMethodName] = { ...stream, requestDeserialize: rawBytes, responseSerialize: rawBytes };
  return measured as grpc.ServiceDefinition;
}

function rawBytes(bytes: Buffer): Buffer {
  return bytes;
}

/** Refusals for capacity are logged at most this often (with how many there were), not one line each. */
const refusalLogIntervalMs = 1000;

/**
 * The request/response services of `GrpcTransport` (`Transport.serve`): each admitted call
 * waits under a return address of its own until it is answered (at most once), cancelled, past
 * its deadline, refused because the node is isolated, or the node closes. The checks and what
 * each refusal means are documented on `GrpcTransport`.
 *
 * This is the node's edge for load it cannot take: at most `maxPendingCalls` calls and
 * `maxPendingCallBytes` bytes of requests wait here (a call is admitted when none waits, so any
 * message within `maxMessageBytes` can be served); one more is refused at once with
 * RESOURCE_EXHAUSTED and a retry hint (`overloadRetryAfterMs` in the trailing metadata
 * `synod-retry-after-ms`), before its request is decoded, never queued. Everything a node's
 * cores see arrives through such bounded edges, which is why the executor's queue needs no
 * bound of its own (see `Executor`).
 */
export class GrpcCalls {
  readonly #ctx: ServerContext;
  /** The call streams of every served service that has a `Stream` method. */
  readonly #streams: CallStreamServer;
  /** Client calls waiting for their answer, at most `maxPendingCalls` and `maxPendingCallBytes`. */
  readonly #pending = new Map<ReturnAddress, PendingCall>();
  #pendingBytes = 0;
  /** The number in the last return address's label. */
  #callCount = 0;
  /** Capacity refusals not logged yet, and when the last line was written. */
  #refusedUnlogged = 0;
  #refusalLoggedAtMs = Number.NEGATIVE_INFINITY;

  constructor(ctx: ServerContext) {
    this.#ctx = ctx;
    this.#streams = new CallStreamServer(ctx, {
      admit: (served, wire, bytes, client) => this.#admit(served, wire, bytes, client),
      hold: (served, request, bytes, respond) => this.#hold(served, request, bytes, respond),
      forget: (address) => {
        const pending = this.#pending.get(address);
        if (pending !== undefined) this.#forget(address, pending);
      },
    });
  }

  /** Client calls waiting for their answer now. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Bytes of the requests of the client calls waiting now. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Call streams open now. */
  get streams(): number {
    return this.#streams.size;
  }

  serve<Req, Ans>(codec: ServiceCodec<Req, Ans>, receive: (from: ReturnAddress, request: Req) => void): AnswerChannel<Ans> {
    const ctx = this.#ctx;
    invariant(!ctx.closing(), () => `serve(${codec.service}) on a closed transport`);
    ctx.claim(codec.service, 'service');
    const method = callMethod(codec.service);
    // The codec and receiver of one service: only this codec's requests reach this receiver.
    const served: ServedService = {
      service: codec.service,
      codec: codec as ServiceCodec<unknown, unknown>,
      receive: receive as (from: ReturnAddress, request: unknown) => void,
    };
    const handler: grpc.handleUnaryCall<Fields, Fields> = (call, respond) => this.#call(served, call, respond);
    const definition = measuredDefinition(codec.service);
    const handlers: grpc.UntypedServiceImplementation = { [callMethodName]: handler };
    // A service whose proto offers a call stream is served on it too (grpc-call-stream-server.ts).
    if (definition[callStreamMethodName] !== undefined) handlers[callStreamMethodName] = this.#streams.handler(served);
    // addCheckedService passes the duplex `Stream` call straight on: its raw-bytes decoder never throws.
    addCheckedService(ctx.server, codec.service, handlers, ctx.log, definition);
    ctx.log.debug({ self: ctx.self, service: codec.service, method: method.path }, 'serving');
    return { answer: (to, answer) => this.#answer(served, to, answer) };
  }

  /**
   * Ends every call stream UNAVAILABLE (forgetting its requests), then answers every waiting
   * unary call UNAVAILABLE (the node is closing: they would hold the server until `closeGraceMs`).
   */
  closeAll(): void {
    this.#streams.endAll(`${this.#ctx.self} is shutting down`);
    for (const [address, pending] of this.#pending) {
      this.#complete(address, pending, { code: grpc.status.UNAVAILABLE, details: `${this.#ctx.self} is shutting down` });
    }
  }

  /**
   * Ends every call stream UNAVAILABLE (the node was isolated: nothing may reach a client). Unary
   * calls still waiting are answered UNAVAILABLE when their answer comes (`#answer`).
   */
  isolated(): void {
    this.#streams.endAll(`${this.#ctx.self} is isolated`);
  }

  /** Admits one client call, gives it a return address and hands it to the receiver. */
  #call(served: ServedService, call: grpc.ServerUnaryCall<Fields, Fields>, respond: grpc.sendUnaryData<Fields>): void {
    const { log } = this.#ctx;
    const bytes = receivedBytes.get(call.request) ?? 0;
    const denied = this.#ctx.auth.client(call, served.service);
    if (denied !== null) {
      respond({ code: denied.code, details: denied.details });
      return;
    }
    const verdict = this.#admit(served, call.request, bytes, call.getPeer());
    if (!verdict.ok) {
      respond({ code: verdict.code, details: verdict.details, metadata: verdict.metadata });
      return;
    }
    const { service } = served;
    if (call.cancelled) {
      log.debug({ service, client: call.getPeer() }, 'call dropped: cancelled before it was handed on');
      return;
    }
    let returnAddress: ReturnAddress | null = null;
    // Emitted when the client cancels or the deadline passes (grpc-js may also emit it once the
    // answer went out: then the call is no longer pending and this does nothing).
    call.on('cancelled', () => {
      const pending = returnAddress === null ? undefined : this.#pending.get(returnAddress);
      if (returnAddress === null || pending === undefined) return;
      this.#forget(returnAddress, pending);
      log.debug({ service, returnAddress }, 'call forgotten: cancelled by the client or past its deadline');
    });
    returnAddress = this.#hold(served, verdict.request, bytes, (error, wire) => (error !== null ? respond(error) : respond(null, wire)));
  }

  /**
   * Gives an admitted request a return address, keeps it waiting (counted against the bounds) and
   * hands it to the receiver; a receiver that throws gets it answered INTERNAL. Returns the address.
   */
  #hold(served: ServedService, request: unknown, bytes: number, respond: Respond): ReturnAddress {
    const { self, log } = this.#ctx;
    const { service } = served;
    const returnAddress = new ReturnAddress(`call ${++this.#callCount}`);
    const pending: PendingCall = { served, respond, bytes };
    this.#pending.set(returnAddress, pending);
    this.#pendingBytes += pending.bytes;
    try {
      served.receive(returnAddress, request);
    } catch (err) {
      log.error({ service, returnAddress, err }, 'receiver threw; call answered INTERNAL');
      if (this.#pending.get(returnAddress) === pending) {
        this.#complete(returnAddress, pending, { code: grpc.status.INTERNAL, details: `${self} failed on this request` });
      }
    }
    return returnAddress;
  }

  /**
   * The serving side's checks of one client call, in order: the client's (`admitClient`), then
   * capacity (before decoding, so that a refused call costs little), then the codec's. Logs every
   * refusal. Never throws.
   */
  #admit(served: ServedService, wire: Fields, bytes: number, client: string): CallVerdict {
    const { service } = served;
    const refused = admitClient(this.#ctx, service, client, wire['cluster'], 'call', wire['cluster_id']);
    if (refused !== null) return refused;
    const full = this.#overCapacity(service, bytes);
    if (full !== null) return full;
    try {
      return { ok: true, request: served.codec.decodeRequest(wire) };
    } catch (err) {
      this.#ctx.log.warn({ client, service, field: fieldOf(err), err }, 'call refused: failed validation');
      const details = err instanceof InvalidMessageError ? err.message : `invalid request: ${errorText(err)}`;
      return refuse(grpc.status.INVALID_ARGUMENT, details);
    }
  }

  /** RESOURCE_EXHAUSTED with a retry hint if one more call of `bytes` would pass a limit; else null. */
  #overCapacity(service: string, bytes: number): Refusal | null {
    const { self, options } = this.#ctx;
    const { maxPendingCalls, maxPendingCallBytes, overloadRetryAfterMs } = options;
    let details: string;
    if (this.#pending.size >= maxPendingCalls) {
      details = `${self} holds ${this.#pending.size} unanswered calls (maxPendingCalls ${maxPendingCalls})`;
    } else if (this.#pending.size > 0 && this.#pendingBytes + bytes > maxPendingCallBytes) {
      details = `${self} holds ${this.#pendingBytes} bytes of unanswered calls; ${bytes} more would pass maxPendingCallBytes ${maxPendingCallBytes}`;
    } else {
      return null;
    }
    this.#logRefusal(service, details);
    return { ok: false, code: grpc.status.RESOURCE_EXHAUSTED, details, metadata: retryAfterMetadata(overloadRetryAfterMs) };
  }

  /** A warn line for the first capacity refusal, then at most one per `refusalLogIntervalMs` with the count. */
  #logRefusal(service: string, details: string): void {
    this.#refusedUnlogged++;
    const now = Date.now();
    if (now - this.#refusalLoggedAtMs < refusalLogIntervalMs) return;
    const { maxPendingCalls, maxPendingCallBytes } = this.#ctx.options;
    this.#ctx.log.warn({ service, refused: this.#refusedUnlogged, pending: this.#pending.size, pendingBytes: this.#pendingBytes, maxPendingCalls, maxPendingCallBytes },
      `calls refused: too many waiting for an answer (${details})`);
    this.#refusedUnlogged = 0;
    this.#refusalLoggedAtMs = now;
  }

  /** Answers the call waiting at `to`, if any (the served channel's `answer`). */
  #answer(served: ServedService, to: ReturnAddress, answer: unknown): void {
    const { self, log } = this.#ctx;
    if (this.#ctx.closing()) return;
    const { service } = served;
    const pending = this.#pending.get(to);
    if (pending === undefined) {
      log.debug({ to, service }, 'answer dropped: no call waits at this return address (answered, cancelled or expired)');
      return;
    }
    if (pending.served !== served) {
      // A core answered through another service's channel: a bug, but not this call's fault.
      log.error({ to, service, callService: pending.served.service }, 'answer dropped: the return address is of another service');
      return;
    }
    if (isolated(this.#ctx)) {
      log.debug({ to, service }, 'answer dropped: this node is isolated; call answered UNAVAILABLE');
      this.#complete(to, pending, { code: grpc.status.UNAVAILABLE, details: `${self} is isolated` });
      return;
    }
    let wire: Fields;
    try {
      wire = served.codec.encodeAnswer(answer);
    } catch (err) {
      log.error({ to, service, err }, 'answer dropped: the codec cannot encode it; call answered INTERNAL');
      this.#complete(to, pending, { code: grpc.status.INTERNAL, details: `${self} cannot encode its answer` });
      return;
    }
    this.#complete(to, pending, null, wire);
  }

  /** Forgets the call waiting at `address` and completes it: with `error`, or OK and `wire`. */
  #complete(address: ReturnAddress, pending: PendingCall, error: Partial<grpc.StatusObject> | null, wire?: Fields): void {
    this.#forget(address, pending);
    pending.respond(error, wire);
  }

  #forget(address: ReturnAddress, pending: PendingCall): void {
    this.#pending.delete(address);
    this.#pendingBytes -= pending.bytes;
    invariant(this.#pendingBytes >= 0 && (this.#pending.size > 0 || this.#pendingBytes === 0), () => `${this.#pendingBytes} pending call bytes for ${this.#pending.size} calls`);
  }
}
