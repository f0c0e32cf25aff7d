/**
 * The application API: what a user of synod writes. An app is a set of named procedures, each a
 * pure, deterministic function of (state, args, context) that may change the state and returns a
 * reply (a handler), or only reads it (a query, `App.queries`: enforced read-only), plus the
 * functions that turn the state into bytes and back for state transfer. The context
 * (`HandlerContext`) says who calls: the client's id, and whether the node itself does.
 *
 * Rules (what makes replicas agree): no clocks, randomness, I/O or shared globals inside a
 * handler; the same state, args and context always give the same state change and reply. Args and
 * replies are JSON values. An app error (a refused operation) is thrown as `AppError` and
 * travels inside the reply; the request still counts as executed (it is in the client table).
 *
 * The framework guards every call into the app (`AppGuard`): a handler that throws anything
 * but an `AppError` is answered `handler-error` (its message names only the error's class; the
 * whole error is in every replica's log), a reply too large, too deep or not JSON is a typed
 * outcome, and a failing `callbacks`, `marshalState`, `unmarshalState` or `initialState` is a
 * logged, counted failure of that step. None of it stops a node. What the guard cannot repair,
 * and an app must therefore never do:
 * - **Index a plain object with a name that comes from a client.** `{}` already has
 *   `constructor`, `toString`, `__proto__` and the rest of `Object.prototype`: `state[name]`
 *   finds a function where the app expects its entry, and `state[name] = v` with `__proto__`
 *   replaces the object's prototype. Keep such names in a `Map` (or an `Object.create(null)`
 *   object) and read arguments as own properties (`Object.hasOwn(args, key)`). The built-in apps
 *   do; their tests use every `Object.prototype` key as a name.
 * - **Recurse without a bound.** A handler that recurses as deep as its data (a linked list, a
 *   tree in the state) can overflow the stack, and the stack ends at slightly different depths on
 *   different replicas (they reach the handler through different calls): one replica may then
 *   fail a request another one completed, and their states differ for good. Walk data of
 *   unbounded depth with a loop. Arguments are at most `limits.maxJsonDepth` deep (64), so a
 *   recursion over them alone is safe.
 * - **Let a reply share what the state keeps** only if it is JSON: the reply is copied (written as
 *   JSON text and read back) before it is stored or sent, so `undefined` becomes `null` and a
 *   `Map` becomes `{}`.
 *
 * An app names itself and its version (`App.name`, `App.version`), and they are part of the
 * cluster: every node of a cluster runs **the same app at the same version**. Give every change
 * to a handler, a procedure or the state format a new version: two versions could execute one
 * request differently, and replicas would silently diverge. A node with another app or version
 * is refused when it asks to join
 * (`JoinRefusedError`, naming both), and a data directory refuses to start with an app other than
 * the one it was created with.
 */
import { type AppIdentity, appNameProblem, appVersionProblem } from '../config/app-identity.js';
import type { Feed } from './feed.js';

export type { AppIdentity } from '../config/app-identity.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * Who made the request a handler runs: part of the replicated request, so every replica passes
 * the same context to the handler (a handler may decide by it and stay deterministic).
 */
export interface HandlerContext {
  /**
   * The calling client's id: the at-most-once key its requests carry (`RsmClient`'s `clientId`,
   * a random UUID unless the caller chose one). An app may bind what a client creates to it (the
   * lock service binds an owner to the client that first used it). What keeps one client from
   * presenting another's id is only its secrecy: client ids never leave the cluster in a reply,
   * a callback or a status page, and a random UUID cannot be guessed. Peers and clients
   * authenticating with mutual TLS is a later issue (operations). For a request the node made
   * itself (`internal`), an id in the nodes' namespace (`internalClientIdPrefix`, e.g.
   * `synod:sessions@<node>`).
   */
  readonly clientId: string;
  /**
   * True only for a request a node submitted itself (`RsmLayer.submitInternal`: a session's
   * expiry). No client can make one: the flag is set inside the node, travels only between
   * replicas, and the client service never reads it; a client naming a node's client-id namespace
   * (`internalClientIdPrefix`) is refused at the edge. A procedure only the node may call checks it.
   */
  readonly internal: boolean;
}

/**
 * A procedure: changes `state` and returns the reply (JSON; `undefined` is `null`). `args` is
 * the JSON value the client sent, read from its text: every key is an own property. `context`
 * says who calls (a handler that does not care may leave it out).
 */
export type Handler<S> = (state: S, args: Json, context: HandlerContext) => Json;

/**
 * Who asks a query: the same fields as a handler's context (`HandlerContext`), from the request.
 * A query may answer by its caller (e.g. "what do I hold"). It gets no time, no randomness and no
 * callbacks: like a handler's, its answer is a function of the state, the args and the caller.
 */
export type QueryContext = HandlerContext;

