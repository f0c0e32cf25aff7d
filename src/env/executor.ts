/**
 * One node's serial task queue. Every input to a node's cores (a message, a timer, a finished
 * disk sync) enters through `submit`; tasks run one at a time, to completion, in submission
 * order. A task submitted while another runs waits its turn instead of running nested, which is
 * what keeps upcalls from re-entering a layer that is still inside a handler.
 *
 * Why the queue needs no bound (issue 12 asked): tasks are synchronous, and `submit` from outside
 * a task (a gRPC handler, a timer, a disk callback: the event loop) drains the queue before it
 * returns. So the queue is empty whenever the event loop runs; it only ever holds the tasks that
 * the tasks of one drain submit (upcalls, local answers), a finite cascade of the work one input
 * causes. Nothing can pile up in it across turns of the event loop, however fast inputs arrive.
 * Load a node cannot take is refused where it enters, before it becomes a task: the transport
 * refuses calls beyond `maxPendingCalls` / `maxPendingCallBytes` with RESOURCE_EXHAUSTED, the
 * primary answers BUSY beyond its in-flight budget, a backup drops early invokes beyond its
 * buffer (the primary re-sends them). A bound here could only drop tasks, and a dropped task
 * (a disk sync's release, an upcall) is a protocol step no peer would ever repeat: it would
 * wedge the node instead of protecting it. `drained` states the invariant (tests check it).
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

  /** True when no task runs or waits: always so between turns of the event loop (see the class comment). */
  get drained(): boolean {
    return !this.#running && this.#queue.length === 0;
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
