import type { Json } from './app.js';

// What the client table (client-table.ts) holds and answers: outcomes, entries and their slots,
// its bounds, its own refusal codes, and the digest that tells requests apart.

/** The outcome of one executed request, as returned to its client (and kept for retries). */
export type Outcome =
  | { readonly ok: true; readonly value: Json }
  | { readonly ok: false; readonly code: string; readonly message: string };

/** What the table keeps of one decided request: its digest and its outcome. */
export interface Slot {
  /** A digest of the request decided under this number (procedure and arguments). */
  readonly digest: string;
  readonly outcome: Outcome;
}

/**
 * One client's entry: the outcomes of its requests the client may still ask for again, and when
 * the client was last active on the table's replicated clock (null: before the clock's first
 * reading; see `ClientTable.sweep`).
 *
 * Invariant: every slot's number is at least `floor` and below `floor + limits.maxClientWindow`,
 * so an entry holds at most that many outcomes.
 */
export interface TableEntry {
  /**
   * Every number of the client below this is settled: the client had its answer or gave the call
   * up (`Request.answeredBelow`). A request numbered below it is a late copy: `stale`, never run.
   */
  readonly floor: number;
  /** The outcomes decided under numbers at or above `floor`, by number. */
  readonly slots: ReadonlyMap<number, Slot>;
  /**
   * The entry was made by refusing an unknown client's unmarked request (`check` said `expired`):
   * until one of the client's marked (`first`) requests runs, its unmarked requests are refused
   * the same way, since any of them may retry a call that ran before the client's old entry went.
   */
  readonly expired: boolean;
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
  /** The request is numbered `limits.maxClientWindow` or more above the lowest one its client has not had answered. */
  window: 'client-window',
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
 * - stale: numbered below the client's floor (a late copy of a request whose client has settled it): not run;
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
  | { readonly kind: 'full' }
  | { readonly kind: 'window' };

/** The request fields the table decides by. */
export interface TableRequest {
  readonly clientId: string;
  readonly seq: number;
  /** The client had every number below this answered (or gave it up); 0 or absent: it says nothing. */
  readonly answeredBelow?: number;
  /** The client says it is new (`Request.first`). */
  readonly first: boolean;
}

/** What one sweep did. */
export interface SweepResult {
  readonly clockMs: number;
  readonly dropped: number;
  readonly evicted: number;
  readonly clients: number;
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
