import type { LockLostError } from './lock-errors.js';

/**
 * Grants the lock client lost (its session lapsed while a local user held them) and whose user
 * has not given them up yet: what that user's next `release` or `check` of the lock gets. An
 * entry goes when its user releases or acquires the lock again. Bounded by
 * `LockClientOptions.maxRememberedLosses`: past it the oldest loss is forgotten (its user, who
 * was told by its signal and the `'lost'` event, then gets `LockUsageError` "does not hold it"
 * instead of the `LockLostError`), so users that never come back cannot grow it.
 */
export class LostGrants {
  readonly #max: number;
  /** By (lock, user), oldest first. */
  readonly #byKey = new Map<string, LockLostError>();

  constructor(max: number) {
    this.#max = max;
  }

  get size(): number {
    return this.#byKey.size;
  }

  /** `error.user` lost its grant of `error.lock`. */
  record(error: LockLostError): void {
    const key = keyOf(error.lock, error.user);
    this.#byKey.delete(key);
    this.#byKey.set(key, error);
    for (const oldest of this.#byKey.keys()) {
      if (this.#byKey.size <= this.#max) break;
      this.#byKey.delete(oldest);
    }
  }

  /** The loss `user` has not given up for `lock`, if any (kept). */
  peek(lock: string, user: string): LockLostError | undefined {
    return this.#byKey.get(keyOf(lock, user));
  }

  /** The loss, now given up (forgotten). */
  take(lock: string, user: string): LockLostError | undefined {
    const key = keyOf(lock, user);
    const error = this.#byKey.get(key);
    this.#byKey.delete(key);
    return error;
  }

  clear(): void {
    this.#byKey.clear();
  }
}

/** One key per (lock, user), unambiguous whatever the names hold. */
function keyOf(lock: string, user: string): string {
  return JSON.stringify([lock, user]);
}
