import { invariant } from '../env/errors.js';
import type { NodeId } from '../env/types.js';
import type { Execution } from './client-table.js';
import type { Request } from './messages.js';
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
 * A backup's side of one view it serves (mode backup): the primary's invokes are executed
 * strictly in seqno order with no gaps, each acknowledged once executed; early ones wait in a
 * buffer; duplicates are acknowledged again.
 *
 * The buffer is bounded by `maxBufferedInvokes` and `maxBufferedBytes` (`requestBytes`). When an
 * early invoke does not fit, it is dropped: it is not acknowledged, so the primary re-sends it
 * once its retransmit timeout passes, and nothing is lost. A full buffer cannot stall execution:
 * the invoke to execute next is never buffered, it runs on arrival and lets the buffered ones
 * after it run.
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

  /** Early invokes buffered now, and their request bytes. */
  get buffered(): { readonly count: number; readonly bytes: number } {
    return { count: this.#early.size, bytes: this.#bufferedBytes };
  }

  /** An invoke of this view from its primary. */
  onInvoke(primary: NodeId, vs: Viewstamp, request: Request, out: RsmOutbox): void {
    const next = this.#executed + 1;
    if (vs.seqno < next) {
      out.send(primary, { kind: 'invoke-ack', vs }); // a duplicate: executed already
      return;
    }
    if (vs.seqno > next && this.#deps.mutations.executeOutOfOrder !== true) {
      this.#buffer(vs.seqno, request);
      return;
    }
    this.#execute(primary, vs, request, out);
    for (let e = this.#early.get(this.#executed + 1); e !== undefined; e = this.#early.get(this.#executed + 1)) {
      const at: Viewstamp = { vid: this.#deps.vid, seqno: this.#executed + 1 };
      this.#early.delete(at.seqno);
      this.#bufferedBytes -= e.bytes;
      this.#execute(primary, at, e.request, out);
    }
  }

  /** Keeps an early invoke if it fits; drops it otherwise (see the class comment). */
  #buffer(seqno: number, request: Request): void {
    const { maxBufferedInvokes, maxBufferedBytes } = this.#deps;
    if (this.#early.has(seqno) || this.#early.size >= maxBufferedInvokes) return;
    const bytes = requestBytes(request);
    if (this.#bufferedBytes + bytes > maxBufferedBytes) return;
    this.#early.set(seqno, { request, bytes });
    this.#bufferedBytes += bytes;
  }

  #execute(primary: NodeId, vs: Viewstamp, request: Request, out: RsmOutbox): void {
    const { self, vid, mutations, breakpoints } = this.#deps;
    invariant(vs.seqno === this.#executed + 1 || mutations.executeOutOfOrder === true,
      () => `${self} executing ${formatViewstamp(vs)} after ${vid}.${this.#executed}`);
    this.#deps.execute(vs, request, out);
    this.#executed = Math.max(this.#executed, vs.seqno);
    if (breakpoints.isArmed(1)) {
      out.halt(`breakpoint 1: backup ${self} dies after executing ${formatViewstamp(vs)}`);
      return;
    }
    out.send(primary, { kind: 'invoke-ack', vs });
  }
}
