import { invariant } from '../env/errors.js';
import type { ReturnAddress } from '../env/transport.js';
import type { NodeId } from '../env/types.js';
import type { RsmOptions } from '../options.js';
import { type Execution, requestDigest } from './client-table.js';
import { InFlightBudget } from './in-flight-budget.js';
import { invokeBatches } from './invoke-batches.js';
import type { ClientAnswer, ReplicaMessage, Request } from './messages.js';
import { type RsmMutations, type RsmOutbox, rsmTimers } from './replica-deps.js';
import { requestBytes } from './request-bytes.js';
import { Retransmitter, type Unacked } from './retransmit.js';
import type { StampedRequest } from './replica-journal.js';
import type { Viewstamp } from './viewstamp.js';

/** A request the primary stamped and has not executed yet. */
interface InFlight extends Unacked {
  readonly vs: Viewstamp;
  readonly request: Request;
  /** The request's `requestDigest`, computed once, when it was admitted. */
  readonly digest: string;
  /** The clients waiting for its answer (a retry of the same request joins the first). */
  readonly waiters: ReturnAddress[];
}

export interface PipelineDeps {
  readonly vid: number;
  /**
   * Requests of this view the state already holds (default 0): a view of one whose only member
   * restarted carries on in its view, after what it executed there before (`ViewManagerDeps.durableAbove`).
   */
  readonly executedBefore?: number;
  /** The members of the view other than this primary: each must acknowledge a request before it executes. */
  readonly backups: readonly NodeId[];
  readonly options: RsmOptions;
  readonly mutations: RsmMutations;
  /** Records that `request` was stamped at `vs` (`ReplicaJournal.stamped`), when it is stamped (its invoke may leave later, in a batch). */
  readonly stamp: (vs: Viewstamp, request: Request, out: RsmOutbox) => void;
  /**
   * Executes a request whose turn came, at `vs`; returns what the client table decided.
   * `stampedAfter` lists the requests stamped after it, not executed yet (see `ReplicaJournal.executed`).
   */
  readonly execute: (vs: Viewstamp, request: Request, digest: string, out: RsmOutbox, stampedAfter: () => Iterable<StampedRequest>) => Execution;
  /** After a request executed and its clients were answered (the callbacks it caused). */
  readonly afterExecute: (request: Request, out: RsmOutbox) => void;
}

/** What the primary sent one backup of the view, and what that backup acknowledged. */
interface BackupProgress {
  /** The last seqno sent to it (the requests after it wait for a batch slot to this backup). */
  sentUpTo: number;
  /** The highest seqno it acknowledged (cumulative: every one below too); at most `sentUpTo`. */
  ackedUpTo: number;
  /** The last seqno of each batch sent to it and not acknowledged, ascending; at most `maxInvokeBatchesInFlight`. */
  readonly batchEnds: number[];
}

/** The answer to `r`'s clients once it executed. */
function answerOf(r: Request, execution: Execution): ClientAnswer {
  switch (execution.kind) {
    case 'ran':
    case 'retry':
      return { kind: 'executed', clientId: r.clientId, seq: r.seq, outcome: execution.outcome };
    case 'stale':
      return { kind: 'stale', clientId: r.clientId, seq: r.seq };
    case 'conflict':
      return { kind: 'invalid', clientId: r.clientId, seq: r.seq, field: 'seq', reason: conflictReason(r.clientId, 'was executed') };
  }
}

function conflictReason(clientId: string, what: 'was executed' | 'is in flight'): string {
  return `another request of client ${clientId} ${what} under this number: a client id used by two clients, or reused without raising its numbers`;
}

/** Answers `r` with BUSY: the primary cannot take it now; the client retries after `retryAfterMs`. */
export function answerBusy(out: RsmOutbox, to: ReturnAddress, r: Request, retryAfterMs: number, reason: string): void {
  out.answer(to, { kind: 'busy', clientId: r.clientId, seq: r.seq, retryAfterMs, reason });
}

