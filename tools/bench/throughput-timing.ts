/**
 * The timing constants of `npm run bench -- throughput`, shared by its synod and etcd sides so both
 * are measured alike.
 */

/**
 * Deadline of one measured call. Far above any latency a healthy cluster shows (256 calls queued on
 * one client that runs them one at a time take about a second), so a call that misses it fails the
 * run (it throws), never a silently dropped sample.
 */
export const callDeadlineMs = 30_000;

/** Calls each caller makes before its first window (finds the leader or primary, registers, connects). */
export const warmupCalls = 2;

export const failover = {
  /** Writes from the measuring client before each kill, so it knows the leader and the cluster is steady. */
  calmMs: 1000,
  /**
   * How long one failover (kill → first ok write) or one recovery (the killed member back and the
   * cluster whole) may take before the bench gives up: far above either system's default failover.
   */
  stepTimeoutMs: 60_000,
  /**
   * Pause between a failed write and the next after a kill: keeps a client that fails at once
   * (connection refused) from spinning. It bounds the figure's resolution; both systems pay it.
   */
  retryPauseMs: 10,
} as const;
