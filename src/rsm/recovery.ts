import type { Logger } from '../env/logger.js';
import type { Members, NodeId } from '../env/types.js';
import type { RsmOptions } from '../options.js';
import type { RsmSnapshotRecord } from './durable-records.js';
import type { ReplicatedState } from './execution.js';
import type { ReplicaMessage, Request } from './messages.js';
import { type RsmOutbox, rsmTimers } from './replica-deps.js';
import { StateTransfer } from './state-transfer.js';
import { type Viewstamp, followsDirectly, formatViewstamp, sameViewstamp } from './viewstamp.js';

/**
 * The recovery task's state transfer in one view (design §4): the primary's side
 * (`PrimarySync`) and a backup's (`BackupSync`). A replica in mode `syncing` holds exactly one of
 * them, from the view's commit until `SyncContext.done`.
 *
 * The protocol: the primary collects every backup's status: the viewstamp of the state it
 * holds, and whether that state is *complete* (`Replica.stateComplete`: it holds every request
 * acknowledged so far). Among the complete members, the one with the highest viewstamp holds the
 * view's authoritative state; the primary copies it first if it is not its own. (Design §4 says
 * "the primary's state"; that loses acknowledged requests when a member that never received the
 * state becomes primary, e.g. after a cascade of deaths; and "the highest viewstamp among all
 * members" loses them when a member rejoined with an old state.) Then every backup whose state
 * differs copies the primary's, and the primary serves once all backups hold it. If no member's
 * state is complete, the view does not serve at all: it never serves a state that lacks an
 * acknowledged request.
 */

/** What a view's state transfer needs of its replica. */
export interface SyncContext<S> {
  readonly vid: number;
  readonly primary: NodeId;
  /** The members of the view other than the primary. */
  readonly backups: readonly NodeId[];
  readonly members: Members;
  readonly held: ReplicatedState<S>;
  /** Whether the state held here holds every request acknowledged so far (`Replica.stateComplete`). */
  stateComplete(): boolean;
  readonly options: RsmOptions;
  readonly log: Logger;
  /** The state held was replaced by a copy standing at `last`; `record` is what makes it durable (persisted at once). */
  installed(last: Viewstamp, record: RsmSnapshotRecord, out: RsmOutbox): void;
  /** The primary: every backup holds the view's state. A backup: it holds the view's state. */
  done(out: RsmOutbox): void;
  /** The test mutation `strictCompleteness`: only the reporters' own (wrongly strict) rule counts. */
  readonly strictCompleteness: boolean;
  /** Executes, durably, a request the primary executed before in an earlier view (`BackupSync.onSuffix`). */
  catchUp(vs: Viewstamp, request: Request, out: RsmOutbox): void;
  /**
   * The members of view `vid` as it lists them (`MemberId`: address and disk id; any view this node
   * knows, none for one it no longer keeps).
   */
  memberIdsOf(vid: number): Members;
  /** The primary: no member's state is complete; the view refuses (it admits joiners, who may bring one). */
  stuck(out: RsmOutbox): void;
  /** How long before this replica may help the view's primary (`LeasePromise.waitFor`); 0: now. */
  leaseWaitMs(): number;
}

export type SyncStatus = Extract<ReplicaMessage, { kind: 'sync-status' }>;

/** What a member reported of its state (`sync-status`), or the primary's own. */
export interface Report {
  readonly last: Viewstamp | null;
  readonly complete: boolean;
  readonly syncedVid: number | null;
  /** The reporter's promise to another primary runs this much longer (0 for the primary's own). */
  readonly leaseWaitMs: number;
}
type SyncReply = Extract<ReplicaMessage, { kind: 'sync-reply' }>;
type SyncChunk = Extract<ReplicaMessage, { kind: 'sync-chunk' }>;
type SyncUnavailable = Extract<ReplicaMessage, { kind: 'sync-unavailable' }>;
type SyncSuffix = Extract<ReplicaMessage, { kind: 'sync-suffix' }>;

/** What both sides share: the pull of another replica's state, if one is under way. */
export abstract class ViewSync<S> {
  protected readonly ctx: SyncContext<S>;
  pull: StateTransfer | null = null;

  constructor(ctx: SyncContext<S>) {
    this.ctx = ctx;
  }

  /** The source sent the next chunk of the state being pulled. */
  onChunk(from: NodeId, m: SyncChunk, out: RsmOutbox): void {
    const pull = this.pull;
    if (pull === null) return;
    const progress = pull.accept(from, m);
    if (progress === 'ignored') return;
    if (typeof progress === 'object') {
      // The source sent what no state is (malformed, or beyond maxStateTransferBytes): nothing
      // was installed. Start over, after the retry timer, as for a state that cannot be installed.
      this.pull = null;
      this.ctx.log.error({ vid: this.ctx.vid, source: pull.source, target: formatViewstamp(pull.target), received: pull.received, problem: progress.invalid },
        `rsm: the state being copied is not valid; trying again in ${this.ctx.options.syncRetryMs} ms`);
      this.installFailed(out);
      return;
    }
    if (progress === 'more') {
      out.send(pull.source, pull.nextRequest());
      out.setTimer(rsmTimers.syncRetry, this.ctx.options.syncRetryMs);
      return;
    }
    this.pull = null;
    if (this.#install(pull, out)) {
      this.pulled(out);
      return;
    }
    // Not installed (logged): nothing changed here. Try again, but only after the retry timer:
    // a state this app cannot unmarshal costs one transfer per `syncRetryMs`, not a busy loop.
    this.ctx.log.warn({ vid: this.ctx.vid, source: pull.source, target: formatViewstamp(pull.target) },
      `rsm: the state copied could not be installed; trying again in ${this.ctx.options.syncRetryMs} ms`);
    this.installFailed(out);
  }

