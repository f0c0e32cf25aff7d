import type { Logger } from '../env/logger.js';
import { limits } from '../options.js';
import { invariant } from '../env/errors.js';
import { type App, type Callback, type HandlerContext, type Json, isAppQuery } from './app.js';
import type { Outcome } from './client-table.js';
import { replyBounds, toJsonText } from './json-text.js';
import type { Request } from './messages.js';
import { describeThrown, runGuarded } from './procedure-outcome.js';

export { anonymousCall, queryMutatesCode, runHandler } from './procedure-outcome.js';

/**
 * The framework's guard around an app (design §4, "apps cannot hurt the framework"): every call
 * into app code goes through here, and whatever the app does (throws, replies with what cannot
 * be sent, returns the wrong type) becomes a typed outcome or a logged, counted failure of that
 * one step. Nothing an app does stops a node.
 *
 * What stays deterministic, so that replicas never disagree: a handler's outcome depends only on
 * what the handler did (its reply, or what it threw), never on an engine's error text or a
 * replica's own condition. What the guard cannot make deterministic is documented in `App`
 * (unbounded recursion: a stack overflow strikes at different depths on different replicas).
 * How one call becomes an outcome is procedure-outcome.ts (`runHandler`); this file runs the
 * steps, logs and counts their failures, and checks queries against the marshalled state.
 */

/** How often each step of the app failed here (this process's life), for logs and status. */
export interface AppFailures {
  /** Handlers that threw something other than an `AppError`, or whose reply could not be sent. */
  handlers: number;
  /** Queries that tried to change the state (`query-mutates`), threw something other than an `AppError`, or replied badly. */
  queries: number;
  /** `callbacks` that threw or returned something not a list of callbacks: none sent for that step. */
  callbacks: number;
  /** `marshalState` that threw or returned no bytes: the state was not shipped. */
  marshal: number;
  /** `unmarshalState` that threw: the state received was not installed. */
  unmarshal: number;
  /** `initialState` that threw: the new cluster holds no state and will not serve. */
  initialState: number;
}

/** What a step gave, or why it gave nothing (already logged and counted). */
export type Guarded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };


function isStackOverflow(err: unknown): boolean {
  return err instanceof RangeError && /call stack/i.test(err.message);
}

/** How an `AppGuard` runs the app. */
export interface AppGuardOptions {
  /**
   * Compare the marshalled state (`App.marshalState`) before and after every query, and stop
   * (an `InvariantViolation`) when they differ: catches a change the read-only view cannot see
   * (a `Date`'s setters, a frozen object's inner values). Default off: it marshals the whole
   * state twice per query. The simulator turns it on.
   */
  readonly verifyQueries?: boolean;
}

/** What a query needs of its request: the procedure, its args and who asks. */
export type QueryRequest = Pick<Request, 'proc' | 'args' | 'clientId' | 'internal'>;

/**
 * One replica's app behind the guard: it runs every call into the app (`runHandler` for
 * requests, and the state functions), logs and counts every failure (`failures`), and turns
 * each into what the caller can live with (see each method).
 */
export class AppGuard<S> {
  readonly failures: AppFailures = { handlers: 0, queries: 0, callbacks: 0, marshal: 0, unmarshal: 0, initialState: 0 };
  readonly #app: App<S>;
  readonly #log: Logger;
  readonly #verifyQueries: boolean;

  constructor(app: App<S>, log: Logger, options: AppGuardOptions = {}) {
    this.#app = app;
    this.#log = log;
    this.#verifyQueries = options.verifyQueries === true;
  }

