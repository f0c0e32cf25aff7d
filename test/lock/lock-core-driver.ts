// The test driver of LockClientCore (design §6), shared by the core's scripted tests: the test
// plays the server and the shell. It drives the core through a LockClientOutbox, collects the
// server calls it asks for, runs the due (background) releases and fires timers by hand, and feeds
// replies and callbacks in any order.
import assert from 'node:assert/strict';
import { silentLogger } from '../../src/env/logger.js';
import {
  type AcquireResult,
  LockClientCore,
  LockClientOutbox,
  type ReleaseResult,
  type ServerResult,
} from '../../src/apps/lock/lock-client-core.js';

export const owner = 'owner-1';

export type Call = `${'acquire' | 'release'} ${string}`;

/** A session bound far beyond any scripted test: the driver's default session never lapses. */
export const forever = 1e12;

export class Driver {
  /** The client's clock (ms), moved by the test. */
  time = 0;
  readonly core: LockClientCore;
  /** The session timer's delay as last armed (null: never armed). */
  sessionTimerMs: number | null = null;
  /** Server calls asked for, oldest first, as `proc lock`. */
  readonly calls: Call[] = [];
  /** Locks whose release is due (the background step not yet run). */
  readonly due: string[] = [];
  /** Armed retry timers: lock → delay. */
  readonly timers = new Map<string, number>();
  /** Grants and failures upcalled to local users, in order. */
  readonly events: string[] = [];

  /** With `confirmedUntil` (default `forever`), the session starts confirmed until then; null: unconfirmed. */
  constructor(opts: { confirmedUntil?: number | null; cachePastSession?: boolean } = {}) {
    this.core = new LockClientCore({
      owner, logger: silentLogger, now: () => this.time,
      onLost: (e) => this.events.push(`${e.user} lost ${e.lock}@${e.token} at ${e.lostAtMs}`),
      mutations: { cachePastSession: opts.cachePastSession ?? false },
    });
    const until = opts.confirmedUntil === undefined ? forever : opts.confirmedUntil;
    if (until !== null) this.confirm(until);
  }

  /** The subscription confirmed the session until `untilMs`. */
  confirm(untilMs: number): void {
    this.#run((out) => this.core.onConfirmed(untilMs, out));
  }

  /** The session timer fires (whenever the test says: timers may be late). */
  fireSession(): void {
    this.#run((out) => this.core.onSessionTimer(out));
  }

  /** Local user `user` checks its hold: its token, or the error's name. */
  check(user: string, lock = 'a'): number | string {
    let r: ReturnType<LockClientCore['check']> | undefined;
    this.#run((out) => (r = this.core.check(user, lock, out)));
    return r!.ok ? r!.token : r!.error.name;
  }

  acquire(user: string, lock = 'a'): void {
    this.#run((out) => this.core.acquire(user, lock, (r: AcquireResult) => this.events.push(r.ok ? `${user} got ${lock}@${r.token}` : `${user} failed ${lock}: ${r.error.name}`), out));
  }

  release(user: string, lock = 'a'): ReleaseResult {
    let result: ReleaseResult | undefined;
    this.#run((out) => this.core.release(user, lock, (r) => (result = r), out));
    assert.ok(result !== undefined, 'release answers at once');
    return result;
  }

  revoke(lock: string, token: number): void {
    this.#run((out) => this.core.onRevoke(lock, token, out));
  }

  subscriptionEnded(): void {
    this.#run((out) => this.core.onSubscriptionEnded(out));
  }

  resubscribed(): void {
    this.#run((out) => this.core.onResubscribed(out));
  }

  retry(lock = 'a'): void {
    this.#run((out) => this.core.onRetry(lock, out));
  }

  acquireReply(lock: string, result: ServerResult): void {
    this.#run((out) => this.core.onAcquireResult(lock, result, out));
  }

  granted(token: number, lock = 'a'): void {
    this.acquireReply(lock, { ok: true, value: { granted: true, token } });
  }

  notGranted(lock = 'a'): void {
    this.acquireReply(lock, { ok: true, value: { granted: false } });
  }

  releaseReply(lock = 'a', result: ServerResult = { ok: true, value: { released: true } }): void {
    this.#run((out) => this.core.onReleaseResult(lock, result, out));
  }

  /** Runs the background step of every due release (what the shell does in a later task). */
  runDue(): void {
    for (const lock of this.due.splice(0)) this.#run((out) => this.core.onReleaseDue(lock, out));
  }

  fire(lock: string): void {
    assert.ok(this.timers.has(lock), `timer of ${lock} armed`);
    this.timers.delete(lock);
    this.#run((out) => this.core.onTimer(lock, out));
  }

  take(): Call[] {
    return this.calls.splice(0);
  }

  takeEvents(): string[] {
    return this.events.splice(0);
  }

  #run(handler: (out: LockClientOutbox) => void): void {
    const out = new LockClientOutbox();
    handler(out);
    for (const { lock, delayMs } of out.timers) {
      if (delayMs === null) this.timers.delete(lock);
      else this.timers.set(lock, delayMs);
    }
    for (const c of out.calls) {
      const { token, ...rest } = c.args as { token?: unknown };
      assert.deepEqual(rest, { lock: c.lock, owner }, 'every call names the lock and this owner');
      // A release names the grant it gives back (a positive token); an acquire names none.
      if (c.proc === 'release') assert.ok(typeof token === 'number' && token > 0, `release of ${c.lock} names its grant`);
      else assert.equal(token, undefined);
      this.calls.push(`${c.proc} ${c.lock}` as Call);
    }
    if (out.sessionTimerMs !== null) this.sessionTimerMs = out.sessionTimerMs;
    this.due.push(...out.releasesDue);
    for (const call of out.upcalls) call();
  }
}

/** A driver with `a` granted to `user` at `token` (one acquire, answered). */
export function holding(user = 'u1', token = 7, d = new Driver()): Driver {
  d.acquire(user);
  assert.deepEqual(d.take(), ['acquire a']);
  d.granted(token);
  assert.deepEqual(d.takeEvents(), [`${user} got a@${token}`]);
  return d;
}
