// A tiny callback-stream client for tests: one `synod.rsm.Callbacks.Subscribe` stream over
// @grpc/grpc-js, recording what arrives and how the stream ended.
import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import type { Json } from '../../src/rsm/app.js';
import {
  callbacksService,
  decodeCallbackMessage,
  encodeSubscribeRequest,
  primaryFromDetails,
  subscribeMethod,
} from '../../src/rsm/callbacks-wire.js';
import { serviceDefinition } from '../../src/runtime/proto.js';
import { sleep } from '../../tools/harness/node-process.js';

type Fields = Record<string, unknown>;

export interface StreamEnd {
  readonly code: grpc.status;
  readonly details: string;
}

export class TestSubscriber {
  readonly messages: Json[] = [];
  /** When each message arrived (Date.now()). */
  readonly arrivals: number[] = [];
  readonly ended: Promise<StreamEnd>;
  endedWith: StreamEnd | null = null;
  readonly #client: grpc.Client;
  readonly #call: grpc.ClientReadableStream<Fields>;
  readonly #waiters = new Set<() => void>();

  constructor(
    readonly server: string,
    cluster: string,
    readonly owner: string,
  ) {
    const method = serviceDefinition(callbacksService)[subscribeMethod] as MethodDefinition<Fields, Fields>;
    this.#client = new grpc.Client(server, grpc.credentials.createInsecure());
    this.#call = this.#client.makeServerStreamRequest(
      method.path, method.requestSerialize, method.responseDeserialize, encodeSubscribeRequest(cluster, owner));
    this.#call.on('data', (wire: Fields) => {
      this.messages.push(decodeCallbackMessage(wire));
      this.arrivals.push(Date.now());
      this.#wake();
    });
    this.ended = new Promise((resolve) => {
      const done = (end: StreamEnd): void => {
        if (this.endedWith !== null) return;
        this.endedWith = end;
        this.#wake();
        resolve(end);
      };
      this.#call.on('error', (err: grpc.ServiceError) => done({ code: err.code, details: err.details }));
      this.#call.on('status', (s: grpc.StatusObject) => done({ code: s.code, details: s.details }));
    });
  }

  /** The first message (received so far or later) that satisfies `pred`. */
  async next(pred: (m: Json) => boolean, timeoutMs: number, what: string): Promise<{ message: Json; at: number }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.messages.findIndex(pred);
      if (i >= 0) return { message: this.messages[i]!, at: this.arrivals[i]! };
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`${this.owner}: no ${what} within ${timeoutMs} ms; got ${JSON.stringify(this.messages)}; ended ${JSON.stringify(this.endedWith)}`);
      }
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.#waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.#waiters.add(wake);
      });
    }
  }

  /** Resolves once the stream has been open (not refused) for `ms`; rejects with its end otherwise. */
  async accepted(ms = 200): Promise<void> {
    const end = await Promise.race([this.ended, sleep(ms).then(() => null)]);
    if (end !== null) throw new Error(`${this.owner}: stream to ${this.server} ended: ${grpc.status[end.code]} ${end.details}`);
  }

  close(): void {
    this.#call.cancel();
    this.#client.close();
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }
}

/**
 * Subscribes `owner` to the serving primary, starting at `start` and following the
 * FAILED_PRECONDITION hints (`not primary; primary is …`) as a lock client would; retries on
 * UNAVAILABLE and on `no primary known`.
 */
export async function subscribeToPrimary(start: string, others: readonly string[], cluster: string, owner: string, timeoutMs = 5000): Promise<TestSubscriber> {
  const deadline = Date.now() + timeoutMs;
  let target = start;
  let next = 0;
  let last = '';
  while (Date.now() < deadline) {
    const s = new TestSubscriber(target, cluster, owner);
    const end = await Promise.race([s.ended, sleep(150).then(() => null)]);
    if (end === null) return s;
    s.close();
    last = `${target}: ${grpc.status[end.code]} ${end.details}`;
    const hint = end.code === grpc.status.FAILED_PRECONDITION ? primaryFromDetails(end.details) : undefined;
    if (typeof hint === 'string') {
      target = hint;
    } else {
      target = others[next++ % others.length] ?? start;
      await sleep(50);
    }
  }
  throw new Error(`${owner}: could not subscribe to the primary within ${timeoutMs} ms (last: ${last})`);
}
