import type { Json } from './app.js';

/** The outcome of one executed request, as returned to its client (and kept for retries). */
export type Outcome =
  | { readonly ok: true; readonly value: Json }
  | { readonly ok: false; readonly code: string; readonly message: string };

interface Entry {
  seq: number;
  /** A digest of the request executed at `seq` (procedure and arguments). */
  digest: string;
  outcome: Outcome;
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
 * - retry: this very request was executed before (a client's retry); its stored outcome;
 * - stale: an older request than the client's last executed one (a late duplicate): not run;
 * - conflict: another request was executed under this number (the client id was reused): not run.
 */
export type Execution =
  | { readonly kind: 'ran'; readonly outcome: Outcome }
  | { readonly kind: 'retry'; readonly outcome: Outcome }
  | { readonly kind: 'stale' }
  | { readonly kind: 'conflict' };

/**
 * The replicated client table of at-most-once execution: for every client, the last request
 * sequence number executed and its outcome. It is part of the replicated state (state transfer
 * ships it), and every replica consults and updates it exactly once per request, when it
 * executes the request at its viewstamp (`ReplicatedState.execute`). Every replica executes the
 * same requests in the same order from the same state, so each reaches the same decision: the
 * execution step is the one authority, and a retry that reaches a new primary is stamped again
 * and answered from here instead of running again.
 *
 * Contract with clients: a client has at most one request outstanding per client id, numbers
 * them upwards, and sends the next only after the last was answered. A client id must not be
 * used by two clients at once; `RsmClient` starts every process life's numbers from the clock,
 * so a restarted client continues above its earlier requests. A reused number that carries
 * another request than the one executed under it is recognized by its digest and refused.
 */
export class ClientTable {
  readonly #entries = new Map<string, Entry>();

  /**
   * What to do with request `seq` of `clientId`:
   * - new: not executed yet;
   * - done: this very request was executed; answer with `outcome`;
   * - conflict: another request was executed under this number (the client id was reused);
   * - stale: an older request (a late duplicate); its answer is gone, the client has moved on.
   */
  check(clientId: string, seq: number, digest: string):
    | { readonly kind: 'new' }
    | { readonly kind: 'done'; readonly outcome: Outcome }
    | { readonly kind: 'conflict' }
    | { readonly kind: 'stale' } {
    const e = this.#entries.get(clientId);
    if (e === undefined || seq > e.seq) return { kind: 'new' };
    if (seq === e.seq) return e.digest === digest ? { kind: 'done', outcome: e.outcome } : { kind: 'conflict' };
    return { kind: 'stale' };
  }

  record(clientId: string, seq: number, digest: string, outcome: Outcome): void {
    this.#entries.set(clientId, { seq, digest, outcome });
  }

  get size(): number {
    return this.#entries.size;
  }

  /** A plain, deterministic (sorted) form for state transfer. */
  toJson(): Array<[string, number, string, Outcome]> {
    return [...this.#entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([id, e]) => [id, e.seq, e.digest, e.outcome]);
  }

  static fromJson(rows: Array<[string, number, string, Outcome]>): ClientTable {
    const t = new ClientTable();
    for (const [id, seq, digest, outcome] of rows) t.record(id, seq, digest, outcome);
    return t;
  }
}
