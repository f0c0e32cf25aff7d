import { invariant } from '../env/errors.js';
import type { Logger } from '../env/logger.js';
import type { ReturnAddress } from '../env/transport.js';
import type { Members, NodeId } from '../env/types.js';
import type { RsmOptions } from '../options.js';
import type { Callback, Json } from './app.js';
import { type AppFailures, AppGuard } from './app-guard.js';
import { type Execution, isReservedProc, sweepProc } from './client-table.js';
import { BackupExecution } from './backup-execution.js';
import { ReplicatedState } from './execution.js';
import type { ClientCall, ReplicaMessage, Request } from './messages.js';
import { Pipeline, answerBusy } from './pipeline.js';
import { ServingPrimary } from './serving-primary.js';
import { PrimaryHistory } from './primary.js';
import { PrimarySync } from './primary-sync.js';
import { BackupSync, type SyncContext } from './recovery.js';
import type { CallbackListener, ConfigPort, ReplicaDeps, ReplicaObserver, ReplicaStatus, RsmBreakpoints, RsmMutations, RsmOutbox } from './replica-deps.js';
import { rsmTimers } from './replica-deps.js';
import { LeasePromise, type LeaseStatus } from './lease.js';
import { leaseWaitMs } from '../options/rsm.js';
import { ReplicaJournal, type StampedRequest } from './replica-journal.js';
import { type Viewstamp, formatViewstamp } from './viewstamp.js';

export type { CallbackListener, ConfigPort, ReplicaDeps, ReplicaObserver, ReplicaStatus, RsmBreakpoints, RsmMutations, RsmOutbox } from './replica-deps.js';
export { rsmTimers } from './replica-deps.js';

/**
 * What the replica is doing in its current view; each mode carries only its own state, so a
 * backup cannot touch a primary's pipeline, nor a syncing replica execute anything:
 * - joining: not a member of the view;
 * - syncing: a member; the view's state transfer is under way here (`PrimarySync` on the
 *   primary, `BackupSync` on a backup);
 * - primary: the serving primary, with its pipeline of requests in flight, its lease, and the
 *   queries it answers alone (`ReadGate`);
 * - backup: a backup holding the view's state, executing the primary's invokes in order.
 */
type Mode<S> =
  | { readonly kind: 'joining' }
  | { readonly kind: 'syncing'; readonly sync: PrimarySync<S> | BackupSync<S> }
  | { readonly kind: 'primary'; readonly serving: ServingPrimary<S> }
  | { readonly kind: 'backup'; readonly execution: BackupExecution };

/**
 * The RSM core of one replica (design §4): viewstamped replication with state transfer. This
 * class is the mode machine: it admits clients' requests, dispatches every message to the part
 * of its current mode that handles it, and moves between modes as views commit and state
 * transfers finish. The parts live beside it: the serving primary's requests in flight
 * (`Pipeline`), a backup's in-order execution (`BackupExecution`), the state itself and how a
 * request runs against it (`ReplicatedState`), and the view's state transfer (`PrimarySync`,
 * `BackupSync`, whose comment tells how the view's authoritative state is chosen).
 *
 * Invariants:
 * - all replicas that executed viewstamp v executed the same request there (only the view's
 *   primary stamps, and backups execute in seqno order from the same starting state);
 * - the primary answers a request only after every backup of the view executed it, so every
 *   member of the view holds every answered request;
 * - a replica executes a request at most once per client table (retries are answered from it);
 * - the primary serves a view only after every backup holds the view's authoritative state.
 */
export class Replica<S> {
  readonly #self: NodeId;
  readonly #clock: { now(): number };
  readonly #app: AppGuard<S>;
  readonly #config: ConfigPort;
  readonly #log: Logger;
  readonly #options: RsmOptions;
  readonly #breakpoints: RsmBreakpoints;
  readonly #mutations: RsmMutations;
  readonly #observer: ReplicaObserver;
  readonly #callbacks: CallbackListener | null;
  readonly #held: ReplicatedState<S>;
  #mode: Mode<S> = { kind: 'joining' };
  /** The view this replica works in (config's current view). */
  #vid = 0;
  readonly #primaries = new PrimaryHistory();
  /** What the replica writes to its durable store as its state changes. */
  readonly #journal: ReplicaJournal<S>;
  /** What this node promised other primaries as a backup (or owes them after a restart). */
  readonly #promise: LeasePromise;
  /** The restart promise still names no primary: resolved from the view history (`onViewCommitted`). */
  #restartPromiseOf: number | null = null;
  /** This primary's view is ready to serve but its own promise to another primary still runs. */
  #serveAfterPromise = false;

