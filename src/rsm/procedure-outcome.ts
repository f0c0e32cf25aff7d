import { limits } from '../options.js';
import { AppError, type App, type HandlerContext, type Json, isAppQuery } from './app.js';
import { type Outcome, tableCodes } from './client-table.js';
import { type JsonTextResult, replyBounds, toJsonText } from './json-text.js';
import { readOnlyView } from './read-only-view.js';

/**
 * One call into an app's procedure as the outcome its client gets, by the rules every replica
 * applies (`runHandler` says them): a reply copied through its JSON text, an app error, or a
 * deterministic refusal naming what the app did wrong. A query runs on a read-only view of the
 * state (read-only-view.ts) and is refused `query-mutates` when it attempted a change.
 * `AppGuard` (app-guard.ts) logs and counts what failed; this file only decides the outcome.
 */

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
export function runGuarded<S>(app: App<S>, state: S, proc: string, args: Json, context: HandlerContext): Ran {
  if (isAppQuery(app, proc)) return runQuery(app, state, proc, args, context);
  const handler = Object.hasOwn(app.handlers, proc) ? app.handlers[proc] : undefined;
  if (typeof handler !== 'function') return { outcome: { ok: false, code: 'unknown-procedure', message: proc }, failed: false };
  return runProcedure(proc, () => handler(state, args, context));
}

/** What running one procedure gave: its outcome, whether the app failed, and what it threw (for the log). */
export interface Ran {
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
export function describeThrown(err: unknown): string {
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
