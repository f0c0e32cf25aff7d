import { AppRejectedError, ClientClosedError, InvalidArgumentError } from '../../client/errors.js';
import type { Logger } from '../../env/logger.js';
import { type LockClientOptions, defaultLockClientOptions, withDefaults } from '../../options.js';
import { lockLimits } from './lock-app.js';
import {
  type AcquireResult,
  LockClientOutbox,
  type LockStatus,
  type ReleaseResult,
  type ServerResult,
  isDefinite,
  parseAcquireReply,
} from './lock-client-outbox.js';
import { LockClientClosedError, LockLostError, LockProtocolError, LockUsageError } from './lock-errors.js';
import { type LockRecord, LockTable } from './lock-records.js';
import { SessionValidity } from './lock-session.js';
import { LostGrants } from './lost-grants.js';
import { LockTransitions } from './lock-transitions.js';

export { type AcquireResult, LockClientOutbox, type LockServerCall, type LockStatus, type ReleaseResult, type ServerResult } from './lock-client-outbox.js';

/**
 * The caching lock client's core (design §6, issue 5): one per lock client, i.e. per owner id
 * the server knows. Synchronous and free of I/O like every core: its handlers change its state
 * and record effects in a `LockClientOutbox`; the shell (`lock-client.ts`) carries them out.
 *
 * Per lock, a status:
 *
 * | status    | meaning                                                     | server call in flight |
 * |-----------|-------------------------------------------------------------|-----------------------|
 * | none      | nothing known (no record kept)                              | none                  |
 * | free      | granted by the server (token t), cached, no local user     | none                  |
 * | locked    | granted (token t), one local user holds it                  | none                  |
 * | acquiring | local users wait; asked the server, or wait for its retry   | acquire, or none      |
 * | releasing | giving the grant back: release due, sent, or to be re-sent  | release, or none      |
 *
 * The session (`SessionValidity`): valid from a confirmation (`onConfirmed`, the keepalives'
 * bound) until its bound passes; every handler first checks the bound against the clock
 * (`#lapseIfDue`: timers may be late, so a hand-out never relies on the session timer alone).
 * An acquire remembers the epoch it was sent in (if the session was valid then). An acquire that
 * follows a release while the session is not valid is held back (`awaitsSession`) until a
 * confirmation makes it valid; a first acquire goes out at once (its refusals, e.g. `owner-taken`,
 * reach the user; a grant it gets while the session is not valid is given back).
 *
 * | event                                  | from       | to / effect                                              |
 * |----------------------------------------|------------|----------------------------------------------------------|
 * | acquire(u)                             | none       | acquiring; call acquire                                  |
 * | acquire(u)                             | free       | locked by u; grant u with t (no server call; the session |
 * |                                        |            | is valid: a lapse leaves no lock free)                   |
 * | acquire(u)                             | other      | u queued (FIFO)                                          |
 * | release(u)                             | locked     | next local waiter gets it (same t), else free;           |
 * |                                        |            | if revoked: releasing, release due                       |
 * | granted t', acquire sent in this epoch | acquiring  | locked by the first waiter (revoked if a revoke ≥ t' came)|
 * | granted t', sent in an earlier epoch,  | acquiring  | releasing t', release due; the waiters stay and acquire  |
 * |   or the session invalid now           |            | again (the server may have expired the session since)    |
 * | not granted                            | acquiring  | wait for retry; call acquire again if a retry came first |
 * | retry                                  | acquiring  | call acquire (at once, or when the reply in flight comes)|
 * | revoke(t'), t' ≥ t                     | free       | releasing, release due                                   |
 * | revoke(t'), t' ≥ t                     | locked     | revoked: released once the local user releases           |
 * | revoke(t'), t' < t                     | free/locked| ignored (stale)                                          |
 * | revoke(t')                             | acquiring  | remembered; applied to a grant with token ≤ t'           |
 * | revoke(t'), t' > last released token   | none       | releasing, release due (the server thinks we hold it)    |
 * | release due (background step)          | releasing  | call release                                             |
 * | released / not-held                    | releasing  | none, or acquiring (call acquire; held back if the       |
 * |                                        |            | session is not valid) if local users wait                |
 * | call failed, outcome unknown           | acq./rel.  | call again after `serverRetryMs`                         |
 * | acquire refused (bad-args, closed)     | acquiring  | none; every local waiter fails with the error            |
 * | subscription ended                     | any        | nothing: the session stays valid until its bound         |
 * | subscription re-opened                 | acquiring  | call acquire again (a retry may have been lost)          |
 * | session lapses (timer, or any handler) | free       | releasing, release due                                   |
 * | session lapses                         | locked     | lost: u is told (LockLostError); releasing, release due; |
 * |                                        |            | u's next release / check gets the error (final)          |
 * | confirmed, session becomes valid       | acquiring  | an acquire held back is sent                             |
 *
 * Invariants (checked after every handler, on in production):
 * - at most one local user holds a lock, and a lock is `locked` exactly when one does;
 * - a lock is `free` or `locked` only with a server grant in force: the acquire that got it was
 *   sent and answered `granted` within one run of a valid session, no release was sent since,
 *   and the session is valid (so the server has not expired it: the bound is one the server
 *   keeps, see `confirmedUntil`);
 * - at most one server call per lock is in flight, and only the one its status names;
 * - a `free` lock has no local waiters (they would wait for nothing);
 * - an `acquiring` lock has local waiters (nobody else would want the grant);
 * - a release is due only while `releasing` with no call in flight.
 *
 * Callbacks may arrive before or after the reply they relate to, twice, or late; fencing
 * tokens (which increase strictly with every grant of the service) tell them apart: a revoke
 * names the grant it is about, so one for an older grant than the one in force is stale, and one
 * that comes while acquiring is kept until the grant it may be about is known.
 *
 * A revoke never releases anything from inside the callback: the core only records that a release
 * is due (`LockClientOutbox.releasesDue`); the shell runs `onReleaseDue` as its own later task.
 */

