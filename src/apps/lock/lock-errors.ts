/**
 * Errors the lock client ends a local call with, besides the `RsmClientError`s of the server
 * calls it passes through (e.g. `AppRejectedError` `bad-args` for a lock name the server refuses).
 */
export class LockClientError extends Error {}

/**
 * A local user misused the client: released a lock it does not hold, or asked for a lock it
 * already holds or waits for (locks are not re-entrant). Nothing changed.
 */
export class LockUsageError extends LockClientError {
  override readonly name = 'LockUsageError';
  constructor(
    readonly lock: string,
    readonly user: string,
    readonly reason: string,
  ) {
    super(`lock ${JSON.stringify(lock)}, user ${JSON.stringify(user)}: ${reason}`);
  }
}

/** The lock client was closed while the call waited, or before it was made. */
export class LockClientClosedError extends LockClientError {
  override readonly name = 'LockClientClosedError';
  constructor() {
    super('the lock client was closed');
  }
}

/** The server answered something the lock protocol does not allow (e.g. a malformed acquire reply). */
export class LockProtocolError extends LockClientError {
  override readonly name = 'LockProtocolError';
  constructor(
    readonly lock: string,
    readonly detail: string,
  ) {
    super(`lock ${JSON.stringify(lock)}: ${detail}`);
  }
}

/**
 * A local user's grant is gone: the client could no longer be sure the server still held the lock
 * for it (`reason: 'session'`: its session was not confirmed in time, so the server may expire it
 * and grant the lock to another client). Delivered to the holder through the `AbortSignal` of its
 * grant and the client's `lost` event, and thrown or rejected at its next use of the lock (`check`,
 * `release`). Final: the grant never comes back; acquire the lock again for a new one.
 */
export class LockLostError extends LockClientError {
  override readonly name = 'LockLostError';
  constructor(
    readonly lock: string,
    readonly user: string,
    /** The fencing token of the lost grant. */
    readonly token: number,
    readonly reason: 'session',
    /** When the client noticed, on its clock. */
    readonly lostAtMs: number,
  ) {
    super(`lock ${JSON.stringify(lock)}, user ${JSON.stringify(user)}: grant ${token} lost (${reason === 'session' ? 'the session was not confirmed in time' : reason})`);
  }
}
