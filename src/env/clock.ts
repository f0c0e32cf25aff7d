/**
 * Time as the cores and shells see it. Production wires real timers (`runtime/real-clock.ts`);
 * the simulator wires a virtual clock driven by its event queue, so one seed replays one run.
 */
export interface Clock {
  /** Milliseconds on a monotonic scale (not wall time; only differences mean anything). */
  now(): number;
  /**
   * Calls `fire` once, no earlier than `delayMs` from now, unless cancelled first. `fire` never
   * runs synchronously inside `setTimer`.
   */
  setTimer(delayMs: number, fire: () => void): TimerHandle;
}

export interface TimerHandle {
  /** Idempotent; after it returns the timer's callback will not run. */
  cancel(): void;
}