/**
 * The serving primary's requests in one view (design §4, client path): each admitted request is
 * stamped with the view's next viewstamp (and its `stamped` record persisted) at once, in arrival
 * order, and sent to every backup in an `invoke` batch; it executes here once every backup
 * acknowledged it and every earlier one executed, and its clients are answered then. Many
 * requests may be in flight, within the in-flight budget and each client id's fair share of it
 * (`InFlightBudget`: counts and request bytes); a request beyond them gets BUSY at once, so
 * nothing queues here beyond the budget. A deposed primary cannot answer: it never gets
 * acknowledgements from a new view's members.
 *
 * Batching adapts to load without a timer, per backup: a batch to a backup is in flight until
 * that backup acknowledged its last request; while fewer than `maxInvokeBatchesInFlight` are,
 * whatever is stamped and not sent to it leaves at once (so a lone request is never delayed);
 * otherwise stamped requests wait, and when an acknowledgement frees a slot all that waited leave
 * together, in batches within `maxInvokeBatchRequests` and `maxInvokeBatchBytes`. So a slow
 * backup gets fewer, larger batches, and never holds back what the others are sent.
 * Acknowledgements are cumulative (one of seqno s from a backup covers every request up to s).
 * Unacknowledged requests are re-sent by `Retransmitter`'s rules (after an adaptive timeout, in a
 * bounded window per backup and timer period), grouped into batches within the same bounds.
 *
 * Invariants: seqnos are stamped 1, 2, 3 … (after `executedBefore`) without gaps; each backup is
 * first sent each request once, in seqno order (`BackupProgress`); requests execute in seqno
 * order, each once, and only once every backup acknowledged them, so only after they were sent
 * to every backup; a request is in flight at most once (a retry waits for the same execution);
 * the budget holds exactly the requests in flight.
 */
export class Pipeline {
  readonly #deps: PipelineDeps;
  #nextSeqno = 1;
  /** Requests of this view executed here; the next to execute is this + 1. */
  #executed = 0;
  /** Per backup of the view: what it was sent and acknowledged. */
  readonly #progress = new Map<NodeId, BackupProgress>();
  /** In seqno order (stamped in that order): what the retransmitter walks, lowest first. */
  readonly #inFlight = new Map<number, InFlight>();
  /** In-flight requests by `clientId#seq`, so a retry waits for the same execution. */
  readonly #byRequest = new Map<string, number>();
  readonly #budget: InFlightBudget;
  readonly #retransmit: Retransmitter;

  constructor(deps: PipelineDeps) {
    this.#deps = deps;
    this.#executed = deps.executedBefore ?? 0;
    this.#nextSeqno = this.#executed + 1;
    for (const b of deps.backups) this.#progress.set(b, { sentUpTo: this.#executed, ackedUpTo: this.#executed, batchEnds: [] });
    this.#budget = new InFlightBudget(deps.options);
    this.#retransmit = new Retransmitter(deps.backups, deps.options);
  }

  get size(): number {
    return this.#inFlight.size;
  }

  /** Request bytes in flight (`requestBytes`), within `maxInFlightBytes`. */
  get bytes(): number {
    return this.#budget.bytes;
  }

  /** Requests stamped and not sent to `backup` yet: they wait for a batch slot to it. */
  waitingFor(backup: NodeId): number {
    const progress = this.#progress.get(backup);
    return progress === undefined ? 0 : this.#nextSeqno - 1 - progress.sentUpTo;
  }

  /** Batches sent to `backup` and not acknowledged by it (at most `maxInvokeBatchesInFlight`). */
  batchesInFlightTo(backup: NodeId): number {
    return this.#progress.get(backup)?.batchEnds.length ?? 0;
  }

