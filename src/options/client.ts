// The tunables of clients: the RSM client, the lock client and connect() (src/client, src/apps/lock).

export interface ClientOptions {
  /**
   * How long the client waits for an answer from one replica before it tries the next one.
   * Default 500 ms: far above a loopback or LAN round trip plus an fsync, short enough that a
   * dead primary costs little beyond the view change itself.
   */
  readonly attemptTimeoutMs: number;
  /**
   * Backoff when the cluster answers BUSY, or when no replica could be reached: the n-th
   * consecutive one waits a random time in [0.5, 1] × min(retryMaxMs, retryBaseMs × 2^(n-1)),
   * and at least what BUSY asked for. Defaults 10 ms and 500 ms.
   */
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  /** The deadline of a call when the caller sets none. Default 10 s. */
  readonly defaultDeadlineMs: number;
  /**
   * A client the cluster does not know yet (a new one, or one told its entry expired) marks the
   * attempts of its call as a new client's for this long after the call's first attempt; later
   * attempts go unmarked, and are refused if the cluster still does not know the client. The mark
   * lets a request run for a client the table has no entry for, so it must never reach the
   * cluster after that entry could have been dropped again: this must stay below the cluster's
   * `RsmOptions.clientEvictableAfterMs` and `clientRetentionMs`, whatever the call's deadline.
   * It should be at least the call's deadline: a new client that a full table (`maxClients`)
   * keeps waiting past it is told `ClientExpiredError` rather than running into its deadline.
   * Default 30 s: three default deadlines, a tenth of the default eviction age.
   */
  readonly newClientWindowMs: number;
  /**
   * Most calls one client has in flight at once; later calls wait in its queue, in order. The
   * cluster keeps the outcome of every call in flight for retries (`ClientTable`), so this is at
   * most `limits.maxClientWindow` (1024). Default 256: the most in flight the throughput
   * benchmark drives from one client; the primary's fair share per client id
   * (`RsmOptions.clientInFlightShare`) answers BUSY beyond what it takes, and the client backs off.
   */
  readonly maxCallsInFlight: number;
}

export const defaultClientOptions: ClientOptions = {
  attemptTimeoutMs: 500,
  retryBaseMs: 10,
  retryMaxMs: 500,
  defaultDeadlineMs: 10_000,
  newClientWindowMs: 30_000,
  maxCallsInFlight: 256,
};

export interface LockClientOptions {
  /**
   * Deadline of one server call (acquire or release) the lock client makes through its
   * `RsmClient`. Default 10 s, as `ClientOptions.defaultDeadlineMs`: long enough to ride out a
   * view change; a call that still fails has an unknown outcome and is retried (see below).
   */
  readonly callDeadlineMs: number;
  /**
   * A server call that failed without a definite outcome (deadline, unavailable, busy) is sent
   * again after this long; acquire and release are both safe to repeat. Default 200 ms: the
   * `RsmClient` has already backed off inside the call, so this only paces the repeats of a
   * cluster that stays down.
   */
  readonly serverRetryMs: number;
  /**
   * The callback subscription is re-opened after it ended: first after `resubscribeBaseMs`,
   * doubling up to `resubscribeMaxMs` while it keeps ending without delivering anything, back to
   * the base once a message arrived. Defaults 50 ms and 2000 ms: a primary failover takes a view
   * change (about a second), and a client must not hammer a cluster that is down.
   */
  readonly resubscribeBaseMs: number;
  readonly resubscribeMaxMs: number;
  /**
   * Most lost grants (a session lapsed while a local user held the lock) the client remembers
   * for their users' next `release` or `check`, which then throws `LockLostError`; past it the
   * oldest is forgotten (that user was told by its signal and the `'lost'` event already).
   * Default 1024: far more locks than one client holds at once, a few hundred KiB at most.
   */
  readonly maxRememberedLosses: number;
}

export const defaultLockClientOptions: LockClientOptions = {
  callDeadlineMs: 10_000,
  serverRetryMs: 200,
  resubscribeBaseMs: 50,
  resubscribeMaxMs: 2000,
  maxRememberedLosses: 1024,
};

/** How `connect()` finds the cluster before it makes its client (`client/discovery.ts`). */
export interface ConnectTimingOptions {
  /**
   * Give up finding the cluster after this long: no address given answered the node service.
   * Default 10 s, as `ClientOptions.defaultDeadlineMs`: a cluster that is starting or failing over
   * answers well within it, and a script pointed at the wrong place learns it without hanging.
   */
  readonly connectDeadlineMs: number;
  /** Deadline of one status call made while finding the cluster. Default 2000 ms. */
  readonly connectAttemptTimeoutMs: number;
  /** Pause between rounds over every address given. Default 200 ms. */
  readonly connectRetryMs: number;
}

export const defaultConnectTimingOptions: ConnectTimingOptions = {
  connectDeadlineMs: 10_000,
  connectAttemptTimeoutMs: 2000,
  connectRetryMs: 200,
};
