import { invariant } from '../env/errors.js';
import type { Json } from './app.js';
import { isInternalClientId } from './messages.js';

/** The outcome of one executed request, as returned to its client (and kept for retries). */
export type Outcome =
  | { readonly ok: true; readonly value: Json }
  | { readonly ok: false; readonly code: string; readonly message: string };

/**
 * One client's entry: its last request, and when the client was last active on the table's
 * replicated clock (null: before the clock's first reading; see `ClientTable.sweep`).
 */
export interface TableEntry {
  readonly seq: number;
  /** A digest of the request decided at `seq` (procedure and arguments). */
  readonly digest: string;
  readonly outcome: Outcome;
  readonly activeMs: number | null;
}

/**
 * The table's bounds (see `RsmOptions`, where each is documented). They are replicated state:
 * set at a cluster's genesis from the first node's options, then by every sweep.
 */
export interface TableLimits {
  readonly retentionMs: number;
  readonly maxClients: number;
  readonly evictableAfterMs: number;
}

/** Outcome codes of the table's own refusals: the request was not run. No app may use them. */
export const tableCodes = {
  /** The client is unknown (its entry expired or was evicted) and did not say it is new: an earlier call's outcome is unknown. */
  expired: 'client-expired',
  /** A new client, and the table is full of entries whose clients may still be retrying: try again later. */
  full: 'client-table-full',
} as const;

/** Procedures of synod itself (a name no app can have: see `checkApp`); no client may send one. */
export const sweepProc = 'synod:sweep-clients';
export function isReservedProc(proc: string): boolean {
  return proc.startsWith('synod:');
}

/**
 * A short, deterministic digest of a request's procedure and arguments (64-bit FNV-1a over the
 * procedure name and the arguments' JSON text as the client sent it), so that a reused
 * `(clientId, seq)` carrying another request is recognized. Computed from the received text,
 * never from a value serialised again: a loop over characters, whatever the arguments hold.
 * A retry must therefore carry the same text (every synod client sends the text it wrote once).
 */
export function requestDigest(request: { readonly proc: string; readonly argsText: string }): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x050c5d1f;
  const mix = (text: string): void => {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x01000193) ^ (h1 >>> 7);
    }
  };
  mix(request.proc);
  mix('\u0000');
  mix(request.argsText);
  return (h1 >>> 0).toString(16).padStart(8, '0') + (h2 >>> 0).toString(16).padStart(8, '0');
}

/**
 * What executing one stamped request came to, as the client table decided:
 * - ran: a new request; the app ran it, and its outcome is recorded;
 * - retry: answered by the table without running the app: this very request was executed before
 *   (a client's retry) and `outcome` is its stored outcome, or the table refused it (an outcome
 *   with a `tableCodes` code: the client is unknown, or the table is full);
 * - stale: an older request than the client's last executed one (a late duplicate): not run;
 * - conflict: another request was executed under this number (the client id was reused): not run.
 */
export type Execution =
  | { readonly kind: 'ran'; readonly outcome: Outcome }
  | { readonly kind: 'retry'; readonly outcome: Outcome }
  | { readonly kind: 'stale' }
  | { readonly kind: 'conflict' };

/** What the table says of a request, before anything runs (`ClientTable.check`). */
export type TableCheck =
  | { readonly kind: 'new' }
  | { readonly kind: 'done'; readonly outcome: Outcome }
  | { readonly kind: 'conflict' }
  | { readonly kind: 'stale' }
  | { readonly kind: 'expired' }
  | { readonly kind: 'full' };

/** What one sweep did. */
export interface SweepResult {
  readonly clockMs: number;
  readonly dropped: number;
  readonly evicted: number;
  readonly clients: number;
}

/**
 * The replicated client table of at-most-once execution: for every client, the last request
 * sequence number decided, its outcome, and when the client was last active. It is part of the
 * replicated state (state transfer ships it), and every replica consults and updates it exactly
 * once per request, when it executes the request at its viewstamp (`ReplicatedState.execute`), so
 * every replica reaches the same decision: a retry that reaches a new primary is stamped again
 * and answered from here instead of running again.
 *
 * Bounded (design §4): time never comes from a replica's own clock. The table keeps a replicated
 * clock, advanced only by sweeps the serving primary stamps (`sweep`), and an entry's idleness is
 * that clock minus the clock at the client's last request. A sweep drops entries idle longer
 * than `retentionMs`; a new client beyond `maxClients` evicts the least recently active entry
 * once it is `evictableAfterMs` idle, and is refused (`full`) before that.
 *
 * Telling a new client from an expired one: a client marks its requests `first` while it does
 * not know the table holds its entry (`ClientCore`). An unknown client's unmarked request may be
 * a retry of a call that executed before its entry went: it is refused (`expired`), never run.
 * The refusal is recorded like an outcome, so every copy of that request gets the same answer
 * and the client is known again. A marked request of an unknown client runs; clients mark only
 * for a short window, well below `evictableAfterMs` and `retentionMs`, so no marked request
 * reaches the table after its own entry could have gone.
 *
 * Invariants: entries are kept in order of last activity (a `Map`'s insertion order, each
 * activity moving its entry to the end), so `activeMs` never decreases along it; `activeMs` is
 * null exactly while the clock is. Every replica applies the same operations in the same order,
 * so the order, and with it every eviction, is the same everywhere, and state transfer keeps it.
 *
 * Contract with clients: a client has at most one request outstanding per client id, numbers
 * them upwards, and sends the next only after the last was answered. A client id must not be used
 * by two clients at once; `RsmClient` starts every process life's numbers from the clock, so a
 * restarted client continues above its earlier requests. A reused number that carries another
 * request than the one executed under it is recognized by its digest and refused.
 */