/** Test-only switches that break the lock client on purpose, to prove the simulator's checks bite. */
export interface LockClientMutations {
  /**
   * A local user that asks for a lock the client is giving back (releasing) is handed the grant
   * anyway, under its old token, as if it were still cached: a grant the server may already have
   * given to another client. (It is not recorded as held, so the client's own invariants do not
   * stop it, and the user's release of it is accepted quietly: only a check of the users' holds
   * can see it.)
   */
  readonly handOutWhileReleasing?: boolean;
  /**
   * The session is never checked: cached grants are handed out whatever the confirmations say,
   * and a holder is never told its grant may be gone (as before sessions existed, minus giving
   * grants back when the stream ends). Only a strict check of the users' holds sees it, once the
   * server expired the session and granted the lock elsewhere.
   */
  readonly cachePastSession?: boolean;
}

export interface LockClientCoreDeps {
  /** The owner id this client acquires and releases under; callbacks addressed to it come here. */
  readonly owner: string;
  readonly logger: Logger;
  /** The client's clock (`Clock.now`): the session's validity is checked against it at every hand-out. */
  readonly now: () => number;
  /** A local user's grant was lost (upcalled after the handler, like every grant). */
  readonly onLost?: (error: LockLostError) => void;
  readonly options?: Partial<LockClientOptions>;
  /** Test-only; never in production. */
  readonly mutations?: LockClientMutations;
}

export class LockClientCore {
  readonly owner: string;
  readonly #log: Logger;
  readonly #options: LockClientOptions;
  readonly #mutations: LockClientMutations;
  readonly #locks: LockTable;
  readonly #t: LockTransitions;
  readonly #session: SessionValidity;
  readonly #now: () => number;
  readonly #onLost: (error: LockLostError) => void;
  /** Grants lost and not yet given up by their user (bounded: `maxRememberedLosses`). */
  readonly #lost: LostGrants;
  /** Under `handOutWhileReleasing`: the grants handed out that way and not released yet (`lock user`; one per lock). */
  readonly #ghosts = new Set<string>();
  #closed = false;

