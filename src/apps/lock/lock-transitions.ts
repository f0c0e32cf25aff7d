import { invariant } from '../../env/errors.js';
import type { Logger } from '../../env/logger.js';
import type { LockClientOptions } from '../../options.js';
import { type LockClientOutbox, isDefinite } from './lock-client-outbox.js';
import type { LockRecord, LockTable } from './lock-records.js';
import type { SessionValidity } from './lock-session.js';

/**
 * The lock client's transitions that more than one event leads to (see the table on
 * `LockClientCore`): a grant comes in, a grant is given back, a release starts, a call fails, the
 * client gives up on a lock, a call goes out. Each changes one record and records its effects in
 * the handler's outbox; the core decides when each applies. Synchronous and free of I/O.
 */
export class LockTransitions {
  readonly #owner: string;
  readonly #log: Logger;
  readonly #options: LockClientOptions;
  readonly #locks: LockTable;
  readonly #session: SessionValidity;

  constructor(owner: string, log: Logger, options: LockClientOptions, locks: LockTable, session: SessionValidity) {
    this.#owner = owner;
    this.#log = log;
    this.#options = options;
    this.#locks = locks;
    this.#session = session;
  }

  /** acquiring: the server granted `token`; the first local waiter holds it (revoked already if a revoke of it came first). */
  granted(lock: string, rec: LockRecord, token: number, out: LockClientOutbox): void {
    if (token < rec.token) {
      this.#log.error({ owner: this.#owner, lock, token, previous: rec.token }, 'lock client: a grant with a lower token than an earlier one');
    }
    rec.token = token;
    const revoked = rec.highestRevoke >= token; // a revoke of this very grant came before the reply
    const next = rec.waiters.shift();
    if (next === undefined) {
      // Cannot happen while waiters cannot leave; cache the grant (or give it back at once).
      rec.status = 'free';
      if (revoked) this.startReleasing(lock, rec, out);
      return;
    }
    rec.status = 'locked';
    rec.holder = next.user;
    rec.revoked = revoked;
    out.upcall(() => next.done({ ok: true, token }));
  }

  /** releasing: the server took the grant back; none again, or acquiring for the local users who waited meanwhile. */
  released(lock: string, rec: LockRecord, out: LockClientOutbox): void {
    this.#locks.remember(lock, rec.token);
    if (rec.waiters.length === 0) {
      this.#locks.delete(lock); // none
      return;
    }
    // Local users waited behind the release: they ask the server anew, like any other client;
    // without a valid session, once it is valid again (`awaitsSession`): a grant got now could
    // not be trusted, and asking again and again would only take the lock from others.
    rec.status = 'acquiring';
    rec.revoked = false;
    if (this.#session.valid) this.call(lock, rec, 'acquire', out);
    else rec.awaitsSession = true;
  }

  /** free, or locked and the holder just released, with the grant revoked: give it back in a later task. */
  startReleasing(lock: string, rec: LockRecord, out: LockClientOutbox): void {
    rec.status = 'releasing';
    rec.holder = null;
    rec.revoked = false;
    rec.releaseDue = true;
    out.releaseDue(lock);
  }

  /** A call ended without a reply: give up if its outcome is known, else repeat it after `serverRetryMs`. */
  callFailed(lock: string, rec: LockRecord, proc: 'acquire' | 'release', error: Error, out: LockClientOutbox): void {
    if (isDefinite(error)) {
      // Not executed, or executed and refused (e.g. bad-args), or the client is closed: repeating cannot help.
      this.giveUp(lock, rec, error, out);
      return;
    }
    // Outcome unknown (deadline, unavailable, ...): repeat it later; acquire and release are idempotent.
    this.#log.warn({ owner: this.#owner, lock, proc, error: error.message, retryMs: this.#options.serverRetryMs }, 'lock client: server call failed; retrying');
    rec.backingOff = true;
    out.setTimer(lock, this.#options.serverRetryMs);
  }

  /** Fail every local waiter of `lock` and forget it. */
  giveUp(lock: string, rec: LockRecord, error: Error, out: LockClientOutbox): void {
    this.#log.warn({ owner: this.#owner, lock, status: rec.status, error: error.message }, 'lock client: giving up on the lock');
    if (rec.backingOff) out.cancelTimer(lock);
    for (const w of rec.waiters) out.upcall(() => w.done({ ok: false, error }));
    rec.waiters.length = 0;
    this.#locks.delete(lock);
  }

  /**
   * Sends `proc` for `lock` (at most one call per lock is in flight). An acquire remembers the
   * session epoch it was sent in, and whether the session was valid then (its grant is trusted
   * only if so, and the epoch has not moved when it comes).
   */
  call(lock: string, rec: LockRecord, proc: 'acquire' | 'release', out: LockClientOutbox): void {
    invariant(rec.call === null, () => `lock client ${this.#owner}: ${proc} of ${lock} while a ${rec.call} is in flight`);
    if (rec.backingOff) {
      rec.backingOff = false;
      out.cancelTimer(lock);
    }
    if (proc === 'acquire') {
      rec.awaitsSession = false;
      rec.callEpoch = this.#session.valid ? this.#session.epoch : -1;
    }
    rec.call = proc;
    // A release names the grant it gives back, so a release re-sent after an unknown outcome
    // can never free a later grant of the same lock.
    const token = proc === 'release' && typeof rec.token === 'number' && rec.token > 0 ? { token: rec.token } : {};
    out.call({ proc, lock, args: { lock, owner: this.#owner, ...token } });
  }
}
