import type { Simulation } from '../simulation.js';

/** A local user holding a lock: which lock client (owner), which user, under which fencing token. */
interface Hold {
  readonly client: string;
  readonly user: string;
  readonly token: number;
}

/**
 * What the local users of caching lock clients may see (the lock-cache run): a user holds a lock
 * from the moment its acquire is answered until just before it calls release, or until its lock
 * client tells it the grant is lost (`lost`).
 *
 * - Within one lock client, at most one local user holds a lock at a time.
 * - Strict (the default, issue 14): across lock clients too, at most one user holds a lock at any
 *   real (sim) time, whatever the tokens. A lock client must stop a holder (lost) before the
 *   server may expire its session and grant the lock elsewhere. Fencing tokens must still grow:
 *   a grant with a token no higher than one another client's user held is reported too.
 * - Not strict (`{ strict: false }`, as before sessions): an overlap across clients is allowed
 *   when the later grant has a strictly higher token (a resource that checks fencing tokens still
 *   keeps them apart); one with the same or a lower token is the violation.
 *
 * The first violation is recorded as a run failure (`exclusion: …`, `fencing: …`, `local
 * exclusion: …`); later ones are only counted (`violations`), since one broken hold usually
 * breaks many after it.
 */
export class LocalHoldChecker {
  readonly #sim: Simulation;
  readonly #strict: boolean;
  readonly #holds = new Map<string, Hold[]>();
  /** Per lock, the highest token any user was granted (tokens grow across clients). */
  readonly #highest = new Map<string, { client: string; token: number }>();
  /** Grants made while a user of another client held the lock (with a higher token: allowed). */
  overlaps = 0;
  grants = 0;
  violations = 0;

  /** Holds ended by `lost` (the lock client stopped its user). */
  lost = 0;

  constructor(sim: Simulation, opts: { strict?: boolean } = {}) {
    this.#sim = sim;
    this.#strict = opts.strict ?? true;
  }

  granted(lock: string, client: string, user: string, token: number): void {
    this.grants++;
    const holds = this.#holds.get(lock) ?? [];
    const top = this.#highest.get(lock);
    if (top !== undefined && top.client !== client && token <= top.token) {
      this.#violation(`fencing: lock ${lock} granted to ${client}/${user} with token ${token}, not above token ${top.token} granted to ${top.client} before`);
    }
    if (top === undefined || token > top.token) this.#highest.set(lock, { client, token });
    for (const h of holds) {
      if (h.client === client) {
        this.#violation(`local exclusion: lock ${lock} granted to ${client}/${user} (token ${token}) while ${client}/${h.user} holds it (token ${h.token})`);
      } else if (this.#strict) {
        this.#violation(`exclusion: lock ${lock} granted to ${client}/${user} (token ${token}) while ${h.client}/${h.user} holds it (token ${h.token})`);
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

  /** The lock client told `user` its grant of `lock` is lost: the hold ends now. */
  lostHold(lock: string, client: string, user: string): void {
    const holds = this.#holds.get(lock) ?? [];
    const i = holds.findIndex((h) => h.client === client && h.user === user);
    if (i >= 0) {
      holds.splice(i, 1);
      this.lost++;
    }
  }

  #violation(message: string): void {
    if (this.violations++ === 0) this.#sim.fail(message);
  }
}
