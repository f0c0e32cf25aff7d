import { type NodeId, addressOf } from '../env/types.js';
import type { SyncAction } from './messages.js';
import { type RsmOutbox, rsmTimers } from './replica-deps.js';
import { type Report, type SyncStatus, ViewSync } from './recovery.js';
import { type Viewstamp, compareHeld, formatViewstamp, sameViewstamp } from './viewstamp.js';

/**
 * The primary's side: collect every backup's status; find the most advanced complete state
 * and copy it here if it is not this primary's own; then have every backup whose state differs
 * copy this one, and serve once all hold it and none still keeps a promise to another primary
 * (it granted that primary a lease: `LeasePromise`). No complete state anywhere: refuse (`stuck`).
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
    this.reports.set(from, { last: m.last, complete: m.complete, syncedVid: m.syncedVid, leaseWaitMs: m.leaseWaitMs });
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
    const own: Report = { last: held.last, complete: this.ctx.stateComplete(), syncedVid: held.syncedVid, leaseWaitMs: 0 };
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
   * A member speaks only for its own disk: views list members by address and disk id
   * (`MemberId`), and a report for this view comes from the disk this view lists at the
   * reporter's address (a node at that address on another disk is outside the view and reports
   * nothing). So a member testifies about view w only when w lists it with the same id, and then
   * a synced view of null (this disk was never normal anywhere: the synced view survives restarts
   * and installed copies) counts as below w. A node whose data directory was wiped is another
   * member, listed anew: it says nothing about the views its lost disk was in.
   */
  #provenComplete(s: number | null, reporters: readonly Report[]): boolean {
    if (s === null || this.ctx.strictCompleteness) return false;
    const idsOfView = this.ctx.memberIdsOf(this.ctx.vid);
    // Each reporter as this view lists it, in the order of `reporters`.
    const reporterIds = [this.ctx.primary, ...this.ctx.backups].map((a) => idsOfView.find((m) => addressOf(m) === a));
    for (let w = s + 1; w < this.ctx.vid; w++) {
      const idsOfW = this.ctx.memberIdsOf(w);
      const neverActive = reporters.some((r, i) => {
        const id = reporterIds[i];
        if (id === undefined || !idsOfW.includes(id)) return false;
        // Never normal on its disk: believed only of a disk made with its replica log (a disk id);
        // an address-listed directory may predate the durable replica log, which it then lacks.
        return r.syncedVid === null ? id !== addressOf(id) : r.syncedVid < w;
      });
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
    if (sameViewstamp(reported, last) && (this.reports.get(backup)?.leaseWaitMs ?? 0) > 0) {
      // It holds the state, but its promise to the previous primary still runs: it reports again
      // when that ends (its retry timer). Until then the view cannot serve (never two actives).
      this.#reply(backup, 'wait', null, out);
    } else if (sameViewstamp(reported, last)) {
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