  /** The source no longer holds the state being pulled. */
  onUnavailable(from: NodeId, m: SyncUnavailable, out: RsmOutbox): void {
    const pull = this.pull;
    if (pull === null || pull.source !== from || m.vid !== this.ctx.vid || !sameViewstamp(m.target, pull.target)) return;
    this.ctx.log.warn({ vid: this.ctx.vid, source: from, target: formatViewstamp(m.target) }, 'rsm: state to copy is gone; starting over');
    this.pull = null;
    this.startOver(out);
  }

  /** The sync retry timer: ask again for what got no answer. */
  onRetry(out: RsmOutbox): void {
    if (this.pull !== null) {
      out.send(this.pull.source, this.pull.nextRequest());
      out.setTimer(rsmTimers.syncRetry, this.ctx.options.syncRetryMs);
    } else {
      this.retryIdle(out);
    }
  }

  /** Starts pulling the state `source` holds at `target`. */
  protected startPull(source: NodeId, target: Viewstamp, out: RsmOutbox): void {
    this.pull = new StateTransfer(this.ctx.vid, source, target, this.ctx.options.maxStateTransferBytes);
    out.send(source, this.pull.nextRequest());
    out.setTimer(rsmTimers.syncRetry, this.ctx.options.syncRetryMs);
  }

  /** A pull completed and its state is installed here. */
  protected abstract pulled(out: RsmOutbox): void;
  /** The state being pulled is gone at its source. */
  protected abstract startOver(out: RsmOutbox): void;
  /** The state pulled could not be installed here: start over, no sooner than the retry timer. */
  protected abstract installFailed(out: RsmOutbox): void;
  /** The retry timer fired with no pull under way. */
  protected abstract retryIdle(out: RsmOutbox): void;

  /** Installs the state pulled; false if it could not be (`ReplicatedState.install`: logged, nothing changed). */
  #install(pull: StateTransfer, out: RsmOutbox): boolean {
    const { held, vid, log } = this.ctx;
    const record = held.install(pull.result(), pull.target, pull.source);
    if (record === null) return false;
    const last = held.last!;
    log.info({ vid, vs: formatViewstamp(last), source: pull.source, bytes: pull.received }, 'rsm: state copied');
    this.ctx.installed(last, record, out);
    return true;
  }
}

/** A backup's side: it reports its status until the primary answers, and pulls if told to. */
export class BackupSync<S> extends ViewSync<S> {
  readonly role = 'backup';

  /** Reports to the primary at once. */
  start(out: RsmOutbox): void {
    this.#sendStatus(out);
  }

  /**
   * The primary sent the requests it executed after this backup's state: executed here in order
   * (each made durable like any other), then the backup reports again. One that does not start at
   * this state (an answer to an older report) or breaks the order is ignored: the report is repeated.
   */
  onSuffix(from: NodeId, m: SyncSuffix, out: RsmOutbox): void {
    const { held, primary, vid } = this.ctx;
    if (from !== primary || m.vid !== vid || this.pull !== null || held.last === null || !sameViewstamp(m.after, held.last)) return;
    for (const e of m.executed) {
      if (!followsDirectly(held.last, e.vs) || e.vs.vid >= vid) break;
      this.ctx.catchUp(e.vs, e.request, out);
    }
    this.ctx.log.info({ vid, vs: formatViewstamp(held.last), from: formatViewstamp(m.after), requests: m.executed.length }, 'rsm: caught up by executing the primary\'s recent requests');
    this.#sendStatus(out);
  }

  /** The primary answered a status report. */
  onReply(from: NodeId, m: SyncReply, out: RsmOutbox): void {
    switch (m.action) {
      case 'up-to-date':
        if (!sameViewstamp(m.target, this.ctx.held.last)) return; // an answer to an older status of ours
        out.cancelTimer(rsmTimers.syncRetry);
        this.ctx.done(out);
        break;
      case 'pull':
        if (m.target === null || (this.pull !== null && sameViewstamp(this.pull.target, m.target))) return;
        this.startPull(from, m.target, out);
        break;
      case 'wait':
      case 'no-state':
        break; // the retry timer asks again
    }
  }

  protected pulled(out: RsmOutbox): void {
    this.#sendStatus(out); // the primary now answers up-to-date
  }

  protected startOver(out: RsmOutbox): void {
    this.#sendStatus(out);
  }

  protected retryIdle(out: RsmOutbox): void {
    this.#sendStatus(out);
  }

  protected installFailed(out: RsmOutbox): void {
    out.setTimer(rsmTimers.syncRetry, this.ctx.options.syncRetryMs); // reports again when it fires (`retryIdle`)
  }

  #sendStatus(out: RsmOutbox): void {
    const { primary, vid, held } = this.ctx;
    const leaseWaitMs = this.ctx.leaseWaitMs();
    out.send(primary, { kind: 'sync-status', vid, last: held.last, complete: this.ctx.stateComplete(), syncedVid: held.syncedVid, leaseWaitMs });
    // While a promise to another primary runs, report again as soon as it ends.
    const retry = this.ctx.options.syncRetryMs;
    out.setTimer(rsmTimers.syncRetry, leaseWaitMs > 0 ? Math.min(retry, leaseWaitMs + 1) : retry);
  }
}
