import { randomUUID } from 'node:crypto';
import type { Clock } from '../env/clock.js';
import { CoreShell } from '../env/core-shell.js';
import { invariant } from '../env/errors.js';
import { Executor } from '../env/executor.js';
import { type Logger, silentLogger } from '../env/logger.js';
import { Outbox, type Outgoing } from '../env/outbox.js';
import { type Random, systemRandom } from '../env/random.js';
import type { Channel, ClientTransport } from '../env/transport.js';
import type { NodeId } from '../env/types.js';
import { type ClientOptions, defaultClientOptions, limits, withDefaults } from '../options.js';
import { ClientClosedError } from './errors.js';
import type { Json } from '../rsm/app.js';
import { clientServiceCodec } from '../rsm/codec.js';
import type { ClientCall } from '../rsm/messages.js';
import { type CallResult, ClientCore, type ClientOutbox } from './client-core.js';

export interface RsmClientConfig {
  /** Replicas to start from: any members of the cluster (one is enough: the client learns the others). */
  readonly members: readonly NodeId[];
  readonly transport: ClientTransport;
  readonly clock: Clock;
  /** Unique per client; default a random UUID. Two clients must never share one at the same time. */
  readonly clientId?: string;
  readonly random?: Random;
  readonly logger?: Logger;
  readonly options?: Partial<ClientOptions>;
  /**
   * The first sequence number minus one. Default: wall-clock milliseconds × 1000, so that a client
   * restarted under the same `clientId` continues above its earlier calls.
   */
  readonly firstSeq?: number;
  /** Wall-clock milliseconds (for the default `firstSeq`); default `Date.now`. The simulator passes its virtual time. */
  readonly wallClockMs?: () => number;
  /** Told of every call's invocation and completion (see `RsmCallObserver`); default none. Also settable with `observe`. */
  readonly observer?: RsmCallObserver;
  /** The cluster name was checked already (see `ClientCoreDeps.clusterConfirmed`); default false. */
  readonly clusterConfirmed?: boolean;
}

/** One call as an observer sees it. `call` numbers this client's calls (1, 2, …) and ties `completed` to `invoked`. */
export interface ObservedCall {
  readonly clientId: string;
  readonly call: number;
  readonly proc: string;
  readonly args: Json;
}

/**
 * Watches a client's calls, for recording client histories (linearizability checking, issue 7):
 * `invoked` when a call is submitted, `completed` when its result is handed to the caller, each
 * with the time on the client's `Clock` (`now()`; one scale for every client on one clock). The
 * interval [invoked, completed] contains everything the call did on the servers. Results:
 * a value or `AppRejectedError` (executed once), `InvalidArgumentError` (refused, not executed),
 * `DeadlineExceededError` or `ClientClosedError` (the outcome is unknown: it may or may not have
 * executed, also later). Calls submitted after `close` never started and are not reported. Called
 * synchronously from the client's task queue; an observer must be quick and must not throw.
 */
export interface RsmCallObserver {
  invoked(call: ObservedCall, atMs: number): void;
  completed(call: ObservedCall, result: CallResult, atMs: number): void;
}

/** Sequence numbers one client life may use per millisecond of wall time (see `firstSeq`). */
const seqsPerMs = 1000;

export interface CallOptions {
  /** Give up after this long (a `DeadlineExceededError`); default `ClientOptions.defaultDeadlineMs`. */
  readonly deadlineMs?: number;
}

/**
 * A client of a synod cluster: `invoke(proc, args)` runs a procedure of the replicated app
 * exactly once, wherever the primary is, or fails with a typed `RsmClientError`. Calls run one
 * at a time in submission order; for concurrency, use several clients.
 *
 * It talks to the world only through `ClientTransport` and `Clock`, so the simulator runs the
 * same client against simulated clusters (with `submit`, the callback form, which needs no
 * promise machinery).
 */
