import type { ReturnAddress } from '../env/transport.js';
import type { NodeId } from '../env/types.js';
import type { RsmOptions } from '../options.js';
import type { Outcome } from './client-table.js';
import type { PrimaryLease } from './lease.js';
import type { Request } from './messages.js';
import { answerBusy } from './pipeline.js';
import type { RsmOutbox } from './replica-deps.js';

export interface ReadGateDeps {
  readonly self: NodeId;
  readonly vid: number;
  readonly lease: PrimaryLease;
  readonly options: Pick<RsmOptions, 'maxPendingQueries' | 'busyRetryAfterMs' | 'leaseMs'>;
  readonly now: () => number;
  /** Runs a query on the state held now (every request executed here, so every one acknowledged). */
  readonly run: (request: Request) => Outcome;
  /** Opens a lease round now and asks every backup (a confirm round). */
  readonly confirm: (out: RsmOutbox) => void;
  /** A query was answered here alone (for the observer). */
  readonly answered: (request: Request, outcome: Outcome, out: RsmOutbox) => void;
}

interface WaitingQuery {
  readonly from: ReturnAddress;
  readonly request: Request;
  /** The first lease round asked after the query arrived: every backup must grant it (or a later one). */
  readonly needRound: number;
  readonly since: number;
}

/**
 * The serving primary's queries (`App.queries`): answered here, without replication, from the
 * state this primary holds, which includes every request it acknowledged (it executes a request
 * before answering it, and only once every backup acknowledged it).
 *
 * Linearizable because no other primary can have served when the answer is read: under a held
 * lease at once (the backups' promises keep any other view from turning normal until the lease
 * has run out, `PrimaryLease`); without one, the query waits for a confirm round asked after it
 * arrived: once every backup granted that round (they were then still backups of this view, so
 * no newer view had served) and the lease holds again, it is answered. Queries that arrive while
 * a confirm round is out wait for the next, opened when that one completes: one round serves a
 * whole batch (ReadIndex without an index: this primary already answers in execution order).
 *
 * Bounded: at most `maxPendingQueries` wait (more get BUSY); one that waited `leaseMs` without a
 * confirmation is answered not-primary with no primary named (this node may have been replaced),
 * so its client looks elsewhere.
 */
export class ReadGate {
  readonly #deps: ReadGateDeps;
  /** In arrival order, so `needRound` never decreases along it. */
  #waiting: WaitingQuery[] = [];
  /** The confirm round out now (null: none). */
  #confirming: number | null = null;

  constructor(deps: ReadGateDeps) {
    this.#deps = deps;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  /** A query from `from`; answered now under the lease, or after a confirm round. */
  submit(from: ReturnAddress, request: Request, out: RsmOutbox): void {
    const { lease, self, options } = this.#deps;
    if (lease.status(self).state === 'held') {
      this.#answer(from, request, out);
      return;
    }
    if (this.#waiting.length >= options.maxPendingQueries) {
      answerBusy(out, from, request, options.busyRetryAfterMs, `${options.maxPendingQueries} queries already wait for the primary to confirm its lease (rsm.maxPendingQueries)`);
      return;
    }
    this.#waiting.push({ from, request, needRound: lease.round + 1, since: this.#deps.now() });
    if (this.#confirming === null) this.#openConfirm(out);
  }

  /** A backup granted a round: answers every query whose round every backup has now granted. */
  onGrant(out: RsmOutbox): void {
    const { lease, self } = this.#deps;
    if (this.#confirming !== null && lease.grantedSince(this.#confirming)) this.#confirming = null;
    if (lease.status(self).state !== 'held') return;
    let answered = 0;
    while (answered < this.#waiting.length && lease.grantedSince(this.#waiting[answered]!.needRound)) answered++;
    const ready = this.#waiting.slice(0, answered);
    this.#waiting = this.#waiting.slice(answered);
    for (const q of ready) this.#answer(q.from, q.request, out);
    if (this.#waiting.length > 0 && this.#confirming === null) this.#openConfirm(out);
  }

  /** Every `leaseRenewMs`: queries that waited `leaseMs` in vain are sent elsewhere. */
  onTick(out: RsmOutbox): void {
    const cutoff = this.#deps.now() - this.#deps.options.leaseMs;
    const expired = this.#waiting.filter((q) => q.since <= cutoff);
    if (expired.length === 0) return;
    this.#waiting = this.#waiting.filter((q) => q.since > cutoff);
    for (const q of expired) this.#notPrimary(q, out);
    // The round those waited for never completed; the next query (or the renewal) asks again.
    this.#confirming = null;
    if (this.#waiting.length > 0) this.#openConfirm(out);
  }

  /** The view is being left: every waiting query is told to retry (the next primary answers it). */
  abandon(out: RsmOutbox): void {
    for (const q of this.#waiting) answerBusy(out, q.from, q.request, this.#deps.options.busyRetryAfterMs, 'the view changed; retry');
    this.#waiting = [];
  }

  #openConfirm(out: RsmOutbox): void {
    this.#deps.confirm(out);
    this.#confirming = this.#deps.lease.round;
  }

  #answer(from: ReturnAddress, request: Request, out: RsmOutbox): void {
    const outcome = this.#deps.run(request);
    out.answer(from, { kind: 'executed', clientId: request.clientId, seq: request.seq, outcome });
    this.#deps.answered(request, outcome, out);
  }

  #notPrimary(q: WaitingQuery, out: RsmOutbox): void {
    out.answer(q.from, { kind: 'not-primary', clientId: q.request.clientId, seq: q.request.seq, primary: null, vid: this.#deps.vid });
  }
}