/**
 * A read-only procedure: reads `state` and returns the reply (JSON; `undefined` is `null`), and
 * changes nothing. The framework enforces it: the query sees the state through a read-only view
 * (`readOnlyView`), and any change it attempts (a property written or deleted, a `Map`/`Set`
 * or typed-array mutator called) answers the request `query-mutates` and leaves the state as it
 * was. What a Proxy cannot see (a `Date`'s setters, a frozen object's inner values) the
 * simulator catches by comparing the marshalled state before and after every query. An
 * `AppError` thrown is the reply, as for handlers.
 *
 * Today a query is replicated and recorded like a handler's request; the primary will answer it
 * on its own while it holds its lease, without replicating it (and then without recording it in
 * the client table: a retried query simply reads again).
 */
export type Query<S> = (state: Readonly<S>, args: Json, context: QueryContext) => Json;

/**
 * A message the primary pushes to one client outside any request (e.g. "give the lock back",
 * "try again"). Callbacks must be idempotent for the client: they may arrive twice, late, or
 * before the reply they relate to.
 */
export interface Callback {
  readonly clientId: string;
  readonly message: Json;
}

export interface App<S> extends AppIdentity {
  /** The app's name: 1-64 characters of `[a-z0-9._-]`, starting with a letter. */
  readonly name: string;
  /** `MAJOR.MINOR.PATCH`; replicas of the same name and MAJOR version may share a cluster. */
  readonly version: string;
  /** A fresh, empty state: what a new cluster starts from. If it throws, the new cluster holds no state and refuses to serve (logged). */
  readonly initialState: () => S;
  /** The procedures that may change the state (at least one procedure, handler or query, in all). */
  readonly handlers: Readonly<Record<string, Handler<S>>>;
  /**
   * Optional: the read-only procedures (`Query`). Their names follow the handlers' rules and are
   * none of the handlers' names. Moving a procedure between `handlers` and `queries` changes
   * which requests are replicated: give the app a new version.
   */
  readonly queries?: Readonly<Record<string, Query<S>>>;
  /**
   * The state as bytes, for state transfer. Deterministic: equal states give equal bytes (the
   * replicas' states are compared by them). A throw, or anything but a `Uint8Array`, means the
   * state cannot be shipped now (logged, counted; a replica that needs it waits). The bytes are one
   * buffer, and their size is the app's business: synod streams them in chunks after its own
   * client table (which it never builds whole), but a state must fit one buffer (at most 4 GiB on
   * Node 20, and within `RsmOptions.maxStateTransferBytes`), and `unmarshalState` gets it whole.
   */
  readonly marshalState: (state: S) => Uint8Array;
  /**
   * A state from bytes `marshalState` wrote, on another replica (of a compatible version). Check
   * what you read: a throw means the state is not installed (logged, counted; the transfer is
   * tried again after `RsmOptions.syncRetryMs`).
   */
  readonly unmarshalState: (data: Uint8Array) => S;
  /**
   * Optional: the callbacks the state calls for, as a pure function of the state. With a
   * request, those it may have caused (the primary sends them after executing it); without, every
   * outstanding one (a primary that starts serving re-sends them all, so none is lost in a
   * failover). Only the primary ever sends callbacks. Each needs a `clientId` of 1 to
   * `limits.maxClientIdLength` characters and a JSON message within `limits.maxJsonDepth` and
   * `limits.maxReplyBytes`; if the function throws or any callback is malformed, none is sent
   * for that step (logged, counted).
   */
  readonly callbacks?: (state: S, request?: { readonly proc: string; readonly args: Json }) => readonly Callback[];
  /**
   * Optional: the app's feeds by name (`Feed`: event streams kept in the state, which the serving
   * primary pushes to subscribers, resumable from any position the state still holds). Names
   * follow the procedures' rules.
   */
  readonly feeds?: Readonly<Record<string, Feed<S>>>;
}

/**
 * The argument `name` of a call, read as an own property only (see the rule above: a name like
 * `constructor` must never find `Object.prototype`'s); undefined when `args` is not an object
 * or has no such property.
 */
export function argOf(args: Json, name: string): Json | undefined {
  return typeof args === 'object' && args !== null && !Array.isArray(args) && Object.hasOwn(args, name) ? args[name] : undefined;
}

/**
 * A refused operation, returned to the client inside the reply. `code` is the app's own, except
 * `client-expired` and `client-table-full`: synod's client table answers with those for requests
 * it did not run, so an `AppError` with either becomes a `handler-error`.
 */
