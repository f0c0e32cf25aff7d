import type { Simulation } from '../simulation.js';

/** A local user holding a lock: which lock client (owner), which user, under which fencing token. */
interface Hold {
  readonly client: string;
  readonly user: string;
  readonly token: number;
}

/**
 * What the local users of caching lock clients may see (the lock-cache run): a user holds a lock
 * from the moment its acquire is answered until just before it calls release.
 *
 * - Within one lock client, at most one local user holds a lock at a time.
 * - Across lock clients the check is about fencing tokens, not plain exclusion: a user of one
 *   client may be granted a lock while a user of another still holds it only with a strictly
 *   higher token. Only then does a resource that checks fencing tokens (accepting a token no lower
 *   than the highest it has seen) keep the two apart: it takes the newcomer's requests and refuses
 *   the stale holder's. Such an overlap is legitimate today: a server that expired a client's
 *   session grants its locks to others while that client's users, unaware, still hold them (the
 *   "leases" issue will make the client stop first). A grant with the same or a lower token while
 *   another client's user holds the lock means the resource would accept both: that is the bug
 *   this catches (e.g. a lock client that keeps handing a lock to its users after it gave it back).
 *
 * The first violation is recorded as a run failure (`fencing: …`, `local exclusion: …`); later
 * ones are only counted (`violations`), since one broken hold usually breaks many after it.
 */
export class LocalHoldChecker {
  readonly #sim: Simulation;
  readonly #holds = new Map<string, Hold[]>();
  /** Grants made while a user of another client held the lock (with a higher token: allowed). */
  overlaps = 0;
  grants = 0;
  violations = 0;

  constructor(sim: Simulation) {
    this.#sim = sim;
  }

  granted(lock: string, client: string, user: string, token: number): void {
    this.grants++;
    const holds = this.#holds.get(lock) ?? [];
    for (const h of holds) {
      if (h.client === client) {
        this.#violation(`local exclusion: lock ${lock} granted to ${client}/${user} (token ${token}) while ${client}/${h.user} holds it (token ${h.token})`);
      } else if (token <= h.token) {
        this.#violation(`fencing: lock ${lock} granted to ${client}/${user} with token ${token} while ${h.client}/${h.user} holds it with token ${h.token}: ` +
          'a resource that checks fencing tokens would accept both');
      } else {
        this.overlaps++;
      }
    }
    holds.push({ client, user, token });
    this.#holds.set(lock, holds);
  }

  released(lock: string, client: string, user: string): void {
    const holds = this.#holds.get(lock) ?? [];
    const i = holds.findIndex((h) => h.client === client && h.user === user);
    if (i < 0) {
      this.#violation(`local exclusion: ${client}/${user} released lock ${lock}, which it does not hold`);
      return;
    }
    holds.splice(i, 1);
  }

  #violation(message: string): void {
    if (this.violations++ === 0) this.#sim.fail(message);
  }
}
