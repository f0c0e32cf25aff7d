/**
 * Checks KV watchers against each other and against the store (issue 16): the tester's KV
 * scenarios and the nemesis's KV workload use it. Written from docs/kv.md, not from the app's
 * code, so that it is a second opinion rather than a copy.
 *
 * The reference is a watcher of every key with `prevKv`, from the store's start. Since every
 * revision changes at least one key, its events must cover every revision from 2 to the head
 * with no gap, no repeat and in order; replaying them (checking each `prevKv`, version and
 * create revision against the replayed state) must give exactly the live keys a final `range`
 * reads; every write a client saw acknowledged must be in it at its revision. Every other
 * watcher must have received exactly the reference's events that its filter keeps, from its
 * start to the head.
 */
import type { KvRecord } from '../../src/apps/kv/kv-state.js';

/** A live key as a range or a put event gives it: the store's own record. */
export type { KvRecord };

/** One change of a watch event. A delete's `kv` holds only the key and the deleting revision. */
export interface WatchChange {
  readonly type: 'put' | 'delete';
  readonly kv: KvRecord | { readonly key: string; readonly modRevision: number };
  readonly prevKv?: KvRecord;
}

/** One watch event: every matching change of one revision. */
export interface WatchEvent {
  readonly revision: number;
  readonly events: readonly WatchChange[];
}

/** A watch filter as the checker understands it: one key, or a prefix; with or without `prevKv`. */
export interface KvWatchFilter {
  readonly key: string;
  readonly prefix?: boolean;
  readonly prevKv?: boolean;
}

/** What one watcher received, and the position it started after. */
export interface WatcherLog {
  readonly name: string;
  readonly filter: KvWatchFilter;
  readonly after: number;
  readonly events: readonly WatchEvent[];
}

/** A write a client saw acknowledged: at `revision`, these keys were put (to these values) and these deleted. */
export interface AckedWrite {
  readonly revision: number;
  readonly puts: readonly (readonly [string, string])[];
  readonly deletes: readonly string[];
}

const matches = (f: KvWatchFilter, key: string): boolean => (f.prefix === true ? key.startsWith(f.key) : key === f.key);

/** The events `filter` keeps of the reference's (which carry `prevKv`), after `after`. */
export function expectedEvents(reference: readonly WatchEvent[], filter: KvWatchFilter, after: number): WatchEvent[] {
  const out: WatchEvent[] = [];
  for (const e of reference) {
    if (e.revision <= after) continue;
    const kept = e.events.filter((c) => matches(filter, c.kv.key)).map((c) => {
      if (filter.prevKv === true || c.prevKv === undefined) return c;
      const { prevKv: _dropped, ...rest } = c;
      return rest;
    });
    if (kept.length > 0) out.push({ revision: e.revision, events: kept });
  }
  return out;
}

const show = (v: unknown): string => JSON.stringify(v).slice(0, 400);
const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
/** A record with its fields in one order, so that JSON texts compare. */
const canonical = (r: KvRecord): KvRecord => ({ key: r.key, value: r.value, createRevision: r.createRevision, modRevision: r.modRevision, version: r.version, lease: r.lease });

/**
 * Replays the reference's events from an empty store (revision 1), checking each against the
 * state so far; returns the live keys at the end and the problems found.
 */