  constructor(deps: ReplicaDeps<S>) {
    this.#self = deps.self;
    this.#clock = deps.clock;
    this.#app = new AppGuard(deps.app, deps.logger, { verifyQueries: deps.verifyQueries === true });
    this.#config = deps.config;
    this.#log = deps.logger;
    this.#options = deps.options;
    this.#breakpoints = deps.breakpoints ?? { isArmed: () => false };
    this.#mutations = deps.mutations ?? {};
    this.#observer = deps.observer ?? {};
    this.#callbacks = deps.callbacks ?? null;
    const o = deps.options;
    const limits = { retentionMs: o.clientRetentionMs, maxClients: o.maxClients, evictableAfterMs: o.clientEvictableAfterMs };
    this.#held = new ReplicatedState(this.#app, deps.logger, this.#mutations, deps.genesis, limits, { requests: o.catchUpRequests, bytes: o.catchUpBytes });
    const durable = deps.genesis ? undefined : deps.durable;
    if (durable !== undefined) this.#held.restore(durable, o.maxStateTransferBytes);
    this.#journal = new ReplicaJournal(this.#held, o, this.#observer, this.#mutations, deps.genesis, durable);
    this.#promise = new LeasePromise(leaseWaitMs(o), () => this.#clock.now(), this.#mutations.newPrimaryWithoutWaiting === true);
    // Normal in some view before: it may have granted that view's primary a lease it forgot.
    const synced = this.#held.syncedVid;
    if (synced !== null && !deps.genesis) {
      this.#promise.afterRestart(null);
      this.#restartPromiseOf = synced;
    }
    this.#observer.restored?.(this.#held.last);
  }

  /** Whether the state held here holds every request acknowledged so far (see `ReplicatedState.completeIn`). */
  get stateComplete(): boolean {
    const me = this.#config.member ?? this.#self;
    return this.#held.completeIn(this.#vid, (v) => this.#memberIdsIfKept(v).includes(me), this.#mutations.strictCompleteness === true);
  }

