import { AppRejectedError, RsmClientError } from '../../client/errors.js';

/** The KV store's refusal codes (docs/kv.md, "Errors"). */
export const kvErrorCodes = [
  'bad-request', 'key-too-large', 'value-too-large', 'too-many-ops', 'duplicate-key', 'lease-not-found', 'lease-exists',
  'too-many-leases', 'store-full', 'compacted', 'future-revision', 'internal-only',
] as const;
export type KvErrorCode = (typeof kvErrorCodes)[number];

/**
 * The KV store refused a request (`code`, one of `kvErrorCodes`); it changed nothing. It stands
 * for the client's `AppRejectedError` (its `cause`), with the code typed. Two codes a program acts
 * on have classes of their own: `KvCompactedError`, `KvLeaseNotFoundError`.
 */
export class KvError extends RsmClientError {
  override readonly name: string = 'KvError';
  constructor(
    readonly code: KvErrorCode,
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`);
  }
}

/** A read at a revision below the compaction, or a `compact` at or below it: read at a later revision (or now). */
export class KvCompactedError extends KvError {
  override readonly name = 'KvCompactedError';
  constructor(detail: string) {
    super('compacted', detail);
  }
}

/** The lease named is not there (expired, revoked, or never granted): its keys are gone too. */
export class KvLeaseNotFoundError extends KvError {
  override readonly name = 'KvLeaseNotFoundError';
  constructor(detail: string) {
    super('lease-not-found', detail);
  }
}

/** `err` as the KV client throws it: the store's refusals as `KvError`s, anything else as it is. */
export function kvError(err: unknown): unknown {
  if (!(err instanceof AppRejectedError)) return err;
  const code = err.code as KvErrorCode;
  if (!(kvErrorCodes as readonly string[]).includes(code)) return err;
  const mapped = code === 'compacted' ? new KvCompactedError(err.detail)
    : code === 'lease-not-found' ? new KvLeaseNotFoundError(err.detail) : new KvError(code, err.detail);
  mapped.cause = err;
  return mapped;
}
