import type { Json } from './app.js';

/** The outcome of one executed request, as returned to its client (and kept for retries). */
export type Outcome =
  | { readonly ok: true; readonly value: Json }
  | { readonly ok: false; readonly code: string; readonly message: string };

interface Entry {
  seq: number;
  outcome: Outcome;
}

/**
 * The replicated client table of at-most-once execution: for every client, the last request
 * sequence number executed and its outcome. It is part of the replicated state (state transfer
 * ships it), and every replica updates it when it executes a request, so whichever replica
 * becomes primary answers a retried request from here instead of executing it again.
 *
 * Contract with clients: a client has at most one request outstanding per client id and numbers
 * them 1, 2, 3 …; it sends request n + 1 only after request n was answered.
 */
export class ClientTable {
  readonly #entries = new Map<string, Entry>();

  /**
   * What to do with request `seq` of `clientId`:
   * - new: not executed yet;
   * - done: this very request was executed; answer with `outcome`;
   * - stale: an older request (a late duplicate); its answer is gone, the client has moved on.
   */
  check(clientId: string, seq: number): { readonly kind: 'new' } | { readonly kind: 'done'; readonly outcome: Outcome } | { readonly kind: 'stale' } {
    const e = this.#entries.get(clientId);
    if (e === undefined || seq > e.seq) return { kind: 'new' };
    if (seq === e.seq) return { kind: 'done', outcome: e.outcome };
    return { kind: 'stale' };
  }

  record(clientId: string, seq: number, outcome: Outcome): void {
    this.#entries.set(clientId, { seq, outcome });
  }

  get size(): number {
    return this.#entries.size;
  }

  /** A plain, deterministic (sorted) form for state transfer. */
  toJson(): Array<[string, number, Outcome]> {
    return [...this.#entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([id, e]) => [id, e.seq, e.outcome]);
  }

  static fromJson(rows: Array<[string, number, Outcome]>): ClientTable {
    const t = new ClientTable();
    for (const [id, seq, outcome] of rows) t.record(id, seq, outcome);
    return t;
  }
}
