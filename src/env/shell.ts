import { type AnswerChannel, type Channel, ReturnAddress, type ServiceCodec, type Transport, type WireCodec } from './transport.js';
import type { Clock } from './clock.js';
import { CoreShell } from './core-shell.js';
import type { RecordSink } from './durable-log.js';
import type { Executor } from './executor.js';
import type { NodeId } from './types.js';
import { type Outgoing, Outbox } from './outbox.js';
import { invariant } from './errors.js';

/**
 * Test-only switches that break the shell's ordering on purpose, to prove the simulator's
 * checkers notice. Never set in production.
 */
export interface ShellMutations {
  /** Send a batch's messages before its records are durable. */
  readonly sendBeforeDurable?: boolean;
}

/**
 * What a layer's core is wired to. `M` is what it sends its peers, `R` what it persists; a layer
 * that serves a request/response service (see `service`) takes requests `Q` and answers `A`.
 */
export interface LayerShellDeps<M, R, Q = never, A = never> {
  readonly executor: Executor;
  readonly clock: Clock;
  readonly transport: Transport;
  readonly codec: WireCodec<M>;
  /** The layer's durable records, or null for a layer that keeps nothing on disk. */
  readonly log: RecordSink<R> | null;
  readonly onMessage: (from: NodeId, msg: M, out: Outbox<M, R, A>) => void;
  /**
   * A request/response service the layer serves besides its peer channel (the RSM's client
   * service). The core's `out.answer`s go to it, to the return address each request came with.
   */
  readonly service?: LayerService<Q, A, Outbox<M, R, A>>;
  readonly onTimer: (key: string, out: Outbox<M, R, A>) => void;
  /** A crash breakpoint fired, or the disk failed: the node must stop at once. */
  readonly onHalt: (reason: string) => void;
  readonly mutations?: ShellMutations;
  /** Hears every message and answer as it leaves (metrics, `RsmMeter`); must not throw. */
  readonly onLeave?: (o: Outgoing<M, A>) => void;
}

/** A request/response service served by a layer (see `LayerShellDeps.service`). */
export interface LayerService<Q, A, O> {
  readonly codec: ServiceCodec<Q, A>;
  readonly onRequest: (from: ReturnAddress, request: Q, out: O) => void;
}

/**
 * Runs one layer's core against the world: feeds it messages, requests and timers through the
 * node's executor, and carries out the effects each handler recorded, in the order `Outbox`
 * documents (the shared part, timers and upcalls, is `CoreShell`'s). Messages to peers go to the
 * layer's channel; answers go to the service's channel, or to a local return address. Production
 * and the simulator use this same class; only the injected world differs.
 */
export class LayerShell<M, R = never, Q = never, A = never> {
  readonly #deps: LayerShellDeps<M, R, Q, A>;
  readonly #core: CoreShell<Outbox<M, R, A>, Outgoing<M, A>>;
  readonly #channel: Channel<M>;
  readonly #service: AnswerChannel<A> | null;
  /** Local return addresses (see `localReturnAddress`) and where their answer goes. */
  readonly #local = new Map<ReturnAddress, (answer: A) => void>();
  #localCount = 0;

