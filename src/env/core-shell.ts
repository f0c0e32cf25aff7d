import type { Clock, TimerHandle } from './clock.js';
import type { Executor } from './executor.js';

/** The effects of one handler run that every shell carries out the same way, as `CoreShell` reads them. */
export interface CoreEffects<S> {
  /** A crash breakpoint fired: nothing else of the batch happens. */
  readonly haltReason?: string | undefined;
  /** Keyed timers to (re)arm, or to cancel (`delayMs` null), in order. */
  readonly timers: ReadonlyArray<{ readonly key: string; readonly delayMs: number | null }>;
  /** What leaves (messages, answers, calls), in order, through `CoreShellDeps.send`. */
  readonly sends: readonly S[];
  /** Calls out of the core (into the layer above, or a caller's callback), after the sends. */
  readonly upcalls: ReadonlyArray<() => void>;
}

export interface CoreShellDeps<O, S> {
  readonly executor: Executor;
  readonly clock: Clock;
  /** A fresh outbox for one handler run. */
  readonly outbox: () => O;
  /** The effects `out` recorded. */
  readonly effects: (out: O) => CoreEffects<S>;
  readonly onTimer: (key: string, out: O) => void;
  /** Carries out one send (onto a channel, a call of another client …). Never calls back synchronously. */
  readonly send: (send: S) => void;
  /**
   * Where a batch's sends and upcalls wait before they leave (the layer shell: until its records
   * are durable). It calls `release()` once they may, either inside this hook or later from a task
   * of the executor, or never when the batch has nothing to release. Default: released at once.
   */
  readonly hold?: (out: O, release: () => void) => void;
  /** A crash breakpoint fired: the owner must stop (the shell stopped already). Default: nothing more. */
  readonly onHalt?: (reason: string) => void;
  /**
   * An upcall threw. Default: the error propagates and stops the executor (a broken invariant
   * of the layer above). Clients pass a handler instead: their upcalls end in the caller's code.
   */
  readonly onUpcallError?: (err: unknown) => void;
}

/**
 * Runs one synchronous core against the world: what the layer shell (`LayerShell`) and the
 * clients (`RsmClient`, `LockClient`) share. `run` gives a handler a fresh outbox and carries out
 * what it recorded, in this order: halt (nothing else happens); keyed timers, re-armed or
 * cancelled; then, once `hold` releases the batch, its sends in order and its upcalls.
 *
 * Upcalls never run inside the handler's own executor task: a batch released at once has its
 * upcalls run as one later task; a batch released from a later task (after a disk sync) runs them
 * there, right after its sends. Either way no core is re-entered while it is inside a handler.
 *
 * A timer fires as a task of the executor, and only if it is still the one armed under its key
 * (re-arming or cancelling a key makes an earlier firing a no-op). After `stop()` (or a halt),
 * nothing runs: no handler, no timer, no upcall not yet run. Call `run` from a task of the
 * executor.
 */
export class CoreShell<O, S> {
  readonly #deps: CoreShellDeps<O, S>;
  readonly #timers = new Map<string, TimerHandle>();
  #halted = false;

  constructor(deps: CoreShellDeps<O, S>) {
    this.#deps = deps;
  }

  /** True once stopped or halted. */
  get halted(): boolean {
    return this.#halted;
  }

  /** Runs `handler` now with a fresh outbox, then carries out its effects. */
  run(handler: (out: O) => void): void {
    if (this.#halted) return;
    const out = this.#deps.outbox();
    handler(out);
    this.#drain(out);
  }

  /** Cancels every timer; nothing more runs. Idempotent. */
  stop(): void {
    this.#halted = true;
    for (const timer of this.#timers.values()) timer.cancel();
    this.#timers.clear();
  }

  #drain(out: O): void {
    const effects = this.#deps.effects(out);
    if (effects.haltReason !== undefined) {
      this.stop();
      this.#deps.onHalt?.(effects.haltReason);
      return;
    }
    for (const { key, delayMs } of effects.timers) this.#setTimer(key, delayMs);
    const hold = this.#deps.hold;
    if (hold === undefined) {
      this.#release(effects, false);
      return;
    }
    let later = false; // a release from inside `hold` is still this handler's turn
    hold(out, () => this.#release(effects, later));
    later = true;
  }

  #release(effects: CoreEffects<S>, later: boolean): void {
    if (this.#halted) return;
    for (const send of effects.sends) this.#deps.send(send);
    if (effects.upcalls.length === 0) return;
    if (later) this.#upcall(effects.upcalls);
    else this.#deps.executor.submit(() => this.#upcall(effects.upcalls));
  }

  #upcall(upcalls: ReadonlyArray<() => void>): void {
    const onError = this.#deps.onUpcallError;
    for (const call of upcalls) {
      if (this.#halted) return;
      if (onError === undefined) {
        call();
        continue;
      }
      try {
        call();
      } catch (err) {
        onError(err);
      }
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
