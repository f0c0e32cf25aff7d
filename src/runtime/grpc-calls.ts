import * as grpc from '@grpc/grpc-js';
import { InvalidMessageError, invariant } from '../env/errors.js';
import { type AnswerChannel, ReturnAddress, type ServiceCodec } from '../env/transport.js';
import type { Fields } from '../env/validate.js';
import { callMethod, callMethodName, errorText, fieldOf } from './grpc-peers.js';
import { type Refusal, type ServerContext, admitClient, isolated, refuse } from './grpc-server.js';
import { retryAfterMetadata } from './grpc-status.js';
import { addCheckedService } from './grpc-undecodable.js';
import { serviceDefinition } from './proto.js';

interface ServedService {
  readonly service: string;
  readonly codec: ServiceCodec<unknown, unknown>;
  readonly receive: (from: ReturnAddress, request: unknown) => void;
}

/** A client call waiting for its answer. */
interface PendingCall {
  readonly served: ServedService;
  readonly respond: grpc.sendUnaryData<Fields>;
  /** Its request message's size as received (`maxPendingCallBytes` counts these). */
  readonly bytes: number;
}

/** What the serving side decided about one client call. */
type CallVerdict = { readonly ok: true; readonly request: unknown } | Refusal;

/**
 * Sizes of the request messages as received, by the decoded message (the object grpc-js hands
 * the handler): the bytes a waiting call holds, without estimating the decoded object.
 */
const receivedBytes = new WeakMap<object, number>();

/** `service`'s definition with a request decoder that records each message's size in `receivedBytes`. */
function measuredDefinition(service: string): grpc.ServiceDefinition {
  const definition = serviceDefinition(service);
  const method = definition[callMethodName]!;
  const requestDeserialize = (bytes: Buffer): object => {
    const request = method.requestDeserialize(bytes) as object;
    receivedBytes.set(request, bytes.length);
    return request;
  };
  return { ...definition, [callMethodName]: { ...method, requestDeserialize } } as grpc.ServiceDefinition;
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
  }

  /** Client calls waiting for their answer now. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Bytes of the requests of the client calls waiting now. */
  get pendingBytes(): number {
    return this.#pendingBytes;
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
    addCheckedService(ctx.server, codec.service, { [callMethodName]: handler }, ctx.log, measuredDefinition(codec.service));
    ctx.log.debug({ self: ctx.self, service: codec.service, method: method.path }, 'serving');
    return { answer: (to, answer) => this.#answer(served, to, answer) };
  }

  /** Answers every waiting call UNAVAILABLE (the node is closing: they would hold the server until `closeGraceMs`). */
  closeAll(): void {
    for (const [address, pending] of this.#pending) {
      this.#complete(address, pending, { code: grpc.status.UNAVAILABLE, details: `${this.#ctx.self} is shutting down` });
    }
  }

  /** Admits one client call, gives it a return address and hands it to the receiver. */
  #call(served: ServedService, call: grpc.ServerUnaryCall<Fields, Fields>, respond: grpc.sendUnaryData<Fields>): void {
    const { self, log } = this.#ctx;
    const verdict = this.#admit(served, call);
    if (!verdict.ok) {
      respond({ code: verdict.code, details: verdict.details, metadata: verdict.metadata });
      return;
    }
    const { service } = served;
    if (call.cancelled) {
      log.debug({ service, client: call.getPeer() }, 'call dropped: cancelled before it was handed on');
      return;
    }
    const returnAddress = new ReturnAddress(`call ${++this.#callCount}`);
    const pending: PendingCall = { served, respond, bytes: receivedBytes.get(call.request) ?? 0 };
    this.#pending.set(returnAddress, pending);
    this.#pendingBytes += pending.bytes;
    // Emitted when the client cancels or the deadline passes (grpc-js may also emit it once the
    // answer went out: then the call is no longer pending and this does nothing).
    call.on('cancelled', () => {
      if (this.#pending.get(returnAddress) !== pending) return;
      this.#forget(returnAddress, pending);
      log.debug({ service, returnAddress }, 'call forgotten: cancelled by the client or past its deadline');
    });
    try {
      served.receive(returnAddress, verdict.request);
    } catch (err) {
      log.error({ service, returnAddress, err }, 'receiver threw; call answered INTERNAL');
      if (this.#pending.get(returnAddress) === pending) {
        this.#complete(returnAddress, pending, { code: grpc.status.INTERNAL, details: `${self} failed on this request` });
      }
    }
  }

  /**
   * The serving side's checks of one client call, in order: the client's (`admitClient`), then
   * capacity (before decoding, so that a refused call costs little), then the codec's. Logs every
   * refusal. Never throws.
   */
  #admit(served: ServedService, call: grpc.ServerUnaryCall<Fields, Fields>): CallVerdict {
    const { service } = served;
    const wire = call.request;
    const refused = admitClient(this.#ctx, service, call.getPeer(), wire['cluster'], 'call', wire['cluster_id']);
    if (refused !== null) return refused;
    const full = this.#overCapacity(service, receivedBytes.get(wire) ?? 0);
    if (full !== null) return full;
    try {
      return { ok: true, request: served.codec.decodeRequest(wire) };
    } catch (err) {
      this.#ctx.log.warn({ client: call.getPeer(), service, field: fieldOf(err), err }, 'call refused: failed validation');
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
    if (error !== null) pending.respond(error);
    else pending.respond(null, wire);
  }

  #forget(address: ReturnAddress, pending: PendingCall): void {
    this.#pending.delete(address);
    this.#pendingBytes -= pending.bytes;
    invariant(this.#pendingBytes >= 0 && (this.#pending.size > 0 || this.#pendingBytes === 0), () => `${this.#pendingBytes} pending call bytes for ${this.#pending.size} calls`);
  }
}
