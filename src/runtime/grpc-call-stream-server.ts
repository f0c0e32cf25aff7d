import * as grpc from '@grpc/grpc-js';
import { InvalidMessageError } from '../env/errors.js';
import type { ReturnAddress } from '../env/transport.js';
import type { Fields } from '../env/validate.js';
import type { CallVerdict, Respond, ServedService } from './grpc-calls.js';
import { callMethod, errorText } from './grpc-peers.js';
import { type ServerContext, isolated } from './grpc-server.js';
import { clusterMetadata, statusName } from './grpc-status.js';

/** The call stream of a request/response service: `rpc Stream(stream <Call>) returns (stream <Answer>)` (proto/calls.proto). */
export const callStreamMethodName = 'Stream';

/**
 * The metadata key under which a client opening a call stream names the largest answer it takes
 * (its `maxMessageBytes`): a larger answer is refused alone, as the client's grpc-js would refuse
 * a unary call's (RESOURCE_EXHAUSTED, "Received message larger than max"; the client reads it as
 * `invalid-answer`), instead of ending the stream.
 */
export const maxAnswerBytesMetadataKey = 'synod-max-answer-bytes';

/** Largest `budget_ms` a streamed request may carry (uint32 on the wire): about 49 days. */
const maxBudgetMs = 0xffff_ffff;

/** What the call streams need of `GrpcCalls`: the very checks, bounds and return addresses of unary calls. */
export interface CallDesk {
  /** The checks of one request (the client's cluster, capacity, the codec), exactly as for a unary call. */
  admit(served: ServedService, wire: Fields, bytes: number, client: string): CallVerdict;
  /** Keeps an admitted request waiting under a new return address and hands it to the receiver. */
  hold(served: ServedService, request: unknown, bytes: number, respond: Respond): ReturnAddress;
  /** Forgets a waiting request (its stream ended, or its deadline passed): a later answer is dropped. */
  forget(address: ReturnAddress): void;
}

type Duplex = grpc.ServerDuplexStream<Buffer, Buffer>;

/**
 * The server side of call streams: each message of a `Stream` call is one request, checked and
 * held exactly as a unary `Call` is (`CallDesk`), and answered on the same stream with its
 * `call_id`: the answer's body, or a `Refusal` carrying the status (code, details, trailing
 * metadata) a unary call would have ended with. One bad request is refused alone; the stream
 * goes on. A request waits at most its `budget_ms` from arrival (then it is forgotten and its
 * late answer dropped, as a unary call past its deadline is). What ends a whole stream, with a
 * status its client maps to `unreachable` for every request it waits on:
 * - UNAVAILABLE: the node is closing or isolated (now, or when the stream was opened; the
 *   isolated refusal names the cluster and its id, as a unary one does);
 * - RESOURCE_EXHAUSTED: `maxCallStreams` are open, or the client does not read its answers
 *   (more than `maxCallStreamQueuedBytes` of them queued);
 * - INVALID_ARGUMENT: a message that is not a request at all (undecodable bytes, or no `call_id`),
 *   which cannot be refused alone because it cannot be answered.
 * The client going away (cancel, or its connection lost) forgets the stream's requests.
 */
export class CallStreamServer {
  readonly #ctx: ServerContext;
  readonly #desk: CallDesk;
  readonly #open = new Set<ServedCallStream>();

  constructor(ctx: ServerContext, desk: CallDesk) {
    this.#ctx = ctx;
    this.#desk = desk;
  }

  get size(): number {
    return this.#open.size;
  }

  /** The grpc-js handler of `served`'s `Stream` method. */
  handler(served: ServedService): grpc.handleBidiStreamingCall<Buffer, Buffer> {
    return (call) => this.#open_(served, call);
  }