  constructor(deps: LockClientCoreDeps) {
    if (deps.owner.length === 0 || deps.owner.length > lockLimits.maxOwnerLength) {
      throw new RangeError(`owner must be 1 to ${lockLimits.maxOwnerLength} characters`);
    }
    this.owner = deps.owner;
    this.#log = deps.logger;
    this.#options = withDefaults(defaultLockClientOptions, deps.options, 'lockClient');
    this.#lost = new LostGrants(this.#options.maxRememberedLosses);
    this.#mutations = deps.mutations ?? {};
    this.#locks = new LockTable(deps.owner);
    this.#session = new SessionValidity(this.#mutations.cachePastSession === true);
    this.#now = deps.now;
    this.#onLost = deps.onLost ?? (() => {});
    this.#t = new LockTransitions(deps.owner, deps.logger, this.#options, this.#locks, this.#session);
  }

  /** Until when (client clock) the session is confirmed; -Infinity before the first confirmation. */
  get validUntilMs(): number {
    return this.#session.validUntilMs;
  }

  status(lock: string): LockStatus {
    return this.#locks.get(lock)?.status ?? 'none';
  }

  /** The local user holding `lock`, or null. */
  holder(lock: string): string | null {
    return this.#locks.get(lock)?.holder ?? null;
  }

  /** The token of the grant in force (free or locked), or null. */
  token(lock: string): number | null {
    const rec = this.#locks.get(lock);
    return rec !== undefined && (rec.status === 'free' || rec.status === 'locked') ? rec.token : null;
  }

  /** Local users waiting for `lock`, in order. */
  waiters(lock: string): string[] {
    return this.#locks.get(lock)?.waiters.map((w) => w.user) ?? [];
  }

  /** Locks with a status other than none. */
  locks(): string[] {
    return this.#locks.locks();
  }

  // ── local users ─────────────────────────────────────────────────────────────────────────────

