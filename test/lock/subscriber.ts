// A tiny callback-stream client for tests: one stream of the callback service
// (`callbacksCodec`) through `GrpcClientTransport.openStream`, recording what arrives and how the
// stream ended.
import { silentLogger } from '../../src/env/logger.js';
import { type ClientStream, type StreamEnd, describeStreamEnd } from '../../src/env/streams.js';
import type { Json } from '../../src/rsm/app.js';
import { type KeepAlive, callbacksCodec } from '../../src/rsm/callbacks-wire.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';

export class TestSubscriber {
  readonly messages: Json[] = [];
  /** When each message arrived (Date.now()). */
  readonly arrivals: number[] = [];
  /** Every keepalive received, with when it arrived (Date.now()). */
  readonly keepalives: Array<KeepAlive & { readonly at: number }> = [];
  /** Resolves with the end; never if the test closes the stream first. */
  readonly ended: Promise<StreamEnd>;
  endedWith: StreamEnd | null = null;
  /** Resolves when the server accepted the stream. */
  readonly opened: Promise<void>;
  readonly #transport: GrpcClientTransport;
  readonly #stream: ClientStream;
  readonly #waiters = new Set<() => void>();

  constructor(
    readonly server: string,
    cluster: string,
    readonly owner: string,
    /** The subscribing client's id: the server serves a bound owner only to the client it is bound to. */
    readonly clientId: string,
  ) {
    this.#transport = new GrpcClientTransport({ cluster, logger: silentLogger });
    let accepted!: () => void;
    let ended!: (end: StreamEnd) => void;
    this.opened = new Promise((resolve) => (accepted = resolve));
    this.ended = new Promise((resolve) => (ended = resolve));
    this.#stream = this.#transport.openStream(callbacksCodec, server, { owner, clientId }, {
      accepted: () => accepted(),
      message: (m) => {
        if (m.kind === 'keepalive') {
          const { kind: _, ...keepalive } = m;
          this.keepalives.push({ ...keepalive, at: Date.now() });
          return;
        }
        this.messages.push(m.message);
        this.arrivals.push(Date.now());
        this.#wake();
      },
      ended: (end) => {
        this.endedWith = end;
        this.#wake();
        ended(end);
      },
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

  close(): void {
    this.#stream.close();
    void this.#transport.close();
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }
}

/**
 * Subscribes `owner` (for client `clientId`) to the serving primary, starting at `start` and
 * following `not-primary` ends to the primary they name, as a lock client would; tries another
 * node after any other end.
 */
export async function subscribeToPrimary(start: string, others: readonly string[], cluster: string, owner: string, clientId: string,
  timeoutMs = 5000): Promise<TestSubscriber> {
  const deadline = Date.now() + timeoutMs;
  let target = start;
  let next = 0;
  let last = '';
  while (Date.now() < deadline) {
    const s = new TestSubscriber(target, cluster, owner, clientId);
    const end = await Promise.race([s.ended, s.opened.then(() => null)]);
    if (end === null) return s;
    s.close();
    last = `${target}: ${describeStreamEnd(end)}`;
    if (end.kind === 'not-primary' && end.primary !== null) {
      target = end.primary;
    } else {
      target = others[next++ % others.length] ?? start;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(`${owner}: could not subscribe to the primary within ${timeoutMs} ms (last: ${last})`);
}
