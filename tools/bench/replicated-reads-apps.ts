import { fileURLToPath } from 'node:url';
import { testApp, type TestState } from '../../src/apps/test-app.js';
import { lockApp } from '../../src/apps/lock/lock-app.js';
import type { LockState } from '../../src/apps/lock/lock-state.js';
import { type App, type Handler, defineApp } from '../../src/rsm/app.js';

/**
 * Bench-only variants of the built-in apps whose reads are handlers, not queries: every read is
 * replicated to every backup and recorded in the client table, the path every read took before
 * `App.queries`. `npm run bench -- read` and `-- lock` run them beside the built-in apps to show
 * what the query path saves. Nodes load them with `--app-module replicatedReadsModule#EXPORT`.
 *
 * A query is a function of (state, args, context) that changes nothing, so it is also a valid
 * handler: the variants reuse the built-in queries as they are. Each variant names itself apart
 * (`-replicated-reads`), so no node of it can join a cluster of the built-in app.
 */

/** Every query of `app` as a handler beside its handlers, and no queries. */
function readsAsHandlers<S>(app: App<S>, name: string): App<S> {
  // A query's state parameter is `Readonly<S>`: a handler that only reads is a query with a wider type.
  const reads = Object.fromEntries(Object.entries(app.queries ?? {}).map(([proc, q]) => [proc, q as Handler<S>]));
  return defineApp<S>({ ...app, name, handlers: { ...app.handlers, ...reads }, queries: {} });
}

/** The test app with `get`, `length` and `list` as handlers (the test app's 1.0.0 form). */
export const testAppReplicatedReads: App<TestState> = readsAsHandlers(testApp, 'test-replicated-reads');

/**
 * The lock app with `stat` as a handler. Loaded with `--app-module` it runs without the lock
 * server's sessions (`builtinApps.lock.sessions`): the bench only stats locks nobody holds.
 */
export const lockAppReplicatedStat: App<LockState> = readsAsHandlers(lockApp, 'lock-replicated-reads');

/** This module's compiled file, for `--app-module PATH#EXPORT`. */
export const replicatedReadsModule = fileURLToPath(import.meta.url);
