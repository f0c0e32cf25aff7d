import type { Clock, TimerHandle } from '../../src/env/clock.js';

/** A clock for tests: time moves only by `advance`, which fires every timer due, in time order. */
export class ManualClock implements Clock {
  #now = 0;
  #next = 0;
  readonly #timers = new Map<number, { at: number; fire: () => void }>();

  now(): number {
    return this.#now;
  }

  setTimer(delayMs: number, fire: () => void): TimerHandle {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#now + delayMs, fire });
    return { cancel: () => void this.#timers.delete(id) };
  }

  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const due = [...this.#timers.entries()].filter(([, t]) => t.at <= end).sort(([a, x], [b, y]) => x.at - y.at || a - b)[0];
      if (due === undefined) break;
      this.#timers.delete(due[0]);
      this.#now = due[1].at;
      due[1].fire();
    }
    this.#now = end;
  }
}
