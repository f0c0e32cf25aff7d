import type { RsmClient } from '../../client/rsm-client.js';
import type { Clock, TimerHandle } from '../../env/clock.js';
import { CoreShell } from '../../env/core-shell.js';
import { Executor } from '../../env/executor.js';
import { type Logger, silentLogger } from '../../env/logger.js';
import { type LockClientOptions, defaultLockClientOptions, withDefaults } from '../../options.js';
import type { Json } from '../../rsm/app.js';
import { type CallbackSubscriber, type CallbackSubscription, parseLockCallback } from './callbacks.js';
import { LockClientClosedError, type LockLostError, LockUsageError } from './lock-errors.js';
import { type AcquireResult, LockClientCore, type LockClientMutations, LockClientOutbox, type LockServerCall, type ReleaseResult, type ServerResult } from './lock-client-core.js';

/** A local grant: its fencing token, and a signal that aborts (with `LockLostError`) if the grant is lost. */
export interface LocalGrant {
  readonly token: number;
  readonly signal: AbortSignal;
}

/** `acquire`'s outcome for callers without promises (`submitAcquire`). */
export type LocalAcquireResult = ({ readonly ok: true } & LocalGrant) | { readonly ok: false; readonly error: Error };

/** The `lost` event of a `LockClient`: a local user's grant is gone (`error` says which, and why). */
export class LockLostEvent extends Event {
  constructor(readonly error: LockLostError) {
    super('lost');
  }
}

/** The session timer's key among the shell's keyed timers (lock timers are keyed `l` + the lock's name). */
const sessionTimerKey = 's';

/** What leaves one core batch: a server call, or a release that is due (a background step of its own). */
type LockEffect = { readonly kind: 'call'; readonly call: LockServerCall } | { readonly kind: 'release-due'; readonly lock: string };

/**
 * What the lock client needs of an `RsmClient`: its callback-form call (no promises, so the
 * simulator can run it), and its client id, which the server binds the owner to.
 */
export type LockRpc = Pick<RsmClient, 'submit' | 'clientId'>;

export interface LockClientConfig {
  /**
   * The owner id the server knows this client by (grants, queues and callbacks are per owner).
   * Unique per lock client. The server binds it to the client id of `rsm` while it holds or
   * waits for anything, and refuses it to any other client (`owner-taken`): a restarted client
   * may reuse it only under the same client id (its earlier life's grants are then given back
   * when their revoke comes), or once the server let the earlier life's session expire.
   */
  readonly owner: string;
  /**
   * The cluster's client: an `RsmClient` the caller owns (and closes), or a factory called once,
   * whose client the lock client owns and closes in `close()`.
   */
  readonly rsm: LockRpc | (() => LockRpc & { close(): void });
  /** Delivers the callbacks (revoke, retry) addressed to `owner`; see `CallbackSubscriber`. */
  readonly subscriptions: CallbackSubscriber;
  readonly clock: Clock;
  readonly logger?: Logger;
  readonly options?: Partial<LockClientOptions>;
  /** Test-only protocol breakage (the simulator proves its checks bite with it); never in production. */
  readonly mutations?: LockClientMutations;
}

/**
 * The caching lock client (design §6): local users `acquire` and `release` locks; the client
 * keeps a granted lock cached between them and hands it over locally (same fencing token) until
 * the server revokes it, and gives it back in a background step, never inside the callback.
 * The protocol is `LockClientCore`'s; this shell does the I/O: server calls through the
 * `RsmClient`, callbacks from one subscription for its owner, timers from the clock. Every input
 * runs as a task of one serial executor.
 */
export class LockClient extends EventTarget {
  readonly core: LockClientCore;
  /** The abort controllers of grants held by local users: lock → user → controller. */
  readonly #grants = new Map<string, Map<string, AbortController>>();
  /**
   * The lost grants still in `#grants` (their users have not released them), oldest first: at
   * most `maxRememberedLosses` are kept, as the core's `LostGrants` keeps its records, so users
   * that never come back cannot grow the map.
   */
  readonly #lostKept: Array<{ readonly lock: string; readonly user: string }> = [];
  readonly #executor: Executor;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #options: LockClientOptions;
  readonly #rsm: LockRpc;
  readonly #closeRsm: (() => void) | null;
  readonly #subscriber: CallbackSubscriber;
  /** Runs the core: its per-lock retry timers are the shell's keyed timers, keyed by lock. */
  readonly #shell: CoreShell<LockClientOutbox, LockEffect>;
  readonly #dueSteps = new Set<TimerHandle>();
  #subscription: CallbackSubscription | null = null;
  /** Bumped at every (re)subscription and at close: callbacks of an older one are ignored. */
  #subscriptionGen = 0;
  #resubscribeDelayMs: number;
  #resubscribeTimer: TimerHandle | null = null;
  #anonymousUsers = 0;
  #closed = false;

