/**
 * The lock tester's checker: mutual exclusion and fencing tokens of every grant and release it
 * sees in this process (see `LockChecker`).
 */

/** One local user of one lock client: who holds a lock, as the checker sees it. */
export interface Holder {
  /** The lock client (its name in the tester, e.g. `t3.c0`, unique per run). */
  readonly client: string;
  /** The local user of that client (e.g. `u0`). */
  readonly user: string;
}

const who = (h: Holder): string => `${h.client}/${h.user}`;

/**
 * Watches every grant and release of every lock in the process and records what breaks the lock
 * service's promises:
 * - mutual exclusion: a lock is granted to a (client, user) while another (client, user) holds
 *   it, or released by one that does not hold it;
 * - fencing tokens: the tokens seen by successive holders of a lock never decrease, and strictly
 *   increase whenever the holding lock client changes. A lock client hands a cached grant to its
 *   local users one after another under the same token (it is one grant of the server's), so
 *   equal tokens are right between users of one client; a new grant by the server (to another
 *   client, or the same one after it gave the lock back) always has a higher one.
 * Callers report a grant when the acquire resolved and a release before they call release (the
 * lock client may hand the lock to the next local user before the release resolves).
 */
export class LockChecker {
  /** Every violation seen, as a sentence, in order. */
  readonly violations: string[] = [];
  readonly #holders = new Map<string, { holder: Holder; token: number }>();
  readonly #last = new Map<string, { holder: Holder; token: number }>();
  readonly #onViolation: ((message: string) => void) | undefined;

  /** @param onViolation called with each violation as it is found (e.g. to fail a run at once) */
  constructor(onViolation?: (message: string) => void) {
    this.#onViolation = onViolation;
  }

  get ok(): boolean {
    return this.violations.length === 0;
  }

  granted(lock: string, holder: Holder, token: number): void {
    const current = this.#holders.get(lock);
    if (current !== undefined) {
      this.#violation(`mutual exclusion violated: lock ${JSON.stringify(lock)} granted to ${who(holder)} (token ${token}) while ${who(current.holder)} holds it (token ${current.token})`);
    }
    const last = this.#last.get(lock);
    if (last !== undefined) {
      if (token < last.token) {
        this.#violation(`fencing token went backwards: lock ${JSON.stringify(lock)} granted to ${who(holder)} with token ${token} after ${who(last.holder)} held it with token ${last.token}`);
      } else if (token === last.token && last.holder.client !== holder.client) {
        this.#violation(`fencing token did not increase when the lock client changed: lock ${JSON.stringify(lock)} granted to ${who(holder)} with token ${token}, the token ${who(last.holder)} held it with`);
      }
    }
    this.#holders.set(lock, { holder, token });
    this.#last.set(lock, { holder, token });
  }

  released(lock: string, holder: Holder): void {
    const current = this.#holders.get(lock);
    if (current === undefined || current.holder.client !== holder.client || current.holder.user !== holder.user) {
      this.#violation(`release of lock ${JSON.stringify(lock)} by ${who(holder)}, which does not hold it (${current === undefined ? 'nobody does' : `${who(current.holder)} does`})`);
      return;
    }
    this.#holders.delete(lock);
  }

  /** Locks held now, with their holders. */
  held(): Array<{ lock: string; holder: Holder; token: number }> {
    return [...this.#holders].map(([lock, h]) => ({ lock, ...h }));
  }

  /**
   * Client `client` was closed while its users held locks (a test that failed or timed out): they
   * are forgotten, without a release; the server takes them back when the owner is expired.
   */
  forgetClient(client: string): void {
    for (const [lock, h] of this.#holders) if (h.holder.client === client) this.#holders.delete(lock);
  }

  #violation(message: string): void {
    this.violations.push(message);
    this.#onViolation?.(message);
  }
}