  constructor(deps: LayerShellDeps<M, R, Q, A>) {
    this.#deps = deps;
    this.#core = new CoreShell<Outbox<M, R, A>, Outgoing<M, A>>({
      executor: deps.executor,
      clock: deps.clock,
      outbox: () => new Outbox<M, R, A>(),
      effects: (out) => ({ haltReason: out.haltReason, timers: out.timers, sends: out.outgoing, upcalls: out.upcalls }),
      onTimer: deps.onTimer,
      send: (o) => this.#route(o),
      hold: (out, release) => this.#persist(out, release),
      onHalt: (reason) => {
        this.#local.clear();
        deps.onHalt(reason);
      },
    });
    this.#channel = deps.transport.open(deps.codec, (from, msg) =>
      deps.executor.submit(() => this.run((out) => deps.onMessage(from, msg, out))),
    );
    const service = deps.service;
    this.#service = service === undefined ? null : deps.transport.serve(service.codec, (from, request) =>
      deps.executor.submit(() => this.run((out) => service.onRequest(from, request, out))),
    );
  }

  /**
   * Runs `handler` now with a fresh outbox, then carries out its effects. Call it from a task of
   * the executor: for an input of this layer, or as a call down from the layer above.
   */
  run(handler: (out: Outbox<M, R, A>) => void): void {
    this.#core.run(handler);
  }

  /**
   * A return address for a request this node makes of its own layer's service (e.g.
   * `RsmLayer.submitInternal`): an answer the core sends to it is handed to `onAnswer` instead of
   * the network, as an executor task of its own (so never inside the handler that answered), and
   * the address is then forgotten: at most one answer is handed on, as for a client's call.
   * `forget()` drops the address earlier (a later answer is dropped); stopping the shell drops
   * them all. Call it from a task of the executor.
   */
  localReturnAddress(onAnswer: (answer: A) => void): { readonly address: ReturnAddress; forget(): void } {
    const address = new ReturnAddress(`local ${++this.#localCount}`);
    this.#local.set(address, onAnswer);
    return { address, forget: () => void this.#local.delete(address) };
  }

  /** Cancels timers; the layer does nothing more (the node is stopping). */
  stop(): void {
    this.#core.stop();
    this.#local.clear();
  }

  /**
   * The durable part of a batch: volatile sends leave at once; sends ahead once what earlier
   * batches appended is durable; then the batch's records are appended, and its sends and
   * upcalls are released once the log says they are durable.
   */
  #persist(out: Outbox<M, R, A>, release: () => void): void {
    const { log, mutations } = this.#deps;
    for (const o of out.volatileSends) this.#route(o);
    if (mutations?.sendBeforeDurable === true) {
      for (const o of out.aheadSends) this.#route(o);
      for (const o of out.outgoing) this.#route(o);
      out.aheadSends.length = 0;
      out.outgoing.length = 0; // sent already: the release below sends nothing more
    }
    if (log === null) {
      invariant(out.records.length === 0, 'a layer without a durable log asked to persist records');
      for (const o of out.aheadSends) this.#route(o);
      release();
      return;
    }
    if (out.aheadSends.length > 0) {
      // Issued before this batch's records are appended, so it waits only for earlier ones.
      const ahead = out.aheadSends;
      log.sync((err) => this.#afterSync(err, () => {
        for (const o of ahead) this.#route(o);
      }));
    }
    for (const record of out.records) log.append(record);
    if (out.records.length === 0 && out.outgoing.length === 0 && out.upcalls.length === 0) return;
    // Even a batch that persisted nothing waits here: its messages may rest on records an
    // earlier batch appended, and the log calls back in order, after those are durable.
    log.sync((err) => this.#afterSync(err, release));
  }

  /** A sync called back: `then` runs as an executor task, unless the layer stopped or the disk failed (then it stops). */
  #afterSync(err: Error | undefined, then: () => void): void {
    this.#deps.executor.submit(() => {
      if (this.#core.halted) return;
      if (err !== undefined) {
        this.stop();
        this.#deps.onHalt(`durable log sync failed: ${err.message}`);
        return;
      }
      then();
    });
  }

  #route(o: Outgoing<M, A>): void {
    this.#deps.onLeave?.(o);
    if (o.kind === 'send') {
      this.#channel.send(o.to, o.msg);
      return;
    }
    const local = this.#local.get(o.to);
    if (local !== undefined) {
      this.#local.delete(o.to);
      const answer = o.answer;
      this.#deps.executor.submit(() => {
        if (!this.#core.halted) local(answer);
      });
      return;
    }
    invariant(this.#service !== null, 'a layer without a service answered a request');
    this.#service.answer(o.to, o.answer);
  }
}
