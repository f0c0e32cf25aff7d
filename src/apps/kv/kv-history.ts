import { invariant } from '../../env/errors.js';
import { recordOverheadBytes, utf8Bytes } from './kv-limits.js';
import type { KvRecord, KvState } from './kv-state.js';

/**
 * The KV store's history: for every revision above the compaction revision, the changes it made,
 * in the order the request made them. Watches read it (`kvWatchFeed`), and so do reads at old
 * revisions (undoing the changes above the revision asked for).
 *
 * Invariant: the entries are the revisions `firstRevision .. state.revision` without a gap, where
 * `firstRevision = max(compactRevision, 1) + 1` (revision 1, a new store, changed nothing), so
 * revision r is entry `start + r - firstRevision`: a subscriber at the head finds its place in
 * constant time. `bytes` is the sum of the entries' `bytes`.
 */
export type KvChange =
  | { readonly type: 'put'; readonly kv: KvRecord; readonly prev: KvRecord | null }
  | { readonly type: 'delete'; readonly key: string; readonly prev: KvRecord };

export interface KvRevisionEntry {
  readonly revision: number;
  readonly changes: readonly KvChange[];
  /** What the entry counts against `KvLimits.maxHistoryBytes` (`changeBytes`, summed). */
  readonly bytes: number;
}

export interface KvHistory {
  /** Entries from index `start` on are held; those before it are compacted, waiting to be cut off. */
  readonly entries: KvRevisionEntry[];
  start: number;
  bytes: number;
}

export function emptyHistory(): KvHistory {
  return { entries: [], start: 0, bytes: 0 };
}

/** What one change counts against the history bound: its key and values in UTF-8, plus overhead per record. */
export function changeBytes(change: KvChange): number {
  const prev = change.prev === null ? 0 : utf8Bytes(change.prev.value) + recordOverheadBytes;
  return change.type === 'put' ? utf8Bytes(change.kv.key) + utf8Bytes(change.kv.value) + recordOverheadBytes + prev : utf8Bytes(change.key) + recordOverheadBytes + prev;
}

/** The first revision the history can hold (see the invariant above). */
export function firstHistoryRevision(state: Readonly<KvState>): number {
  return Math.max(state.compactRevision, 1) + 1;
}

/** The entry of `revision`, undefined when it is compacted or not made yet. */
export function entryAt(state: Readonly<KvState>, revision: number): KvRevisionEntry | undefined {
  const first = firstHistoryRevision(state);
  if (revision < first || revision > state.revision) return undefined;
  const entry = state.history.entries[state.history.start + revision - first];
  invariant(entry?.revision === revision, () => `kv history: revision ${revision} is not where the index says`);
  return entry;
}

/** Records the changes of the new revision `state.revision` (already counted), then keeps the history within its bound. */
export function recordRevision(state: KvState, changes: readonly KvChange[]): void {
  invariant(changes.length > 0, () => 'kv history: a revision without changes');
  const bytes = changes.reduce((sum, c) => sum + changeBytes(c), 0);
  const { history } = state;
  history.entries.push({ revision: state.revision, changes, bytes });
  history.bytes += bytes;
  if (history.bytes > state.limits.maxHistoryBytes) {
    // Oldest first, until within the bound, but never the newest revision: a watcher that has seen
    // everything before it must still get it (compacting it would end every watcher of the store
    // with `compacted`, whatever keys it watches). So the history passes its bound by at most that
    // one revision, whose records (a large delete's previous values) the store held anyway.
    // Deterministic: every replica compacts alike.
    let through = state.compactRevision;
    let left = history.bytes;
    for (let i = history.start; i < history.entries.length - 1 && left > state.limits.maxHistoryBytes; i++) {
      left -= history.entries[i]!.bytes;
      through = history.entries[i]!.revision;
    }
    if (through > state.compactRevision) compactHistory(state, through);
  }
}

/** Forgets the history through `revision` (`compactRevision < revision <= state.revision`). */
export function compactHistory(state: KvState, revision: number): void {
  invariant(revision > state.compactRevision && revision <= state.revision, () => `kv history: compacting to ${revision} outside (${state.compactRevision}, ${state.revision}]`);
  const { history } = state;
  while (history.start < history.entries.length && history.entries[history.start]!.revision <= revision) {
    history.bytes -= history.entries[history.start]!.bytes;
    history.start++;
  }
  // Cut the dropped entries off once they are half the array, so compaction costs O(1) amortised.
  if (history.start > 0 && history.start * 2 >= history.entries.length) {
    history.entries.splice(0, history.start);
    history.start = 0;
  }
  state.compactRevision = revision;
}

/** The held entries, oldest first. */
export function heldEntries(state: Readonly<KvState>): readonly KvRevisionEntry[] {
  return state.history.entries.slice(state.history.start);
}
