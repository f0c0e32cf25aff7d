import { invariant } from '../../env/errors.js';
import type { AcquireResult, LockStatus } from './lock-client-outbox.js';

/** A local user waiting for a lock, and how to tell it the outcome. */
export interface Waiter {
  readonly user: string;
  readonly done: (result: AcquireResult) => void;
}

/** What the lock client knows of one lock it has a status other than none for. */
export interface LockRecord {
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
  /** acquiring after a release: the acquire is held back until the session is valid (a grant got without one could not be trusted). */
  awaitsSession: boolean;
  /** The session epoch (`SessionValidity.epoch`) the acquire in flight was sent in; -1: sent while not valid. */
  callEpoch: number;
}

/**
 * How many released locks (none again) the client remembers the last token of, to tell a late
 * revoke of a grant it gave back from one of a grant it does not know about. Forgetting one only
 * costs a superfluous release (answered `not-held`), so a small bound suffices.
 */
const maxRememberedReleases = 1024;

/**
 * The lock client's records: one per lock whose status is not none, and the last token given
 * back of recently released locks (at most `maxRememberedReleases`, oldest forgotten first).
 */
export class LockTable {
  readonly #owner: string;
  readonly #records = new Map<string, LockRecord>();
  readonly #released = new Map<string, number>();

  constructor(owner: string) {
    this.#owner = owner;
  }

  get(lock: string): LockRecord | undefined {
    return this.#records.get(lock);
  }

  /** A fresh record for `lock` in `status` (acquiring for a first local user, releasing for a grant it did not know of). */
  create(lock: string, status: 'acquiring' | 'releasing', token: number, waiters: LockRecord['waiters']): LockRecord {
    const rec: LockRecord = { status, token, holder: null, waiters, revoked: false, highestRevoke: status === 'releasing' ? token : 0, call: null, retried: false, releaseDue: false, backingOff: false, awaitsSession: false, callEpoch: -1 };
    this.#records.set(lock, rec);
    return rec;
  }

  delete(lock: string): void {
    this.#records.delete(lock);
  }

  entries(): IterableIterator<[string, LockRecord]> {
    return this.#records.entries();
  }

  locks(): string[] {
    return [...this.#records.keys()];
  }

  clear(): void {
    this.#records.clear();
  }

  /** `lock` went back to none after its grant with `token` was given back. */
  remember(lock: string, token: number): void {
    this.#released.delete(lock);
    this.#released.set(lock, token);
    if (this.#released.size > maxRememberedReleases) this.#released.delete(this.#released.keys().next().value!);
  }

  /** The token of the last grant of `lock` given back, if remembered. */
  released(lock: string): number | undefined {
    return this.#released.get(lock);
  }

  /** The invariants of `LockClientCore`'s table, for one lock (on in production). */
  check(lock: string): void {
    const rec = this.#records.get(lock);
    if (rec === undefined) return;
    const where = (): string => `lock client ${this.#owner}, lock ${lock}: ${JSON.stringify({ ...rec, waiters: rec.waiters.map((w) => w.user) })}`;
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
    invariant(!rec.awaitsSession || (rec.status === 'acquiring' && rec.call === null && !rec.backingOff), () => `only an acquiring lock with no call waits for the session: ${where()}`);
  }
}
