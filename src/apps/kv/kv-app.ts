/**
 * The KV store: a second built-in app (`synod node --app kv`), with etcd v3's semantics for
 * revisions, ranges, transactions, leases and watches (docs/kv.md).
 *
 * Revisions: a new store is at revision 1; every request that changes a key makes exactly one
 * new revision (a txn of many operations too; a delete that found nothing, a read-only txn, a
 * compaction and lease grants and keepalives make none). Each key has `createRevision`,
 * `modRevision`, `version` (1 at creation, +1 each put; a delete ends the key) and `lease` (0: none).
 *
 * Handlers: `put`, `delete`, `txn`, `compact`, `leaseGrant`, `leaseRevoke`, `leaseKeepAlive`,
 * `leaseExpire` (nodes only). Queries (read-only, answered by the primary under its lease): `get`
 * and `range` (the same procedure), `leaseTimeToLive`, `leases`, `status`. Feed: `watch`.
 * Every refusal is an `AppError` thrown before the state changes (codes in docs/kv.md).
 */
import { type App, AppError, type Json, defineApp } from '../../rsm/app.js';
import { argsObject, countArg } from './kv-args.js';
import { compactHistory } from './kv-history.js';
import { leaseExpire, leaseGrant, leaseKeepAlive, leaseList, leaseRevoke, leaseTimeToLive } from './kv-leases.js';
import { type KvLimits, kvLimits } from './kv-limits.js';
import { unmarshalKvState, marshalKvState } from './kv-marshal.js';
import { parseRange, readRange } from './kv-range.js';
import { type KvState, emptyKvState } from './kv-state.js';
import { runTxn } from './kv-txn.js';
import { kvWatchFeed } from './kv-watch.js';
import { applyDelete, applyPut, beginWrite, checkPuts, commitWrite, parseDelete, parsePut } from './kv-write.js';

export { type KvLimits, kvLimits } from './kv-limits.js';
export type { KvState, KvRecord, KvLease } from './kv-state.js';
export { kvWatchFeed, type WatchFilter } from './kv-watch.js';
export { kvLeaseSpec } from './kv-lease-spec.js';

/** The KV app's name and version (part of the cluster: every node runs the same). */
export const kvAppIdentity = { name: 'kv', version: '1.0.0' } as const;

function put(state: KvState, args: Json): Json {
  const op = parsePut(args, 'put', state.limits);
  checkPuts(state, [op]);
  const batch = beginWrite(state);
  const reply = applyPut(batch, op);
  return { revision: commitWrite(batch), ...reply };
}

function del(state: KvState, args: Json): Json {
  const op = parseDelete(args, 'delete', state.limits);
  const batch = beginWrite(state);
  const reply = applyDelete(batch, op);
  return { revision: commitWrite(batch), ...reply };
}

/** compact({ revision }) → { revision, compactRevision }: forgets the history up to `revision` (`compacted` at or below the current compaction, `future-revision` above the store's). */
function compact(state: KvState, args: Json): Json {
  argsObject(args, 'compact', ['revision']);
  const revision = countArg(args, 'revision', 'compact');
  if (revision > state.revision) throw new AppError('future-revision', `revision ${revision} is in the future: the store is at ${state.revision}`);
  if (revision <= state.compactRevision) throw new AppError('compacted', `revision ${revision} is compacted already: compactRevision is ${state.compactRevision}`);
  compactHistory(state, revision);
  return { revision: state.revision, compactRevision: state.compactRevision };
}

/** status() → { revision, compactRevision, keys, historyRevisions, historyBytes, storeBytes, leases }. */
function status(state: Readonly<KvState>, args: Json): Json {
  if (args !== null) argsObject(args, 'status', []);
  const { history } = state;
  return {
    revision: state.revision, compactRevision: state.compactRevision, keys: state.kvs.size,
    historyRevisions: history.entries.length - history.start, historyBytes: history.bytes, storeBytes: state.storeBytes, leases: state.leases.size,
  };
}

/** The KV app with `limits` (tests lower `maxHistoryBytes`; production uses `kvApp`). Every node of a cluster must run it with the same limits. */
export function createKvApp(overrides: Partial<KvLimits> = {}): App<KvState> {
  const limits: KvLimits = { ...kvLimits, ...overrides };
  const range = (state: Readonly<KvState>, args: Json): Json => readRange(state, parseRange(args, 'range', limits));
  return defineApp<KvState>({
    ...kvAppIdentity,
    initialState: () => emptyKvState(limits),
    handlers: { put, delete: del, txn: runTxn, compact, leaseGrant, leaseRevoke, leaseKeepAlive, leaseExpire },
    queries: { get: range, range, leaseTimeToLive, leases: leaseList, status },
    feeds: { watch: kvWatchFeed(limits) },
    marshalState: marshalKvState,
    unmarshalState: (data) => unmarshalKvState(data, limits),
  });
}

/** The KV app as `synod node --app kv` runs it. */
export const kvApp = createKvApp();
