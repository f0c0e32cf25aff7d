import { invariant } from '../env/errors.js';
import { limits } from '../options.js';
import { isInternalClientId } from './messages.js';
import { type Outcome, type Slot, type SweepResult, type TableCheck, type TableEntry, type TableLimits, type TableRequest, checkLimits } from './client-table-types.js';

export * from './client-table-types.js';

/** An entry as the table holds it: changed in place (an entry's slots change with every request of its client). */
interface MutableEntry {
  floor: number;
  readonly slots: Map<number, Slot>;
  expired: boolean;
  activeMs: number | null;
}

/**
 * The replicated client table of at-most-once execution: for every client, the outcomes of its
 * requests it may still ask for again (a window of numbers), and when the client was last active.
 * It is part of the replicated state (state transfer ships it), and every replica consults and
 * updates it exactly once per request, when it executes the request at its viewstamp
 * (`ReplicatedState.execute`), so every replica reaches the same decision: a retry that reaches a
 * new primary is stamped again and answered from here instead of running again.
 *
 * Many calls in flight per client: a client numbers its calls upwards and may have up to
 * `limits.maxClientWindow` of them outstanding; every request says the lowest number whose answer
 * the client still lacks (`answeredBelow`: the client had every number below it answered, or
 * gave the call up). The entry's `floor` follows it: outcomes below the floor are dropped (no
 * copy of those requests will be asked for again), a request below it is a late copy and is
 * answered `stale` without running, a request with a slot is a retry answered from it, and
 * anything else in the window runs once and fills its slot. Requests of one client may execute
 * in any order of their numbers (the client sent them concurrently).
 *
 * Bounded (design §4): time never comes from a replica's own clock. The table keeps a replicated
 * clock, advanced only by sweeps the serving primary stamps (`sweep`), and an entry's idleness is
 * that clock minus the clock at the client's last request. A sweep drops entries idle longer
 * than `retentionMs`; a new client beyond `maxClients` evicts the least recently active entry
 * once it is `evictableAfterMs` idle, and is refused (`full`) before that. An entry holds at most
 * `limits.maxClientWindow` outcomes.
 *
 * Telling a new client from an expired one: a client marks its requests `first` while it does
 * not know the table holds its entry (`ClientCore`). An unknown client's unmarked request may be
 * a retry of a call that executed before its entry went: it is refused (`expired`), never run,
 * and the refusal makes an entry in the `expired` mode (the refusal in its slot, so every copy
 * of that request gets the same answer): the client's other unmarked requests are refused too,
 * until a marked one runs. A client that learns it expired marks its next calls and numbers
 * them above every number it used, with `answeredBelow` there: the first of them to run lifts
 * the floor above every request sent before, so none of those can run after it. Clients mark
 * only for a short window, well below `evictableAfterMs` and `retentionMs`, so no marked request
 * reaches the table after its own entry could have gone.
 *
 * Invariants: entries are kept in order of last activity (a `Map`'s insertion order, each
 * activity moving its entry to the end), so `activeMs` never decreases along it; `activeMs` is
 * null exactly while the clock is; every slot lies in its entry's window (`TableEntry`). Every
 * replica applies the same operations in the same order, so the order, and with it every
 * eviction, is the same everywhere, and state transfer keeps it.
 *
 * Contract with clients: a client id is used by one client at a time; its numbers go upwards
 * and are never reused for another request (`RsmClient` starts every process life's numbers from
 * the clock, so a restarted client continues above its earlier requests); a request is numbered
 * below `answeredBelow + limits.maxClientWindow`. A reused number carrying another request than
 * the one decided under it is recognized by its digest and refused (`conflict`).
 */
export class ClientTable {
  readonly #entries = new Map<string, MutableEntry>();
  #clock: number | null;
  #limits: TableLimits;
  /** The activity of the last entry `restore` appended (entries must come in order of it). */
  #restoredUpTo = 0;
  constructor(limits: TableLimits, clockMs: number | null = null) {
    this.#limits = checkLimits(limits);
    this.#clock = clockMs;
  }

  /** The replicated clock (ms: started at a primary's wall clock, then moved by time primaries measured); null before the first sweep. */
  get clockMs(): number | null {
    return this.#clock;
  }

