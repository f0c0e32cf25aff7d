import { AppError, type Json } from '../../rsm/app.js';
import type { Feed, FeedEvent, FeedRead } from '../../rsm/feed.js';
import { type KeyRange, argsObject, describeRange, flagArg, inRange, rangeArg } from './kv-args.js';
import { type KvChange, entryAt, firstHistoryRevision } from './kv-history.js';
import type { KvLimits } from './kv-limits.js';
import { kvJson } from './kv-range.js';
import type { KvState } from './kv-state.js';

/**
 * The `watch` feed (`App.feeds.watch`): the store's history as etcd's watch events. Position =
 * revision; one feed event per revision that has at least one change the filter matches:
 * `{ revision, events: [{ type: 'put' | 'delete', kv, prevKv? }] }`, the changes in the order the
 * request made them. A put's `kv` is the new record; a delete's has only `key` and
 * `modRevision` (the deleting revision), as etcd's. `prevKv` (the record before the change) is
 * there when the filter asks for it and the key existed.
 *
 * Filter: `{ key, rangeEnd? | prefix?, prevKv?, noPut?, noDelete? }` (the keys as `range`'s).
 *
 * Compaction: the history holds the revisions above `compactRevision`, so a watcher may read
 * after any position `>= compactRevision` (start at `compactRevision + 1`); a read after an
 * earlier one answers `compacted` with `compactedThrough = compactRevision`. (etcd also accepts a
 * watch starting at the compact revision itself and sends what it kept of it; here that revision
 * is gone whole, so such a start is refused rather than served partly.)
 *
 * Cost: the history is indexed by revision, so a read starts where it left off in constant time;
 * it then looks at each revision up to the head or `maxEvents` matches.
 */
export interface WatchFilter {
  readonly range: KeyRange;
  readonly prevKv: boolean;
  readonly noPut: boolean;
  readonly noDelete: boolean;
}

export function parseWatchFilter(filter: Json, limits: KvLimits): WatchFilter {
  argsObject(filter, 'watch', ['key', 'rangeEnd', 'prefix', 'prevKv', 'noPut', 'noDelete']);
  return { range: rangeArg(filter, 'watch', limits), prevKv: flagArg(filter, 'prevKv', 'watch'), noPut: flagArg(filter, 'noPut', 'watch'), noDelete: flagArg(filter, 'noDelete', 'watch') };
}

/** The filter's canonical JSON. */
export function watchFilterJson(f: WatchFilter): Json {
  return { ...(describeRange(f.range) as { [key: string]: Json }), prevKv: f.prevKv, noPut: f.noPut, noDelete: f.noDelete };
}

/** One change as a watch event, or null when the filter leaves it out. */
function watchEvent(change: KvChange, revision: number, f: WatchFilter): Json {
  if (change.type === 'put') {
    if (f.noPut || !inRange(f.range, change.kv.key)) return null;
    return { type: 'put', kv: kvJson(change.kv), ...(f.prevKv && change.prev !== null ? { prevKv: kvJson(change.prev) } : {}) };
  }
  if (f.noDelete || !inRange(f.range, change.key)) return null;
  return { type: 'delete', kv: { key: change.key, modRevision: revision }, ...(f.prevKv ? { prevKv: kvJson(change.prev) } : {}) };
}

/** The events of the revisions after `after` that match `f`, at most `maxEvents` (see `Feed.read`). */
export function readWatch(state: Readonly<KvState>, after: number, f: WatchFilter, maxEvents: number): FeedRead {
  if (after < state.compactRevision) return { kind: 'compacted', compactedThrough: state.compactRevision };
  const events: FeedEvent[] = [];
  for (let r = Math.max(after + 1, firstHistoryRevision(state)); r <= state.revision; r++) {
    const found = entryAt(state, r)!.changes.map((c) => watchEvent(c, r, f)).filter((e) => e !== null);
    if (found.length === 0) continue;
    events.push({ position: r, event: { revision: r, events: found } });
    if (events.length >= maxEvents) return { kind: 'events', events, through: r };
  }
  return { kind: 'events', events, through: Math.max(after, state.revision) };
}

/** The feed over a state kept to `limits` (the app's). */
export function kvWatchFeed(limits: KvLimits): Feed<KvState, WatchFilter> {
  return {
    head: (state) => state.revision,
    filter: (filter) => parseWatchFilter(filter, limits),
    read: (state, after, filter, maxEvents) => {
      if (!Number.isSafeInteger(after) || after < 0 || !Number.isSafeInteger(maxEvents) || maxEvents < 1) {
        throw new AppError('bad-request', `watch: read after ${after}, at most ${maxEvents} events: both must be integers, after >= 0, maxEvents >= 1`);
      }
      return readWatch(state, after, filter, maxEvents);
    },
  };
}