export class RsmClient {
  readonly core: ClientCore;
  readonly #executor: Executor;
  readonly #clock: Clock;
  readonly #channel: Channel<ClientCall>;
  readonly #shell: CoreShell<ClientOutbox, Outgoing<ClientCall, never>>;
  readonly #pending = new Set<(r: CallResult) => void>();
  #closed = false;
  #observer: RsmCallObserver | null;
  #calls = 0;

  constructor(config: RsmClientConfig) {
    const logger = config.logger ?? silentLogger;
    this.core = new ClientCore({
      clientId: config.clientId ?? randomUUID(),
      members: config.members,
      // Above every number an earlier life of this client id used (at most one call a microsecond).
      firstSeq: config.firstSeq ?? Math.floor(config.wallClockMs?.() ?? Date.now()) * seqsPerMs,
      maxRequestBytes: limits.maxRequestBytes,
      clusterConfirmed: config.clusterConfirmed,
      random: config.random ?? systemRandom,
      logger,
      options: withDefaults(defaultClientOptions, config.options, 'client'),
    });
    this.#clock = config.clock;
    this.#observer = config.observer ?? null;
    this.#executor = new Executor((err) => logger.error({ err }, 'client: internal error'));
    this.#shell = new CoreShell<ClientOutbox, Outgoing<ClientCall, never>>({
      executor: this.#executor,
      clock: config.clock,
      outbox: () => new Outbox<ClientCall>(),
      effects: (out) => ({ timers: out.timers, sends: [...out.volatileSends, ...out.outgoing], upcalls: out.upcalls }),
      onTimer: (key, out) => this.core.onTimer(key, out),
      send: (o) => {
        invariant(o.kind === 'send', 'a client answered a request');
        this.#channel.send(o.to, o.msg);
      },
      // Upcalls end in the caller's callbacks: a callback that throws must not stop the client.
      onUpcallError: (err) => logger.error({ err }, 'client: a call\'s callback threw'),
    });
    this.#channel = config.transport.connect(
      clientServiceCodec,
      (server, answer) => this.#executor.submit(() => this.#shell.run((out) => this.core.onAnswer(server, answer, out))),
      (server, failure, request) => {
        if (request.kind === 'invoke') this.#executor.submit(() => this.#shell.run((out) => this.core.onFailed(server, failure, request.request.seq, out)));
      },
    );
  }

  get clientId(): string {
    return this.core.clientId;
  }

  /**
   * Sets (or, with null, removes) the observer of this client's calls from the next call on; e.g.
   * on the `RsmClient` a `GrpcLockClient` made, before its first lock call.
   */
  observe(observer: RsmCallObserver | null): void {
    this.#observer = observer;
  }

  /** Runs `proc(args)`; `done` gets the result (called from the client's own task queue). */
  submit(proc: string, args: Json, options: CallOptions, done: (result: CallResult) => void): void {
    if (this.#closed) {
      done({ ok: false, error: new ClientClosedError() });
      return;
    }
    const observer = this.#observer;
    const observed: ObservedCall | null = observer === null ? null : { clientId: this.clientId, call: ++this.#calls, proc, args };
    if (observed !== null) observer!.invoked(observed, this.#clock.now());
    const tell = (r: CallResult): void => {
      if (observed !== null) observer!.completed(observed, r, this.#clock.now());
      done(r);
    };
    this.#pending.add(tell);
    const finish = (r: CallResult): void => {
      if (this.#pending.delete(tell)) tell(r);
    };
    this.#executor.submit(() => this.#shell.run((out) => this.core.submit(proc, args, options.deadlineMs, finish, out)));
  }

  /** Runs `proc(args)` and resolves to its reply; rejects with an `RsmClientError`. */
  invoke(proc: string, args: Json = null, options: CallOptions = {}): Promise<Json> {
    return new Promise((resolve, reject) => {
      this.submit(proc, args, options, (r) => (r.ok ? resolve(r.value) : reject(r.error)));
    });
  }

  /** Stops the client; calls in progress end with `ClientClosedError` (they may or may not have executed). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const pending = [...this.#pending];
    this.#pending.clear();
    for (const done of pending) done({ ok: false, error: new ClientClosedError() });
    this.#shell.stop();
    this.#executor.stop();
  }
}
