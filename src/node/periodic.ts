import type { Clock, TimerHandle } from '../env/clock.js';
import type { Executor } from '../env/executor.js';

/** A periodic task started by `everyInExecutor`. */
export interface Periodic {
  /** No run starts after this (one already queued on the executor is skipped). Idempotent. */
  cancel(): void;
}

/**
 * Runs `task` every `intervalMs` of `clock`, each run a task of the node's `executor` (so it reads
 * the cores as every other step does), until `cancel()` or the executor stops. The node's
 * keepers (sessions, leases, the client-table sweeper) and the feed hub's checks tick so.
 */
export function everyInExecutor(clock: Clock, executor: Executor, intervalMs: number, task: () => void): Periodic {
  let cancelled = false;
  let timer: TimerHandle | null = null;
  const schedule = (): void => {
    timer = clock.setTimer(intervalMs, () => {
      if (cancelled || executor.stopped) return;
      executor.submit(() => {
        if (!cancelled) task();
      });
      schedule();
    });
  };
  schedule();
  return {
    cancel: () => {
      cancelled = true;
      timer?.cancel();
      timer = null;
    },
  };
}
