import { type KvChange, entryAt, firstHistoryRevision } from '../../src/apps/kv/kv-history.js';
import type { KvRecord, KvState } from '../../src/apps/kv/kv-state.js';
import type { Json } from '../../src/rsm/app.js';
import { type FeedReference, canonicalJson } from './checkers/feed-checker.js';
import type { Simulation } from './simulation.js';

/** What a KV watcher asked for, as the reference renders its events: one key, a prefix or a range `[key, rangeEnd)`; with or without the previous records, puts, deletes. */
export interface KvWatchFilter {
  readonly key: string;
  readonly prefix: boolean;
  readonly rangeEnd?: string;
  readonly prevKv: boolean;
  readonly noPut: boolean;
  readonly noDelete: boolean;
}

/**
 * The KV store's whole revision history as the run observed it committed, for the watch checker
 * and the lease checker: the store compacts its history (clients' `compact`), so no final state
 * holds all of it.
 *
 * Why it is sound: it is recorded from the state of the primary of a view right after that
 * primary executed a request of its view (`Workload.executedByPrimary`). A primary executes only
 * after every backup of its view acknowledged (durably), so everything its state holds then is
 * committed: no later view loses it, and every replica's history must hold the same revisions
 * (checked: a revision recorded again, by any primary of any view, must be the same; and at the
 * end every revision the final replicas still hold is compared with it). A revision compacted
 * before any primary's committed state showed it would leave a hole; that cannot happen while
 * clients compact only through revisions the reference already holds (`head`; the KV run keeps to
 * that, and leaves the size bound too high for the store to compact by itself), and a hole is a
 * failure, not a silent gap.
 */
export class KvReference {
  readonly #sim: Simulation;
  /** The changes of each revision from 2 on (revision 1, a new store, changed nothing); null: a hole (see `holesAllowed`). */
  readonly #changes = new Map<number, readonly KvChange[] | null>();
  /** After a hole: the live records at its last revision, rebuilt from the state that showed it. */
  readonly #liveAfterHole = new Map<number, ReadonlyMap<string, KvRecord>>();
  /** Every revision up to here is recorded (or a hole). */
  #head = 1;
  /** Records seen again and compared. */
  crossChecked = 0;
  /** Revisions the store compacted by itself before any primary's committed state showed them. */
  holes = 0;

  /**
   * `holesAllowed`: the store compacts by itself (a run with a small `maxHistoryBytes`), so a
   * revision made in a view of one may be compacted before a primary with backups shows it: such
   * revisions become holes, at which the checks stop knowing (and start again after them).
   * Otherwise a hole is a failure.
   */
  constructor(sim: Simulation, readonly holesAllowed = false) {
    this.#sim = sim;
  }

  get head(): number {
    return this.#head;
  }