export class ClientTable {
  readonly #entries = new Map<string, TableEntry>();
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
   * Whether request `seq` of `clientId` comes after everything the table holds of a client it
   * knows: a query of such a request may be answered without being recorded (its client stays
   * known, and a later request numbers above it).
   */
  knowsBefore(clientId: string, seq: number): boolean {
    const e = this.#entries.get(clientId);
    return e !== undefined && seq > e.seq;
  }

  /** What to do with request `seq` of `clientId` (`first`: the client says it is new). Changes nothing. */
  check(clientId: string, seq: number, digest: string, first: boolean): TableCheck {
    const e = this.#entries.get(clientId);
    if (e === undefined) {
      if (!first) return { kind: 'expired' };
      // A node's own requests (a session's expiry, a sweep) are never kept waiting by a table
      // full of clients: a dead client's locks must still be expired under a flood of new ids.
      // There are at most two such ids per node, so the table holds at most that many more.
      return this.#hasRoom() || isInternalClientId(clientId) ? { kind: 'new' } : { kind: 'full' };
    }
    if (seq > e.seq) return { kind: 'new' };
    if (seq === e.seq) return e.digest === digest ? { kind: 'done', outcome: e.outcome } : { kind: 'conflict' };
    return { kind: 'stale' };
  }

  /**
   * Records the outcome of `seq` as the client's last request, now active: a client new to the
   * table takes the place `check` found for it (the least recently active entry is evicted if
   * the table is full). Only the test mutation `noExpiredRefusal` records a client for whom
   * `check` found no place; the table then holds one entry more than `maxClients`.
   */
  record(clientId: string, seq: number, digest: string, outcome: Outcome): void {
    if (!this.#entries.delete(clientId)) this.#makeRoom();
    this.#entries.set(clientId, { seq, digest, outcome, activeMs: this.#clock });
  }

  /**
   * Records a refusal of an unknown client's request (`expired`), if the table has room, so that
   * every later copy of that request gets the same answer. Without room nothing is kept: a copy
   * is then refused again, by the same rule.
   */
  recordRefusal(clientId: string, seq: number, digest: string, outcome: Outcome): void {
    invariant(!this.#entries.has(clientId), () => `recording a refusal for known client ${clientId}`);
    if (this.#hasRoom()) this.record(clientId, seq, digest, outcome);
  }

  /** The client of a retry answered from its entry is active now. */
  touch(clientId: string): void {
    const e = this.#entries.get(clientId);
    if (e === undefined) return;
    this.#entries.delete(clientId);
    this.#entries.set(clientId, { ...e, activeMs: this.#clock });
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
      for (const [id, e] of this.#entries) this.#entries.set(id, { ...e, activeMs: nowMs });
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

  /** Every entry, least recently active first: the order state transfer ships and rebuilds. */
  entries(): IterableIterator<[string, TableEntry]> {
    return this.#entries.entries();
  }

  /**
   * Appends an entry while a table is rebuilt from a transfer (`SnapshotReader`), in the order
   * `entries` gave. Throws a `RangeError` for what no table holds (a client twice, activity out
   * of order or ahead of the clock); the caller refuses the transfer.
   */
  restore(clientId: string, entry: TableEntry): void {
    if (this.#entries.has(clientId)) throw new RangeError(`client ${JSON.stringify(clientId)} appears twice`);
    if ((entry.activeMs === null) !== (this.#clock === null)) throw new RangeError('activity stamped without a clock, or missing with one');
    if (entry.activeMs !== null && entry.activeMs > this.#clock!) throw new RangeError('activity after the clock');
    if (entry.activeMs !== null && entry.activeMs < this.#restoredUpTo) throw new RangeError('entries out of order of activity');
    this.#restoredUpTo = entry.activeMs ?? 0;
    this.#entries.set(clientId, entry);
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

  #evictable(e: TableEntry): boolean {
    return this.#clock !== null && e.activeMs !== null && this.#clock - e.activeMs >= this.#limits.evictableAfterMs;
  }
}

/** `limits`, if every one is a positive number (`maxClients` an integer); a `RangeError` otherwise. */
export function checkLimits(limits: TableLimits): TableLimits {
  const { retentionMs, maxClients, evictableAfterMs } = limits;
  for (const [name, v] of Object.entries({ retentionMs, maxClients, evictableAfterMs })) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new RangeError(`client table ${name} must be a positive number, got ${String(v)}`);
  }
  if (!Number.isSafeInteger(maxClients)) throw new RangeError(`client table maxClients must be an integer, got ${maxClients}`);
  return { retentionMs, maxClients, evictableAfterMs };
}
