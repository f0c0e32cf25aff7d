// What the request/response service tests over gRPC share: a raw caller that bypasses the
// client transport's checks, served echo services, and a record of what a client channel saw.
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import type { AnswerChannel, CallFailure, Channel, ClientTransport, ReturnAddress } from '../../src/env/transport.js';
import type { NodeId } from '../../src/env/types.js';
import type { CallWire } from '../../src/options.js';
import type { Fields } from '../../src/env/validate.js';
import type { GrpcTransport } from '../../src/runtime/grpc-transport.js';
import { serviceDefinition } from '../../src/runtime/proto.js';
import { type Ping, echoCallCodec } from '../conformance/echo-codec.js';
import { cluster, until } from './grpc-support.js';

const echoCall = serviceDefinition(echoCallCodec.service)['Call'] as MethodDefinition<Fields, Fields, Fields, Fields>;

/** Calls the EchoCall service with a hand-made request, bypassing every check of the client transport. */
export class RawCaller {
  readonly #client: grpc.Client;

  constructor(target: NodeId) {
    this.#client = new grpc.Client(target, grpc.credentials.createInsecure());
  }

  /** Sends `request` in `cluster` unless it names its own (`cluster: undefined`: none); resolves to the status. */
  call(request: Fields): Promise<{ code: grpc.status; details: string }> {
    return new Promise((resolve) => {
      this.#client.makeUnaryRequest(
        echoCall.path,
        echoCall.requestSerialize,
        echoCall.responseDeserialize,
        { cluster, ...request },
        { deadline: Date.now() + 5000 },
        (err) => resolve(err === null ? { code: grpc.status.OK, details: '' } : { code: err.code, details: err.details }),
      );
    });
  }

  close(): void {
    this.#client.close();
  }
}

/** A served echo service that holds every request until the test answers it. */
export interface HeldCalls {
  readonly waiting: Array<{ readonly from: ReturnAddress; readonly req: Ping }>;
  /** Answers the oldest waiting call (with a pong) and forgets it. */
  answerOldest(): void;
  readonly channel: AnswerChannel<Ping>;
}

export function holdCalls(server: GrpcTransport): HeldCalls {
  const waiting: Array<{ from: ReturnAddress; req: Ping }> = [];
  const channel = server.serve(echoCallCodec, (from, req) => waiting.push({ from, req }));
  return {
    waiting,
    channel,
    answerOldest() {
      const call = waiting.shift();
      assert.ok(call !== undefined, 'no call waits');
      channel.answer(call.from, { n: call.req.n, text: `pong ${call.req.text}` });
    },
  };
}

/** Serves echo, answering every request at once. */
export function serveEcho(server: GrpcTransport): void {
  const channel = server.serve(echoCallCodec, (from, req) => channel.answer(from, { n: req.n, text: `pong ${req.text}` }));
}

/** Asserts that a reported failure is of `kind`, with a detail matching `detail`. */
export function expectFailure(reported: { readonly failure: CallFailure }, kind: CallFailure['kind'], detail: RegExp): void {
  assert.equal(reported.failure.kind, kind, JSON.stringify(reported.failure));
  assert.match(reported.failure.detail, detail);
}

/** What one client channel saw. */
export function callLog(): {
  readonly got: Array<{ server: NodeId; answer: Ping }>;
  readonly failed: Array<{ server: NodeId; failure: CallFailure }>;
  readonly receive: (server: NodeId, answer: Ping) => void;
  readonly report: (server: NodeId, failure: CallFailure) => void;
} {
  const got: Array<{ server: NodeId; answer: Ping }> = [];
  const failed: Array<{ server: NodeId; failure: CallFailure }> = [];
  return {
    got,
    failed,
    receive: (server, answer) => got.push({ server, answer }),
    report: (server, failure) => failed.push({ server, failure }),
  };
}

/**
 * Two calls ('a' then 'b') from a fresh channel of `from` to `server`, held there until the test
 * answers: what the tests of waiting calls start from.
 */
export async function twoHeldCalls(server: GrpcTransport, from: ClientTransport): Promise<{ held: HeldCalls; log: ReturnType<typeof callLog>; calls: Channel<Ping> }> {
  const held = holdCalls(server);
  const log = callLog();
  const calls = from.connect(echoCallCodec, log.receive, log.report);
  calls.send(server.self, { n: 1, text: 'a' });
  calls.send(server.self, { n: 2, text: 'b' });
  assert.ok(await until(() => held.waiting.length === 2, 5000), 'both calls reached the server');
  return { held, log, calls };
}

/** Both wires of client calls: the tests about calls run over each (`TransportOptions.callWire`). */
export const callWires: readonly CallWire[] = ['stream', 'unary'];
