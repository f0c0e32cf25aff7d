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
