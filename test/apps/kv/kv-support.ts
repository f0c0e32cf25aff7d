// Calling the KV app as a replica does: args and replies as JSON text, queries and feed reads
// through the read-only view (so a query that changed the state would fail the test).
import assert from 'node:assert/strict';
import { AppError, type HandlerContext, type Json, appProcedure, isAppQuery } from '../../../src/rsm/app.js';
import { readOnlyView } from '../../../src/rsm/read-only-view.js';
import type { FeedRead } from '../../../src/rsm/feed.js';
import { type KvState, kvApp } from '../../../src/apps/kv/kv-app.js';
import type { App } from '../../../src/rsm/app.js';

export const client: HandlerContext = { clientId: 'client-1', internal: false };
export const node: HandlerContext = { clientId: 'synod:leases@n1', internal: true };

/** Runs `proc` (a handler on the state, a query through the read-only view); the reply as JSON text would carry it. */
export function call(state: KvState, proc: string, args: Json, context: HandlerContext = client, app: App<KvState> = kvApp): Json {
  const fn = appProcedure(app, proc);
  assert.ok(fn !== undefined, `no procedure ${proc}`);
  const input = JSON.parse(JSON.stringify(args)) as Json;
  if (isAppQuery(app, proc)) {
    const view = readOnlyView(state);
    const reply = fn(view.state, input, context);
    assert.equal(view.attempted, null, `query ${proc} tried to change the state`);
    return JSON.parse(JSON.stringify(reply ?? null)) as Json;
  }
  return JSON.parse(JSON.stringify(fn(state, input, context) ?? null)) as Json;
}

/** `call`, expecting the refusal `code`; also checks that the state did not change. */
export function refused(state: KvState, proc: string, args: Json, code: string, context: HandlerContext = client, app: App<KvState> = kvApp): void {
  const before = Buffer.from(app.marshalState(state)).toString();
  assert.throws(() => call(state, proc, args, context, app), (e: unknown) => e instanceof AppError && e.code === code, `${proc}(${JSON.stringify(args).slice(0, 200)}) must be refused ${code}`);
  assert.equal(Buffer.from(app.marshalState(state)).toString(), before, `a refused ${proc} changed the state`);
}

/** The watch feed's read, through the read-only view, with the filter as `Feed.filter` returned it. */
export function watch(state: KvState, after: number, filter: Json, maxEvents = 1000, app: App<KvState> = kvApp): FeedRead {
  const feed = app.feeds!['watch']!;
  const view = readOnlyView(state);
  const read = feed.read(view.state, after, feed.filter(filter), maxEvents);
  assert.equal(view.attempted, null, 'a feed read tried to change the state');
  return JSON.parse(JSON.stringify(read)) as FeedRead;
}

/** A state with the given puts made one by one (revisions 2, 3, …). */
export function withPuts(pairs: readonly [string, string][], app: App<KvState> = kvApp): KvState {
  const s = app.initialState();
  for (const [key, value] of pairs) call(s, 'put', { key, value }, client, app);
  return s;
}

export const prototypeKeys = Object.getOwnPropertyNames(Object.prototype);