  constructor(config: LockClientConfig) {
    super();
    this.#log = (config.logger ?? silentLogger).child({ owner: config.owner });
    this.#options = withDefaults(defaultLockClientOptions, config.options, 'lockClient');
    const clock = config.clock;
    this.core = new LockClientCore({
      owner: config.owner, logger: this.#log, options: this.#options, mutations: config.mutations,
      now: () => clock.now(),
      onLost: (error) => this.#lost(error),
    });
    this.#clock = config.clock;
    this.#executor = new Executor((err) => this.#log.error({ err }, 'lock client: internal error; the client stopped'));
    this.#shell = new CoreShell<LockClientOutbox, LockEffect>({
      executor: this.#executor,
      clock: config.clock,
      outbox: () => new LockClientOutbox(),
      effects: (out) => ({
        timers: [
          ...out.timers.map(({ lock, delayMs }) => ({ key: `l${lock}`, delayMs })),
          ...(out.sessionTimerMs === null ? [] : [{ key: sessionTimerKey, delayMs: out.sessionTimerMs }]),
        ],
        sends: [
          ...out.calls.map((call): LockEffect => ({ kind: 'call', call })),
          ...out.releasesDue.map((lock): LockEffect => ({ kind: 'release-due', lock })),
        ],
        upcalls: out.upcalls,
      }),
      onTimer: (key, out) => (key === sessionTimerKey ? this.core.onSessionTimer(out) : this.core.onTimer(key.slice(1), out)),
      send: (effect) => (effect.kind === 'call' ? this.#call(effect.call) : this.#releaseLater(effect.lock)),
      onUpcallError: (err) => this.#log.error({ err }, 'lock client: a local user\'s callback threw'),
    });
    if (typeof config.rsm === 'function') {
      const rsm = config.rsm();
      this.#rsm = rsm;
      this.#closeRsm = () => rsm.close();
    } else {
      this.#rsm = config.rsm;
      this.#closeRsm = null;
    }
    this.#subscriber = config.subscriptions;
    this.#resubscribeDelayMs = this.#options.resubscribeBaseMs;
    this.#subscribe();
  }

  get owner(): string {
    return this.core.owner;
  }

  /**
   * Waits until local user `user` holds `lock`; resolves with the grant's fencing token and a
   * signal that aborts, with `LockLostError`, if the client loses the grant (its session with the
   * cluster was not confirmed in time: the server may give the lock to another client). Without
   * `user`, each call acts as a user of its own. Fails with `LockUsageError` if `user` already
   * holds or waits for the lock, `LockClientClosedError` after `close()`, or the server's refusal
   * (`AppRejectedError`, `InvalidArgumentError`). While the cluster is unreachable it keeps waiting.
   */
  acquire(lock: string, user?: string): Promise<LocalGrant> {
    if (this.#closed) return Promise.reject(new LockClientClosedError());
    const who = user ?? `\u0000anonymous-${++this.#anonymousUsers}`;
    return new Promise((resolve, reject) => {
      // Settled on a later turn of the event loop, never at once: a user looping on a cached lock
      // (acquire and release without any I/O) must still let the revoke that another client's
      // wait caused be read, or that client would starve.
      const settle = (r: LocalAcquireResult): void => void setImmediate(() => (r.ok ? resolve({ token: r.token, signal: r.signal }) : reject(r.error)));
      this.#submit((out) => this.core.acquire(who, lock, this.#granting(lock, who, settle), out));
    });
  }

  /**
   * Whether local user `user` (default: whichever holds it) still holds `lock`: returns the
   * grant's token, or throws `LockLostError` if its grant was lost (until that user releases the
   * lock), `LockUsageError` if it does not hold it, `LockClientClosedError` after `close()`.
   * Checks the session against the clock, so a lapse is seen even before its timer fired.
   */
  check(lock: string, user?: string): number {
    let result: { ok: true; token: number } | { ok: false; error: Error } | undefined;
    this.#submit((out) => {
      const who = user ?? this.core.holder(lock) ?? this.#lostUser(lock);
      result = who === null ? { ok: false, error: new LockUsageError(lock, '(any)', 'no local user holds it') } : this.core.check(who, lock, out);
    });
    // Submitted from outside the client's tasks, the task runs at once; from inside one (a user's
    // callback of this client), read the state as it is.
    result ??= this.#closed ? { ok: false, error: new LockClientClosedError() } : { ok: false, error: new LockUsageError(lock, user ?? '(any)', 'checked from inside the client') };
    if (!result.ok) throw result.error;
    return result.token;
  }

  /**
   * Local user `user` gives `lock` back. Resolves at once (the server is told later, if at all:
   * the lock stays cached until revoked). Without `user`, releases it for whichever local user
   * holds it. Fails with `LockUsageError` if that user does not hold it.
   */
  release(lock: string, user?: string): Promise<void> {
    if (this.#closed) return Promise.reject(new LockClientClosedError());
    return new Promise((resolve, reject) => {
      this.#submit((out) => {
        const who = user ?? this.core.holder(lock) ?? this.#lostUser(lock);
        if (who === null) {
          out.upcall(() => reject(new LockUsageError(lock, '(any)', 'no local user holds it')));
          return;
        }
        this.core.release(who, lock, (r) => (r.ok ? resolve() : reject(r.error)), out);
        this.#dropGrant(lock, who);
      });
    });
  }

  /**
   * `acquire` for callers that run without promises (the simulator's local users): `done` gets
   * the grant's token or the error, once, on a later timer task of the clock (never inside this
   * call). Unlike `acquire`, a user must be named.
   */
  submitAcquire(lock: string, user: string, done: (result: LocalAcquireResult) => void): void {
    if (this.#closed) return this.#later(() => done({ ok: false, error: new LockClientClosedError() }));
    this.#submit((out) => this.core.acquire(user, lock, this.#granting(lock, user, (r) => this.#later(() => done(r))), out));
  }

  /** `release` for callers that run without promises; `done` as for `submitAcquire`. */
  submitRelease(lock: string, user: string, done: (result: ReleaseResult) => void): void {
    if (this.#closed) return this.#later(() => done({ ok: false, error: new LockClientClosedError() }));
    this.#submit((out) => {
      this.core.release(user, lock, (r) => this.#later(() => done(r)), out);
      this.#dropGrant(lock, user);
    });
  }

  /**
   * The core's answer to an acquire, with the grant's abort signal made at once (an upcall, in
   * order with a `lost` that may follow in the same batch), however late `then` passes it on.
   */
  #granting(lock: string, user: string, then: (r: LocalAcquireResult) => void): (r: AcquireResult) => void {
    return (r) => {
      if (!r.ok) return then(r);
      const controller = new AbortController();
      let users = this.#grants.get(lock);
      if (users === undefined) this.#grants.set(lock, (users = new Map()));
      users.set(user, controller);
      then({ ok: true, token: r.token, signal: controller.signal });
    };
  }

  /** A user released `lock` (or tried to): its grant's signal is no longer this client's to abort. */
  #dropGrant(lock: string, user: string): void {
    const users = this.#grants.get(lock);
    if (users?.get(user) === undefined || this.core.holder(lock) === user) return;
    users.delete(user);
    if (users.size === 0) this.#grants.delete(lock);
  }

  /** The user whose grant of `lock` was lost and not released yet, if one: `release` and `check` without a user name it. */
  #lostUser(lock: string): string | null {
    const users = this.#grants.get(lock);
    if (users === undefined) return null;
    for (const [user, c] of users) if (c.signal.aborted) return user;
    return null;
  }

  /** A local user's grant was lost (upcall of the core): abort its signal, tell the listeners. */
  #lost(error: LockLostError): void {
    const users = this.#grants.get(error.lock);
    const controller = users?.get(error.user);
    this.#log.warn({ lock: error.lock, user: error.user, token: error.token, reason: error.reason }, 'lock client: a local grant is lost');
    controller?.abort(error);
    if (controller !== undefined) {
      this.#lostKept.push({ lock: error.lock, user: error.user });
      while (this.#lostKept.length > this.#options.maxRememberedLosses) {
        const old = this.#lostKept.shift()!;
        const oldUsers = this.#grants.get(old.lock);
        if (oldUsers?.get(old.user)?.signal.aborted !== true) continue; // released (or granted again) meanwhile
        oldUsers.delete(old.user);
        if (oldUsers.size === 0) this.#grants.delete(old.lock);
      }
    }
    this.dispatchEvent(new LockLostEvent(error));
  }

  /**
   * Stops the client: waiting `acquire`s fail with `LockClientClosedError`, the signals of grants
   * still held abort with it, the subscription is closed, nothing more is sent. Cached grants are not given back: the server keeps them for
   * this owner until it expires the owner's session (`expire`), or a later client under the same
   * owner and client id gives them back when their revoke comes. The RSM client is closed only if a factory made it.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#subscriptionGen++;
    this.#subscription?.close();
    this.#subscription = null;
    this.#resubscribeTimer?.cancel();
    this.#shell.stop();
    for (const t of this.#dueSteps) t.cancel();
    this.#dueSteps.clear();
    const out = new LockClientOutbox();
    this.core.close(out);
    this.#executor.stop();
    for (const call of out.upcalls) this.#upcall(call);
    // Nothing confirms the session any more: every grant still held here is no longer protected.
    for (const users of this.#grants.values()) for (const c of users.values()) if (!c.signal.aborted) c.abort(new LockClientClosedError());
    this.#grants.clear();
    this.#lostKept.length = 0;
    this.#closeRsm?.();
  }

  /** Runs `fn` on a later timer task of the clock (a local user's callback, outside the client's own tasks). */
  #later(fn: () => void): void {
    this.#clock.setTimer(0, () => this.#upcall(fn));
  }

  #submit(handler: (out: LockClientOutbox) => void): void {
    this.#executor.submit(() => this.#shell.run(handler));
  }

  /**
   * A due release is a background step: a task of its own, started from the clock, so it never
   * runs inside the callback (or the local release) that made it due.
   */
  #releaseLater(lock: string): void {
    const handle = this.#clock.setTimer(0, () => {
      this.#dueSteps.delete(handle);
      this.#submit((o) => this.core.onReleaseDue(lock, o));
    });
    this.#dueSteps.add(handle);
  }

  #call(call: LockServerCall): void {
    const done = (result: ServerResult): void =>
      this.#submit((out) => (call.proc === 'acquire' ? this.core.onAcquireResult(call.lock, result, out) : this.core.onReleaseResult(call.lock, result, out)));
    try {
      this.#rsm.submit(call.proc, { ...call.args }, { deadlineMs: this.#options.callDeadlineMs }, done);
    } catch (err) {
      done({ ok: false, error: err instanceof Error ? err : new Error(String(err)) });
    }
  }

  #upcall(call: () => void): void {
    try {
      call();
    } catch (err) {
      this.#log.error({ err }, 'lock client: a local user\'s callback threw');
    }
  }

  #subscribe(): void {
    const gen = ++this.#subscriptionGen;
    const handle = this.#subscriber.subscribe(
      { owner: this.owner, clientId: this.#rsm.clientId },
      (message) => {
        if (gen !== this.#subscriptionGen) return;
        this.#resubscribeDelayMs = this.#options.resubscribeBaseMs; // it works: the next outage starts from the base again
        this.#onCallback(message);
      },
      (reason) => {
        if (gen !== this.#subscriptionGen) return;
        this.#subscriptionGen++;
        this.#subscription = null;
        this.#submit((out) => this.core.onSubscriptionEnded(out));
        this.#scheduleResubscribe(reason);
      },
      (validUntilMs) => {
        if (gen !== this.#subscriptionGen) return;
        this.#submit((out) => this.core.onConfirmed(validUntilMs, out));
      },
    );
    if (gen === this.#subscriptionGen) this.#subscription = handle;
    else handle.close(); // it ended inside subscribe
  }

  #scheduleResubscribe(reason: string): void {
    const delayMs = this.#resubscribeDelayMs;
    this.#resubscribeDelayMs = Math.min(this.#options.resubscribeMaxMs, delayMs * 2);
    this.#log.warn({ reason, retryMs: delayMs }, 'lock client: callback subscription ended; subscribing again');
    this.#resubscribeTimer = this.#clock.setTimer(delayMs, () => {
      this.#resubscribeTimer = null;
      if (this.#closed) return;
      this.#subscribe();
      this.#submit((out) => this.core.onResubscribed(out));
    });
  }

  #onCallback(message: Json): void {
    const cb = parseLockCallback(message);
    if (cb === null) {
      this.#log.warn({ message }, 'lock client: ignoring a callback that is not a lock callback');
      return;
    }
    if (cb.kind === 'revoke') this.#submit((out) => this.core.onRevoke(cb.lock, cb.token, out));
    else this.#submit((out) => this.core.onRetry(cb.lock, out));
  }
}
