// The primary lease (design §4, "Leases"): what lets a serving primary act on its own.
import type { NodeId } from '../env/types.js';

/**
 * What the replica says of its lease, for the parts of the node that act on it (the callback
 * hub, sessions, queries), read in the same executor task in which they act:
 * - held: this replica is the serving primary of its view and every backup granted it a lease
 *   that still runs for `remainingMs` on this node's clock;
 * - lapsed: the serving primary, but the lease ran out (`why` names the backups that did not
 *   renew it): it may have been replaced; it must not act on its own until a grant comes;
 * - none: not the serving primary (a backup, syncing, joining, or a view change under way).
 */
export type LeaseStatus =
  | { readonly state: 'held'; readonly remainingMs: number }
  | { readonly state: 'lapsed'; readonly why: string }
  | { readonly state: 'none' };


export interface PrimaryLeaseDeps {
  readonly vid: number;
  /** The view's members other than this primary: every one must grant. */
  readonly backups: readonly NodeId[];
  readonly leaseMs: number;
  /** This node's monotonic clock. */
  readonly now: () => number;
  /** Test mutation `serveWithoutLease`: the lease always holds. */
  readonly alwaysHeld: boolean;
}

/**
 * The serving primary's lease in one view (design §4, "Leases"). The primary asks in numbered
 * rounds (`open`: every `leaseRenewMs`, or for queries waiting for a confirmation); a backup that
 * grants round r promises to help no other primary for `leaseWaitMs` on its clock from when it got
 * the ask (`LeasePromise`). So the lease holds until `leaseMs` after the ask of the oldest round
 * among every backup's latest grant, measured on this node's clock from when the round was
 * asked, which is no later than any backup received it: the promises outlast it (see `leaseWaitMs`).
 *
 * Invariants: rounds are numbered 1, 2, … without repeats; a round's ask time never moves;
 * `#askedAt` keeps only rounds asked within the last `leaseMs` (older ones cannot make the lease
 * hold any more), so it holds at most `leaseMs / leaseRenewMs` rounds plus confirm rounds of
 * that window.
 */
export class PrimaryLease {
  readonly #deps: PrimaryLeaseDeps;
  #round = 0;
  readonly #askedAt = new Map<number, number>();
  /** Each backup's highest granted round, with that round's ask time. */
  readonly #granted = new Map<NodeId, { readonly round: number; readonly askedAt: number }>();
  /** When this primary started serving (its first ask); before any grant, the lease is being acquired. */
  readonly #since: number;
  #everHeld = false;
  /** The lapse was logged (reset when the lease holds again). */
  #lapseLogged = false;

  constructor(deps: PrimaryLeaseDeps) {
    this.#deps = deps;
    this.#since = deps.now();
  }

  /** The newest round asked (0: none yet). */
  get round(): number {
    return this.#round;
  }