  /** The committed `state` of a primary (see the class comment): records the revisions it holds past the head, compares the newest ones it holds already. */
  committed(state: Readonly<KvState>, who: string): void {
    const first = firstHistoryRevision(state);
    if (this.#head < state.compactRevision) {
      if (!this.holesAllowed) {
        this.#sim.fail(`kv reference: ${who} holds revisions from ${first} on: ${this.#head + 1}..${state.compactRevision} were compacted before any primary's committed state showed them`);
      }
      this.#sim.log(`kv reference: revisions ${this.#head + 1}..${state.compactRevision} compacted before ${who} showed them: a hole`);
      for (let r = Math.max(2, this.#head + 1); r <= state.compactRevision; r++) this.#changes.set(r, null);
      this.holes += state.compactRevision - this.#head;
      this.#liveAfterHole.set(state.compactRevision, liveAt(state, state.compactRevision));
      this.#head = state.compactRevision;
    }
    for (let r = Math.max(first, this.#head); r <= state.revision; r++) this.#compareOrRecord(r, entryAt(state, r)!.changes, who);
  }

  /** At the end: every revision a final replica still holds must be the reference's. */
  checkFinal(state: Readonly<KvState>, who: string): void {
    if (state.revision !== this.#head) this.#sim.fail(`kv reference: ${who} is at revision ${state.revision}, the primaries' committed states reached ${this.#head}`);
    for (let r = firstHistoryRevision(state); r <= state.revision; r++) this.#compareOrRecord(r, entryAt(state, r)!.changes, who);
  }

  /** The changes of revision `r` (2 ≤ r ≤ head); null for a hole. */
  changes(r: number): readonly KvChange[] | null {
    const c = this.#changes.get(r);
    if (c === undefined) throw new Error(`kv reference: no revision ${r} (head ${this.#head})`);
    return c;
  }

  #compareOrRecord(r: number, changes: readonly KvChange[], who: string): void {
    if (r < 2) return;
    const known = this.#changes.get(r);
    if (known === undefined) {
      if (r !== this.#head + 1) throw new Error(`kv reference: recording revision ${r} past the head ${this.#head}`);
      this.#changes.set(r, changes);
      this.#head = r;
      this.#sim.log(`kv reference: revision ${r} from ${who}: ${changes.map((c) => (c.type === 'put' ? `put ${c.kv.key}=${c.kv.value}` : `delete ${c.key}`)).join(', ')}`);
      return;
    }
    if (known === null) return;
    this.crossChecked++;
    if (canonicalJson(known as unknown as Json) !== canonicalJson(changes as unknown as Json)) {
      this.#sim.fail(`kv reference: revision ${r} in ${who} is ${JSON.stringify(changes)}, where a primary's committed state had ${JSON.stringify(known)}`);
    }
  }

  /** The reference as the watch checker needs it: the event a watcher with a filter must get at each revision (undefined in a hole). */
  feed(): FeedReference<KvWatchFilter> {
    return {
      head: this.#head,
      expected: (filter, r) => {
        if (r < 2) return null;
        const changes = this.changes(r);
        return changes === null ? undefined : watchEvent(filter, r, changes);
      },
    };
  }

  /**
   * Replays the history: `visit(r, before)` for each revision r with the live records before it
   * (null where a hole makes them unknown: in it, and at the revision right after it they are
   * known again); returns those after the head (null if it is a hole).
   */
  replay(visit: (r: number, before: ReadonlyMap<string, KvRecord> | null) => void): ReadonlyMap<string, KvRecord> | null {
    let live: Map<string, KvRecord> | null = new Map();
    for (let r = 2; r <= this.#head; r++) {
      const changes = this.changes(r);
      visit(r, changes === null ? null : live);
      if (changes === null) {
        const after = this.#liveAfterHole.get(r);
        live = after === undefined ? null : new Map(after);
        continue;
      }
      for (const c of changes) {
        if (live === null) break;
        if (c.type === 'put') live.set(c.kv.key, c.kv);
        else live.delete(c.key);
      }
    }
    return live;
  }
}

/** The live records of `state` as they were at `revision` (not below its compaction): its records with the changes above `revision` undone. */
function liveAt(state: Readonly<KvState>, revision: number): ReadonlyMap<string, KvRecord> {
  const live = new Map(state.kvs);
  for (let r = state.revision; r > revision; r--) {
    for (const c of [...entryAt(state, r)!.changes].reverse()) {
      if (c.type === 'delete') live.set(c.key, c.prev);
      else if (c.prev === null) live.delete(c.kv.key);
      else live.set(c.kv.key, c.prev);
    }
  }
  return live;
}

const recordJson = (r: KvRecord): Json => ({ key: r.key, value: r.value, createRevision: r.createRevision, modRevision: r.modRevision, version: r.version, lease: r.lease });

/**
 * The watch event a watcher with `filter` must receive at revision `r` whose changes are
 * `changes` (null: none matches), written from etcd's rules as docs/kv.md states them, not with
 * the app's feed code: one event per revision, its changes in order; a put carries the new record,
 * a delete the key and the deleting revision; `prevKv` when asked for and the key existed; puts
 * or deletes left out when the filter says so.
 */
export function watchEvent(filter: KvWatchFilter, r: number, changes: readonly KvChange[]): Json {
  const matches = (key: string): boolean => (filter.prefix ? key.startsWith(filter.key)
    : filter.rangeEnd !== undefined ? key >= filter.key && key < filter.rangeEnd : key === filter.key);
  const events: Json[] = [];
  for (const c of changes) {
    if (c.type === 'put') {
      if (filter.noPut || !matches(c.kv.key)) continue;
      events.push({ type: 'put', kv: recordJson(c.kv), ...(filter.prevKv && c.prev !== null ? { prevKv: recordJson(c.prev) } : {}) });
    } else {
      if (filter.noDelete || !matches(c.key)) continue;
      events.push({ type: 'delete', kv: { key: c.key, modRevision: r }, ...(filter.prevKv ? { prevKv: recordJson(c.prev) } : {}) });
    }
  }
  return events.length === 0 ? null : { revision: r, events };
}
