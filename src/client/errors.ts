import type { NodeId } from '../env/types.js';

/**
 * The errors an `RsmClient` call can end with. Each carries what the caller needs to act; all
 * are `RsmClientError`s. A call that gave up (deadline) may still have been executed: the
 * outcome of such a call is unknown.
 */
export class RsmClientError extends Error {}

/** The replica asked is not the primary; `primary` is who is (null: unknown), as of view `vid`. */
export class NotPrimaryError extends RsmClientError {
  override readonly name = 'NotPrimaryError';
  constructor(
    readonly replica: NodeId,
    readonly primary: NodeId | null,
    readonly vid: number,
  ) {
    super(`${replica} is not the primary of view ${vid}${primary === null ? '' : `; ${primary} is`}`);
  }
}

/** The primary cannot serve now (a view change or state transfer is under way). */
export class BusyError extends RsmClientError {
  override readonly name = 'BusyError';
  constructor(
    readonly replica: NodeId,
    readonly retryAfterMs: number,
    readonly reason: string,
  ) {
    super(`${replica} is busy (${reason}); retry after ${retryAfterMs} ms`);
  }
}

/** A replica could not be reached (refused, timed out, or partitioned). */
export class UnavailableError extends RsmClientError {
  override readonly name = 'UnavailableError';
  constructor(
    readonly replica: NodeId,
    readonly reason: string,
  ) {
    super(`${replica} unavailable: ${reason}`);
  }
}

/**
 * The replica asked belongs to another cluster: `actual` is its cluster's name, `expected` the
 * one this client was given. Retrying cannot help, so the call ends at once: the client is
 * configured for the wrong cluster (or the address is wrong).
 */
export class WrongClusterError extends RsmClientError {
  override readonly name = 'WrongClusterError';
  constructor(
    readonly server: NodeId,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`${server} is a node of cluster ${JSON.stringify(actual)}, not of ${JSON.stringify(expected)}: ` +
      'check the cluster name the client was given, or the address');
  }
}

/** The call's deadline passed; `lastError` says what stood in the way. The request may or may not have executed. */
export class DeadlineExceededError extends RsmClientError {
  override readonly name = 'DeadlineExceededError';
  constructor(
    readonly deadlineMs: number,
    readonly attempts: number,
    readonly lastError: RsmClientError | null,
  ) {
    super(`no answer within ${deadlineMs} ms after ${attempts} attempts` +
      `${lastError === null ? '' : ` (last: ${lastError.message})`}; the request may or may not have been executed`);
  }
}

/** The request was refused as bad input and not executed (unknown procedure, bad arguments, too large). */
export class InvalidArgumentError extends RsmClientError {
  override readonly name = 'InvalidArgumentError';
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`invalid request: ${field}: ${reason}`);
  }
}

/** The app refused the operation (its handler threw an `AppError`). The request was executed. */
export class AppRejectedError extends RsmClientError {
  override readonly name = 'AppRejectedError';
  constructor(
    readonly code: string,
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`);
  }
}

/**
 * The cluster no longer knows this client: its entry in the replicated client table expired
 * (idle longer than `RsmOptions.clientRetentionMs`) or was evicted to make room for new clients
 * (`RsmOptions.maxClients`) while this call was being retried. The attempt was refused, not run;
 * whether an earlier attempt of the call ran is unknown, as after a deadline. The client's next
 * call is served as a new client's. (A call refused on its only attempt never ran: the client
 * sends it again by itself, and this error is not raised.)
 */
export class ClientExpiredError extends RsmClientError {
  override readonly name = 'ClientExpiredError';
  constructor(
    readonly clientId: string,
    readonly seq: number,
    readonly attempts: number,
  ) {
    super(`the cluster no longer knows client ${clientId} (its entry expired or was evicted) after ${attempts} attempts of call ${seq}; ` +
      'the request may or may not have been executed');
  }
}

/** The client was closed while the call was in progress (it may or may not have executed), or before it started. */
export class ClientClosedError extends RsmClientError {
  override readonly name = 'ClientClosedError';
  constructor() {
    super('the client was closed; a call in progress may or may not have been executed');
  }
}

/** `connect()` found no node of the cluster at any address it was given, within its deadline. */
export class DiscoveryError extends RsmClientError {
  override readonly name = 'DiscoveryError';
  /** What each address answered last (a gRPC status and its details). */
  readonly tried: ReadonlyMap<NodeId, string>;
  constructor(seeds: readonly NodeId[], tried: ReadonlyMap<NodeId, string>) {
    const said = seeds.map((s) => `${s}: ${tried.get(s) ?? 'not tried'}`).join('; ');
    super(`no synod node answered at ${seeds.join(', ')} (${said})`);
    this.tried = new Map(tried);
  }
}
