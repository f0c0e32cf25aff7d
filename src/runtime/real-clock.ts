import type { Clock, TimerHandle } from '../env/clock.js';

/**
 * Real time. `now` is monotonic (performance.now), so wall-clock steps never fire timers early
 * or late. Timers are unref'd: a node is kept alive by its servers, not by its timers, so an
 * embedded node that was closed lets the process exit.
 */
export const realClock: Clock = {
  now: () => performance.now(),
  setTimer(delayMs: number, fire: () => void): TimerHandle {
    const t = setTimeout(fire, Math.max(0, delayMs));
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};
