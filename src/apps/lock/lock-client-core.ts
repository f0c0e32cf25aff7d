import { AppRejectedError, ClientClosedError, InvalidArgumentError } from '../../client/errors.js';
import { invariant } from '../../env/errors.js';
import type { Logger } from '../../env/logger.js';
import { type LockClientOptions, defaultLockClientOptions, withDefaults } from '../../options.js';
import type { Json } from '../../rsm/app.js';
import { LockClientClosedError, LockProtocolError, LockUsageError } from './lock-errors.js';
import { lockLimits } from './lock-app.js';

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
 * | event                                  | from       | to / effect                                              |
 * |----------------------------------------|------------|----------------------------------------------------------|
 * | acquire(u)                             | none       | acquiring; call acquire                                  |
 * | acquire(u)                             | free       | locked by u; grant u with t (no server call)             |
 * | acquire(u)                             | other      | u queued (FIFO)                                          |
 * | release(u)                             | locked     | next local waiter gets it (same t), else free;           |
 * |                                        |            | if revoked: releasing, release due                       |
 * | granted t'                             | acquiring  | locked by the first waiter (revoked if a revoke ≥ t' came)|
 * | not granted                            | acquiring  | wait for retry; call acquire again if a retry came first |
 * | retry                                  | acquiring  | call acquire (at once, or when the reply in flight comes)|
 * | revoke(t'), t' ≥ t                     | free       | releasing, release due                                   |
 * | revoke(t'), t' ≥ t                     | locked     | revoked: released once the local user releases           |
 * | revoke(t'), t' < t                     | free/locked| ignored (stale)                                          |
 * | revoke(t')                             | acquiring  | remembered; applied to a grant with token ≤ t'           |
 * | revoke(t'), t' > last released token   | none       | releasing, release due (the server thinks we hold it)    |
 * | release due (background step)          | releasing  | call release                                             |
 * | released / not-held                    | releasing  | none, or acquiring (call acquire) if local users wait    |
 * | call failed, outcome unknown           | acq./rel.  | call again after `serverRetryMs`                         |
 * | acquire refused (bad-args, closed)     | acquiring  | none; every local waiter fails with the error            |
 * | subscription ended                     | free       | releasing, release due (the session may expire)          |
 * | subscription ended                     | locked     | revoked (no more local handovers of this grant)          |
 * | subscription re-opened                 | acquiring  | call acquire again (a retry may have been lost)          |
 *
 * Invariants (checked after every handler, on in production):
 * - at most one local user holds a lock, and a lock is `locked` exactly when one does;
 * - a lock is `free` or `locked` only with a server grant in force, as far as the client can
 *   know (the acquire that got it was answered `granted` and no release was sent since; only
 *   a session expiry at the server can end it behind the client's back, which fencing tokens and
 *   `onSubscriptionEnded` are for);
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

export type LockStatus = 'none' | 'free' | 'locked' | 'acquiring' | 'releasing';

/** A call of the lock server's procedures (`lock-app.ts`) for the shell to make. */
export interface LockServerCall {
  readonly proc: 'acquire' | 'release';
  readonly lock: string;
  readonly args: { readonly lock: string; readonly owner: string };
}

/** What a server call ended with: the reply, or the error (`RsmClientError`s, as `RsmClient` gives them). */
export type ServerResult = { readonly ok: true; readonly value: Json } | { readonly ok: false; readonly error: Error };

export type AcquireResult = { readonly ok: true; readonly token: number } | { readonly ok: false; readonly error: Error };
export type ReleaseResult = { readonly ok: true } | { readonly ok: false; readonly error: Error };

/**
 * The effects of one handler, carried out by the shell in this order: timers, server calls,
 * upcalls; then each due release as a task of its own (never inside the handler that made it due).
 */
export class LockClientOutbox {
  /** Server calls to make, in order. */
  readonly calls: LockServerCall[] = [];
  /** Per-lock retry timers to (re)arm, or cancel (`delayMs` null); on firing, the shell calls `onTimer(lock)`. */
  readonly timers: Array<{ readonly lock: string; readonly delayMs: number | null }> = [];
  /** Locks whose release is due: the shell calls `onReleaseDue(lock)` in a later task of its own. */
  readonly releasesDue: string[] = [];
  /** Calls into local users (grants, failures), after the handler returned. */
  readonly upcalls: Array<() => void> = [];

  call(call: LockServerCall): void {
    this.calls.push(call);
  }

  setTimer(lock: string, delayMs: number): void {
    this.timers.push({ lock, delayMs });
  }

  cancelTimer(lock: string): void {
    this.timers.push({ lock, delayMs: null });
  }

  releaseDue(lock: string): void {
    this.releasesDue.push(lock);
  }

  upcall(call: () => void): void {
    this.upcalls.push(call);
  }
}

export interface LockClientCoreDeps {
  /** The owner id this client acquires and releases under; callbacks addressed to it come here. */
  readonly owner: string;
  readonly logger: Logger;
  readonly options?: Partial<LockClientOptions>;
}

interface Waiter {
  readonly user: string;
  readonly done: (result: AcquireResult) => void;
}

interface LockRecord {
  status: Exclude<LockStatus, 'none'>;
  /** free / locked: the token of the grant in force; releasing: of the grant given back (0: unknown); acquiring: of the last grant (0: none). */
  token: number;
  /** The local user holding the lock (locked only). */
  holder: string | null;
  /** Local users waiting, first come first served. */
  readonly waiters: Waiter[];
  /** locked: the server asked for the grant back; it goes once the local user releases it. */
  revoked: boolean;
  /** The highest token of any revoke received for this lock while this record lived (0: none). */
  highestRevoke: number;
  /** The server call in flight for this lock. */
  call: 'acquire' | 'release' | null;
  /** acquiring: a retry came while the acquire was in flight; ask again if it is answered `not granted`. */
  retried: boolean;
  /** releasing: the release is to be sent by the next background step. */
  releaseDue: boolean;
  /** A call failed with an unknown outcome; the retry timer is armed. */
  backingOff: boolean;
}

/**
 * How many released locks (none again) the core remembers the last token of, to tell a late
 * revoke of a grant it gave back from one of a grant it does not know about. Forgetting one only
 * costs a superfluous release (answered `not-held`), so a small bound suffices.
 */
const maxRememberedReleases = 1024;

export class LockClientCore {
  readonly owner: string;
  readonly #log: Logger;
  readonly #options: LockClientOptions;
  readonly #locks = new Map<string, LockRecord>();
  /** Last token released per lock that is back to none (bounded; oldest forgotten first). */
  readonly #released = new Map<string, number>();
  #closed = false;

  constructor(deps: LockClientCoreDeps) {
    if (deps.owner.length === 0 || deps.owner.length > lockLimits.maxOwnerLength) {
      throw new RangeError(`owner must be 1 to ${lockLimits.maxOwnerLength} characters`);
    }
    this.owner = deps.owner;
    this.#log = deps.logger;
    this.#options = withDefaults(defaultLockClientOptions, deps.options, 'lockClient');
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
    return [...this.#locks.keys()];
  }

  // ── local users ─────────────────────────────────────────────────────────────────────────────

  /** Local user `user` asks for `lock`; `done` is upcalled with the grant's token, or an error. */
  acquire(user: string, lock: string, done: (result: AcquireResult) => void, out: LockClientOutbox): void {
    const fail = (error: Error): void => out.upcall(() => done({ ok: false, error }));
    if (this.#closed) return fail(new LockClientClosedError());
    if (lock.length === 0 || lock.length > lockLimits.maxLockNameLength) {
      return fail(new InvalidArgumentError('lock', `a lock name is 1 to ${lockLimits.maxLockNameLength} characters, got ${lock.length}`));
    }
    let rec = this.#locks.get(lock);
    if (rec === undefined) {
      rec = { status: 'acquiring', token: 0, holder: null, waiters: [{ user, done }], revoked: false, highestRevoke: 0, call: null, retried: false, releaseDue: false, backingOff: false };
      this.#locks.set(lock, rec);
      this.#call(lock, rec, 'acquire', out);
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
    this.#check(lock);
  }

  /** Local user `user` gives `lock` back; `done` is upcalled at once (the server may be told later). */
  release(user: string, lock: string, done: (result: ReleaseResult) => void, out: LockClientOutbox): void {
    const rec = this.#locks.get(lock);
    if (this.#closed || rec === undefined || rec.status !== 'locked' || rec.holder !== user) {
      const error = this.#closed ? new LockClientClosedError() : new LockUsageError(lock, user, 'does not hold it');
      out.upcall(() => done({ ok: false, error }));
      return;
    }
    rec.holder = null;
    if (rec.revoked) {
      // The server wants it back: local waiters ask the server again after the release.
      this.#startReleasing(lock, rec, out);
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
    this.#check(lock);
  }

  // ── callbacks from the server (over the subscription) ───────────────────────────────────────

  /** The server asks for the grant with `token` back (someone else waits). */
  onRevoke(lock: string, token: number, out: LockClientOutbox): void {
    if (this.#closed) return;
    const rec = this.#locks.get(lock);
    if (rec === undefined) {
      const released = this.#released.get(lock);
      if (released !== undefined && token <= released) return; // a late revoke of a grant already given back
      // The server believes this owner holds a grant it does not know of (an earlier life of this
      // owner id, or an acquire that executed after its call gave up): give it back.
      this.#log.warn({ owner: this.owner, lock, token }, 'lock client: revoke of a grant this client does not know; releasing it');
      const fresh: LockRecord = { status: 'releasing', token, holder: null, waiters: [], revoked: false, highestRevoke: token, call: null, retried: false, releaseDue: false, backingOff: false };
      this.#locks.set(lock, fresh);
      this.#startReleasing(lock, fresh, out);
      this.#check(lock);
      return;
    }
    rec.highestRevoke = Math.max(rec.highestRevoke, token);
    switch (rec.status) {
      case 'free':
      case 'locked':
        if (token < rec.token) return; // about an older grant: stale
        if (token > rec.token) this.#log.warn({ owner: this.owner, lock, token, held: rec.token }, 'lock client: revoke names a newer grant than the one held; giving it back');
        if (rec.status === 'free') this.#startReleasing(lock, rec, out);
        else rec.revoked = true;
        break;
      case 'acquiring':
        break; // kept in highestRevoke: applied if the grant that comes is the one it names
      case 'releasing':
        break; // already giving it back
    }
    this.#check(lock);
  }

  /** The server says `lock` is free and this owner is first in line: ask again. */
  onRetry(lock: string, out: LockClientOutbox): void {
    const rec = this.#locks.get(lock);
    if (this.#closed || rec === undefined || rec.status !== 'acquiring') return; // stale: not waiting
    if (rec.call === 'acquire') rec.retried = true; // the reply in flight may be `not granted`: ask again then
    else this.#call(lock, rec, 'acquire', out);
    this.#check(lock);
  }

  /**
   * The callback subscription ended (the subscriber gave up on it). Revokes sent meanwhile are
   * re-sent when a new one opens, but the owner's session may expire at the server while there
   * is none (`CallbackOptions.sessionTimeoutMs`), which releases its grants behind its back. So
   * no cached grant is handed out any more: a free one is given back now, a held one once its
   * local user releases it; local users then ask the server anew.
   */
  onSubscriptionEnded(out: LockClientOutbox): void {
    if (this.#closed) return;
    for (const [lock, rec] of this.#locks) {
      if (rec.status === 'free') this.#startReleasing(lock, rec, out);
      else if (rec.status === 'locked') rec.revoked = true;
      this.#check(lock);
    }
  }

  /**
   * The callback subscription was re-opened after it ended: a retry may have been lost in the
   * gap, so every lock waiting for one asks again (acquire is idempotent on the server).
   */
  onResubscribed(out: LockClientOutbox): void {
    if (this.#closed) return;
    for (const [lock, rec] of this.#locks) {
      if (rec.status !== 'acquiring') continue;
      if (rec.call === 'acquire') rec.retried = true;
      else this.#call(lock, rec, 'acquire', out);
      this.#check(lock);
    }
  }

  // ── the shell's own steps ───────────────────────────────────────────────────────────────────

  /** The background step after a release became due: send it. */
  onReleaseDue(lock: string, out: LockClientOutbox): void {
    const rec = this.#locks.get(lock);
    if (this.#closed || rec === undefined || rec.status !== 'releasing' || !rec.releaseDue) return;
    rec.releaseDue = false;
    this.#call(lock, rec, 'release', out);
    this.#check(lock);
  }

  /** The retry timer of `lock` fired: repeat the call whose outcome was unknown. */
  onTimer(lock: string, out: LockClientOutbox): void {
    const rec = this.#locks.get(lock);
    if (this.#closed || rec === undefined || !rec.backingOff || rec.call !== null) return;
    rec.backingOff = false;
    if (rec.status === 'acquiring') this.#call(lock, rec, 'acquire', out);
    else if (rec.status === 'releasing' && !rec.releaseDue) this.#call(lock, rec, 'release', out);
    this.#check(lock);
  }

  /** The reply (or error) of the acquire call in flight for `lock`. */
  onAcquireResult(lock: string, result: ServerResult, out: LockClientOutbox): void {
    const rec = this.#locks.get(lock);
    if (this.#closed || rec === undefined || rec.call !== 'acquire') return;
    rec.call = null;
    const retried = rec.retried;
    rec.retried = false;
    if (!result.ok) {
      if (retried && !isDefinite(result.error)) this.#call(lock, rec, 'acquire', out); // the lock is free for us: ask at once
      else this.#onCallFailed(lock, rec, 'acquire', result.error, out);
    } else {
      const reply = parseAcquireReply(result.value);
      if (reply === null) {
        this.#giveUp(lock, rec, new LockProtocolError(lock, `malformed acquire reply ${JSON.stringify(result.value)}`), out);
      } else if (reply.granted) {
        this.#onGranted(lock, rec, reply.token, out);
      } else if (retried) {
        this.#call(lock, rec, 'acquire', out); // the retry came before this reply: it was about this wait
      }
      // else: queued at the server; wait for its retry.
    }
    this.#check(lock);
  }

  /** The reply (or error) of the release call in flight for `lock`. */
  onReleaseResult(lock: string, result: ServerResult, out: LockClientOutbox): void {
    const rec = this.#locks.get(lock);
    if (this.#closed || rec === undefined || rec.call !== 'release') return;
    rec.call = null;
    if (result.ok) {
      this.#onReleased(lock, rec, out);
    } else if (result.error instanceof AppRejectedError && result.error.code === 'not-held') {
      // The server had let it go already (the owner's session expired, or this was a grant it no
      // longer records): as good as released.
      this.#log.warn({ owner: this.owner, lock, token: rec.token, error: result.error.message }, 'lock client: the server no longer held the lock for this client; treating it as released');
      this.#onReleased(lock, rec, out);
    } else if (isDefinite(result.error)) {
      // Refused without executing (cannot happen for a name the server granted): nothing to retry.
      this.#log.error({ owner: this.owner, lock, error: result.error.message }, 'lock client: release refused; forgetting the lock');
      if (result.error instanceof ClientClosedError) this.#giveUp(lock, rec, result.error, out);
      else this.#onReleased(lock, rec, out);
    } else {
      this.#onCallFailed(lock, rec, 'release', result.error, out);
    }
    this.#check(lock);
  }

  /** The client closes: every local waiter fails; nothing more is sent. Holders keep nothing. */
  close(out: LockClientOutbox): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const [lock, rec] of this.#locks) {
      if (rec.backingOff) out.cancelTimer(lock);
      for (const w of rec.waiters) out.upcall(() => w.done({ ok: false, error: new LockClientClosedError() }));
    }
    this.#locks.clear();
  }

  // ── transitions ─────────────────────────────────────────────────────────────────────────────

  #onGranted(lock: string, rec: LockRecord, token: number, out: LockClientOutbox): void {
    if (token < rec.token) {
      this.#log.error({ owner: this.owner, lock, token, previous: rec.token }, 'lock client: a grant with a lower token than an earlier one');
    }
    rec.token = token;
    const revoked = rec.highestRevoke >= token; // a revoke of this very grant came before the reply
    const next = rec.waiters.shift();
    if (next === undefined) {
      // Cannot happen while waiters cannot leave; cache the grant (or give it back at once).
      rec.status = 'free';
      if (revoked) this.#startReleasing(lock, rec, out);
      return;
    }
    rec.status = 'locked';
    rec.holder = next.user;
    rec.revoked = revoked;
    out.upcall(() => next.done({ ok: true, token }));
  }

  #onReleased(lock: string, rec: LockRecord, out: LockClientOutbox): void {
    this.#remember(lock, rec.token);
    if (rec.waiters.length === 0) {
      this.#locks.delete(lock); // none
      return;
    }
    // Local users waited behind the release: they ask the server anew, like any other client.
    rec.status = 'acquiring';
    rec.revoked = false;
    this.#call(lock, rec, 'acquire', out);
  }

  /** free, or locked and the holder just released, with the grant revoked: give it back in a later task. */
  #startReleasing(lock: string, rec: LockRecord, out: LockClientOutbox): void {
    rec.status = 'releasing';
    rec.holder = null;
    rec.revoked = false;
    rec.releaseDue = true;
    out.releaseDue(lock);
  }

  #onCallFailed(lock: string, rec: LockRecord, proc: 'acquire' | 'release', error: Error, out: LockClientOutbox): void {
    if (isDefinite(error)) {
      // Not executed, or executed and refused (e.g. bad-args), or the client is closed: repeating cannot help.
      this.#giveUp(lock, rec, error, out);
      return;
    }
    // Outcome unknown (deadline, unavailable, ...): repeat it later; acquire and release are idempotent.
    this.#log.warn({ owner: this.owner, lock, proc, error: error.message, retryMs: this.#options.serverRetryMs }, 'lock client: server call failed; retrying');
    rec.backingOff = true;
    out.setTimer(lock, this.#options.serverRetryMs);
  }

  /** Fail every local waiter of `lock` and forget it. */
  #giveUp(lock: string, rec: LockRecord, error: Error, out: LockClientOutbox): void {
    this.#log.warn({ owner: this.owner, lock, status: rec.status, error: error.message }, 'lock client: giving up on the lock');
    if (rec.backingOff) out.cancelTimer(lock);
    for (const w of rec.waiters) out.upcall(() => w.done({ ok: false, error }));
    rec.waiters.length = 0;
    this.#locks.delete(lock);
  }

  #call(lock: string, rec: LockRecord, proc: 'acquire' | 'release', out: LockClientOutbox): void {
    invariant(rec.call === null, () => `lock client ${this.owner}: ${proc} of ${lock} while a ${rec.call} is in flight`);
    if (rec.backingOff) {
      rec.backingOff = false;
      out.cancelTimer(lock);
    }
    rec.call = proc;
    // A release names the grant it gives back, so a release re-sent after an unknown outcome
    // can never free a later grant of the same lock.
    const token = proc === 'release' && typeof rec.token === 'number' && rec.token > 0 ? { token: rec.token } : {};
    out.call({ proc, lock, args: { lock, owner: this.owner, ...token } });
  }

  #remember(lock: string, token: number): void {
    this.#released.delete(lock);
    this.#released.set(lock, token);
    if (this.#released.size > maxRememberedReleases) this.#released.delete(this.#released.keys().next().value!);
  }

  /** The invariants of the table above, for one lock. */
  #check(lock: string): void {
    const rec = this.#locks.get(lock);
    if (rec === undefined) return;
    const where = (): string => `lock client ${this.owner}, lock ${lock}: ${JSON.stringify({ ...rec, waiters: rec.waiters.map((w) => w.user) })}`;
    invariant((rec.status === 'locked') === (rec.holder !== null), () => `locked exactly when a local user holds it: ${where()}`);
    invariant(rec.holder === null || !rec.waiters.some((w) => w.user === rec.holder), () => `the holder is not also waiting: ${where()}`);
    invariant(new Set(rec.waiters.map((w) => w.user)).size === rec.waiters.length, () => `each local user waits once: ${where()}`);
    invariant(rec.status !== 'free' || rec.waiters.length === 0, () => `a free lock has no local waiters: ${where()}`);
    invariant(rec.status !== 'acquiring' || rec.waiters.length > 0, () => `an acquiring lock has local waiters: ${where()}`);
    invariant((rec.status !== 'free' && rec.status !== 'locked') || (rec.call === null && rec.token > 0 && !rec.backingOff), () => `a grant in force, no call in flight: ${where()}`);
    invariant(rec.call !== 'acquire' || rec.status === 'acquiring', () => `an acquire is in flight only while acquiring: ${where()}`);
    invariant(rec.call !== 'release' || rec.status === 'releasing', () => `a release is in flight only while releasing: ${where()}`);
    invariant(!rec.releaseDue || (rec.status === 'releasing' && rec.call === null), () => `a release is due only while releasing with no call: ${where()}`);
    invariant(!rec.retried || (rec.status === 'acquiring' && rec.call === 'acquire'), () => `a retry is remembered only while an acquire is in flight: ${where()}`);
    invariant(!rec.revoked || rec.status === 'locked', () => `only a locked lock is marked revoked: ${where()}`);
  }
}

/** `{ granted: true, token }` or `{ granted: false }`, as `lockApp.handlers.acquire` answers; null if neither. */
function parseAcquireReply(value: Json): { granted: true; token: number } | { granted: false } | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  if (value['granted'] === false) return { granted: false };
  const token = value['token'];
  if (value['granted'] === true && typeof token === 'number' && Number.isSafeInteger(token) && token > 0) return { granted: true, token };
  return null;
}

/**
 * Errors after which the call's outcome is known and repeating it cannot help: the app refused it
 * (executed, with an error), the request was refused as bad input (not executed), the RSM client
 * is closed, or the reply broke the protocol. Anything else (deadline, unavailable, busy, ...)
 * leaves the outcome unknown.
 */
function isDefinite(error: Error): boolean {
  return error instanceof AppRejectedError || error instanceof InvalidArgumentError || error instanceof ClientClosedError ||
    error instanceof LockClientClosedError || error instanceof LockProtocolError;
}
