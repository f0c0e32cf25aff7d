import { limits } from '../../options.js';
import { AppError, type Json } from '../../rsm/app.js';
import { utf8Bytes } from '../../rsm/json-text.js';
import { type KeyRange, argsObject, countArg, flagArg, inRange, rangeArg, rangeStart } from './kv-args.js';
import { firstHistoryRevision, entryAt } from './kv-history.js';
import type { KvLimits } from './kv-limits.js';
import { type KvRecord, type KvState, lowerBound } from './kv-state.js';

/**
 * Range reads (`get`/`range`, and a txn's range operations): the live keys, or the keys as they
 * were at an old revision, rebuilt from the history.
 */

export interface RangeRequest {
  readonly range: KeyRange;
  /** At most this many kvs in the reply; 0: no limit. `count` still counts every match. */
  readonly limit: number;
  /** The revision to read at; 0: the current one. */
  readonly revision: number;
  /** Values left out (`''`). */
  readonly keysOnly: boolean;
  /** No kvs at all, only `count`. */
  readonly countOnly: boolean;
}

const rangeFields = ['key', 'rangeEnd', 'prefix', 'limit', 'revision', 'keysOnly', 'countOnly'] as const;

/** A range request's arguments, checked (`bad-request`, `key-too-large`); `atRevision: false` refuses `revision` (a txn reads at its own). */
export function parseRange(args: Json, proc: string, limits: KvLimits, atRevision = true): RangeRequest {
  argsObject(args, proc, atRevision ? rangeFields : rangeFields.filter((f) => f !== 'revision'));
  return {
    range: rangeArg(args, proc, limits),
    limit: countArg(args, 'limit', proc, 0),
    revision: countArg(args, 'revision', proc, 0),
    keysOnly: flagArg(args, 'keysOnly', proc),
    countOnly: flagArg(args, 'countOnly', proc),
  };
}

/** Refuses a read at `revision` the store cannot answer: below the compaction revision (`compacted`) or above the current one (`future-revision`). */
export function checkReadRevision(state: Readonly<KvState>, revision: number): void {
  if (revision > state.revision) throw new AppError('future-revision', `revision ${revision} is in the future: the store is at ${state.revision}`);
  if (revision < state.compactRevision) {
    throw new AppError('compacted', `revision ${revision} is compacted: the oldest revision readable is ${state.compactRevision} (compactRevision)`);
  }
}

/** A record as a reply's kv (etcd's KeyValue, camelCase). */
export function kvJson(kv: KvRecord, keysOnly = false): Json {
  return { key: kv.key, value: keysOnly ? '' : kv.value, createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version, lease: kv.lease };
}

/**
 * Room a range reply keeps below `limits.maxReplyBytes` for what is not its kvs (`count`, `more`,
 * `revision`, a txn's other results): a reply's kvs stop before they would take more.
 */
const rangeReplyMarginBytes = 16 * 1024;

/**
 * Answers a range request: `{ kvs, count, more, revision }` (`revision`: the store's current
 * revision, as etcd's header). The kvs stop at `limit`, and before their JSON would pass what a
 * reply may carry (`limits.maxReplyBytes` less `rangeReplyMarginBytes`; at least one kv, so a
 * reader paging by its last key always moves on): `more` then says the range goes on, and
 * `count` still counts every match. A client lists a large range in pages (KvClient's
 * `snapshotAndWatch` does).
 */
export function readRange(state: Readonly<KvState>, request: RangeRequest): Json {
  const at = request.revision === 0 ? state.revision : request.revision;
  checkReadRevision(state, at);
  const found = at === state.revision ? liveRecords(state, request.range) : recordsAt(state, request.range, at);
  const wanted = request.countOnly ? [] : request.limit > 0 ? found.slice(0, request.limit) : found;
  const budget = limits.maxReplyBytes - rangeReplyMarginBytes;
  const kvs: Json[] = [];
  let bytes = 0;
  for (const kv of wanted) {
    const json = kvJson(kv, request.keysOnly);
    bytes += utf8Bytes(JSON.stringify(json)) + 1;
    if (kvs.length > 0 && bytes > budget) break;
    kvs.push(json);
  }
  const more = kvs.length < wanted.length || (request.limit > 0 && found.length > request.limit);
  return { kvs, count: found.length, more, revision: state.revision };
}

/** The live records in `range`, in key order. */
export function liveRecords(state: Readonly<KvState>, range: KeyRange): KvRecord[] {
  if (range.kind === 'key') {
    const kv = state.kvs.get(range.key);
    return kv === undefined ? [] : [kv];
  }
  const out: KvRecord[] = [];
  const keys = state.sortedKeys;
  for (let i = lowerBound(keys, rangeStart(range)); i < keys.length && inRange(range, keys[i]!); i++) out.push(state.kvs.get(keys[i]!)!);
  return out;
}

/**
 * The records in `range` as they were at `revision` (`compactRevision <= revision < state.revision`):
 * the live ones, with every change above `revision` undone. Walking the history from the newest
 * down to `revision + 1`, each change sets its key to what it was before; the last set (the
 * oldest change above `revision`) is what the key held at `revision`. Costs the history above
 * `revision` plus the range.
 */
function recordsAt(state: Readonly<KvState>, range: KeyRange, revision: number): KvRecord[] {
  const undone = new Map<string, KvRecord | null>();
  for (let r = state.revision; r > revision && r >= firstHistoryRevision(state); r--) {
    for (const change of entryAt(state, r)!.changes) {
      const key = change.type === 'put' ? change.kv.key : change.key;
      if (inRange(range, key)) undone.set(key, change.prev);
    }
  }
  const at = new Map<string, KvRecord>();
  for (const kv of liveRecords(state, range)) at.set(kv.key, kv);
  for (const [key, kv] of undone) {
    if (kv === null) at.delete(key);
    else at.set(key, kv);
  }
  return [...at.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
