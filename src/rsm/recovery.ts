import type { Logger } from '../env/logger.js';
import type { Members, NodeId } from '../env/types.js';
import type { RsmOptions } from '../options.js';
import type { RsmSnapshotRecord } from './durable-records.js';
import type { ReplicatedState } from './execution.js';
import type { ReplicaMessage, Request, SyncAction } from './messages.js';
import { type RsmOutbox, rsmTimers } from './replica-deps.js';
import { StateTransfer } from './state-transfer.js';
import { type Viewstamp, compareHeld, formatViewstamp, sameViewstamp } from './viewstamp.js';

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
  /** The members of view `vid` (any view this node knows). */
  membersOf(vid: number): Members;
  /** The primary: no member's state is complete; the view refuses (it admits joiners, who may bring one). */
  stuck(out: RsmOutbox): void;
}

type SyncStatus = Extract<ReplicaMessage, { kind: 'sync-status' }>;

/** What a member reported of its state (`sync-status`), or the primary's own. */
interface Report {
  readonly last: Viewstamp | null;
  readonly complete: boolean;
  readonly syncedVid: number | null;
  readonly joinedVid: number | null;
}
type SyncReply = Extract<ReplicaMessage, { kind: 'sync-reply' }>;
type SyncChunk = Extract<ReplicaMessage, { kind: 'sync-chunk' }>;
type SyncUnavailable = Extract<ReplicaMessage, { kind: 'sync-unavailable' }>;
type SyncSuffix = Extract<ReplicaMessage, { kind: 'sync-suffix' }>;

/** What both sides share: the pull of another replica's state, if one is under way. */
abstract class ViewSync<S> {
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

/**
 * The primary's side: collect every backup's status; find the most advanced complete state
 * and copy it here if it is not this primary's own; then have every backup whose state differs
 * copy this one, and serve once all hold it. No complete state anywhere: refuse (`stuck`).
 */
export class PrimarySync<S> extends ViewSync<S> {
  readonly role = 'primary';
  /**
   * collecting: waiting for every backup's status; pulling: copying a backup's newer state;
   * distributing: backups copy this primary's state; stuck: no member's state is complete.
   */
  phase: 'collecting' | 'pulling' | 'distributing' | 'stuck' = 'collecting';
  readonly reports = new Map<NodeId, Report>();
  readonly upToDate = new Set<NodeId>();

  /** Decides at once if there is nobody to hear from (a view of one). */
  start(out: RsmOutbox): void {
    this.#decideIfReported(out);
  }

  /** A backup of the view reported where its state stands. */
  onStatus(from: NodeId, m: SyncStatus, out: RsmOutbox): void {
    this.reports.set(from, { last: m.last, complete: m.complete, syncedVid: m.syncedVid, joinedVid: m.joinedVid });
    switch (this.phase) {
      case 'collecting':
        this.#reply(from, 'wait', null, out);
        this.#decideIfReported(out);
        break;
      case 'pulling':
        this.#reply(from, 'wait', null, out);
        break;
      case 'stuck':
        this.#reply(from, 'no-state', null, out);
        break;
      case 'distributing':
        this.#answerBackup(from, out);
        break;
    }
  }

  protected pulled(out: RsmOutbox): void {
    this.#startDistributing(out);
  }

  protected startOver(): void {
    this.phase = 'collecting';
    this.reports.clear();
    // Backups report again on their own timers; decide afresh then.
  }

  protected retryIdle(): void {
    // Backups report on their own timers.
  }

  protected installFailed(): void {
    this.startOver(); // decided again once every backup reported again (on their timers)
  }

  #reply(to: NodeId, action: SyncAction, target: Viewstamp | null, out: RsmOutbox): void {
    out.send(to, { kind: 'sync-reply', vid: this.ctx.vid, action, target });
  }

