import type { Channel, ReturnAddress, ServiceCodec, Transport, WireCodec } from './transport.js';
import type { Clock, TimerHandle } from './clock.js';
import type { RecordLog } from './durable-log.js';
import type { Executor } from './executor.js';
import type { NodeId } from './types.js';
import { Outbox } from './outbox.js';
import { invariant } from './errors.js';

/**
 * Test-only switches that break the shell's ordering on purpose, to prove the simulator's
 * checkers notice. Never set in production.
 */
export interface ShellMutations {
  /** Send a batch's messages before its records are durable. */
  readonly sendBeforeDurable?: boolean;
}

export interface LayerShellDeps<M, R> {
  readonly executor: Executor;
  readonly clock: Clock;
  readonly transport: Transport;
  readonly codec: WireCodec<M>;
  /** The layer's durable records, or null for a layer that keeps nothing on disk. */
  readonly log: RecordLog<R> | null;
  readonly onMessage: (from: NodeId, msg: M, out: Outbox<M, R>) => void;
  /**
   * A request/response service the layer serves besides its peer channel (the RSM's client
   * service). Outgoing messages that `carries` picks go to it, as answers to return addresses.
   */
  readonly service?: LayerService<M, R>;
  readonly onTimer: (key: string, out: Outbox<M, R>) => void;
  /** A crash breakpoint fired, or the disk failed: the node must stop at once. */
  readonly onHalt: (reason: string) => void;
  readonly mutations?: ShellMutations;
}

/** A request/response service served by a layer (see `LayerShellDeps.service`). */
export interface LayerService<M, R> {
  // `any`: the request and answer types are the layer's business; the shell only routes them.
  readonly codec: ServiceCodec<any, any>;
  /** Whether an outgoing message is an answer of this service (else it goes to the peer channel). */
  readonly carries: (msg: M) => boolean;
  readonly onRequest: (from: ReturnAddress, request: unknown, out: Outbox<M, R>) => void;
}

/**
 * Runs one layer's core against the world: feeds it messages and timers through the node's
 * executor, and carries out the effects each handler recorded, in the order `Outbox` documents.
 * Production and the simulator use this same class; only the injected world differs.
 */
export class LayerShell<M, R = never> {
  readonly #deps: LayerShellDeps<M, R>;
  readonly #channel: Channel<M>;
  readonly #service: { readonly channel: Channel<unknown>; readonly carries: (msg: M) => boolean } | null;
  readonly #timers = new Map<string, TimerHandle>();
  /** Local return addresses (see `localReturnAddress`) and where their answer goes. */
  readonly #local = new Map<ReturnAddress, (msg: M) => void>();
  #localCount = 0;
  #halted = false;

  constructor(deps: LayerShellDeps<M, R>) {
    this.#deps = deps;
    this.#channel = deps.transport.open(deps.codec, (from, msg) =>
      deps.executor.submit(() => this.run((out) => deps.onMessage(from, msg, out))),
    );
    const service = deps.service;
    this.#service = service === undefined ? null : {
      carries: service.carries,
      channel: deps.transport.serve(service.codec, (from, request: unknown) =>
        deps.executor.submit(() => this.run((out) => service.onRequest(from, request, out))),
      ),
    };
  }

  /**
   * Runs `handler` now with a fresh outbox, then carries out its effects. Call it from a task of
   * the executor: for an input of this layer, or as a call down from the layer above.
   */
  run(handler: (out: Outbox<M, R>) => void): void {
    if (this.#halted) return;
    const out = new Outbox<M, R>();
    handler(out);
    this.#drain(out);
  }

  /**
   * A return address for a request this node makes of its own layer's service (e.g.
   * `RsmLayer.submitInternal`): an answer the core sends to it is handed to `onAnswer` instead of
   * the network, as an executor task of its own (so never inside the handler that answered), and
   * the address is then forgotten: at most one answer is handed on, as for a client's call.
   * `forget()` drops the address earlier (a later answer is dropped); stopping the shell drops
   * them all. Addresses are `~local/<n>`: no `:`, so never a node id, and never a transport's
   * `~call/<n>`. Call it from a task of the executor.
   */
  localReturnAddress(onAnswer: (msg: M) => void): { readonly address: ReturnAddress; forget(): void } {
    const address = `~local/${++this.#localCount}`;
    this.#local.set(address, onAnswer);
    return { address, forget: () => void this.#local.delete(address) };
  }

  /** Cancels timers; the layer does nothing more (the node is stopping). */
  stop(): void {
    this.#halted = true;
    for (const timer of this.#timers.values()) timer.cancel();
    this.#timers.clear();
    this.#local.clear();
  }

  #drain(out: Outbox<M, R>): void {
    const { executor, log, mutations } = this.#deps;
    if (out.haltReason !== undefined) {
      this.stop();
      this.#deps.onHalt(out.haltReason);
      return;
    }
    for (const { key, delayMs } of out.timers) this.#setTimer(key, delayMs);
    for (const { to, msg } of out.volatileSends) this.#route(to, msg);
    if (mutations?.sendBeforeDurable === true) {
      this.#sendAll(out);
      out.sends.length = 0;
    }
    if (log === null) {
      invariant(out.records.length === 0, 'a layer without a durable log asked to persist records');
      this.#sendAll(out);
      if (out.upcalls.length > 0) executor.submit(() => this.#upcallAll(out));
      return;
    }
    for (const record of out.records) log.append(record);
    if (out.records.length === 0 && out.sends.length === 0 && out.upcalls.length === 0) return;
    // Even a batch that persisted nothing waits here: its messages may rest on records an
    // earlier batch appended, and the log calls back in order, after those are durable.
    log.sync((err) =>
      executor.submit(() => {
        if (this.#halted) return;
        if (err !== undefined) {
          this.stop();
          this.#deps.onHalt(`durable log sync failed: ${err.message}`);
          return;
        }
        this.#sendAll(out);
        this.#upcallAll(out);
      }),
    );
  }

  #sendAll(out: Outbox<M, R>): void {
    for (const { to, msg } of out.sends) this.#route(to, msg);
  }

  #route(to: NodeId, msg: M): void {
    const local = this.#local.get(to);
    if (local !== undefined) {
      this.#local.delete(to);
      this.#deps.executor.submit(() => {
        if (!this.#halted) local(msg);
      });
      return;
    }
    if (this.#service !== null && this.#service.carries(msg)) this.#service.channel.send(to, msg);
    else this.#channel.send(to, msg);
  }

  #upcallAll(out: Outbox<M, R>): void {
    for (const call of out.upcalls) {
      if (this.#halted) return;
      call();
    }
  }

  #setTimer(key: string, delayMs: number | null): void {
    this.#timers.get(key)?.cancel();
    this.#timers.delete(key);
    if (delayMs === null) return;
    const handle = this.#deps.clock.setTimer(delayMs, () =>
      this.#deps.executor.submit(() => {
        if (this.#timers.get(key) !== handle) return; // replaced or cancelled meanwhile
        this.#timers.delete(key);
        this.run((out) => this.#deps.onTimer(key, out));
      }),
    );
    this.#timers.set(key, handle);
  }
}