  /** Opens the next round, asked now; returns its number (to send in `lease-ask`). */
  open(): number {
    const now = this.#deps.now();
    for (const [r, at] of this.#askedAt) if (at + this.#deps.leaseMs <= now) this.#askedAt.delete(r);
    this.#askedAt.set(++this.#round, now);
    return this.#round;
  }

  /**
   * Backup `from` granted `round`; false if that changes nothing (not a backup, a round no longer
   * kept, or not above its latest grant). A recorded grant need not move the lease's end (another
   * backup's older grant may bound it), but it may complete a confirm round (`grantedSince`).
   */
  grant(from: NodeId, round: number): boolean {
    const askedAt = this.#askedAt.get(round);
    const had = this.#granted.get(from);
    if (askedAt === undefined || !this.#deps.backups.includes(from) || (had !== undefined && had.round >= round)) return false;
    this.#granted.set(from, { round, askedAt });
    if (this.validUntil > this.#deps.now()) this.#everHeld = true;
    return true;
  }

  /** Whether every backup granted a round numbered `round` or later. */
  grantedSince(round: number): boolean {
    return this.#deps.backups.every((b) => (this.#granted.get(b)?.round ?? 0) >= round);
  }

  /**
   * Until when (this node's clock) the lease holds: `leaseMs` after the oldest of the backups'
   * latest granted asks; -Infinity while a backup granted none; +Infinity in a view of one (no
   * other primary can serve without a view this node takes part in deciding).
   */
  get validUntil(): number {
    if (this.#deps.alwaysHeld) return Number.POSITIVE_INFINITY;
    let until = Number.POSITIVE_INFINITY;
    for (const b of this.#deps.backups) {
      const g = this.#granted.get(b);
      if (g === undefined) return Number.NEGATIVE_INFINITY;
      until = Math.min(until, g.askedAt + this.#deps.leaseMs);
    }
    return until;
  }

  /** The lease as the node's parts read it (see `LeaseStatus`). */
  status(self: NodeId): LeaseStatus {
    const now = this.#deps.now();
    const until = this.validUntil;
    if (until > now) return { state: 'held', remainingMs: until - now };
    // Not held yet since serving: being acquired (one round trip), not lost.
    if (!this.#everHeld && now < this.#since + this.#deps.leaseMs) return { state: 'none' };
    return { state: 'lapsed', why: this.#why(self, now) };
  }

  /** True the first time the lease is seen lapsed since it last held: the caller logs it once. */
  lapsedNews(self: NodeId): string | null {
    const s = this.status(self);
    if (s.state === 'held') this.#lapseLogged = false;
    if (s.state !== 'lapsed' || this.#lapseLogged) return null;
    this.#lapseLogged = true;
    return s.why;
  }

  /** Which backups' grants are missing or too old, for logs and stream ends. */
  #why(self: NodeId, now: number): string {
    const late = this.#deps.backups
      .map((b) => ({ b, g: this.#granted.get(b) }))
      .filter(({ g }) => g === undefined || g.askedAt + this.#deps.leaseMs <= now)
      .map(({ b, g }) => (g === undefined ? `${b} (none in view ${this.#deps.vid})` : `${b} (${Math.round(now - g.askedAt)} ms ago)`));
    return `${self} lost its primary lease of view ${this.#deps.vid}: no recent grant from ${late.join(', ')}; it may have been replaced`;
  }
}

/**
 * What this node promised as a backup: to help no primary other than `to` turn a view normal
 * before `untilMs` on its clock. Granting a lease makes one; so does a restart (`afterRestart`:
 * the node forgot what it granted in its previous life; it granted only while normal in its
 * synced view, only to that view's primary, and a restarted clock starts after its last grant).
 * `to` null: every primary waits (the synced view's primary is unknown).
 */
export class LeasePromise {
  #to: NodeId | null = null;
  #untilMs = Number.NEGATIVE_INFINITY;
  readonly #waitMs: number;
  readonly #now: () => number;
  readonly #disabled: boolean;

  /** `disabled`: the test mutation `newPrimaryWithoutWaiting` (no promise is ever kept). */
  constructor(waitMs: number, now: () => number, disabled: boolean) {
    this.#waitMs = waitMs;
    this.#now = now;
    this.#disabled = disabled;
  }

  /** A restarted node that was normal in some view: it waits a whole promise for every primary but `to` (null: all). */
  afterRestart(to: NodeId | null): void {
    this.#to = to;
    this.#untilMs = this.#now() + this.#waitMs;
  }

  /**
   * Names the restart promise's primary once the view history is known (no-op for another
   * promise). A node that was itself that primary granted nobody there (and became normal there
   * only after its promises to others ran out): it owes nobody a wait.
   */
  resolveRestart(to: NodeId | null, self: NodeId): void {
    if (this.#to !== null || this.#untilMs <= this.#now()) return;
    if (to === self) this.#untilMs = Number.NEGATIVE_INFINITY;
    else this.#to = to;
  }

  /**
   * This backup grants `primary` a lease now; `askedWaitMs` is what covers the lease the primary
   * said it uses (its options may differ from this node's: the longer promise is kept).
   */
  granted(primary: NodeId, askedWaitMs = 0): void {
    const until = this.#now() + Math.max(this.#waitMs, askedWaitMs);
    this.#untilMs = this.#to === primary ? Math.max(this.#untilMs, until) : until;
    this.#to = primary;
  }

  /** How long before this node may help `primary` (0: now). */
  waitFor(primary: NodeId): number {
    if (this.#disabled || this.#to === primary) return 0;
    return Math.max(0, Math.ceil(this.#untilMs - this.#now()));
  }

  /** Whom the promise is to (for logs). */
  get to(): NodeId | null {
    return this.#to;
  }
}