  /**
   * Stamps and replicates request `r` from `from`, or joins it to the same request in flight.
   * The client table is not consulted here: whether `r` runs, is a retry of an executed request
   * or is refused is decided once, when it executes (`ReplicatedState.execute`), by every replica
   * alike. Another request in flight under the same `(clientId, seq)` is refused at once.
   */
  submit(from: ReturnAddress, r: Request, out: RsmOutbox): void {
    const { options, mutations, vid } = this.#deps;
    const key = requestKey(r);
    const pending = mutations.noClientTable === true ? undefined : this.#byRequest.get(key);
    if (pending !== undefined) {
      // Joining takes no budget: the request is held once, however many calls wait for it.
      const entry = this.#inFlight.get(pending)!;
      if (entry.digest === requestDigest(r)) entry.waiters.push(from);
      else out.answer(from, { kind: 'invalid', clientId: r.clientId, seq: r.seq, field: 'seq', reason: conflictReason(r.clientId, 'is in flight') });
      return;
    }
    // Admission before the digest: a refused request costs no more work than measuring it.
    const admission = this.#budget.admit(r.clientId, () => requestBytes(r));
    if (!admission.admitted) {
      answerBusy(out, from, r, options.busyRetryAfterMs, admission.reason);
      return;
    }
    const vs: Viewstamp = { vid, seqno: this.#nextSeqno++ };
    const digest = requestDigest(r);
    this.#inFlight.set(vs.seqno, { vs, seqno: vs.seqno, request: r, digest, bytes: admission.bytes, waiters: [from] });
    this.#byRequest.set(key, vs.seqno);
    // Recorded now, whenever its batch leaves: a request in flight is always on the disk (or
    // will be before anything later leaves), which `abandon` and compaction rely on.
    this.#deps.stamp(vs, r, out);
    if (this.#inFlight.size === 1) out.setTimer(rsmTimers.invokeRetry, options.invokeRetryMs);
    this.executeReady(out);
    invariant(this.#budget.count === this.#inFlight.size, () => `the budget counts ${this.#budget.count} requests, ${this.#inFlight.size} are in flight`);
  }

  /**
   * Backup `from` acknowledged every request up to `seqno` (cumulative). False when that tells
   * nothing new: not a backup of the view, acknowledged before, or above anything sent.
   */
  ack(from: NodeId, seqno: number): boolean {
    const progress = this.#progress.get(from);
    if (progress === undefined || seqno <= progress.ackedUpTo || seqno > progress.sentUpTo) return false;
    progress.ackedUpTo = seqno;
    const ends = progress.batchEnds;
    while (ends.length > 0 && ends[0]! <= seqno) ends.shift(); // their slots are free
    this.#retransmit.acked(from, seqno);
    return true;
  }

  /**
   * Executes, in seqno order, every stamped request that all backups acknowledged and answers its
   * clients; then sends what waits, if a batch slot is free.
   */
  executeReady(out: RsmOutbox): void {
    const { backups, mutations } = this.#deps;
    const ackedBy = (b: NodeId, seqno: number): boolean => this.#progress.get(b)!.ackedUpTo >= seqno;
    for (let entry = this.#inFlight.get(this.#executed + 1); entry !== undefined; entry = this.#inFlight.get(this.#executed + 1)) {
      const seqno = entry.vs.seqno;
      const acked = mutations.replyBeforeAllAcks === true
        ? backups.length === 0 || backups.some((b) => ackedBy(b, seqno))
        : backups.every((b) => ackedBy(b, seqno));
      if (!acked) break;
      this.#inFlight.delete(seqno);
      this.#byRequest.delete(requestKey(entry.request));
      this.#budget.release(entry.request.clientId, entry.bytes);
      this.#retransmit.forget(seqno);
      const execution = this.#deps.execute(entry.vs, entry.request, entry.digest, out, () => this.#stampedInFlight());
      this.#executed = seqno;
      const r = entry.request;
      const answer = answerOf(r, execution);
      for (const to of entry.waiters) out.answer(to, answer);
      this.#deps.afterExecute(r, out);
    }
    this.#sendWaiting(out);
    if (this.#inFlight.size === 0) out.cancelTimer(rsmTimers.invokeRetry);
  }

  /** To each backup with a free batch slot, sends what is stamped and not sent to it, as batches within the bounds. */
  #sendWaiting(out: RsmOutbox): void {
    const { options, vid } = this.#deps;
    for (const [backup, progress] of this.#progress) {
      while (progress.batchEnds.length < options.maxInvokeBatchesInFlight && progress.sentUpTo < this.#nextSeqno - 1) {
        const batch = invokeBatches(this.#unsentTo(progress), options).next();
        if (batch.done === true) {
          // Only under `replyBeforeAllAcks`: what is left executed before this backup was sent it.
          progress.sentUpTo = this.#nextSeqno - 1;
          break;
        }
        const entries = batch.value;
        // The invoke does not wait for the stamped records: their fsync overlaps the backup's.
        out.sendAhead(backup, invokeOf(vid, entries));
        for (const e of entries) this.#retransmit.sent(backup, e.seqno);
        progress.sentUpTo = entries.at(-1)!.seqno;
        progress.batchEnds.push(progress.sentUpTo);
      }
    }
  }

  /** The requests in flight not sent to a backup yet, in seqno order. */
  *#unsentTo(progress: BackupProgress): Iterable<InFlight> {
    for (let seqno = progress.sentUpTo + 1; seqno < this.#nextSeqno; seqno++) {
      const entry = this.#inFlight.get(seqno);
      if (entry !== undefined) yield entry;
    }
  }

  /** The requests in flight, in seqno order (stamped, not executed yet). */
  *#stampedInFlight(): Iterable<StampedRequest> {
    for (const entry of this.#inFlight.values()) yield { vs: entry.vs, request: entry.request };
  }

  /** The retransmit timer (every `invokeRetryMs` while requests are in flight): re-sends what is due, in batches. */
  onRetryTimer(out: RsmOutbox): void {
    if (this.#inFlight.size === 0) return;
    const { mutations, options, vid } = this.#deps;
    if (mutations.resendWholeWindow === true) {
      // The old rule, kept as a test mutation: every unacknowledged request to every backup, every period.
      for (const [b, { ackedUpTo, sentUpTo }] of this.#progress) {
        const unacked = [...this.#inFlight.values()].filter((e) => e.seqno > ackedUpTo && e.seqno <= sentUpTo);
        for (const batch of invokeBatches(unacked, options)) out.send(b, invokeOf(vid, batch));
      }
    } else {
      const due = new Map<NodeId, InFlight[]>();
      for (const { to, seqno } of this.#retransmit.onTick(this.#inFlight.values())) {
        const list = due.get(to) ?? [];
        list.push(this.#inFlight.get(seqno)!);
        due.set(to, list);
      }
      for (const [to, entries] of due) for (const batch of invokeBatches(entries, options)) out.send(to, invokeOf(vid, batch));
    }
    out.setTimer(rsmTimers.invokeRetry, options.invokeRetryMs);
  }

  /**
   * The view is being left: every request still in flight (sent or still waiting) executes here
   * now, without an answer (its stamped record is on this disk, or will be before anything later
   * leaves: a restart would execute it too, so the state held is kept equal to the one the disk
   * holds); every client still waiting is told to retry (a retry finds the outcome in the client
   * table wherever this state is adopted). Nothing more executes.
   */
  abandon(out: RsmOutbox): void {
    for (let entry = this.#inFlight.get(this.#executed + 1); entry !== undefined; entry = this.#inFlight.get(this.#executed + 1)) {
      this.#inFlight.delete(entry.vs.seqno);
      this.#deps.execute(entry.vs, entry.request, entry.digest, out, () => this.#stampedInFlight());
      this.#executed = entry.vs.seqno;
      for (const to of entry.waiters) answerBusy(out, to, entry.request, this.#deps.options.busyRetryAfterMs, 'the view changed; retry');
    }
    invariant(this.#inFlight.size === 0, () => `${this.#inFlight.size} requests in flight after ${this.#deps.vid}.${this.#executed} were never stamped in order`);
    this.#inFlight.clear();
    this.#byRequest.clear();
    this.#budget.clear();
    this.#progress.clear();
  }
}

/** The `invoke` batch of `entries` (consecutive seqnos of view `vid`). */
function invokeOf(vid: number, entries: readonly InFlight[]): ReplicaMessage {
  return { kind: 'invoke', vid, firstSeqno: entries[0]!.seqno, requests: entries.map((e) => e.request) };
}

function requestKey(r: Request): string {
  return `${r.clientId}#${r.seq}`;
}
