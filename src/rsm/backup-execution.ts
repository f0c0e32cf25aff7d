import { invariant } from '../env/errors.js';
import type { NodeId } from '../env/types.js';
import type { Execution } from './client-table.js';
import type { ReplicaMessage, Request } from './messages.js';
import type { RsmBreakpoints, RsmMutations, RsmOutbox } from './replica-deps.js';
import { requestBytes } from './request-bytes.js';
import { type Viewstamp, formatViewstamp } from './viewstamp.js';

export interface BackupExecutionDeps {
  readonly self: NodeId;
  readonly vid: number;
  /** Requests of this view the state already holds (see `PipelineDeps.executedBefore`). */
  readonly executedBefore: number;
  readonly maxBufferedInvokes: number;
  readonly maxBufferedBytes: number;
  readonly mutations: RsmMutations;
  readonly breakpoints: RsmBreakpoints;
  /** Executes one request at `vs` (in order: this class keeps it). */
  readonly execute: (vs: Viewstamp, request: Request, out: RsmOutbox) => Execution;
}

/**
 * A backup's side of one view it serves (mode backup): the primary's `invoke` batches are
 * executed strictly in seqno order with no gaps; early requests wait in a buffer. Each batch is
 * answered with ONE cumulative `invoke-ack` of the highest seqno executed here, sent with `send`,
 * so it leaves only once the `executed` records of the whole batch are durable (the batch's
 * records are one append and one sync: the shell's persist → send order). A batch that executed
 * nothing new but holds duplicates of executed requests is acknowledged again (the primary may
 * have lost the acknowledgement); a batch that only filled the buffer is not (nothing new
 * executed: the acknowledgement comes with the batch that fills the gap).
 *
 * The buffer is bounded per request by `maxBufferedInvokes` (requests) and `maxBufferedBytes`
 * (`requestBytes`). An early request that does not fit is dropped: it is not acknowledged, so the
 * primary re-sends it once its retransmit timeout passes, and nothing is lost. A full buffer
 * cannot stall execution: the request to execute next is never buffered, it runs on arrival and
 * lets the buffered ones after it run.
 *
 * Invariant: every buffered seqno is above the last executed one, and `#bufferedBytes` is the
 * sum of the buffered requests' bytes.
 */
export class BackupExecution {
  readonly #deps: BackupExecutionDeps;
  readonly #early = new Map<number, { readonly request: Request; readonly bytes: number }>();
  #bufferedBytes = 0;
  /** Requests of this view executed here; the next to execute is this + 1. */
  #executed = 0;

  constructor(deps: BackupExecutionDeps) {
    this.#deps = deps;
    this.#executed = deps.executedBefore;
  }

  /** Early requests buffered now, and their request bytes. */
  get buffered(): { readonly count: number; readonly bytes: number } {
    return { count: this.#early.size, bytes: this.#bufferedBytes };
  }

  /** An `invoke` batch of this view from its primary: `requests[i]` is at seqno `firstSeqno + i`. */
  onInvoke(primary: NodeId, firstSeqno: number, requests: readonly Request[], out: RsmOutbox): void {
    const before = this.#executed;
    let duplicate = false;
    for (const [i, request] of requests.entries()) {
      const seqno = firstSeqno + i;
      const next = this.#executed + 1;
      if (seqno < next) {
        duplicate = true; // executed already
        continue;
      }
      if (seqno > next && this.#deps.mutations.executeOutOfOrder !== true) {
        this.#buffer(seqno, request);
        continue;
      }
      if (!this.#execute({ vid: this.#deps.vid, seqno }, request, out)) return;
      if (!this.#runBuffered(out)) return;
    }
    if (this.#executed === before && !duplicate) return;
    const ack: ReplicaMessage = { kind: 'invoke-ack', vs: { vid: this.#deps.vid, seqno: this.#executed } };
    // The mutation acknowledges before the batch's records are durable (they are in this batch).
    if (this.#deps.mutations.ackBatchBeforeFsync === true) out.sendAhead(primary, ack);
    else out.send(primary, ack);
  }

  /** Runs the buffered requests that are next in order; false if a breakpoint halted the node. */
  #runBuffered(out: RsmOutbox): boolean {
    for (let e = this.#early.get(this.#executed + 1); e !== undefined; e = this.#early.get(this.#executed + 1)) {
      const at: Viewstamp = { vid: this.#deps.vid, seqno: this.#executed + 1 };
      this.#early.delete(at.seqno);
      this.#bufferedBytes -= e.bytes;
      if (!this.#execute(at, e.request, out)) return false;
    }
    return true;
  }

  /** Keeps an early request if it fits; drops it otherwise (see the class comment). */
  #buffer(seqno: number, request: Request): void {
    const { maxBufferedInvokes, maxBufferedBytes } = this.#deps;
    if (this.#early.has(seqno) || this.#early.size >= maxBufferedInvokes) return;
    const bytes = requestBytes(request);
    if (this.#bufferedBytes + bytes > maxBufferedBytes) return;
    this.#early.set(seqno, { request, bytes });
    this.#bufferedBytes += bytes;
  }

  /** Executes one request in order; false if breakpoint 1 halted the node after it. */
  #execute(vs: Viewstamp, request: Request, out: RsmOutbox): boolean {
    const { self, vid, mutations, breakpoints } = this.#deps;
    invariant(vs.seqno === this.#executed + 1 || mutations.executeOutOfOrder === true,
      () => `${self} executing ${formatViewstamp(vs)} after ${vid}.${this.#executed}`);
    this.#deps.execute(vs, request, out);
    this.#executed = Math.max(this.#executed, vs.seqno);
    if (breakpoints.isArmed(1)) {
      out.halt(`breakpoint 1: backup ${self} dies after executing ${formatViewstamp(vs)}`);
      return false;
    }
    return true;
  }
}
