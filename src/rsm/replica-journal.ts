import type { RsmOptions } from '../options.js';
import type { Execution, Outcome } from './client-table.js';
import type { DurableReplicaState, RsmSnapshotRecord } from './durable-records.js';
import type { ReplicatedState } from './execution.js';
import type { Request } from './messages.js';
import type { ReplicaObserver, RsmMutations, RsmOutbox } from './replica-deps.js';
import { requestBytes } from './request-bytes.js';
import type { Viewstamp } from './viewstamp.js';

/** A request the serving primary stamped and has not executed yet. */
export interface StampedRequest {
  readonly vs: Viewstamp;
  readonly request: Request;
}

/**
 * What a replica writes to its durable store as its state changes (design §4, durability; the
 * records are `durable-records.ts`'s), and when it writes a snapshot. Every method records into
 * the outbox of the handler that changed the state, so the record is durable before any message
 * resting on it leaves (persist → send).
 *
 * Invariant: `#since` counts the requests (and their bytes) executed since the state held was
 * last written whole (a snapshot, an installed copy, or the snapshot a restore started from).
 */
export class ReplicaJournal<S> {
  readonly #held: ReplicatedState<S>;
  readonly #options: RsmOptions;
  readonly #observer: ReplicaObserver;
  readonly #mutations: RsmMutations;
  /** A genesis replica has not persisted its `genesis` record yet (it does with its first batch). */
  #genesisPending: boolean;
  #since = { requests: 0, bytes: 0 };

  /** `restored`: what the replica was rebuilt from (its executed records count towards the next snapshot). */
  constructor(held: ReplicatedState<S>, options: RsmOptions, observer: ReplicaObserver, mutations: RsmMutations, genesis: boolean, restored: DurableReplicaState | undefined) {
    this.#held = held;
    this.#mutations = mutations;
    this.#options = options;
    this.#observer = observer;
    this.#genesisPending = genesis && held.state !== null;
    for (const r of restored?.records ?? []) if (r.kind === 'executed' || r.kind === 'stamped') this.#counted(r.request);
  }

  /** The first batch of a genesis replica: its initial state, before anything it ever sends. */
  genesisIfPending(out: RsmOutbox): void {
    if (!this.#genesisPending) return;
    out.persist({ kind: 'genesis' });
    this.#genesisPending = false;
  }

  /** The state held became view `vid`'s state: durable before the replica acknowledges or serves anything in it. */
  synced(vid: number, out: RsmOutbox): void {
    this.#held.synced(vid);
    out.persist({ kind: 'normal', vid });
  }

  /** A copy replaced the state held (`record`, from `ReplicatedState.install`): durable before the replica relies on it. */
  installed(record: RsmSnapshotRecord, last: Viewstamp, out: RsmOutbox): void {
    out.persist(record);
    this.#since = { requests: 0, bytes: 0 };
    out.upcall(() => this.#observer.installed?.(last));
  }

  /**
   * The serving primary stamped `request` at `vs` (see `RsmRecord`'s `stamped`): its record, in
   * the batch whose invokes leave ahead of it. Its reply, a later message, waits for it.
   */
  stamped(vs: Viewstamp, request: Request, out: RsmOutbox): void {
    if (this.#mutations.stampNotDurable === true) return;
    out.persist({ kind: 'stamped', vs, request });
  }

  /**
   * Records an execution (`ReplicatedState.execute` decided it); a snapshot when one is due; the
   * observer told. `stampedAfter` is set when the request executes on the primary that stamped
   * it: its `stamped` record stands for the execution, so nothing more is appended, and a
   * compaction's snapshot (which lets the log behind it go) is followed by the `stamped` records
   * of the requests stamped after this one and not executed yet (`stampedAfter()`, in seqno order),
   * so that the disk keeps every stamped request.
   */
  executed(vs: Viewstamp, request: Request, execution: Execution, out: RsmOutbox, stampedAfter?: () => Iterable<StampedRequest>): Execution {
    if (stampedAfter === undefined) out.persist({ kind: 'executed', vs, request });
    if (this.#counted(request)) {
      const snapshot = this.#held.snapshotRecord('compaction');
      if (snapshot !== null) {
        out.persist(snapshot);
        this.#since = { requests: 0, bytes: 0 };
        if (stampedAfter !== undefined) for (const s of stampedAfter()) this.stamped(s.vs, s.request, out);
      }
    }
    const outcome: Outcome = execution.kind === 'ran' || execution.kind === 'retry' ? execution.outcome
      : { ok: false, code: execution.kind, message: 'another request of this client was executed under this number or a later one' };
    const ran = execution.kind === 'ran';
    out.upcall(() => this.#observer.executed?.(vs, request, outcome, ran));
    return execution;
  }

  /** Counts an executed request towards the next snapshot; true when one is due (`RsmOptions.snapshotEvery…`). */
  #counted(request: Request): boolean {
    const since = this.#since;
    since.requests++;
    since.bytes += requestBytes(request);
    return since.requests >= this.#options.snapshotEveryRequests || since.bytes >= this.#options.snapshotEveryBytes;
  }
}
