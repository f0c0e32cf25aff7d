/**
 * Sending one case to a real node, over gRPC as anyone on the network could: a raw `grpc.Client`
 * per address (no synod client in between, so nothing is checked or fixed up on the way), the
 * case's fields through the method's own serializer or its bytes as they are, and what came back
 * read as an outcome (oracle.ts). gRPC's own statuses are read as they are; a stream's end through
 * the trailers synod writes (`streamEndOf`).
 */
import * as grpc from '@grpc/grpc-js';
import { describeCallFailure } from '../../src/env/transport.js';
import { callFailureOf, streamEndOf } from '../../src/runtime/grpc-status.js';
import { clientServiceCodec } from '../../src/rsm/codec.js';
import type { FuzzCase } from './case-model.js';
import { type CaseOutcome, summarize } from './oracle.js';
import type { MethodSchema } from './schema.js';
import { serviceTarget } from './services.js';

/** How long one call may take before its outcome counts as silent. */
const callDeadlineMs = 3000;
/** How long an accepted stream is kept open (then cancelled by the fuzzer). */
const streamOpenMs = 50;

/** Codes that never type a refusal: they say only that something failed. */
const untypedCodes = new Set([grpc.status.UNKNOWN, grpc.status.INTERNAL]);

/** Raw gRPC clients, one per address, closed together. */
export class RawClients {
  readonly #clients = new Map<string, grpc.Client>();

  get(address: string): grpc.Client {
    let c = this.#clients.get(address);
    if (c === undefined) {
      c = new grpc.Client(address, grpc.credentials.createInsecure(), {
        'grpc.max_send_message_length': -1,
        'grpc.max_receive_message_length': -1,
        'grpc.initial_reconnect_backoff_ms': 50,
        'grpc.max_reconnect_backoff_ms': 200,
      });
      this.#clients.set(address, c);
    }
    return c;
  }

  close(): void {
    for (const c of this.#clients.values()) c.close();
    this.#clients.clear();
  }
}

/** Sends `c` to `address` (already the control port for the control service) and resolves with its outcome. */
export function sendCase(clients: RawClients, method: MethodSchema, c: FuzzCase, address: string, cluster: string): Promise<CaseOutcome> {
  let payload: object;
  let serialize: (o: object) => Buffer;
  if (c.payload.form === 'bytes') {
    payload = c.payload.bytes;
    serialize = (b) => b as Buffer;
  } else {
    payload = c.payload.fields;
    serialize = method.serialize;
    try {
      serialize(payload);
    } catch (err) {
      return Promise.resolve({ kind: 'silent', detail: `not sent: protobuf cannot encode it (${(err as Error).message})` });
    }
  }
  const client = clients.get(address);
  const deadline = Date.now() + callDeadlineMs;
  if (method.serverStream) return stream(client, method, serialize, payload, deadline, cluster);
  return new Promise((resolve) => {
    client.makeUnaryRequest(method.path, serialize, method.deserializeAnswer, payload, { deadline }, (err, reply) => {
      if (err !== null) resolve(refusal(err, cluster));
      else resolve(answered(c, reply ?? {}));
    });
  });
}

/** What a gRPC error status means as an outcome. */
function refusal(err: grpc.ServiceError, cluster: string): CaseOutcome {
  if (err.code === grpc.status.DEADLINE_EXCEEDED) return { kind: 'silent', detail: 'deadline exceeded' };
  const detail = describeCallFailure(callFailureOf(err, cluster));
  const typed = !untypedCodes.has(err.code) && (err.details ?? '').length > 0;
  return { kind: 'refused', typed, detail: typed ? detail : `${grpc.status[err.code] ?? err.code}: ${err.details || '(no message)'}` };
}

/** An OK answer: a channel's Ack (taken in), the client service's answer (read with its codec), any other reply. */
function answered(c: FuzzCase, reply: Record<string, unknown>): CaseOutcome {
  const role = serviceTarget(c.service).role;
  if (role === 'channel') return { kind: 'accepted' };
  if (c.service !== clientServiceCodec.service) return { kind: 'answered', summary: Object.keys(reply).join(',') || 'empty', executed: false };
  try {
    return { kind: 'answered', ...summarize(clientServiceCodec.decodeAnswer(reply)) };
  } catch (err) {
    return { kind: 'refused', typed: false, detail: `an answer the client codec refuses: ${(err as Error).message}` };
  }
}

function stream(client: grpc.Client, method: MethodSchema, serialize: (o: object) => Buffer, payload: object, deadline: number, cluster: string): Promise<CaseOutcome> {
  return new Promise((resolve) => {
    let accepted = false;
    let done = false;
    const finish = (o: CaseOutcome): void => {
      if (done) return;
      done = true;
      resolve(o);
    };
    const call = client.makeServerStreamRequest(method.path, serialize, method.deserializeAnswer, payload, { deadline });
    call.on('metadata', () => {
      accepted = true;
      setTimeout(() => {
        call.cancel();
        finish({ kind: 'stream', end: 'accepted', detail: '' });
      }, streamOpenMs);
    });
    // A feed's cancel is the stream's last message: the node ends the subscription (its end follows).
    call.on('data', (m: { cancel?: { reason?: string; detail?: string } | null }) => {
      if (m.cancel !== undefined && m.cancel !== null) finish({ kind: 'stream', end: `cancel ${m.cancel.reason ?? ''}`, detail: m.cancel.detail ?? '' });
    });
    call.on('error', (err: grpc.ServiceError) => {
      if (accepted && err.code === grpc.status.CANCELLED) return finish({ kind: 'stream', end: 'accepted', detail: '' });
      if (err.code === grpc.status.DEADLINE_EXCEEDED) return finish({ kind: 'silent', detail: 'deadline exceeded' });
      const end = streamEndOf(err, cluster);
      finish({ kind: 'stream', end: end.kind, detail: end.detail });
    });
    call.on('status', (s: grpc.StatusObject) => {
      if (s.code === grpc.status.OK) finish({ kind: 'stream', end: accepted ? 'accepted' : 'ended', detail: 'ended OK' });
    });
  });
}
