/**
 * One node's serial task queue. Every input to a node's cores (a message, a timer, a finished
 * disk sync) enters through `submit`; tasks run one at a time, to completion, in submission
 * order. A task submitted while another runs waits its turn instead of running nested, which is
 * what keeps upcalls from re-entering a layer that is still inside a handler.
 *
 * A task that throws (an `InvariantViolation`, or any bug) stops the node: later tasks are
 * dropped and `onFatal` decides what stopping means (exit the process; mark a simulated node
 * crashed and fail the run).
 */
export class Executor {
  readonly #queue: Array<() => void> = [];
  readonly #onFatal: (err: unknown) => void;
  #running = false;
  #stopped = false;

  constructor(onFatal: (err: unknown) => void) {
    this.#onFatal = onFatal;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  submit(task: () => void): void {
    if (this.#stopped) return;
    this.#queue.push(task);
    if (this.#running) return;
    this.#running = true;
    try {
      for (let next = this.#queue.shift(); next !== undefined; next = this.#queue.shift()) {
        next();
        if (this.#stopped) break;
      }
    } catch (err) {
      this.stop();
      this.#onFatal(err);
    } finally {
      this.#running = false;
    }
  }

  /** Drops every queued task and refuses new ones (the node crashed or is shutting down). */
  stop(): void {
    this.#stopped = true;
    this.#queue.length = 0;
  }
}
