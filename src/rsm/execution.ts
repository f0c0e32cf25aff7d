import { invariant } from '../env/errors.js';
import type { Logger } from '../env/logger.js';
import type { NodeId } from '../env/types.js';
import type { AppGuard } from './app-guard.js';
import { ClientTable, type Execution, type Outcome, type TableLimits, requestDigest, sweepProc } from './client-table.js';
import { executeSweep, expiredOutcome, fullOutcome, windowOutcome } from './client-sweep.js';
import type { ExecutedRequest, Request } from './messages.js';
import { type RecentLimits, RecentRequests } from './recent-requests.js';
import { maxSuffixRequests } from './codec.js';
import type { RsmMutations } from './replica-deps.js';
import { type DecodedState, SnapshotReader, encodeWhole } from './snapshot-format.js';
import type { DurableReplicaState, RsmSnapshotRecord } from './durable-records.js';
import { CorruptLogError } from '../env/durable-log.js';
import { CorruptSnapshotError } from '../env/snapshot-file.js';
import { InvalidMessageError } from '../env/errors.js';
import { SnapshotSource } from './state-transfer.js';
import { type Viewstamp, followsDirectly, formatViewstamp, sameViewstamp } from './viewstamp.js';

/**
 * The replicated state one replica holds: the app's state, the client table, and the viewstamp
 * of the last request executed (or of the state copied). Executing a request is the only way
 * the state changes in a view; state transfer replaces it whole (`install`).
 *
 * Invariant: `state`, `table` and `last` change together; `state === null` exactly when `last`
 * is null (a replica that holds no state: a joiner, or a process that restarted).
 */
export class ReplicatedState<S> {
  readonly #app: AppGuard<S>;
  readonly #log: Logger;
  readonly #mutations: RsmMutations;
  #state: S | null;
  #table: ClientTable;
  #last: Viewstamp | null;
  /** The last view in which this state was the view's state (its replica normal there); null: never. */
  #syncedVid: number | null;
  /** What serves `sync-pull`s of the state held (`SnapshotSource`); dropped whenever the state changes. */
  #source: SnapshotSource | null = null;
  /** The requests executed most recently, for replicas that can catch up by executing them (`suffixAfter`). */
  readonly #recent: RecentRequests;

  /**
   * With `genesis`, holds the app's initial state at (0, 0); otherwise no state. An app whose
   * `initialState` throws leaves a genesis replica with no state too: the new cluster's first
   * view then refuses to serve (no member holds a complete state), and the log says why.
   * `limits` are the client table's until a sweep brings others (see `ClientTable`).
   */
  constructor(app: AppGuard<S>, logger: Logger, mutations: RsmMutations, genesis: boolean, limits: TableLimits, recent: RecentLimits) {
    this.#recent = new RecentRequests(recent);
    this.#app = app;
    this.#log = logger;
    this.#mutations = mutations;
    this.#table = new ClientTable(limits);
    const initial = genesis ? app.initialState() : null;
    if (initial?.ok === false) this.#log.error({ err: initial.reason }, 'rsm: the app has no initial state; this new cluster holds no state and will not serve');
    const held = initial?.ok === true;
    this.#state = held ? initial.value : null;
    this.#last = held ? { vid: 0, seqno: 0 } : null;
    this.#syncedVid = held ? 1 : null;
    this.#recent.reset(this.#last);
  }

  /** This state is view `vid`'s state: its replica became normal in `vid`. */
  synced(vid: number): void {
    this.#syncedVid = vid;
  }

  /** The last view whose state this was (see `completeIn`); null: never, or no state held. */
  get syncedVid(): number | null {
    return this.#last === null ? null : this.#syncedVid;
  }