  /**
   * Member ids of view `vid` (`MemberId`), or none for a view config no longer keeps (compacted):
   * a replica synced before the oldest kept view then counts as not complete, and a view that old
   * proves nothing, which is the safe answer (it copies a state, or the view refuses and says why).
   */
  #memberIdsIfKept(vid: number): Members {
    if (vid < (this.#config.oldestVid ?? 1)) return [];
    return this.#config.memberIds?.(vid) ?? this.#config.members(vid);
  }

  // ---- queries -----------------------------------------------------------------------------

  get status(): ReplicaStatus {
    const kind = this.#mode.kind;
    return kind === 'primary' || kind === 'backup' ? 'normal' : kind;
  }

  get vid(): number {
    return this.#vid;
  }

  /** Viewstamp of the last request executed here (or of the state copied); null: no state. */
  get lastExecuted(): Viewstamp | null {
    return this.#held.last;
  }

  primaryOf(vid: number = this.#vid): NodeId | null {
    return this.#primaries.of(vid) ?? null;
  }

  get isPrimary(): boolean {
    return this.#vid > 0 && this.primaryOf() === this.#self;
  }

  /**
   * The primary lease as it stands now (see `LeaseStatus`): the callback hub, sessions and
   * queries read it in the task in which they act.
   */
  get lease(): LeaseStatus {
    return this.#mode.kind === 'primary' ? this.#mode.serving.lease.status(this.#self) : { state: 'none' };
  }

  /** The app state (for status pages and checkers; do not change it). */
  get state(): S | null {
    return this.#held.state;
  }

  /** The replicated state as bytes (app state and client table), or null. For checkers. */
  snapshotBytes(): Uint8Array | null {
    return this.#held.snapshotBytes();
  }

  /**
   * The serving primary's state as `snapshot-format.ts`'s stream, taken now, in one step, with
   * the viewstamp it stands at: for the operator's backup (`synod snapshot save`). It holds the
   * requests executed here, each of which every backup of the view acknowledged first (in a view
   * of one, the last few may not be durable yet: a crash then forgets them, and the saved file
   * names a viewstamp the restarted node stamps again; a restore starts from (0, 0) anyway). Null
   * unless this replica is the serving primary, or when the app cannot marshal its state (the
   * guard logs and counts it). Changes nothing.
   */
  servingSnapshot(): { readonly vs: Viewstamp; readonly state: Uint8Array } | null {
    const last = this.#held.last;
    if (this.#mode.kind !== 'primary' || last === null) return null;
    const record = this.#held.snapshotRecord('compaction');
    return record === null ? null : { vs: last, state: record.state };
  }

  get inFlight(): number {
    return this.#mode.kind === 'primary' ? this.#mode.serving.pipeline.size : 0;
  }

  /** Clients in the client table of the state held here (0 when none is held). */
  get clients(): number {
    return this.#held.clients;
  }

  /** The client table's replicated clock in the state held here (null before the first sweep). */
  get tableClockMs(): number | null {
    return this.#held.tableClockMs;
  }

  /** Request bytes the serving primary holds in flight (`RsmOptions.maxInFlightBytes`). */
  get inFlightBytes(): number {
    return this.#mode.kind === 'primary' ? this.#mode.serving.pipeline.bytes : 0;
  }

  /** Early invokes a backup holds in its buffer (`RsmOptions.maxBufferedInvokes`, `maxBufferedBytes`). */
  get buffered(): { readonly count: number; readonly bytes: number } {
    return this.#mode.kind === 'backup' ? this.#mode.execution.buffered : { count: 0, bytes: 0 };
  }

  /** This primary refuses to serve its view: no member holds a complete state (see `stateComplete`). */
  get refusing(): boolean {
    return this.#mode.kind === 'syncing' && this.#mode.sync.role === 'primary' && this.#mode.sync.phase === 'stuck';
  }

  /** The callbacks outstanding in the current state, if this replica is the serving primary (none if the app's `callbacks` fails). */
  outstandingCallbacks(): readonly Callback[] {
    const state = this.#held.state;
    if (this.#mode.kind !== 'primary' || state === null) return [];
    return this.#app.callbacks(state);
  }

  /** How often each step of the app failed in this process (see `AppGuard`). */
  get appFailures(): Readonly<AppFailures> {
    return this.#app.failures;
  }

  // ---- view changes ------------------------------------------------------------------------

  /** Config committed a view (or this node's status in it changed). Restarts the recovery task. */
  onViewCommitted(out: RsmOutbox): void {
    this.#journal.genesisIfPending(out);
    const config = this.#config;
    const vid = config.vid;
    if (vid === 0) return;
    const oldest = config.oldestVid ?? 1;
    for (let v = Math.max(this.#primaries.known + 1, oldest); v <= vid; v++) this.#primaries.add(v, config.members(v));
    this.#primaries.forgetBefore(oldest);
    if (this.#restartPromiseOf !== null) {
      this.#promise.resolveRestart(this.primaryOf(this.#restartPromiseOf), this.#self);
      this.#restartPromiseOf = null;
    }
    const member = config.status === 'member';
    if (vid === this.#vid && member === (this.#mode.kind !== 'joining')) return;
    const previous = this.#vid;
    this.#abandonView(out);
    this.#vid = vid;
    const members = config.members(vid);
    const primary = this.primaryOf(vid)!;
    if (!member) {
      this.#enter({ kind: 'joining' }, `not a member of view ${vid} (${config.status})`);
      config.setAdmission({ kind: 'closed' });
      return;
    }
    if (this.#breakpoints.isArmed(2) && previous > 0) {
      out.halt(`breakpoint 2: ${this.#self} dies committing view ${vid}, which it is in`);
      return;
    }
    // A syncing view admits nobody; its backups send joiners to the primary.
    config.setAdmission(primary === this.#self ? { kind: 'closed' } : { kind: 'redirect', to: primary });
    const context = this.#syncContext(vid, primary);
    const sync = primary === this.#self ? new PrimarySync<S>(context) : new BackupSync<S>(context);
    this.#enter({ kind: 'syncing', sync }, `view ${vid} [${members.join(',')}], primary ${primary}`);
    sync.start(out);
  }

  /** Drops the work of the view being left. Clients waiting on it are told to retry. */
  #abandonView(out: RsmOutbox): void {
    if (this.#mode.kind === 'primary') this.#mode.serving.leave(out);
    this.#serveAfterPromise = false;
    out.cancelTimer(rsmTimers.invokeRetry);
    out.cancelTimer(rsmTimers.syncRetry);
    out.cancelTimer(rsmTimers.leaseWait);
  }

  #enter(mode: Mode<S>, why: string): void {
    const from = this.status;
    this.#mode = mode;
    const to = this.status;
    if (from !== to) this.#log.info({ vid: this.#vid, vs: formatViewstamp(this.#held.last), from, to, why }, `rsm: ${to}`);
  }

  #syncContext(vid: number, primary: NodeId): SyncContext<S> {
    const members = this.#config.members(vid);
    return {
      vid,
      primary,
      backups: members.filter((m) => m !== primary),
      members,
      held: this.#held,
      stateComplete: () => this.stateComplete,
      options: this.#options,
      log: this.#log,
      installed: (last, record, out) => this.#journal.installed(record, last, out),
      done: (out) => (primary === this.#self ? this.#serveOncePromiseEnds(out) : this.#becomeBackup(out)),
      catchUp: (vs, request, out) => void this.#journal.executed(vs, request, this.#held.execute(vs, request), out),
      memberIdsOf: (v) => this.#memberIdsIfKept(v),
      strictCompleteness: this.#mutations.strictCompleteness === true,
      // A refusing view admits joiners: a removed member that still holds a complete state may
      // come back with it (see `PrimarySync`), and nothing else could ever make the view serve.
      stuck: () => this.#config.setAdmission({ kind: 'admit' }),
      leaseWaitMs: () => this.#promise.waitFor(primary),
    };
  }

  /** This backup holds the view's state: it executes the primary's invokes from now on. */
  #becomeBackup(out: RsmOutbox): void {
    this.#journal.synced(this.#vid, out);
    const execution = new BackupExecution({
      self: this.#self,
      vid: this.#vid,
      executedBefore: this.#executedInView(),
      maxBufferedInvokes: this.#options.maxBufferedInvokes,
      maxBufferedBytes: this.#options.maxBufferedBytes,
      mutations: this.#mutations,
      breakpoints: this.#breakpoints,
      execute: (vs, request, out) => this.#execute(vs, request, out),
    });
    this.#enter({ kind: 'backup', execution }, `holds the view state ${formatViewstamp(this.#held.last)}`);
  }

  /**
   * Every backup holds the view's state and owes no other primary a wait: serve, once this node's
   * own promise to another primary (it was that primary's backup) ran out too.
   */
  #serveOncePromiseEnds(out: RsmOutbox): void {
    const wait = this.#promise.waitFor(this.#self);
    if (wait === 0) {
      this.#becomeServing(out);
      return;
    }
    this.#serveAfterPromise = true;
    this.#log.info({ vid: this.#vid, vs: formatViewstamp(this.#held.last), previous: this.#promise.to, waitMs: wait }, 'rsm: waiting out the lease this node granted the previous primary');
    out.setTimer(rsmTimers.leaseWait, wait + 1);
  }

  #becomeServing(out: RsmOutbox): void {
    this.#serveAfterPromise = false;
    this.#journal.synced(this.#vid, out);
    const serving = new ServingPrimary<S>({
      self: this.#self, vid: this.#vid, backups: this.#backups(), options: this.#options, mutations: this.#mutations, clock: this.#clock,
      log: this.#log, observer: this.#observer, held: this.#held, pipeline: this.#newPipeline(), isQuery: (proc) => this.#app.isQuery(proc),
    });
    this.#enter({ kind: 'primary', serving }, 'every backup holds the view state');
    serving.start(out);
    this.#log.info({ vid: this.#vid, vs: formatViewstamp(this.#held.last), members: this.#config.members(this.#vid) }, 'rsm: primary serving');
    this.#config.setAdmission({ kind: 'admit' });
    const vid = this.#vid;
    out.upcall(() => this.#observer.serving?.(vid));
    this.#emitCallbacks(undefined, out); // a new primary re-sends every outstanding callback
    this.#emitAdvanced(out); // and its feeds' subscribers may read on
  }

  /** Requests of the current view the state held already executed (0 unless a view of one carries on after a restart). */
  #executedInView(): number {
    const last = this.#held.last;
    return last !== null && last.vid === this.#vid ? last.seqno : 0;
  }

  #newPipeline(): Pipeline {
    return new Pipeline({
      vid: this.#vid,
      executedBefore: this.#executedInView(),
      backups: this.#backups(),
      options: this.#options,
      mutations: this.#mutations,
      stamp: (vs, request, out) => this.#journal.stamped(vs, request, out),
      execute: (vs, request, digest, out, stampedAfter) => this.#execute(vs, request, out, digest, stampedAfter),
      // synod's own procedures (the table's sweeps) are none of the app's business.
      afterExecute: (r, out) => {
        if (!isReservedProc(r.proc)) this.#emitCallbacks({ proc: r.proc, args: r.args }, out);
        // Every step, synod's own too: the hub tells a compaction only once the state it reads is
        // the durable one (its viewstamp is the last one published).
        this.#emitAdvanced(out);
      },
    });
  }

  /** Tells the feed hub how far the feeds reached with this step (only for an app with feeds): it publishes up to there once the step is durable. */
  #emitAdvanced(out: RsmOutbox): void {
    const listener = this.#callbacks;
    const state = this.#held.state;
    if (listener?.onAdvanced === undefined || !this.#app.hasFeeds || state === null) return;
    const heads = this.#app.feedHeads(state);
    const at = this.#held.last;
    out.upcall(() => listener.onAdvanced?.(heads, at));
  }

  #emitCallbacks(request: { readonly proc: string; readonly args: Json } | undefined, out: RsmOutbox): void {
    const state = this.#held.state;
    const listener = this.#callbacks;
    if (state === null || listener === null) return;
    const callbacks = this.#app.callbacks(state, request);
    if (callbacks.length > 0) out.upcall(() => listener.onCallbacks(callbacks));
  }

  // ---- clients -----------------------------------------------------------------------------

  /**
   * A client's call, or one this node makes of itself (`RsmLayer.submitInternal`: its request is
   * marked `internal`, which the client service never reads); only such a call may name a
   * procedure of synod itself, the client table's sweep.
   */
  onClientCall(from: ReturnAddress, call: ClientCall, out: RsmOutbox): void {
    if (call.kind === 'members') {
      const vid = this.#vid;
      // A primary whose lease lapsed may have been replaced: it does not name itself.
      const primary = this.lease.state === 'lapsed' ? null : this.primaryOf(vid);
      out.answer(from, { kind: 'members', vid, members: vid === 0 ? [] : [...this.#config.members(vid)], primary });
      return;
    }
    const r = call.request;
    const mode = this.#mode;
    if (this.#vid === 0 || mode.kind === 'joining' || !this.isPrimary) {
      // A stale node may still be listed as the primary: then the primary is not known here.
      const primary = this.primaryOf() === this.#self ? null : this.primaryOf();
      out.answer(from, { kind: 'not-primary', clientId: r.clientId, seq: r.seq, primary, vid: this.#vid });
      return;
    }
    if (mode.kind !== 'primary') {
      answerBusy(out, from, r, this.#options.busyRetryAfterMs, this.refusing
        ? 'no member of the view holds a complete replicated state; the view serves once a node that holds one rejoins'
        : this.#serveAfterPromise
          ? `view change in progress (waiting out the lease granted to the previous primary ${this.#promise.to ?? ''})`
          : 'view change in progress (state transfer)');
      return;
    }
    if (!this.#app.has(r.proc) && !(r.internal === true && r.proc === sweepProc)) {
      out.answer(from, { kind: 'invalid', clientId: r.clientId, seq: r.seq, field: 'proc', reason: `unknown procedure ${JSON.stringify(r.proc)}` });
      return;
    }
    mode.serving.submit(from, r, out);
  }

  #backups(): NodeId[] {
    return this.#config.members(this.#vid).filter((m) => m !== this.#self);
  }

  // ---- replica messages ----------------------------------------------------------------------

  onMessage(from: NodeId, m: ReplicaMessage, out: RsmOutbox): void {
    const mode = this.#mode;
    switch (m.kind) {
      case 'invoke':
        this.#onInvoke(from, m, out);
        break;
      case 'invoke-ack':
        this.#onInvokeAck(from, m, out);
        break;
      case 'invoke-reject':
        this.#log.debug({ vid: this.#vid, vs: formatViewstamp(m.vs), from, theirVid: m.vid }, 'rsm: backup rejected an invoke');
        break;
      case 'sync-status':
        if (m.vid !== this.#vid || !this.isPrimary || !this.#backups().includes(from)) return;
        if (mode.kind === 'primary') out.send(from, { kind: 'sync-reply', vid: this.#vid, action: 'up-to-date', target: this.#held.last });
        else if (mode.kind === 'syncing' && mode.sync.role === 'primary') mode.sync.onStatus(from, m, out);
        break;
      case 'sync-reply':
        if (m.vid !== this.#vid || from !== this.primaryOf() || mode.kind !== 'syncing' || mode.sync.role !== 'backup') return;
        mode.sync.onReply(from, m, out);
        break;
      case 'sync-pull': {
        const source = m.vid === this.#vid ? this.#held.sourceAt(m.target) : null;
        const chunk = source?.chunk(this.#vid, from, m.offset, this.#options.stateChunkBytes) ?? null;
        out.send(from, chunk ?? { kind: 'sync-unavailable', vid: m.vid, target: m.target });
        break;
      }
      case 'sync-chunk':
        if (mode.kind === 'syncing') mode.sync.onChunk(from, m, out);
        break;
      case 'sync-unavailable':
        if (mode.kind === 'syncing') mode.sync.onUnavailable(from, m, out);
        break;
      case 'sync-suffix':
        if (mode.kind === 'syncing' && mode.sync.role === 'backup') mode.sync.onSuffix(from, m, out);
        break;
      case 'lease-ask':
        // Only a backup serving the view grants, and only its primary: it then holds the view's
        // state, durably (its `synced` record is in an earlier batch, which the grant waits for).
        if (m.vid !== this.#vid || mode.kind !== 'backup' || from !== this.primaryOf()) return;
        this.#promise.granted(from, leaseWaitMs({ leaseMs: m.leaseMs, maxClockDriftPpm: Math.max(m.maxDriftPpm, this.#options.maxClockDriftPpm) }));
        out.sendAhead(from, { kind: 'lease-grant', vid: m.vid, round: m.round });
        break;
      case 'lease-grant':
        if (m.vid === this.#vid && mode.kind === 'primary') mode.serving.onGrant(from, m.round, out);
        break;
    }
  }

  onTimer(key: string, out: RsmOutbox): void {
    const mode = this.#mode;
    if (key === rsmTimers.invokeRetry) {
      if (mode.kind === 'primary') mode.serving.pipeline.onRetryTimer(out);
    } else if (key === rsmTimers.syncRetry) {
      if (mode.kind === 'syncing') mode.sync.onRetry(out);
    } else if (key === rsmTimers.leaseRenew) {
      if (mode.kind === 'primary') mode.serving.onRenewTimer(out);
    } else if (key === rsmTimers.leaseWait) {
      if (mode.kind === 'syncing' && this.#serveAfterPromise) this.#serveOncePromiseEnds(out);
    }
  }

  // ---- normal operation ------------------------------------------------------------------------

  #onInvoke(from: NodeId, m: Extract<ReplicaMessage, { kind: 'invoke' }>, out: RsmOutbox): void {
    const mode = this.#mode;
    if (m.vid !== this.#vid || mode.kind !== 'backup' || from !== this.primaryOf()) {
      out.send(from, { kind: 'invoke-reject', vs: { vid: m.vid, seqno: m.firstSeqno }, vid: this.#vid });
      return;
    }
    mode.execution.onInvoke(from, m.firstSeqno, m.requests, out);
  }

  #onInvokeAck(from: NodeId, m: Extract<ReplicaMessage, { kind: 'invoke-ack' }>, out: RsmOutbox): void {
    const mode = this.#mode;
    if (m.vs.vid !== this.#vid || mode.kind !== 'primary') return;
    if (!mode.serving.pipeline.ack(from, m.vs.seqno)) return;
    if (this.#breakpoints.isArmed(1)) {
      out.halt(`breakpoint 1: primary ${this.#self} dies after backup ${from} executed up to ${formatViewstamp(m.vs)}`);
      return;
    }
    mode.serving.pipeline.executeReady(out);
  }

  /**
   * Executes one request at `vs` (the caller keeps the order), persists it (on the primary that
   * stamped it, its `stamped` record stands for it: `stampedAfter` is set), and tells the observer.
   */
  #execute(vs: Viewstamp, request: Request, out: RsmOutbox, digest?: string, stampedAfter?: () => Iterable<StampedRequest>): Execution {
    invariant(vs.vid === this.#vid, () => `${this.#self} executing ${formatViewstamp(vs)} in view ${this.#vid}`);
    return this.#journal.executed(vs, request, this.#held.execute(vs, request, digest), out, stampedAfter);
  }
}
