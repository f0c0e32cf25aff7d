import type { Logger } from '../env/logger.js';
import { limits } from '../options.js';
import { invariant } from '../env/errors.js';
import { type App, AppError, type Callback, type HandlerContext, type Json, isAppQuery } from './app.js';
import { type Outcome, tableCodes } from './client-table.js';
import { type JsonTextResult, replyBounds, toJsonText } from './json-text.js';
import type { Request } from './messages.js';
import { readOnlyView } from './read-only-view.js';

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


/** Longest error class name quoted in a `handler-error` message. */
const maxErrorNameLength = 64;

/**
 * What one request does to an app's state, by the rules every replica applies (and
 * `synod/testkit`'s model of "one copy of the app"). Changes the handler made before it threw
 * are kept (they are the same on every replica). The outcome is one of:
 * - the handler's reply, as its client will see it: a copy made from its JSON text, so a reply
 *   that shares objects with the state does not change when the state does later (`undefined`
 *   is `null`);
 * - an `AppError` as its code and message (a message longer than `limits.maxErrorTextLength` is
 *   cut; a code that is not a non-empty string within it is a `handler-error`);
 * - `handler-error` for any other throw. Its message names only the error's class: the text of
 *   an engine's own errors (a `TypeError`) can differ between Node versions, and outcomes are
 *   replicated state. The replica logs the whole error;
 * - `reply-too-large` / `reply-too-deep`: the reply passes `limits.maxReplyBytes` or
 *   `limits.maxJsonDepth`; `reply-not-json`: it holds a bigint or a cycle. The request did run.
 * - `unknown-procedure`: the app has no such procedure;
 * - for a query (`App.queries`, run on a `readOnlyView` of the state): `query-mutates` when it
 *   attempted any change, even one it caught itself (the message names the procedure and what it
 *   tried; the state is unchanged, since the view refused the change).
 *
 * `context` is who calls, as the replicas pass it (`HandlerContext`); default `anonymousCall`,
 * for apps and tests that do not look at the caller.
 */
export function runHandler<S>(app: App<S>, state: S, proc: string, args: Json, context: HandlerContext = anonymousCall): Outcome {
  return runGuarded(app, state, proc, args, context).outcome;
}

/**
 * The context `runHandler` passes when given none: a client's call (not the node's own) from a
 * client with the empty id, which no real request has (client ids are 1 to
 * `limits.maxClientIdLength` characters).
 */
export const anonymousCall: HandlerContext = Object.freeze({ clientId: '', internal: false });

/**
 * `runHandler`, also saying whether the app failed (a `handler-error` or a reply that cannot be
 * sent, as opposed to a reply, an app error or an unknown procedure) and what it threw, for the log.
 */
function runGuarded<S>(app: App<S>, state: S, proc: string, args: Json, context: HandlerContext): Ran {
  if (isAppQuery(app, proc)) return runQuery(app, state, proc, args, context);
  const handler = Object.hasOwn(app.handlers, proc) ? app.handlers[proc] : undefined;
  if (typeof handler !== 'function') return { outcome: { ok: false, code: 'unknown-procedure', message: proc }, failed: false };
  return runProcedure(proc, () => handler(state, args, context));
}

/** What running one procedure gave: its outcome, whether the app failed, and what it threw (for the log). */
interface Ran {
  readonly outcome: Outcome;
  readonly failed: boolean;
  readonly thrown?: unknown;
}

/** The query `proc` on a fresh read-only view of `state`: any change it attempted makes it `query-mutates`. */
function runQuery<S>(app: App<S>, state: S, proc: string, args: Json, context: HandlerContext): Ran {
  const query = app.queries![proc]!;
  const view = readOnlyView(state);
  const ran = runProcedure(proc, () => query(view.state, args, context));
  if (view.attempted === null) return ran;
  const message = cut(`${proc} is a query and tried to ${view.attempted}; the state is unchanged`);
  // Nothing thrown to log: the message says all (a `QueryMutationError`'s stack names only the view).
  return { outcome: { ok: false, code: queryMutatesCode, message }, failed: true };
}

/** The outcome code of a query that attempted to change the state. */
export const queryMutatesCode = 'query-mutates';

/** `text` within `limits.maxErrorTextLength` (cut with an ellipsis). */
function cut(text: string): string {
  const max = limits.maxErrorTextLength;
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Runs one call into the app (`call`, procedure `proc`) and turns what it did into an outcome. */
function runProcedure(proc: string, call: () => unknown): Ran {
  let reply: JsonTextResult;
  try {
    reply = toJsonText(call(), replyBounds);
  } catch (err) {
    const appError = appErrorOutcome(err);
    if (appError !== null) return { outcome: appError, failed: false };
    const code = isAppError(err) ? (err as { code: unknown }).code : undefined;
    const message = typeof code === 'string' && reservedCodes.has(code)
      ? `${proc} threw an AppError with the code ${code}, which synod keeps for its own refusals`
      : isAppError(err)
      ? `${proc} threw an AppError whose code is not a string of 1 to ${limits.maxErrorTextLength} characters`
      : `${proc} threw ${describeThrown(err)}; its message is in the replicas' logs`;
    return { outcome: { ok: false, code: 'handler-error', message }, failed: true, thrown: err };
  }
  if (reply.ok) return { outcome: { ok: true, value: JSON.parse(reply.text) as Json }, failed: false };
  const [code, limit] = reply.problem === 'too-deep' ? ['reply-too-deep', ' (limits.maxJsonDepth)']
    : reply.problem === 'too-large' ? ['reply-too-large', ' (limits.maxReplyBytes)'] : ['reply-not-json', ''];
  return { outcome: { ok: false, code, message: `the reply of ${proc} is ${reply.detail}${limit}; the request was executed` }, failed: true };
}

/**
 * The codes of the client table's own refusals: they mean "not executed" to clients (a client may
 * then send the call again), so an app may not use them; an app error with one is a `handler-error`.
 */
const reservedCodes: ReadonlySet<string> = new Set(Object.values(tableCodes));

/** A well-formed app error as the outcome its client gets; null if `err` is not one. */
function appErrorOutcome(err: unknown): Outcome | null {
  if (!isAppError(err)) return null;
  const { code, message } = err as { code: unknown; message: unknown };
  if (typeof code !== 'string' || code.length === 0 || code.length > limits.maxErrorTextLength) return null;
  if (reservedCodes.has(code)) return null;
  const text = typeof message === 'string' ? message : '';
  const max = limits.maxErrorTextLength;
  return { ok: false, code, message: text.length <= max ? text : `${text.slice(0, max - 1)}…` };
}

/**
 * An `AppError`, also one made by another copy of synod than this one (an app module may
 * import its own): recognised by name and a code, not by class only.
 */
function isAppError(err: unknown): boolean {
  if (err instanceof AppError) return true;
  try {
    return err instanceof Error && err.name === 'AppError' && 'code' in err;
  } catch {
    return false; // a getter of the thrown object threw
  }
}

/** A thrown (or returned) value for a deterministic sentence: an error's class, else its type. */
function describeThrown(err: unknown): string {
  try {
    if (err instanceof Error) {
      const name = typeof err.name === 'string' && err.name.length > 0 ? err.name.slice(0, maxErrorNameLength) : 'Error';
      return withArticle(name);
    }
  } catch {
    // a getter of the thrown object threw: describe it by its type
  }
  return err === null ? 'null' : err === undefined ? 'undefined' : withArticle(typeof err);
}

const withArticle = (noun: string): string => `${/^[AEIOUaeiou]/.test(noun) ? 'an' : 'a'} ${noun}`;

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