  /**
   * Rebuilds the state an earlier process of this replica made durable (`RsmStore.load`): the
   * snapshot, then every record after it, executing the requests again (handlers are
   * deterministic, so the state and client table come out as they were). Call once, on a replica
   * constructed without genesis. Throws `CorruptLogError` when the records do not follow one
   * another (a log that does not continue its snapshot), and `CorruptSnapshotError` when the
   * snapshot's state cannot be read back or unmarshalled: a state that cannot be proven is never
   * served.
   */
  restore(durable: DurableReplicaState, maxStateBytes: number): void {
    invariant(this.#state === null, 'restoring over a state');
    const snapshot = durable.snapshot;
    if (snapshot !== null) {
      let copy: DecodedState;
      try {
        const reader = new SnapshotReader(Math.max(maxStateBytes, snapshot.state.length));
        reader.push(snapshot.state);
        copy = reader.result();
      } catch (err) {
        if (!(err instanceof InvalidMessageError)) throw err;
        throw new CorruptSnapshotError('rsm.snapshot', `its state stream is damaged: ${err.message}`);
      }
      const state = this.#app.unmarshal(copy.app);
      if (!state.ok) throw new CorruptSnapshotError('rsm.snapshot', `the app could not unmarshal its state: ${String(state.reason)}`);
      this.#state = state.value;
      this.#table = copy.table;
      this.#last = copy.last;
      this.#syncedVid = snapshot.syncedVid;
      this.#recent.reset(this.#last);
    }
    durable.records.forEach((record, index) => {
      const broken = (why: string): never => {
        throw new CorruptLogError('rsm log', index, `${why} (the state stands at ${formatViewstamp(this.#last)})`);
      };
      switch (record.kind) {
        case 'genesis': {
          if (this.#state !== null) broken('a genesis record after a state');
          const initial = this.#app.initialState();
          if (!initial.ok) broken('the app has no initial state');
          else this.#state = initial.value;
          this.#last = { vid: 0, seqno: 0 };
          this.#syncedVid = 1;
          this.#recent.reset(this.#last);
          break;
        }
        case 'normal':
          if (this.#state === null) broken(`normal in view ${record.vid} without a state`);
          this.#syncedVid = record.vid;
          break;
        case 'stamped':
        case 'executed': {
          const last = this.#last;
          if (last === null) return broken(`${formatViewstamp(record.vs)} executed without a state`);
          // A primary persists its stamped requests again after a compaction's snapshot
          // (`ReplicaJournal.executed`); when that snapshot never became durable, the older
          // generation replayed before them holds them already.
          if (record.kind === 'stamped' && record.vs.vid === last.vid && record.vs.seqno <= last.seqno) break;
          if (!followsDirectly(last, record.vs)) broken(`${formatViewstamp(record.vs)} does not follow the state`);
          this.execute(record.vs, record.request);
          break;
        }
      }
    });
    if (this.#state !== null) {
      this.#log.info({ vs: formatViewstamp(this.#last), syncedVid: this.#syncedVid, replayed: durable.records.length, snapshot: snapshot !== null },
        'rsm: durable state restored');
    }
  }

  /**
   * The state held as a snapshot record (`why`), or null when none is held or the app cannot
   * marshal it (logged and counted by the guard; the caller tries again later).
   */
  snapshotRecord(why: RsmSnapshotRecord['why']): RsmSnapshotRecord | null {
    if (this.#state === null || this.#last === null) return null;
    const app = this.#app.marshal(this.#state);
    return app.ok ? { kind: 'snapshot', why, state: encodeWhole(this.#last, this.#table, app.value), syncedVid: this.#syncedVid } : null;
  }

  /**
   * Whether this state holds every request acknowledged up to view `vid`: it was the state of
   * view s (`synced(s)`) and its replica has been a member of every view since (`memberOf`), in
   * the records on this replica's disk (they survive restarts). `strict` is the test mutation
   * `strictCompleteness`.
   *
   * Why that suffices: requests are acknowledged only in an active view (its primary serves once
   * every member is normal), and every member of an active view executes every request
   * acknowledged in it. Had any view after s become active, this replica, a member of it, would
   * have been normal in it, so s would be higher. Hence nothing was acknowledged after s that
   * this replica lacks. All complete replicas therefore share the same s, and their states
   * differ only in unacknowledged requests at the end of view s, in one order: the most advanced
   * one contains the others.
   */
  completeIn(vid: number, memberOf: (vid: number) => boolean, strict: boolean): boolean {
    const s = this.#syncedVid;
    if (this.#state === null || s === null || vid === 0) return false;
    if (strict && vid - s >= 2) return false;
    for (let v = s; v <= vid; v++) if (!memberOf(v)) return false;
    return true;
  }

  /** The app state (for status pages and checkers; do not change it). */
  get state(): S | null {
    return this.#state;
  }

  /** Viewstamp of the last request executed here (or of the state copied); null: no state. */
  get last(): Viewstamp | null {
    return this.#last;
  }

  /** How many clients the client table holds (for status and tests). */
  get clients(): number {
    return this.#table.size;
  }

  /** The client table's replicated clock (null before the first sweep): what the next sweep advances. */
  get tableClockMs(): number | null {
    return this.#table.clockMs;
  }

  /**
   * Runs query `request` on the state held now, without executing or recording anything (the
   * serving primary's local read, `ReadGate`): null when no state is held, or when the client
   * table does not know the client with a lower number (a new client's first call, one the table
   * forgot, or a retry of a recorded one): such a query goes through the replicated path, which
   * records it like any request (an unmarked query of a client the table forgot runs there
   * without being recorded: `#decide`).
   */
  queryLocally(request: Request): Outcome | null {
    if (this.#state === null || !this.#table.knowsBefore(request.clientId, request.seq)) return null;
    return this.#app.query(this.#state, request, { clientId: request.clientId, seq: request.seq });
  }

  /** Whether the client table knows `clientId` below `seq` (`ClientTable.knowsBefore`). */
  knowsBefore(clientId: string, seq: number): boolean {
    return this.#state !== null && this.#table.knowsBefore(clientId, seq);
  }

  /**
   * Executes one request at viewstamp `vs`: the client table decides (see `Execution` and
   * `ClientTable`), and only a new request runs against the state and is recorded. A query
   * (`AppGuard.isQuery`) runs read-only through `AppGuard.query`, and is recorded all the same. A sweep of the
   * table (`sweepProc`) runs on the table alone. `digest` is the request's `requestDigest` if the
   * caller computed it already. The caller keeps the order (every replica executes the same
   * requests at the same viewstamps, from the same starting state).
   */
  execute(vs: Viewstamp, request: Request, digest: string = requestDigest(request)): Execution {
    invariant(this.#state !== null, () => `executing ${formatViewstamp(vs)} without state`);
    const execution = request.proc === sweepProc
      ? { kind: 'ran' as const, outcome: executeSweep(this.#table, request.args) }
      : this.#decide(vs, request, digest);
    this.#last = vs;
    this.#source = null;
    this.#recent.executed(vs, request);
    this.#log.debug({ vid: vs.vid, vs: formatViewstamp(vs), client: request.clientId, seq: request.seq, proc: request.proc, execution: execution.kind }, 'rsm: executed');
    return execution;
  }

  #decide(vs: Viewstamp, request: Request, digest: string): Execution {
    const { clientId, seq } = request;
    const table = this.#table;
    const query = this.#app.isQuery(request.proc);
    const where = { vid: vs.vid, vs: formatViewstamp(vs), client: clientId, seq };
    let known = this.#mutations.noClientTable === true ? { kind: 'new' as const } : table.check(request, digest, this.#mutations.wrongWindowSlot === true);
    if (known.kind === 'expired' && this.#mutations.noExpiredRefusal === true) known = { kind: 'new' };
    switch (known.kind) {
      case 'done':
        table.touch(clientId);
        return { kind: 'retry', outcome: known.outcome };
      case 'stale':
      case 'conflict':
        return { kind: known.kind };
      case 'expired': {
        // An unmarked query of a client the table does not know (or knows only as expired): a read
        // may run again, so it runs, read-only, but leaves the table as it is. Recording it would
        // make an entry (or end the expired mode) under which an older unmarked write of the same
        // client, still in flight, would run as new: a second time, if it ran before the entry went.
        if (query) return { kind: 'ran', outcome: this.#app.query(this.#state!, request, where) };
        const outcome = expiredOutcome(clientId, seq);
        table.recordRefusal(request, digest, outcome);
        return { kind: 'retry', outcome };
      }
      case 'full':
        return { kind: 'retry', outcome: fullOutcome(table.limits) };
      case 'window':
        return { kind: 'retry', outcome: windowOutcome(clientId, seq) };
      case 'new': {
        // The context comes from the replicated request alone, so every replica passes the same one.
        // A query runs read-only (`AppGuard.query`); replicated like this, it is recorded like any request.
        const context = { clientId, internal: request.internal === true };
        const outcome = query
          ? this.#app.query(this.#state!, request, where)
          : this.#app.execute(this.#state!, request.proc, request.args, context, where);
        table.record(request, digest, outcome);
        return { kind: 'ran', outcome };
      }
    }
  }

  /**
   * The requests executed after `after`, to bring a replica whose state stands there up to this
   * one by executing them, at most `maxBytes` of them; null when `after` is not on the stretch of
   * history kept (see `RecentRequests`), and empty when it is the last.
   */
  suffixAfter(after: Viewstamp, maxBytes: number): ExecutedRequest[] | null {
    return this.#recent.suffixAfter(after, maxBytes, maxSuffixRequests);
  }

  /**
   * What serves the state held to pullers, if it stands at `target`; null if it does not, or if
   * the app cannot marshal it (logged and counted; the next call tries again: callers ask at most
   * once per pull or status report, so a failing `marshalState` runs about once per
   * `syncRetryMs`, and one that recovers is used at once).
   */
  sourceAt(target: Viewstamp): SnapshotSource | null {
    if (this.#state === null || !sameViewstamp(this.#last, target)) return null;
    if (this.#source === null || !sameViewstamp(this.#source.last, target)) {
      const app = this.#app.marshal(this.#state);
      if (!app.ok) return null;
      this.#source = new SnapshotSource(target, this.#table, app.value);
    }
    return this.#source;
  }

  /**
   * The replicated state as one buffer (app state and client table, as streamed, at a fixed
   * viewstamp so that states are compared by content), or null (none held, or the app cannot
   * marshal it). For checkers and tests only.
   */
  snapshotBytes(): Uint8Array | null {
    if (this.#state === null || this.#last === null) return null;
    const app = this.#app.marshal(this.#state);
    return app.ok ? encodeWhole({ vid: 0, seqno: 0 }, this.#table, app.value) : null;
  }

  /**
   * Replaces the state with `copy`, pulled from `source` and meant to stand at `target`. A copy
   * that stands elsewhere, or whose app state the app cannot unmarshal, is not installed (logged;
   * the state held stays as it was): returns null. Otherwise returns the snapshot record the
   * replica must persist before it relies on the copy.
   */
  install(copy: DecodedState, target: Viewstamp, source: NodeId): RsmSnapshotRecord | null {
    if (!sameViewstamp(copy.last, target)) {
      this.#log.error({ source, target: formatViewstamp(target), at: formatViewstamp(copy.last) }, 'rsm: a state received stands elsewhere than asked; not installed');
      return null;
    }
    const state = this.#app.unmarshal(copy.app);
    if (!state.ok) return null;
    this.#state = state.value;
    this.#table = copy.table;
    this.#last = copy.last;
    this.#source = null;
    this.#recent.reset(copy.last);
    // What the replica persists before it uses the copy: the bytes received, as they came.
    return { kind: 'snapshot', why: 'installed', state: encodeWhole(copy.last, copy.table, copy.app), syncedVid: this.#syncedVid };
  }
}