  get limits(): TableLimits {
    return this.#limits;
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * Whether request `seq` of `clientId` is one the table knows nothing of, of a client it knows
   * (in its window, not decided, not refused as expired): a query of such a request may be
   * answered without being recorded (its client stays known, and nothing is lost by not keeping
   * the outcome: a copy of the query may run again, which a read may).
   */
  knowsBefore(clientId: string, seq: number): boolean {
    const e = this.#entries.get(clientId);
    return e !== undefined && !e.expired && seq >= e.floor && seq < e.floor + limits.maxClientWindow && !e.slots.has(seq);
  }

  /**
   * What to do with request `r` (whose `requestDigest` is `digest`). Changes nothing.
   * `wrongSlot` is a test mutation (`RsmMutations.wrongWindowSlot`): a retry is answered with
   * the outcome of the number below its own when the table holds one.
   */
  check(r: TableRequest, digest: string, wrongSlot = false): TableCheck {
    const e = this.#entries.get(r.clientId);
    if (e === undefined) {
      if (!r.first) return { kind: 'expired' };
      // A node's own requests (a session's expiry, a sweep) are never kept waiting by a table
      // full of clients: a dead client's locks must still be expired under a flood of new ids.
      // There are at most two such ids per node, so the table holds at most that many more.
      return this.#hasRoom() || isInternalClientId(r.clientId) ? { kind: 'new' } : { kind: 'full' };
    }
    const floor = Math.max(e.floor, r.answeredBelow ?? 0);
    if (r.seq < floor) return { kind: 'stale' };
    const slot = e.slots.get(r.seq);
    if (slot !== undefined && wrongSlot && slot.digest === digest && e.slots.has(r.seq - 1)) return { kind: 'done', outcome: e.slots.get(r.seq - 1)!.outcome };
    if (slot !== undefined) return slot.digest === digest ? { kind: 'done', outcome: slot.outcome } : { kind: 'conflict' };
    if (e.expired && !r.first) return { kind: 'expired' };
    if (r.seq >= floor + limits.maxClientWindow) return { kind: 'window' };
    return { kind: 'new' };
  }

  /**
   * Records `outcome` as decided for request `r`, now active: a client new to the table takes the
   * place `check` found for it (the least recently active entry is evicted if the table is full).
   * The floor rises to `r.answeredBelow` (dropping the slots below it), and a run of a marked
   * request ends the `expired` mode. Only the test mutation `noExpiredRefusal` records a client
   * for whom `check` found no place; the table then holds one entry more than `maxClients`.
   */
  record(r: TableRequest, digest: string, outcome: Outcome): void {
    let e = this.#entries.get(r.clientId);
    if (e === undefined) {
      this.#makeRoom();
      e = { floor: 0, slots: new Map(), expired: false, activeMs: null };
    } else {
      this.#entries.delete(r.clientId);
    }
    this.#raiseFloor(e, Math.max(r.answeredBelow ?? 0, r.seq - limits.maxClientWindow + 1));
    if (r.first) e.expired = false;
    // Always in the window, except under the test mutation `noClientTable` (which runs late copies).
    if (r.seq >= e.floor) e.slots.set(r.seq, { digest, outcome });
    e.activeMs = this.#clock;
    this.#entries.set(r.clientId, e);
  }

  /**
   * Records a refusal of an unknown client's request (`expired`), if the table has room: the
   * entry is made in the `expired` mode with the refusal in the request's slot, so that every
   * later copy of that request gets the same answer and the client's other unmarked requests
   * are refused too. Without room nothing is kept: a copy is then refused again, by the same rule.
   * For a client whose entry is in the `expired` mode already nothing changes: the mode itself
   * refuses every copy alike, until a marked request's floor makes them stale.
   */
  recordRefusal(r: TableRequest, digest: string, outcome: Outcome): void {
    const e = this.#entries.get(r.clientId);
    if (e !== undefined) {
      invariant(e.expired, () => `recording a refusal for known client ${r.clientId}`);
      return;
    }
    if (!this.#hasRoom()) return;
    this.record(r, digest, outcome);
    this.#entries.get(r.clientId)!.expired = true;
  }

  /** The client of a retry answered from its entry is active now. */
  touch(clientId: string): void {
    const e = this.#entries.get(clientId);
    if (e === undefined) return;
    this.#entries.delete(clientId);
    e.activeMs = this.#clock;
    this.#entries.set(clientId, e);
  }

  /**
   * A sweep stamped by a primary with `nowMs` (see `ClientSweeper`), carrying its `limits`: the clock
   * moves to `nowMs` unless it is already past it (it never goes back), the limits take effect,
   * and entries idle longer than `retentionMs` are dropped, then entries beyond `maxClients`
   * evicted as far as they are evictable. The first sweep starts the clock: entries recorded
   * before it count as active at that moment.
   */
  sweep(nowMs: number, limits: TableLimits): SweepResult {
    this.#limits = checkLimits(limits);
    if (this.#clock === null) {
      this.#clock = nowMs;
      for (const e of this.#entries.values()) e.activeMs = nowMs;
    } else {
      this.#clock = Math.max(this.#clock, nowMs);
    }
    const clock = this.#clock;
    let dropped = 0;
    for (const [id, e] of this.#entries) {
      if (clock - e.activeMs! <= this.#limits.retentionMs) break; // later entries are younger
      this.#entries.delete(id);
      dropped++;
    }
    let evicted = 0;
    while (this.#entries.size > this.#limits.maxClients && this.#evictOldest()) evicted++;
    return { clockMs: clock, dropped, evicted, clients: this.#entries.size };
  }

  /** Every entry, least recently active first: the order state transfer ships and rebuilds. Slots in increasing number. */
  *entries(): IterableIterator<[string, TableEntry]> {
    for (const [id, e] of this.#entries) {
      const slots = new Map([...e.slots].sort((a, b) => a[0] - b[0]));
      yield [id, { floor: e.floor, slots, expired: e.expired, activeMs: e.activeMs }];
    }
  }

  /**
   * Appends an entry while a table is rebuilt from a transfer (`SnapshotReader`), in the order
   * `entries` gave. Throws a `RangeError` for what no table holds (a client twice, activity out
   * of order or ahead of the clock, a slot outside the window); the caller refuses the transfer.
   */
  restore(clientId: string, entry: TableEntry): void {
    if (this.#entries.has(clientId)) throw new RangeError(`client ${JSON.stringify(clientId)} appears twice`);
    if ((entry.activeMs === null) !== (this.#clock === null)) throw new RangeError('activity stamped without a clock, or missing with one');
    if (entry.activeMs !== null && entry.activeMs > this.#clock!) throw new RangeError('activity after the clock');
    if (entry.activeMs !== null && entry.activeMs < this.#restoredUpTo) throw new RangeError('entries out of order of activity');
    for (const seq of entry.slots.keys()) {
      if (seq < entry.floor || seq >= entry.floor + limits.maxClientWindow) throw new RangeError(`slot ${seq} outside the window from ${entry.floor}`);
    }
    this.#restoredUpTo = entry.activeMs ?? 0;
    this.#entries.set(clientId, { floor: entry.floor, slots: new Map(entry.slots), expired: entry.expired, activeMs: entry.activeMs });
  }

  /** Raises `e`'s floor to `floor` (never lowers it), dropping the slots below it. */
  #raiseFloor(e: MutableEntry, floor: number): void {
    if (floor <= e.floor) return;
    e.floor = floor;
    for (const seq of e.slots.keys()) if (seq < floor) e.slots.delete(seq);
  }

  #hasRoom(): boolean {
    if (this.#entries.size < this.#limits.maxClients) return true;
    const oldest = this.#entries.values().next();
    return !oldest.done && this.#evictable(oldest.value);
  }

  /** Evicts the least recently active entry if it may be: the table must take one more client. */
  #makeRoom(): void {
    if (this.#entries.size >= this.#limits.maxClients) this.#evictOldest();
  }

  #evictOldest(): boolean {
    const oldest = this.#entries.entries().next();
    if (oldest.done || !this.#evictable(oldest.value[1])) return false;
    this.#entries.delete(oldest.value[0]);
    return true;
  }

  #evictable(e: MutableEntry): boolean {
    return this.#clock !== null && e.activeMs !== null && this.#clock - e.activeMs >= this.#limits.evictableAfterMs;
  }
}

