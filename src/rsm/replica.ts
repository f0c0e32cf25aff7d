import { invariant } from '../env/errors.js';
import type { Logger } from '../env/logger.js';
import type { Outbox } from '../env/outbox.js';
import type { ReturnAddress } from '../env/transport.js';
import type { Members, NodeId } from '../env/types.js';
import type { Admission, SelfStatus } from '../config/view-manager.js';
import { type RsmOptions, defaultRsmOptions, limits, withDefaults } from '../options.js';
import { type App, AppError, type Callback, type Json } from './app.js';
import { ClientTable, type Outcome, requestDigest } from './client-table.js';
import type { ClientAnswer, ClientCall, ReplicaMessage, Request } from './messages.js';
import { PrimaryHistory } from './primary.js';
import { StateTransfer, chunkOf, decodeSnapshot, encodeSnapshot } from './state-transfer.js';
import { type Viewstamp, compareHeld, formatViewstamp, sameViewstamp } from './viewstamp.js';

/** The RSM core's outbox: messages to replicas, and answers to clients' return addresses. */
export type RsmOutbox = Outbox<ReplicaMessage, never, ClientAnswer>;

/**
 * The recovery task's stage in the current view (design §4):
 * - joining: this node is not a member of the current view (config asks to join);
 * - syncing: a member; the view's state transfer is not finished here (clients get BUSY);
 * - normal: a member holding the view's state; the primary serves clients.
 */
export type ReplicaStatus = 'joining' | 'syncing' | 'normal';

/** What the RSM needs of the config layer (queries and calls down). */
export interface ConfigPort {
  readonly vid: number;
  readonly status: SelfStatus;
  members(vid?: number): Members;
  setAdmission(admission: Admission): void;
}

/** RSM crash breakpoints (design §7): 1 = after a backup executed a request; 2 = committing a view this node is in. */
export interface RsmBreakpoints {
  isArmed(n: 1 | 2): boolean;
}

/** Test-only switches that break the RSM on purpose, to prove the simulator's checkers bite. */
export interface RsmMutations {
  /** The primary executes and replies once one backup acknowledged, not all. */
  readonly replyBeforeAllAcks?: boolean;
  /** A backup executes every invoke on arrival, ignoring seqno order. */
  readonly executeOutOfOrder?: boolean;
  /** The client table is ignored: retried requests execute again. */
  readonly noClientTable?: boolean;
  /** `stateComplete` is wrongly strict (false once two views passed since the replica was normal): needless refusals. */
  readonly strictCompleteness?: boolean;
}

/** Who watches the replica (simulator checkers, tests, status). Called through the outbox. */
export interface ReplicaObserver {
  executed?(vs: Viewstamp, request: Request, outcome: Outcome): void;
  /** The replica's state was replaced by a copy of another's, standing at `last`. */
  installed?(last: Viewstamp): void;
  /** This replica became the serving primary of `vid`. */
  serving?(vid: number): void;
  /** Callbacks to push to clients (primary only; see `App.callbacks`). */
  callbacks?(callbacks: readonly Callback[]): void;
}

export interface ReplicaDeps<S> {
  readonly self: NodeId;
  readonly app: App<S>;
  readonly config: ConfigPort;
  readonly logger: Logger;
  /**
   * True only for the first node of a brand-new cluster, in its first life: it holds the app's
   * initial state at viewstamp (0, 0). Every other replica starts holding no state.
   */
  readonly genesis: boolean;
  readonly options?: Partial<RsmOptions>;
  readonly breakpoints?: RsmBreakpoints;
  readonly mutations?: RsmMutations;
  readonly observer?: ReplicaObserver;
}

export const rsmTimers = { invokeRetry: 'rsm-invoke-retry', syncRetry: 'rsm-sync-retry' } as const;

/** A request the primary stamped and has not executed yet. */
interface InFlight {
  readonly vs: Viewstamp;
  readonly request: Request;
  readonly acks: Set<NodeId>;
  readonly waiters: ReturnAddress[];
}