  /** Whether the app has procedure `proc`: a handler or a query. */
  has(proc: string): boolean {
    return (Object.hasOwn(this.#app.handlers, proc) && typeof this.#app.handlers[proc] === 'function') || this.isQuery(proc);
  }

  /** Whether the app has feeds (`App.feeds`): the serving primary then tells its feed hub after each step. */
  get hasFeeds(): boolean {
    return this.#app.feeds !== undefined && Object.keys(this.#app.feeds).length > 0;
  }

  /**
   * Each feed's head in `state` (`Feed.head`), by feed name; a feed whose `head` throws or returns
   * no position is left out (logged, counted with the callbacks' failures: both are the app's
   * view of what the primary pushes).
   */
  feedHeads(state: S): ReadonlyMap<string, number> {
    const heads = new Map<string, number>();
    for (const [name, feed] of Object.entries(this.#app.feeds ?? {})) {
      const got = this.#step('callbacks', () => feed.head(state), { feed: name });
      if (got.ok && Number.isSafeInteger(got.value) && got.value >= 0) heads.set(name, got.value);
    }
    return heads;
  }

  /** Whether `proc` is one of the app's queries (`App.queries`): read-only, run by `query`. */
  isQuery(proc: string): boolean {
    return isAppQuery(this.#app, proc);
  }

  /**
   * Runs the query `request.proc` for its caller on a read-only view of `state` (`runHandler`'s
   * rules): the outcome its client gets. A query that attempted a change (`query-mutates`),
   * threw or replied badly is logged and counted (`failures.queries`); the state is unchanged.
   * With `verifyQueries`, a change the view missed stops the process (`InvariantViolation`).
   */
  query(state: S, request: QueryRequest, where: object = {}): Outcome {
    invariant(this.isQuery(request.proc), () => `${request.proc} is not a query of ${this.#app.name}`);
    const before = this.#verifyQueries ? this.#quietMarshal(state) : null;
    const context = { clientId: request.clientId, internal: request.internal === true };
    const { outcome, failed, thrown } = runGuarded(this.#app, state, request.proc, request.args, context);
    if (before !== null) {
      const after = this.#quietMarshal(state);
      invariant(after === null || Buffer.compare(before, after) === 0,
        () => `the query ${request.proc} changed the state (its marshalled bytes differ after it ran): a query must only read`);
    }
    if (!failed || outcome.ok) return outcome;
    this.failures.queries++;
    const fields = { ...where, proc: request.proc, code: outcome.code, failures: this.failures.queries };
    this.#log.error(thrown === undefined ? { ...fields, reason: outcome.message } : { ...fields, err: describeError(thrown) }, 'rsm: a query failed');
    return outcome;
  }

  /** The state's bytes for `verifyQueries`, or null when the app cannot marshal it (not counted: `marshal` counts real uses). */
  #quietMarshal(state: S): Uint8Array | null {
    try {
      const bytes = this.#app.marshalState(state);
      return bytes instanceof Uint8Array ? bytes : null;
    } catch {
      return null;
    }
  }

  /** The app's initial state; a failure leaves the caller with no state (the view will refuse to serve). */
  initialState(): Guarded<S> {
    return this.#step('initialState', () => this.#app.initialState());
  }

  /**
   * Runs `proc` for `context`'s caller against `state` (`runHandler`); a handler that threw or
   * replied badly is logged and counted. A query is run by `query` (read-only, counted there).
   */
  execute(state: S, proc: string, args: Json, context: HandlerContext, where: object): Outcome {
    if (this.isQuery(proc)) return this.query(state, { proc, args, clientId: context.clientId, ...(context.internal ? { internal: true } : {}) }, where);
    const { outcome, failed, thrown } = runGuarded(this.#app, state, proc, args, context);
    if (!failed || outcome.ok) return outcome;
    this.failures.handlers++;
    const why = isStackOverflow(thrown)
      ? 'a handler overflowed the stack: an app must bound its recursion (replicas may overflow at different depths, and then differ)'
      : 'a handler failed';
    const fields = { ...where, proc, code: outcome.code, failures: this.failures.handlers };
    this.#log.error(thrown === undefined ? { ...fields, reason: outcome.message } : { ...fields, err: describeError(thrown) }, `rsm: ${why}`);
    return outcome;
  }

  /**
   * The callbacks the state calls for (`App.callbacks`), each checked: a client id of 1 to
   * `limits.maxClientIdLength` characters, a JSON message within `limits.maxJsonDepth` and
   * `limits.maxReplyBytes` (copied, like replies). If the app throws or anything is wrong, none
   * is sent for this step (logged, counted): a callback's client gets it again from a later
   * step, or from the full re-send of a new primary.
   */
  callbacks(state: S, request?: { readonly proc: string; readonly args: Json }): readonly Callback[] {
    const callbacks = this.#app.callbacks;
    if (callbacks === undefined) return [];
    const got = this.#step('callbacks', () => checkCallbacks(callbacks(state, request)), request === undefined ? {} : { proc: request.proc });
    return got.ok ? got.value : [];
  }

  /** The state as bytes (`App.marshalState`); a failure means the state cannot be shipped now. */
  marshal(state: S): Guarded<Uint8Array> {
    return this.#step('marshal', () => {
      const bytes = this.#app.marshalState(state);
      if (!(bytes instanceof Uint8Array)) throw new TypeError(`marshalState returned ${describeThrown(bytes)}, not a Uint8Array`);
      return bytes;
    });
  }

  /** A state from bytes another replica marshalled (`App.unmarshalState`); a failure means it is not installed. */
  unmarshal(bytes: Uint8Array): Guarded<S> {
    return this.#step('unmarshal', () => this.#app.unmarshalState(bytes));
  }

  #step<T>(step: keyof AppFailures, run: () => T, fields: object = {}): Guarded<T> {
    try {
      return { ok: true, value: run() };
    } catch (err) {
      this.failures[step]++;
      const reason = describeError(err);
      this.#log.error({ ...fields, step, err: reason, failures: this.failures[step] }, `rsm: the app's ${step} failed`);
      return { ok: false, reason };
    }
  }
}

/** `list` as checked callbacks (see `AppGuard.callbacks`); throws a `TypeError` naming what is wrong. */
function checkCallbacks(list: unknown): Callback[] {
  if (!Array.isArray(list)) throw new TypeError(`callbacks returned ${describeThrown(list)}, not a list`);
  return list.map((cb: unknown, i) => {
    const { clientId, message } = (typeof cb === 'object' && cb !== null ? cb : {}) as { clientId?: unknown; message?: unknown };
    if (typeof clientId !== 'string' || clientId.length === 0 || clientId.length > limits.maxClientIdLength) {
      throw new TypeError(`callback ${i}: clientId must be a string of 1 to ${limits.maxClientIdLength} characters`);
    }
    const text = toJsonText(message, replyBounds);
    if (!text.ok) throw new TypeError(`callback ${i}: its message is ${text.detail}`);
    return { clientId, message: JSON.parse(text.text) as Json };
  });
}

/** A thrown value for a log line: its stack (or text), never throwing itself. */
function describeError(err: unknown): string {
  try {
    return err instanceof Error ? err.stack ?? `${err.name}: ${err.message}` : String(err);
  } catch {
    return describeThrown(err);
  }
}