  /** Local user `user` asks for `lock`; `done` is upcalled with the grant's token, or an error. */
  acquire(user: string, lock: string, done: (result: AcquireResult) => void, out: LockClientOutbox): void {
    const fail = (error: Error): void => out.upcall(() => done({ ok: false, error }));
    if (this.#closed) return fail(new LockClientClosedError());
    if (lock.length === 0 || lock.length > lockLimits.maxLockNameLength) {
      return fail(new InvalidArgumentError('lock', `a lock name is 1 to ${lockLimits.maxLockNameLength} characters, got ${lock.length}`));
    }
    this.#lapseIfDue(out);
    this.#lost.take(lock, user); // a user that asks again has moved on from its lost grant
    let rec = this.#locks.get(lock);
    if (rec === undefined) {
      rec = this.#locks.create(lock, 'acquiring', 0, [{ user, done }]);
      this.#t.call(lock, rec, 'acquire', out);
    } else if (this.#mutations.handOutWhileReleasing === true && rec.status === 'releasing' && rec.token > 0 && ![...this.#ghosts].some((g) => g.startsWith(`${lock} `))) {
      const token = rec.token;
      this.#ghosts.add(`${lock} ${user}`);
      out.upcall(() => done({ ok: true, token })); // the mutation: a grant being given back, handed out
    } else if (rec.holder === user || rec.waiters.some((w) => w.user === user)) {
      return fail(new LockUsageError(lock, user, rec.holder === user ? 'already holds it (locks are not re-entrant)' : 'already waits for it'));
    } else if (rec.status === 'free') {
      rec.status = 'locked';
      rec.holder = user;
      const token = rec.token;
      out.upcall(() => done({ ok: true, token })); // cached: no server call
    } else {
      rec.waiters.push({ user, done });
    }
    this.#locks.check(lock);
  }

  /** Local user `user` gives `lock` back; `done` is upcalled at once (the server may be told later). */
  release(user: string, lock: string, done: (result: ReleaseResult) => void, out: LockClientOutbox): void {
    if (this.#ghosts.delete(`${lock} ${user}`)) return out.upcall(() => done({ ok: true })); // the mutation's grant
    this.#lapseIfDue(out);
    const lost = this.#lost.take(lock, user);
    if (lost !== undefined) return out.upcall(() => done({ ok: false, error: lost }));
    const rec = this.#locks.get(lock);
    if (this.#closed || rec === undefined || rec.status !== 'locked' || rec.holder !== user) {
      const error = this.#closed ? new LockClientClosedError() : new LockUsageError(lock, user, 'does not hold it');
      out.upcall(() => done({ ok: false, error }));
      return;
    }
    rec.holder = null;
    if (rec.revoked) {
      // The server wants it back: local waiters ask the server again after the release.
      this.#t.startReleasing(lock, rec, out);
    } else {
      const next = rec.waiters.shift();
      if (next === undefined) {
        rec.status = 'free';
      } else {
        rec.holder = next.user;
        const token = rec.token;
        out.upcall(() => next.done({ ok: true, token })); // handed over locally: same grant, same token
      }
    }
    out.upcall(() => done({ ok: true }));
    this.#locks.check(lock);
  }

  // ── callbacks from the server (over the subscription) ───────────────────────────────────────

  /** The server asks for the grant with `token` back (someone else waits). */
  onRevoke(lock: string, token: number, out: LockClientOutbox): void {
    if (this.#closed) return;
    const rec = this.#locks.get(lock);
    if (rec === undefined) {
      const released = this.#locks.released(lock);
      if (released !== undefined && token <= released) return; // a late revoke of a grant already given back
      // The server believes this owner holds a grant it does not know of (an earlier life of this
      // owner id, or an acquire that executed after its call gave up): give it back.
      this.#log.warn({ owner: this.owner, lock, token }, 'lock client: revoke of a grant this client does not know; releasing it');
      const fresh = this.#locks.create(lock, 'releasing', token, []);
      this.#t.startReleasing(lock, fresh, out);
      this.#locks.check(lock);
      return;
    }
    rec.highestRevoke = Math.max(rec.highestRevoke, token);
    switch (rec.status) {
      case 'free':
      case 'locked':
        if (token < rec.token) return; // about an older grant: stale
        if (token > rec.token) this.#log.warn({ owner: this.owner, lock, token, held: rec.token }, 'lock client: revoke names a newer grant than the one held; giving it back');
        if (rec.status === 'free') this.#t.startReleasing(lock, rec, out);
        else rec.revoked = true;
        break;
      case 'acquiring':
        break; // kept in highestRevoke: applied if the grant that comes is the one it names
      case 'releasing':
        break; // already giving it back
    }
    this.#locks.check(lock);
  }

  /** The server says `lock` is free and this owner is first in line: ask again. */
  onRetry(lock: string, out: LockClientOutbox): void {
    const rec = this.#locks.get(lock);
    if (this.#closed || rec === undefined || rec.status !== 'acquiring') return; // stale: not waiting
    if (rec.awaitsSession) return; // asks once the session is valid
    if (rec.call === 'acquire') rec.retried = true; // the reply in flight may be `not granted`: ask again then
    else this.#t.call(lock, rec, 'acquire', out);
    this.#locks.check(lock);
  }

  /**
   * The callback subscription ended (the subscriber gave up on it). Nothing is given back for
   * that alone: the session stays valid until its confirmed bound, and a new subscription that
   * confirms it in time keeps every grant (Chubby's grace period). Only the bound ending matters
   * (`onSessionTimer`, `#lapseIfDue`); here it is checked, as in every handler.
   */
  onSubscriptionEnded(out: LockClientOutbox): void {
    if (this.#closed) return;
    this.#lapseIfDue(out);
  }

  /**
   * The subscription confirmed the session until `validUntilMs` (client clock). A confirmation
   * that makes the session valid again sends every acquire held back for it.
   */
  onConfirmed(validUntilMs: number, out: LockClientOutbox): void {
    if (this.#closed) return;
    this.#lapseIfDue(out);
    const now = this.#now();
    const before = this.#session.validUntilMs;
    const revived = this.#session.confirm(validUntilMs, now);
    if (this.#session.validUntilMs !== before) out.sessionTimer(this.#session.validUntilMs - now);
    if (!revived) return;
    for (const [lock, rec] of this.#locks.entries()) {
      if (rec.awaitsSession) this.#t.call(lock, rec, 'acquire', out);
      this.#locks.check(lock);
    }
  }

  /** The session timer fired: the session lapses if its bound passed (a later confirmation may have moved it). */
  onSessionTimer(out: LockClientOutbox): void {
    if (this.#closed) return;
    this.#lapseIfDue(out);
    // Re-armed only for a bound still ahead: a session valid past its bound (the mutation
    // cachePastSession) would otherwise spin a 0 ms timer forever.
    const leftMs = this.#session.validUntilMs - this.#now();
    if (this.#session.valid && leftMs > 0) out.sessionTimer(leftMs);
  }

  /**
   * Whether local user `user` still holds `lock`: its token, or the error its use of the lock
   * would get (`LockLostError` for a lost grant, which stays until the user releases the lock;
   * `LockUsageError` if it does not hold it). Checks the session against the clock first.
   */
  check(user: string, lock: string, out: LockClientOutbox): { readonly ok: true; readonly token: number } | { readonly ok: false; readonly error: Error } {
    if (this.#closed) return { ok: false, error: new LockClientClosedError() };
    this.#lapseIfDue(out);
    const lost = this.#lost.peek(lock, user);
    if (lost !== undefined) return { ok: false, error: lost };
    const rec = this.#locks.get(lock);
    if (rec?.status === 'locked' && rec.holder === user) return { ok: true, token: rec.token };
    if ([...this.#ghosts].includes(`${lock} ${user}`)) return { ok: true, token: rec?.token ?? 0 }; // the mutation's grant
    return { ok: false, error: new LockUsageError(lock, user, 'does not hold it') };
  }

  /**
   * If the session's bound has passed, it lapses now: the server may expire the owner from then
   * on. Free grants are given back; a held grant is lost (its user is told, and the grant is given
   * back: the server may still hold it, and answers `not-held` if it expired it); waiters stay
   * and acquire again once a confirmation makes the session valid. Nothing is revived later.
   */
  #lapseIfDue(out: LockClientOutbox): void {
    const now = this.#now();
    if (!this.#session.lapsesAt(now)) return;
    this.#log.warn({ owner: this.owner, validUntilMs: this.#session.validUntilMs, nowMs: now }, 'lock client: session not confirmed in time; cached grants given back, held ones lost');
    for (const [lock, rec] of this.#locks.entries()) {
      if (rec.status === 'locked') this.#loseGrant(lock, rec, now, out);
      else if (rec.status === 'free') this.#t.startReleasing(lock, rec, out);
      this.#locks.check(lock);
    }
  }

  #loseGrant(lock: string, rec: LockRecord, now: number, out: LockClientOutbox): void {
    const user = rec.holder!;
    const error = new LockLostError(lock, user, rec.token, 'session', now);
    this.#lost.record(error);
    this.#t.startReleasing(lock, rec, out);
    out.upcall(() => this.#onLost(error));
  }

  /**
   * The callback subscription was re-opened after it ended: a retry may have been lost in the
   * gap, so every lock waiting for one asks again (acquire is idempotent on the server).
   */
  onResubscribed(out: LockClientOutbox): void {
    if (this.#closed) return;
    for (const [lock, rec] of this.#locks.entries()) {
      if (rec.status !== 'acquiring' || rec.awaitsSession) continue;
      if (rec.call === 'acquire') rec.retried = true;
      else this.#t.call(lock, rec, 'acquire', out);
      this.#locks.check(lock);
    }
  }

  // ── the shell's own steps ───────────────────────────────────────────────────────────────────

  /** The background step after a release became due: send it. */
  onReleaseDue(lock: string, out: LockClientOutbox): void {
    const rec = this.#locks.get(lock);
    if (this.#closed || rec === undefined || rec.status !== 'releasing' || !rec.releaseDue) return;
    rec.releaseDue = false;
    this.#t.call(lock, rec, 'release', out);
    this.#locks.check(lock);
  }

  /** The retry timer of `lock` fired: repeat the call whose outcome was unknown. */
  onTimer(lock: string, out: LockClientOutbox): void {
    const rec = this.#locks.get(lock);
    if (this.#closed || rec === undefined || !rec.backingOff || rec.call !== null) return;
    rec.backingOff = false;
    if (rec.status === 'acquiring') this.#t.call(lock, rec, 'acquire', out);
    else if (rec.status === 'releasing' && !rec.releaseDue) this.#t.call(lock, rec, 'release', out);
    this.#locks.check(lock);
  }

  /** The reply (or error) of the acquire call in flight for `lock`. */
  onAcquireResult(lock: string, result: ServerResult, out: LockClientOutbox): void {
    const rec = this.#locks.get(lock);
    if (this.#closed || rec === undefined || rec.call !== 'acquire') return;
    rec.call = null;
    const retried = rec.retried;
    rec.retried = false;
    if (!result.ok) {
      if (retried && !isDefinite(result.error)) this.#t.call(lock, rec, 'acquire', out); // the lock is free for us: ask at once
      else this.#t.callFailed(lock, rec, 'acquire', result.error, out);
    } else {
      const reply = parseAcquireReply(result.value);
      if (reply === null) {
        this.#t.giveUp(lock, rec, new LockProtocolError(lock, `malformed acquire reply ${JSON.stringify(result.value)}`), out);
      } else if (reply.granted) {
        this.#lapseIfDue(out);
        if (this.#session.valid && rec.callEpoch === this.#session.epoch) { // sent within this run of validity
          this.#t.granted(lock, rec, reply.token, out);
        } else {
          // Sent before the current run of validity, or the session is not valid now: the server
          // may have expired the owner since it granted this. Give it back (by its token); the
          // waiters ask again once the session is valid.
          this.#log.warn({ owner: this.owner, lock, token: reply.token }, 'lock client: a grant that may have outlived the session; giving it back');
          rec.token = reply.token;
          rec.highestRevoke = Math.max(rec.highestRevoke, reply.token);
          this.#t.startReleasing(lock, rec, out);
        }
      } else if (retried) {
        this.#t.call(lock, rec, 'acquire', out); // the retry came before this reply: it was about this wait
      }
      // else: queued at the server; wait for its retry.
    }
    this.#locks.check(lock);
  }

  /** The reply (or error) of the release call in flight for `lock`. */
  onReleaseResult(lock: string, result: ServerResult, out: LockClientOutbox): void {
    const rec = this.#locks.get(lock);
    if (this.#closed || rec === undefined || rec.call !== 'release') return;
    rec.call = null;
    if (result.ok) {
      this.#t.released(lock, rec, out);
    } else if (result.error instanceof AppRejectedError && (result.error.code === 'not-held' || result.error.code === 'owner-taken')) {
      // The server had let it go already (the owner's session expired, or this was a grant it no
      // longer records; with owner-taken, it expired and another client took the owner id since):
      // as good as released.
      this.#log.warn({ owner: this.owner, lock, token: rec.token, error: result.error.message }, 'lock client: the server no longer held the lock for this client; treating it as released');
      this.#t.released(lock, rec, out);
    } else if (isDefinite(result.error)) {
      // Refused without executing (cannot happen for a name the server granted): nothing to retry.
      this.#log.error({ owner: this.owner, lock, error: result.error.message }, 'lock client: release refused; forgetting the lock');
      if (result.error instanceof ClientClosedError) this.#t.giveUp(lock, rec, result.error, out);
      else this.#t.released(lock, rec, out);
    } else {
      this.#t.callFailed(lock, rec, 'release', result.error, out);
    }
    this.#locks.check(lock);
  }

  /** The client closes: every local waiter fails; nothing more is sent. Holders keep nothing. */
  close(out: LockClientOutbox): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const [lock, rec] of this.#locks.entries()) {
      if (rec.backingOff) out.cancelTimer(lock);
      for (const w of rec.waiters) out.upcall(() => w.done({ ok: false, error: new LockClientClosedError() }));
    }
    this.#locks.clear();
    this.#lost.clear();
  }
}