/** The primary's side of the view's state transfer. */
interface PrimarySync {
  readonly role: 'primary';
  /**
   * collecting: waiting for every backup's status; pulling: copying a backup's newer state;
   * distributing: backups copy this primary's state; stuck: no member's state is complete.
   */
  phase: 'collecting' | 'pulling' | 'distributing' | 'stuck';
  readonly reports: Map<NodeId, { readonly last: Viewstamp | null; readonly complete: boolean }>;
  readonly upToDate: Set<NodeId>;
  pull: StateTransfer | null;
}

/** A backup's side: it reports its status until the primary answers, and pulls if told to. */
interface BackupSync {
  readonly role: 'backup';
  pull: StateTransfer | null;
}

/**
 * The RSM core of one replica (design §4): viewstamped replication with state transfer.
 *
 * Client path (primary, status normal): a request is checked (procedure known, client table),
 * stamped with the next viewstamp of the view, sent to every backup, executed here once every
 * backup has acknowledged it and every earlier one is executed, then answered. Many requests may
 * be in flight. A deposed primary cannot answer: it never gets acknowledgements from a new view.
 *
 * Backup path: invokes of the current view are executed strictly in seqno order; early ones wait
 * in a buffer; duplicates are acknowledged again; invokes of another view are rejected.
 *
 * View change (the recovery task, restarted by every committed view): the primary collects
 * every backup's status: the viewstamp of the state it holds, and whether that state is
 * *complete* (see `stateComplete`: it holds every request acknowledged so far). Among the
 * complete members, the one with the highest viewstamp holds the view's authoritative state; the
 * primary copies it first if it is not its own. (Design §4 says "the primary's state"; that
 * loses acknowledged requests when a member that never received the state becomes primary, e.g.
 * after a cascade of deaths; and "the highest viewstamp among all members" loses them when a
 * member rejoined with an old state.) Then every backup whose state differs copies the
 * primary's, and the primary serves once all backups hold it. If no member's state is complete,
 * the view does not serve at all: it never serves a state that lacks an acknowledged request.
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
  readonly #app: App<S>;
  readonly #config: ConfigPort;
  readonly #log: Logger;
  readonly #options: RsmOptions;
  readonly #breakpoints: RsmBreakpoints;
  readonly #mutations: RsmMutations;
  readonly #observer: ReplicaObserver;

  #status: ReplicaStatus = 'joining';
  /** The view this replica works in (config's current view). */
  #vid = 0;
  readonly #primaries = new PrimaryHistory();
  #state: S | null;
  #table = new ClientTable();
  /** Viewstamp of the state held; null: holds no state. */
  #last: Viewstamp | null;
  /** Requests of the current view executed here (the next to execute is this + 1). */
  #executedInView = 0;
  /** The last view in which this replica was normal (held the view's state); null: never. */
  #syncedVid: number | null;

  // primary
  #nextSeqno = 1;
  readonly #inFlight = new Map<number, InFlight>();
  /** In-flight requests by `clientId#seq`, so a retry waits for the same execution. */
  readonly #inFlightByRequest = new Map<string, number>();
  // backup
  readonly #buffer = new Map<number, Request>();
  // view change
  #sync: PrimarySync | BackupSync | null = null;
  /** The snapshot of the state held, for serving `sync-pull`s; dropped whenever the state changes. */
  #snapshot: { readonly last: Viewstamp; readonly bytes: Uint8Array } | null = null;

  constructor(deps: ReplicaDeps<S>) {
    this.#self = deps.self;
    this.#app = deps.app;
    this.#config = deps.config;
    this.#log = deps.logger;
    this.#options = withDefaults(defaultRsmOptions, deps.options, 'rsm');
    this.#breakpoints = deps.breakpoints ?? { isArmed: () => false };
    this.#mutations = deps.mutations ?? {};
    this.#observer = deps.observer ?? {};
    this.#state = deps.genesis ? deps.app.initialState() : null;
    this.#last = deps.genesis ? { vid: 0, seqno: 0 } : null;
    this.#syncedVid = deps.genesis ? 1 : null;
  }

  /**
   * Whether the state held here holds every request acknowledged so far: this replica was normal
   * in view s (`#syncedVid`) and has been a member of every view since, in this process life.
   *
   * Why that suffices: requests are acknowledged only in an active view (its primary serves once
   * every member is normal), and every member of an active view executes every request
   * acknowledged in it. Had any view after s become active, this replica, a member of it, would
   * have been normal in it, so s would be higher. Hence nothing was acknowledged after s that
   * this replica lacks. All complete replicas therefore share the same s, and their states
   * differ only in unacknowledged requests at the end of view s, in one order: the most advanced
   * one contains the others.
   */
  get stateComplete(): boolean {
    const s = this.#syncedVid;
    if (this.#state === null || s === null || this.#vid === 0) return false;
    if (this.#mutations.strictCompleteness === true && this.#vid - s >= 2) return false;
    for (let v = s; v <= this.#vid; v++) if (!this.#config.members(v).includes(this.#self)) return false;
    return true;
  }

  // ---- queries -----------------------------------------------------------------------------

  get status(): ReplicaStatus {
    return this.#status;
  }

  get vid(): number {
    return this.#vid;
  }

  /** Viewstamp of the last request executed here (or of the state copied); null: no state. */
  get lastExecuted(): Viewstamp | null {
    return this.#last;
  }

  primaryOf(vid: number = this.#vid): NodeId | null {
    return this.#primaries.of(vid) ?? null;
  }

  get isPrimary(): boolean {
    return this.#vid > 0 && this.primaryOf() === this.#self;
  }

  /** The app state (for status pages and checkers; do not change it). */
  get state(): S | null {
    return this.#state;
  }

  /** The replicated state as bytes (app state and client table), or null. For checkers. */
  snapshotBytes(): Uint8Array | null {
    if (this.#state === null || this.#last === null) return null;
    return encodeSnapshot({ vid: 0, seqno: 0 }, this.#table, this.#app.marshalState(this.#state));
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** This primary refuses to serve its view: no member holds a complete state (see `stateComplete`). */
  get refusing(): boolean {
    return this.#sync?.role === 'primary' && this.#sync.phase === 'stuck';
  }

  // ---- view changes ------------------------------------------------------------------------

  /** Config committed a view (or this node's status in it changed). Restarts the recovery task. */
  onViewCommitted(out: RsmOutbox): void {
    const config = this.#config;
    const vid = config.vid;
    if (vid === 0) return;
    for (let v = this.#primaries.known + 1; v <= vid; v++) this.#primaries.add(v, config.members(v));
    const member = config.status === 'member';
    if (vid === this.#vid && member === (this.#status !== 'joining')) return;
    const previous = this.#vid;
    this.#abandonView(out);
    this.#vid = vid;
    const members = config.members(vid);
    const primary = this.primaryOf(vid)!;
    if (!member) {
      this.#setStatus('joining', `not a member of view ${vid} (${config.status})`);
      config.setAdmission({ kind: 'closed' });
      return;
    }
    if (this.#breakpoints.isArmed(2) && previous > 0) {
      out.halt(`breakpoint 2: ${this.#self} dies committing view ${vid}, which it is in`);
      return;
    }
    this.#setStatus('syncing', `view ${vid} [${members.join(',')}], primary ${primary}`);
    if (primary === this.#self) {
      config.setAdmission({ kind: 'closed' });
      this.#sync = { role: 'primary', phase: 'collecting', reports: new Map(), upToDate: new Set(), pull: null };
      this.#primaryDecideIfReported(out);
    } else {
      config.setAdmission({ kind: 'redirect', to: primary });
      this.#sync = { role: 'backup', pull: null };
      this.#sendStatus(out);
    }
  }

  /** Drops the work of the view being left. Clients waiting on it are told to retry. */
  #abandonView(out: RsmOutbox): void {
    for (const entry of this.#inFlight.values()) {
      for (const to of entry.waiters) this.#busy(out, to, entry.request, 'the view changed; retry');
    }
    this.#inFlight.clear();
    this.#inFlightByRequest.clear();
    this.#buffer.clear();
    this.#sync = null;
    this.#executedInView = 0;
    this.#nextSeqno = 1;
    out.cancelTimer(rsmTimers.invokeRetry);
    out.cancelTimer(rsmTimers.syncRetry);
  }

  #setStatus(status: ReplicaStatus, why: string): void {
    if (this.#status !== status) {
      this.#log.info({ vid: this.#vid, vs: formatViewstamp(this.#last), from: this.#status, to: status, why }, `rsm: ${status}`);
    }
    this.#status = status;
  }

  // ---- clients -----------------------------------------------------------------------------

  onClientCall(from: ReturnAddress, call: ClientCall, out: RsmOutbox): void {
    if (call.kind === 'members') {
      const vid = this.#vid;
      out.answer(from, { kind: 'members', vid, members: vid === 0 ? [] : [...this.#config.members(vid)], primary: this.primaryOf(vid) });
      return;
    }
    const r = call.request;
    if (this.#vid === 0 || this.#status === 'joining' || !this.isPrimary) {
      // A stale node may still be listed as the primary: then the primary is not known here.
      const primary = this.primaryOf() === this.#self ? null : this.primaryOf();
      out.answer(from, { kind: 'not-primary', clientId: r.clientId, seq: r.seq, primary, vid: this.#vid });
      return;
    }
    if (this.#status !== 'normal') {
      this.#busy(out, from, r, this.#sync?.role === 'primary' && this.#sync.phase === 'stuck'
        ? 'no member of the view holds the replicated state (it was lost); the view cannot serve'
        : 'view change in progress (state transfer)');
      return;
    }
    if (!Object.hasOwn(this.#app.handlers, r.proc)) {
      out.answer(from, { kind: 'invalid', clientId: r.clientId, seq: r.seq, field: 'proc', reason: `unknown procedure ${JSON.stringify(r.proc)}` });
      return;
    }
    const digest = requestDigest(r.proc, r.args);
    const known = this.#mutations.noClientTable === true ? { kind: 'new' as const } : this.#table.check(r.clientId, r.seq, digest);
    if (known.kind === 'done') {
      out.answer(from, { kind: 'executed', clientId: r.clientId, seq: r.seq, outcome: known.outcome });
      return;
    }
    if (known.kind === 'conflict') {
      out.answer(from, { kind: 'invalid', clientId: r.clientId, seq: r.seq, field: 'seq',
        reason: `another request of client ${r.clientId} was executed under this number: a client id used by two clients, or reused without raising its numbers` });
      return;
    }
    if (known.kind === 'stale') {
      out.answer(from, { kind: 'stale', clientId: r.clientId, seq: r.seq });
      return;
    }
    const key = requestKey(r);
    const pending = this.#inFlightByRequest.get(key);
    if (pending !== undefined && this.#mutations.noClientTable !== true) {
      this.#inFlight.get(pending)!.waiters.push(from);
      return;
    }
    if (this.#inFlight.size >= this.#options.maxInFlight) {
      this.#busy(out, from, r, `${this.#inFlight.size} requests in flight`);
      return;
    }
    const vs: Viewstamp = { vid: this.#vid, seqno: this.#nextSeqno++ };
    this.#inFlight.set(vs.seqno, { vs, request: r, acks: new Set(), waiters: [from] });
    this.#inFlightByRequest.set(key, vs.seqno);
    for (const b of this.#backups()) out.send(b, { kind: 'invoke', vs, request: r });
    if (this.#inFlight.size === 1) out.setTimer(rsmTimers.invokeRetry, this.#options.invokeRetryMs);
    this.#executeReady(out);
  }

  #busy(out: RsmOutbox, to: ReturnAddress, r: Request, reason: string): void {
    out.answer(to, { kind: 'busy', clientId: r.clientId, seq: r.seq, retryAfterMs: this.#options.busyRetryAfterMs, reason });
  }

  #backups(): NodeId[] {
    return this.#config.members(this.#vid).filter((m) => m !== this.#self);
  }

  // ---- replica messages ----------------------------------------------------------------------

  onMessage(from: NodeId, m: ReplicaMessage, out: RsmOutbox): void {
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
        this.#onSyncStatus(from, m, out);
        break;
      case 'sync-reply':
        this.#onSyncReply(from, m, out);
        break;
      case 'sync-pull':
        this.#onSyncPull(from, m, out);
        break;
      case 'sync-chunk':
        this.#onSyncChunk(from, m, out);
        break;
      case 'sync-unavailable':
        this.#onSyncUnavailable(from, m, out);
        break;
    }
  }

  onTimer(key: string, out: RsmOutbox): void {
    if (key === rsmTimers.invokeRetry) {
      if (this.#inFlight.size === 0 || !this.isPrimary) return;
      for (const entry of this.#inFlight.values()) {
        for (const b of this.#backups()) if (!entry.acks.has(b)) out.send(b, { kind: 'invoke', vs: entry.vs, request: entry.request });
      }
      out.setTimer(rsmTimers.invokeRetry, this.#options.invokeRetryMs);
    } else if (key === rsmTimers.syncRetry) {
      const sync = this.#sync;
      if (sync === null || this.#status !== 'syncing') return;
      if (sync.pull !== null) {
        out.send(sync.pull.source, sync.pull.nextRequest());
        out.setTimer(rsmTimers.syncRetry, this.#options.syncRetryMs);
      } else if (sync.role === 'backup') {
        this.#sendStatus(out);
      }
    }
  }

  // ---- normal operation ------------------------------------------------------------------------

  #onInvoke(from: NodeId, m: Extract<ReplicaMessage, { kind: 'invoke' }>, out: RsmOutbox): void {
    if (m.vs.vid !== this.#vid || this.#status !== 'normal' || this.isPrimary || from !== this.primaryOf()) {
      out.send(from, { kind: 'invoke-reject', vs: m.vs, vid: this.#vid });
      return;
    }
    const next = this.#executedInView + 1;
    if (m.vs.seqno < next) {
      out.send(from, { kind: 'invoke-ack', vs: m.vs }); // a duplicate: executed already
      return;
    }
    if (m.vs.seqno > next && this.#mutations.executeOutOfOrder !== true) {
      if (this.#buffer.size < this.#options.maxBufferedInvokes) this.#buffer.set(m.vs.seqno, m.request);
      return;
    }
    this.#backupExecute(from, m.vs, m.request, out);
    for (let r = this.#buffer.get(this.#executedInView + 1); r !== undefined; r = this.#buffer.get(this.#executedInView + 1)) {
      const vs = { vid: this.#vid, seqno: this.#executedInView + 1 };
      this.#buffer.delete(vs.seqno);
      this.#backupExecute(from, vs, r, out);
    }
  }

  #backupExecute(primary: NodeId, vs: Viewstamp, request: Request, out: RsmOutbox): void {
    this.#execute(vs, request, out);
    if (this.#breakpoints.isArmed(1)) {
      out.halt(`breakpoint 1: backup ${this.#self} dies after executing ${formatViewstamp(vs)}`);
      return;
    }
    out.send(primary, { kind: 'invoke-ack', vs });
  }

  #onInvokeAck(from: NodeId, m: Extract<ReplicaMessage, { kind: 'invoke-ack' }>, out: RsmOutbox): void {
    if (m.vs.vid !== this.#vid || !this.isPrimary || this.#status !== 'normal') return;
    const entry = this.#inFlight.get(m.vs.seqno);
    if (entry === undefined) return;
    entry.acks.add(from);
    if (this.#breakpoints.isArmed(1)) {
      out.halt(`breakpoint 1: primary ${this.#self} dies after backup ${from} executed ${formatViewstamp(m.vs)}`);
      return;
    }
    this.#executeReady(out);
  }

  /** Executes, in seqno order, every stamped request that all backups acknowledged; answers its clients. */
  #executeReady(out: RsmOutbox): void {
    const backups = this.#backups();
    for (let entry = this.#inFlight.get(this.#executedInView + 1); entry !== undefined; entry = this.#inFlight.get(this.#executedInView + 1)) {
      const acked = this.#mutations.replyBeforeAllAcks === true
        ? backups.length === 0 || entry.acks.size > 0
        : backups.every((b) => entry.acks.has(b));
      if (!acked) return;
      this.#inFlight.delete(entry.vs.seqno);
      this.#inFlightByRequest.delete(requestKey(entry.request));
      const outcome = this.#execute(entry.vs, entry.request, out);
      const r = entry.request;
      for (const to of entry.waiters) out.answer(to, { kind: 'executed', clientId: r.clientId, seq: r.seq, outcome });
      this.#emitCallbacks({ proc: r.proc, args: r.args }, out);
    }
    if (this.#inFlight.size === 0) out.cancelTimer(rsmTimers.invokeRetry);
  }

  /** Runs one request against the state (or answers it from the client table) and records it. */
  #execute(vs: Viewstamp, request: Request, out: RsmOutbox): Outcome {
    invariant(this.#state !== null, () => `${this.#self} executing ${formatViewstamp(vs)} without state`);
    invariant(vs.vid === this.#vid && vs.seqno === this.#executedInView + 1 || this.#mutations.executeOutOfOrder === true,
      () => `${this.#self} executing ${formatViewstamp(vs)} after ${this.#vid}.${this.#executedInView}`);
    const digest = requestDigest(request.proc, request.args);
    const known = this.#mutations.noClientTable === true ? { kind: 'new' as const } : this.#table.check(request.clientId, request.seq, digest);
    let outcome: Outcome;
    if (known.kind === 'done') {
      outcome = known.outcome;
    } else if (known.kind === 'stale' || known.kind === 'conflict') {
      outcome = { ok: false, code: known.kind, message: 'another request of this client was executed under this number or a later one' };
    } else {
      outcome = this.#run(request);
      this.#table.record(request.clientId, request.seq, digest, outcome);
    }
    this.#executedInView = Math.max(this.#executedInView, vs.seqno);
    this.#last = vs;
    this.#snapshot = null;
    this.#log.debug({ vid: this.#vid, vs: formatViewstamp(vs), client: request.clientId, seq: request.seq, proc: request.proc }, 'rsm: executed');
    out.upcall(() => this.#observer.executed?.(vs, request, outcome));
    return outcome;
  }

  #run(request: Request): Outcome {
    const handler = this.#app.handlers[request.proc];
    if (handler === undefined) return { ok: false, code: 'unknown-procedure', message: request.proc };
    try {
      const value = handler(this.#state as S, request.args);
      // The request ran; a reply too large to send is answered as a typed outcome instead.
      const size = JSON.stringify(value)?.length ?? 0;
      if (size > limits.maxReplyBytes) {
        return { ok: false, code: 'reply-too-large', message: `the reply has ${size} characters; at most ${limits.maxReplyBytes} are sent (the request was executed)` };
      }
      return { ok: true, value };
    } catch (err) {
      if (err instanceof AppError) return { ok: false, code: err.code, message: err.message };
      // A bug in the handler. It is deterministic (same state, same args), so every replica
      // fails the same way; it is answered as an error rather than crashing the replica.
      this.#log.error({ vid: this.#vid, proc: request.proc, err: (err as Error).message }, 'rsm: handler threw');
      return { ok: false, code: 'handler-error', message: (err as Error).message };
    }
  }

  // ---- state transfer -----------------------------------------------------------------------

  #sendStatus(out: RsmOutbox): void {
    out.send(this.primaryOf()!, { kind: 'sync-status', vid: this.#vid, last: this.#last, complete: this.stateComplete });
    out.setTimer(rsmTimers.syncRetry, this.#options.syncRetryMs);
  }

  #onSyncStatus(from: NodeId, m: Extract<ReplicaMessage, { kind: 'sync-status' }>, out: RsmOutbox): void {
    if (m.vid !== this.#vid || !this.isPrimary || !this.#backups().includes(from)) return;
    const reply = (action: 'up-to-date' | 'pull' | 'wait' | 'no-state', target: Viewstamp | null = null): void =>
      out.send(from, { kind: 'sync-reply', vid: this.#vid, action, target });
    if (this.#status === 'normal') {
      reply('up-to-date', this.#last);
      return;
    }
    const sync = this.#sync;
    if (sync === null || sync.role !== 'primary') return;
    sync.reports.set(from, { last: m.last, complete: m.complete });
    switch (sync.phase) {
      case 'collecting':
        reply('wait');
        this.#primaryDecideIfReported(out);
        break;
      case 'pulling':
        reply('wait');
        break;
      case 'stuck':
        reply('no-state');
        break;
      case 'distributing':
        this.#answerBackup(from, sync, out);
        break;
    }
  }

  /** Once every backup has reported: find the most advanced state; copy it here if needed. */
  #primaryDecideIfReported(out: RsmOutbox): void {
    const sync = this.#sync;
    if (sync === null || sync.role !== 'primary' || sync.phase !== 'collecting') return;
    const backups = this.#backups();
    if (!backups.every((b) => sync.reports.has(b))) return;
    // The source: the complete state with the highest viewstamp (this primary's own on a tie).
    let best: Viewstamp | null = this.stateComplete ? this.#last : null;
    let source: NodeId | null = null;
    for (const b of backups) {
      const r = sync.reports.get(b)!;
      if (r.complete && compareHeld(r.last, best) > 0) {
        best = r.last;
        source = b;
      }
    }
    if (best === null) {
      sync.phase = 'stuck';
      const held = backups.map((b) => `${b}:${formatViewstamp(sync.reports.get(b)!.last)}`).join(' ');
      this.#log.error({ vid: this.#vid, members: this.#config.members(this.#vid), held, own: formatViewstamp(this.#last) },
        'rsm: no member of the view holds a complete replicated state (every holder of it was lost); the view will not serve');
      return;
    }
    if (source !== null) {
      sync.phase = 'pulling';
      sync.pull = new StateTransfer(this.#vid, source, best);
      this.#log.info({ vid: this.#vid, vs: formatViewstamp(this.#last), source, target: formatViewstamp(best) },
        'rsm: a backup holds a newer state; copying it before serving');
      out.send(source, sync.pull.nextRequest());
      out.setTimer(rsmTimers.syncRetry, this.#options.syncRetryMs);
      return;
    }
    this.#startDistributing(sync, out);
  }

  #startDistributing(sync: PrimarySync, out: RsmOutbox): void {
    sync.phase = 'distributing';
    out.cancelTimer(rsmTimers.syncRetry);
    const backups = this.#backups();
    for (const b of backups) if (sync.reports.has(b)) this.#answerBackup(b, sync, out);
    if (backups.length === 0) this.#becomeServing(out);
  }

  #answerBackup(backup: NodeId, sync: PrimarySync, out: RsmOutbox): void {
    if (sameViewstamp(sync.reports.get(backup)?.last ?? null, this.#last)) {
      sync.upToDate.add(backup);
      out.send(backup, { kind: 'sync-reply', vid: this.#vid, action: 'up-to-date', target: this.#last });
      if (this.#backups().every((b) => sync.upToDate.has(b))) this.#becomeServing(out);
    } else {
      out.send(backup, { kind: 'sync-reply', vid: this.#vid, action: 'pull', target: this.#last });
    }
  }

  #becomeServing(out: RsmOutbox): void {
    this.#sync = null;
    this.#syncedVid = this.#vid;
    this.#setStatus('normal', 'every backup holds the view state');
    this.#log.info({ vid: this.#vid, vs: formatViewstamp(this.#last), members: this.#config.members(this.#vid) }, 'rsm: primary serving');
    this.#config.setAdmission({ kind: 'admit' });
    const vid = this.#vid;
    out.upcall(() => this.#observer.serving?.(vid));
    this.#emitCallbacks(undefined, out); // a new primary re-sends every outstanding callback
  }

  /** The callbacks outstanding in the current state, if this replica is the serving primary. */
  outstandingCallbacks(): readonly Callback[] {
    if (!this.isPrimary || this.#status !== 'normal' || this.#state === null || this.#app.callbacks === undefined) return [];
    return this.#app.callbacks(this.#state);
  }

  #emitCallbacks(request: { readonly proc: string; readonly args: Json } | undefined, out: RsmOutbox): void {
    if (this.#app.callbacks === undefined || this.#state === null) return;
    const callbacks = this.#app.callbacks(this.#state, request);
    if (callbacks.length > 0) out.upcall(() => this.#observer.callbacks?.(callbacks));
  }

  #onSyncReply(from: NodeId, m: Extract<ReplicaMessage, { kind: 'sync-reply' }>, out: RsmOutbox): void {
    const sync = this.#sync;
    if (m.vid !== this.#vid || from !== this.primaryOf() || sync === null || sync.role !== 'backup' || this.#status !== 'syncing') return;
    switch (m.action) {
      case 'up-to-date':
        if (!sameViewstamp(m.target, this.#last)) return; // an answer to an older status of ours
        out.cancelTimer(rsmTimers.syncRetry);
        this.#sync = null;
        this.#syncedVid = this.#vid;
        this.#setStatus('normal', `holds the view state ${formatViewstamp(this.#last)}`);
        break;
      case 'pull':
        if (m.target === null || (sync.pull !== null && sameViewstamp(sync.pull.target, m.target))) return;
        sync.pull = new StateTransfer(this.#vid, from, m.target);
        out.send(from, sync.pull.nextRequest());
        out.setTimer(rsmTimers.syncRetry, this.#options.syncRetryMs);
        break;
      case 'wait':
      case 'no-state':
        break; // the retry timer asks again
    }
  }

  #onSyncPull(from: NodeId, m: Extract<ReplicaMessage, { kind: 'sync-pull' }>, out: RsmOutbox): void {
    const snapshot = this.#snapshotAt(m.target);
    if (m.vid !== this.#vid || snapshot === null) {
      out.send(from, { kind: 'sync-unavailable', vid: m.vid, target: m.target });
      return;
    }
    out.send(from, chunkOf(this.#vid, m.target, snapshot, m.offset, this.#options.stateChunkBytes));
  }

  /** The snapshot of the state held, if it stands at `target`. */
  #snapshotAt(target: Viewstamp): Uint8Array | null {
    if (this.#state === null || !sameViewstamp(this.#last, target)) return null;
    if (this.#snapshot === null || !sameViewstamp(this.#snapshot.last, target)) {
      this.#snapshot = { last: target, bytes: encodeSnapshot(target, this.#table, this.#app.marshalState(this.#state)) };
    }
    return this.#snapshot.bytes;
  }

  #onSyncChunk(from: NodeId, m: Extract<ReplicaMessage, { kind: 'sync-chunk' }>, out: RsmOutbox): void {
    const sync = this.#sync;
    const pull = sync?.pull;
    if (sync === null || pull === null || pull === undefined || this.#status !== 'syncing') return;
    const progress = pull.accept(from, m);
    if (progress === 'ignored') return;
    if (progress === 'more') {
      out.send(pull.source, pull.nextRequest());
      out.setTimer(rsmTimers.syncRetry, this.#options.syncRetryMs);
      return;
    }
    this.#install(pull, out);
    sync.pull = null;
    if (sync.role === 'primary') {
      this.#startDistributing(sync, out);
    } else {
      this.#sendStatus(out); // the primary now answers up-to-date
    }
  }

  #install(pull: StateTransfer, out: RsmOutbox): void {
    const { last, table, app } = decodeSnapshot(pull.result());
    invariant(sameViewstamp(last, pull.target), () => `snapshot from ${pull.source} is at ${formatViewstamp(last)}, asked for ${formatViewstamp(pull.target)}`);
    this.#state = this.#app.unmarshalState(app);
    this.#table = table;
    this.#last = last;
    this.#snapshot = null;
    this.#log.info({ vid: this.#vid, vs: formatViewstamp(last), source: pull.source, bytes: pull.received }, 'rsm: state copied');
    out.upcall(() => this.#observer.installed?.(last));
  }

  #onSyncUnavailable(from: NodeId, m: Extract<ReplicaMessage, { kind: 'sync-unavailable' }>, out: RsmOutbox): void {
    const sync = this.#sync;
    if (sync === null || sync.pull === null || sync.pull.source !== from || m.vid !== this.#vid || !sameViewstamp(m.target, sync.pull.target)) return;
    this.#log.warn({ vid: this.#vid, source: from, target: formatViewstamp(m.target) }, 'rsm: state to copy is gone; starting over');
    sync.pull = null;
    if (sync.role === 'primary') {
      sync.phase = 'collecting';
      sync.reports.clear();
      // Backups report again on their own timers; decide afresh then.
    } else {
      this.#sendStatus(out);
    }
  }
}

function requestKey(r: Request): string {
  return `${r.clientId}#${r.seq}`;
}