function replay(reference: readonly WatchEvent[], head: number): { live: Map<string, KvRecord>; problems: string[] } {
  const problems: string[] = [];
  const live = new Map<string, KvRecord>();
  let expected = 2;
  for (const e of reference) {
    if (e.revision !== expected) {
      problems.push(`reference watcher: revision ${e.revision} where ${expected} was due (${e.revision < expected ? 'a repeat or reorder' : 'a gap'})`);
      if (problems.length > 20) return { live, problems };
    }
    expected = e.revision + 1;
    if (e.events.length === 0) problems.push(`reference watcher: revision ${e.revision} has no change`);
    for (const c of e.events) {
      const before = live.get(c.kv.key);
      if (!sameJson(c.prevKv === undefined ? null : canonical(c.prevKv), before === undefined ? null : canonical(before))) {
        problems.push(`revision ${e.revision}: ${c.type} of ${show(c.kv.key)} says the key was ${show(c.prevKv ?? null)}, the replayed history says ${show(before ?? null)}`);
      }
      if (c.kv.modRevision !== e.revision) problems.push(`revision ${e.revision}: ${c.type} of ${show(c.kv.key)} has modRevision ${c.kv.modRevision}`);
      if (c.type === 'delete') {
        if (before === undefined) problems.push(`revision ${e.revision}: delete of ${show(c.kv.key)}, which did not exist`);
        live.delete(c.kv.key);
        continue;
      }
      const kv = c.kv as KvRecord;
      const version = (before?.version ?? 0) + 1;
      const createRevision = before?.createRevision ?? e.revision;
      if (kv.version !== version || kv.createRevision !== createRevision) {
        problems.push(`revision ${e.revision}: put of ${show(kv.key)} has version ${kv.version}, createRevision ${kv.createRevision}; the history gives ${version}, ${createRevision}`);
      }
      live.set(kv.key, kv);
    }
  }
  if (expected !== head + 1) problems.push(`reference watcher: its last revision is ${expected - 1}, the store's is ${head}`);
  return { live, problems };
}

/**
 * Every check of the module's comment. `finalKvs` and `head` are a range of every key at the end
 * (after the watchers caught up with it). Returns the problems found (empty: all good).
 */
export function checkWatchers(opts: {
  readonly reference: readonly WatchEvent[];
  readonly watchers: readonly WatcherLog[];
  readonly finalKvs: readonly KvRecord[];
  readonly head: number;
  readonly acked: readonly AckedWrite[];
}): string[] {
  const { reference, head } = opts;
  const { live, problems } = replay(reference, head);
  const replayed = [...live.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map(canonical);
  const read = opts.finalKvs.map(canonical);
  if (!sameJson(replayed, read)) {
    const diff = read.filter((r) => !replayed.some((x) => sameJson(x, r))).slice(0, 3);
    const extra = replayed.filter((r) => !read.some((x) => sameJson(x, r))).slice(0, 3);
    problems.push(`the replayed watch history gives ${replayed.length} live keys, the final range ${read.length}; range only: ${show(diff)}; history only: ${show(extra)}`);
  }
  const byRevision = new Map(reference.map((e) => [e.revision, e]));
  for (const w of opts.acked) {
    const e = byRevision.get(w.revision);
    if (e === undefined) {
      problems.push(`an acknowledged write at revision ${w.revision} is not in the reference watcher's events`);
      continue;
    }
    for (const [key, value] of w.puts) {
      if (!e.events.some((c) => c.type === 'put' && c.kv.key === key && (c.kv as KvRecord).value === value)) {
        problems.push(`revision ${w.revision}: the acknowledged put ${show(key)}=${show(value)} is not among its events ${show(e.events)}`);
      }
    }
    for (const key of w.deletes) {
      if (!e.events.some((c) => c.type === 'delete' && c.kv.key === key)) problems.push(`revision ${w.revision}: the acknowledged delete of ${show(key)} is not among its events`);
    }
  }
  for (const w of opts.watchers) {
    const want = expectedEvents(reference, w.filter, w.after);
    const got = w.events;
    for (let i = 0; i < Math.max(want.length, got.length); i++) {
      if (!sameJson(want[i], got[i])) {
        problems.push(`watcher ${w.name} (${show(w.filter)} after ${w.after}): event ${i + 1} of ${want.length} is ${show(got[i] ?? 'missing')}, ` +
          `the reference gives ${show(want[i] ?? 'none')} (${got.length} received)`);
        break;
      }
    }
  }
  return problems;
}