  /** Ends every open call stream UNAVAILABLE with `details`, forgetting their requests. */
  endAll(details: string): void {
    const metadata = isolated(this.#ctx) ? clusterMetadata(this.#ctx.cluster, this.#ctx.clusterId() ?? undefined) : undefined;
    for (const stream of [...this.#open]) stream.end({ code: grpc.status.UNAVAILABLE, details, metadata });
  }

  #open_(served: ServedService, call: Duplex): void {
    const ctx = this.#ctx;
    const client = call.getPeer();
    const endAtOnce = (status: Partial<grpc.StatusObject>): void => void call.emit('error', status);
    if (ctx.closing()) return endAtOnce({ code: grpc.status.UNAVAILABLE, details: `${ctx.self} is shutting down` });
    if (isolated(ctx)) {
      ctx.log.debug({ service: served.service, client }, 'call stream refused: this node is isolated');
      return endAtOnce({ code: grpc.status.UNAVAILABLE, details: `${ctx.self} is isolated`, metadata: clusterMetadata(ctx.cluster, ctx.clusterId() ?? undefined) });
    }
    const denied = ctx.auth.client(call, served.service);
    if (denied !== null) return endAtOnce({ code: denied.code, details: denied.details });
    const { maxCallStreams } = ctx.options;
    if (this.#open.size >= maxCallStreams) {
      ctx.log.warn({ service: served.service, client, maxCallStreams }, 'call stream refused: too many open');
      return endAtOnce({ code: grpc.status.RESOURCE_EXHAUSTED, details: `${ctx.self} holds ${this.#open.size} call streams (maxCallStreams ${maxCallStreams})` });
    }
    const stream = new ServedCallStream(ctx, this.#desk, served, call, () => this.#open.delete(stream));
    this.#open.add(stream);
  }
}

/** A streamed request waiting for its answer. */
interface Waiting {
  address: ReturnAddress | null;
  readonly timer: NodeJS.Timeout;
}

/** One open call stream at the server. */
class ServedCallStream {
  readonly #ctx: ServerContext;
  readonly #desk: CallDesk;
  readonly #served: ServedService;
  readonly #call: Duplex;
  readonly #client: string;
  readonly #gone: () => void;
  /** Requests waiting for their answer, by `call_id`. */
  readonly #waiting = new Map<number, Waiting>();
  /** Bytes of answers written and not yet taken by the connection (`maxCallStreamQueuedBytes`). */
  #queuedBytes = 0;
  #ended = false;
  /** The largest answer its client takes (`maxAnswerBytesMetadataKey`); this node's own limit when it names none. */
  readonly #maxAnswerBytes: number;

  constructor(ctx: ServerContext, desk: CallDesk, served: ServedService, call: Duplex, gone: () => void) {
    this.#ctx = ctx;
    this.#desk = desk;
    this.#served = served;
    this.#call = call;
    this.#client = call.getPeer();
    this.#gone = gone;
    const named = Number(call.metadata.get(maxAnswerBytesMetadataKey)[0]);
    this.#maxAnswerBytes = Number.isSafeInteger(named) && named > 0 ? Math.min(named, ctx.options.maxMessageBytes) : ctx.options.maxMessageBytes;
    // Headers now: the client hears that the stream is accepted before any answer.
    call.sendMetadata(new grpc.Metadata());
    call.on('data', (bytes: Buffer) => this.#request(bytes));
    // The client half-closed (it never does; a foreign one may): nothing more will come.
    call.on('end', () => this.end({ code: grpc.status.OK, details: 'the client ended the stream' }));
    const lost = (): void => this.#forgetAll('the client closed the stream or its connection went away');
    call.once('cancelled', lost);
    call.once('close', lost);
    call.on('error', () => this.#forgetAll('the stream failed'));
  }

  /** Ends the stream with `status` (after what was written) and forgets its requests. */
  end(status: Partial<grpc.StatusObject>): void {
    if (this.#ended) return;
    this.#forgetAll(status.details ?? statusName(status.code ?? grpc.status.UNKNOWN));
    this.#call.emit('error', status);
  }

  #forgetAll(why: string): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#gone();
    for (const waiting of this.#waiting.values()) {
      clearTimeout(waiting.timer);
      if (waiting.address !== null) this.#desk.forget(waiting.address);
    }
    if (this.#waiting.size > 0) this.#ctx.log.debug({ service: this.#served.service, client: this.#client, forgotten: this.#waiting.size, why }, 'call stream ended: its requests are forgotten');
    this.#waiting.clear();
  }

  /** One request arrived: checked and held as a unary call is, or refused alone. */
  #request(bytes: Buffer): void {
    if (this.#ended) return;
    const { log } = this.#ctx;
    const { service } = this.#served;
    let wire: Fields;
    try {
      wire = callMethod(service).requestDeserialize(bytes);
    } catch (err) {
      log.warn({ service, client: this.#client, err }, 'call stream ended: a message is not a request');
      this.end({ code: grpc.status.INVALID_ARGUMENT, details: `invalid message: a message on the call stream is not a request: ${errorText(err)}` });
      return;
    }
    const callId = wire['call_id'];
    if (typeof callId !== 'number' || !Number.isSafeInteger(callId) || callId < 1) {
      log.warn({ service, client: this.#client }, 'call stream ended: a request without a call_id');
      this.end({ code: grpc.status.INVALID_ARGUMENT, details: 'invalid message: call_id: a request on a call stream needs a number from 1' });
      return;
    }
    const refuse = (details: string): void => this.#write(callId, { code: grpc.status.INVALID_ARGUMENT, details });
    const budgetMs = wire['budget_ms'];
    if (typeof budgetMs !== 'number' || !Number.isInteger(budgetMs) || budgetMs < 1 || budgetMs > maxBudgetMs) {
      refuse(new InvalidMessageError('budget_ms', 'a request on a call stream needs its budget, 1 ms or more').message);
      return;
    }
    if (this.#waiting.has(callId)) {
      refuse(new InvalidMessageError('call_id', `${callId} is already waiting on this stream`).message);
      return;
    }
    const verdict = this.#desk.admit(this.#served, wire, bytes.length, this.#client);
    if (!verdict.ok) {
      this.#write(callId, { code: verdict.code, details: verdict.details, metadata: verdict.metadata });
      return;
    }
    const timer = setTimeout(() => {
      const expired = this.#waiting.get(callId);
      if (expired === undefined) return;
      this.#waiting.delete(callId);
      if (expired.address !== null) this.#desk.forget(expired.address);
      log.debug({ service, client: this.#client, callId, budgetMs }, 'streamed request forgotten: past its deadline');
    }, budgetMs);
    timer.unref();
    const waiting: Waiting = { address: null, timer };
    this.#waiting.set(callId, waiting);
    // The receiver may answer at once, inside `hold`: `respond` finds the entry by id either way.
    waiting.address = this.#desk.hold(this.#served, verdict.request, bytes.length, (error, answer) => {
      if (this.#waiting.get(callId) !== waiting) return;
      this.#waiting.delete(callId);
      clearTimeout(timer);
      this.#write(callId, error, answer);
    });
  }

  /** Writes the answer to request `callId`: its encoded body, or `error` as a refusal. */
  #write(callId: number, error: Partial<grpc.StatusObject> | null, answer?: Fields): void {
    if (this.#ended) return;
    const { log, options } = this.#ctx;
    const { service } = this.#served;
    const method = callMethod(service);
    let bytes = method.responseSerialize(error === null ? { ...answer, call_id: callId } : { call_id: callId, refusal: refusalOf(error) });
    if (bytes.length > this.#maxAnswerBytes) {
      // What grpc-js would answer for a unary call (this end's limit, or the client's); here it must not end the stream.
      log.warn({ service, client: this.#client, bytes: bytes.length, maxMessageBytes: options.maxMessageBytes, clientMaxBytes: this.#maxAnswerBytes }, 'answer refused: larger than a limit');
      const details = bytes.length > options.maxMessageBytes
        ? `Sent message larger than max (${bytes.length} vs. ${options.maxMessageBytes})`
        : `Received message larger than max (${bytes.length} vs ${this.#maxAnswerBytes})`;
      bytes = method.responseSerialize({ call_id: callId, refusal: refusalOf({ code: grpc.status.RESOURCE_EXHAUSTED, details }) });
    }
    if (this.#queuedBytes > 0 && this.#queuedBytes + bytes.length > options.maxCallStreamQueuedBytes) {
      log.warn({ service, client: this.#client, queuedBytes: this.#queuedBytes }, 'call stream ended: the client does not read its answers');
      this.end({ code: grpc.status.RESOURCE_EXHAUSTED, details: `${this.#queuedBytes} bytes of answers wait unread (maxCallStreamQueuedBytes ${options.maxCallStreamQueuedBytes})` });
      return;
    }
    const size = bytes.length;
    this.#queuedBytes += size;
    this.#call.write(bytes, () => {
      this.#queuedBytes -= size;
    });
  }
}

/** The wire form of a refused request: what a unary call's status would carry. */
function refusalOf(error: Partial<grpc.StatusObject>): Fields {
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(error.metadata?.getMap() ?? {})) {
    if (typeof value === 'string') metadata[key] = value;
  }
  return { code: error.code ?? grpc.status.UNKNOWN, details: error.details ?? '', metadata };
}