export class AppError extends Error {
  override readonly name = 'AppError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Declares an app: `defineApp({ name: 'kv', version: '1.0.0', initialState, handlers, queries?,
 * marshalState, unmarshalState, callbacks? })`. Checks what can be checked before it runs: the
 * name and version (`RangeError`), that it has procedures with usable names, none both a handler
 * and a query (`RangeError`), and that every function is a function (`TypeError`, for callers
 * without the types).
 *
 * The rule it cannot check: keep names that come from clients (keys, lock names, owners) in a
 * `Map` or a null-prototype object, never as keys of a plain object: `constructor`, `toString`
 * and `__proto__` are names a client may send. Do not recurse as deep as the data goes. (Both
 * are explained at the top of this module.)
 */
export function defineApp<S>(app: App<S>): App<S> {
  checkApp(app);
  return app;
}

/**
 * Checks that `value` is an app (see `defineApp`), for values that come without types (a module
 * loaded at run time). Throws a `RangeError` or `TypeError` naming the first thing wrong.
 */
export function checkApp(value: unknown): asserts value is App<unknown> {
  if (typeof value !== 'object' || value === null) throw new TypeError(`an app must be an object, not ${value === null ? 'null' : typeof value}`);
  const app = value as Record<string, unknown>;
  const nameProblem = appNameProblem(app['name']);
  if (nameProblem !== null) throw new RangeError(`app name: ${app['name'] === undefined ? 'missing' : nameProblem}`);
  const versionProblem = appVersionProblem(app['version']);
  if (versionProblem !== null) throw new RangeError(`app version: ${app['version'] === undefined ? 'missing' : versionProblem}`);
  for (const fn of ['initialState', 'marshalState', 'unmarshalState'] as const) {
    if (typeof app[fn] !== 'function') throw new TypeError(`app ${fn}: ${app[fn] === undefined ? 'missing' : 'must be a function'}`);
  }
  if (app['callbacks'] !== undefined && typeof app['callbacks'] !== 'function') {
    throw new TypeError('app callbacks: must be a function when given');
  }
  if (app['feeds'] !== undefined) {
    if (typeof app['feeds'] !== 'object' || app['feeds'] === null) throw new TypeError('app feeds: must be an object of feeds when given');
    for (const [name, feed] of Object.entries(app['feeds'])) {
      if (!procedureName.test(name)) throw new RangeError(`feed name ${JSON.stringify(name)}: use letters, digits, _ . - (at most 64, not starting with a digit)`);
      for (const fn of ['head', 'filter', 'read'] as const) {
        if (typeof (feed as Record<string, unknown> | null)?.[fn] !== 'function') throw new TypeError(`app feeds.${name}.${fn}: must be a function`);
      }
    }
  }
  const handlers = procedures(app, 'handlers', true);
  const queries = procedures(app, 'queries', false);
  if (handlers.length + queries.length === 0) throw new RangeError('an app needs at least one procedure');
  const both = queries.find((name) => handlers.includes(name));
  if (both !== undefined) throw new RangeError(`procedure ${JSON.stringify(both)} is both a handler and a query: name it once`);
}

/**
 * The checked names of `app[field]` (an object of procedures; `required`: it must be there).
 * The name pattern leaves out `:`, so no app procedure can take a name synod keeps for its own
 * requests (`synod:…`, e.g. the client table's sweep).
 */
function procedures(app: Record<string, unknown>, field: 'handlers' | 'queries', required: boolean): string[] {
  const procs = app[field];
  if (procs === undefined && !required) return [];
  if (typeof procs !== 'object' || procs === null) {
    throw new TypeError(`app ${field}: ${procs === undefined ? 'missing' : 'must be an object of procedures'}`);
  }
  const names = Object.keys(procs);
  for (const name of names) {
    if (!procedureName.test(name)) {
      throw new RangeError(`procedure name ${JSON.stringify(name)}: use letters, digits, _ . - (at most 64, not starting with a digit)`);
    }
    if (typeof (procs as Record<string, unknown>)[name] !== 'function') throw new TypeError(`app ${field}.${name}: must be a function`);
  }
  return names;
}

/** What a procedure may be called: 1-64 characters of letters, digits, `_ . -`, not starting with a digit, `.` or `-`. */
const procedureName = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

/** Every procedure of `app`, handlers then queries, each list in the order the app declares it. */
export function appProcedures<S>(app: App<S>): string[] {
  return [...Object.keys(app.handlers), ...Object.keys(app.queries ?? {})];
}

/**
 * The function of procedure `proc`, a handler or a query (own properties only), undefined when the
 * app has none. It runs without the guard: a query called through it is not read-only. For tests
 * and models that call an app directly; replicas run procedures through `AppGuard`.
 */
export function appProcedure<S>(app: App<S>, proc: string): Handler<S> | undefined {
  if (Object.hasOwn(app.handlers, proc)) return app.handlers[proc];
  return app.queries !== undefined && Object.hasOwn(app.queries, proc) ? app.queries[proc] : undefined;
}

/** Whether `proc` is one of `app`'s queries (an own property, so `constructor` is none). */
export function isAppQuery<S>(app: App<S>, proc: string): boolean {
  return app.queries !== undefined && Object.hasOwn(app.queries, proc) && typeof app.queries[proc] === 'function';
}

/** Helpers for apps whose state is plain JSON. */
export const jsonState = {
  marshal: (state: Json): Uint8Array => new TextEncoder().encode(JSON.stringify(state)),
  unmarshal: (data: Uint8Array): Json => JSON.parse(new TextDecoder().decode(data)) as Json,
};