  /** Once every backup has reported: find the most advanced state; copy it here if needed. */
  #decideIfReported(out: RsmOutbox): void {
    const { backups, held, vid, log } = this.ctx;
    if (this.phase !== 'collecting' || !backups.every((b) => this.reports.has(b))) return;
    // The source: the complete state with the highest viewstamp (this primary's own on a tie).
    const own: Report = { last: held.last, complete: this.ctx.stateComplete(), syncedVid: held.last === null ? null : held.syncedVid, joinedVid: held.joinedVid };
    const everyone = [own, ...backups.map((b) => this.reports.get(b)!)];
    const complete = (r: Report): boolean => r.last !== null && (r.complete || this.#provenComplete(r.syncedVid, everyone));
    let best: Viewstamp | null = complete(own) ? held.last : null;
    let source: NodeId | null = null;
    for (const b of backups) {
      const r = this.reports.get(b)!;
      if (complete(r) && compareHeld(r.last, best) > 0) {
        best = r.last;
        source = b;
      }
    }
    if (best === null) {
      this.phase = 'stuck';
      this.ctx.stuck(out);
      const reported = backups.map((b) => `${b}:${formatViewstamp(this.reports.get(b)!.last)}`).join(' ');
      log.error({ vid, members: this.ctx.members, held: reported, own: formatViewstamp(held.last) },
        'rsm: no member of the view holds a complete replicated state; the view will not serve until a node that holds one (a removed member, with its disk) rejoins');
      return;
    }
    if (source !== null) {
      this.phase = 'pulling';
      log.info({ vid, vs: formatViewstamp(held.last), source, target: formatViewstamp(best) },
        'rsm: a backup holds a newer state; copying it before serving');
      this.startPull(source, best, out);
      return;
    }
    this.#startDistributing(out);
  }

  /**
   * Whether a state that was view `s`'s state holds every request acknowledged since, by what the
   * members report (design §4, completeness that survives removals): a request is acknowledged
   * only in an active view, whose every member turned normal in it (durably, before serving);
   * since a replica's synced view only grows, a member of view w that reports a synced view below
   * w was never normal in w, so w never became active. If that holds for every view after `s`,
   * nothing was acknowledged after `s`, and the state (which holds everything acknowledged up to
   * the end of `s`, being a member's state there) is complete, wherever its holder has been since:
   * a holder that was removed and came back may be the source.
   *
   * A member speaks only of views its disk was there for (from its `joinedVid` on): a node whose
   * data directory was wiped comes back holding nothing, joins again, and must not vouch for a view
   * its lost disk served in.
   */
  #provenComplete(s: number | null, reporters: readonly Report[]): boolean {
    if (s === null || this.ctx.strictCompleteness) return false;
    const reporterIds = [this.ctx.primary, ...this.ctx.backups]; // in the order of `reporters`
    for (let w = s + 1; w < this.ctx.vid; w++) {
      const membersOfW = this.ctx.membersOf(w);
      const neverActive = reporters.some((r, i) =>
        membersOfW.includes(reporterIds[i]!) && r.joinedVid !== null && r.joinedVid <= w && (r.syncedVid ?? 0) < w);
      if (!neverActive) return false;
    }
    return true;
  }

  #startDistributing(out: RsmOutbox): void {
    this.phase = 'distributing';
    out.cancelTimer(rsmTimers.syncRetry);
    const backups = this.ctx.backups;
    for (const b of backups) if (this.reports.has(b)) this.#answerBackup(b, out);
    if (backups.length === 0) this.ctx.done(out);
  }

  #answerBackup(backup: NodeId, out: RsmOutbox): void {
    const last = this.ctx.held.last;
    const reported = this.reports.get(backup)?.last ?? null;
    const suffix = reported === null || sameViewstamp(reported, last) ? null : this.ctx.held.suffixAfter(reported, this.ctx.options.stateChunkBytes);
    if (suffix !== null && suffix.length > 0) {
      // The backup's state is on this one's recent history: it executes what it lacks (and
      // reports again) instead of copying the whole state.
      out.send(backup, { kind: 'sync-suffix', vid: this.ctx.vid, after: reported!, executed: suffix });
      return;
    }
    if (sameViewstamp(reported, last)) {
      this.upToDate.add(backup);
      this.#reply(backup, 'up-to-date', last, out);
      if (this.ctx.backups.every((b) => this.upToDate.has(b))) this.ctx.done(out);
    } else if (last === null || this.ctx.held.sourceAt(last) === null) {
      // The app cannot marshal this state (logged and counted where it failed): the backup asks
      // again on its own timer, and marshalling is tried again then, rather than pulling what
      // cannot be served. The view serves once it succeeds.
      this.#reply(backup, 'wait', null, out);
    } else {
      this.#reply(backup, 'pull', last, out);
    }
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
      const last = held.last;
      const follows = e.vs.vid === last.vid ? e.vs.seqno === last.seqno + 1 : e.vs.vid > last.vid && e.vs.seqno === 1;
      if (!follows || e.vs.vid >= vid) break;
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
    out.send(primary, { kind: 'sync-status', vid, last: held.last, complete: this.ctx.stateComplete(), syncedVid: held.last === null ? null : held.syncedVid, joinedVid: held.joinedVid });
    out.setTimer(rsmTimers.syncRetry, this.ctx.options.syncRetryMs);
  }
}
