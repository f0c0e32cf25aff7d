import type { Logger } from '../env/logger.js';
import type { ReturnAddress } from '../env/transport.js';
import type { NodeId } from '../env/types.js';
import type { RsmOptions } from '../options.js';
import type { ReplicatedState } from './execution.js';
import { PrimaryLease } from './lease.js';
import type { Request } from './messages.js';
import type { Pipeline } from './pipeline.js';
import { ReadGate } from './read-gate.js';
import { type ReplicaObserver, type RsmMutations, type RsmOutbox, rsmTimers } from './replica-deps.js';
import { formatViewstamp } from './viewstamp.js';

export interface ServingPrimaryDeps<S> {
  readonly self: NodeId;
  readonly vid: number;
  /** The members of the view other than this primary. */
  readonly backups: readonly NodeId[];
  readonly options: RsmOptions;
  readonly mutations: RsmMutations;
  readonly clock: { now(): number };
  readonly log: Logger;
  readonly observer: ReplicaObserver;
  readonly held: ReplicatedState<S>;
  /** The view's requests in flight (replicated writes). */
  readonly pipeline: Pipeline;
  /** Whether `proc` is one of the app's queries (`App.queries`). */
  readonly isQuery: (proc: string) => boolean;
}

/**
 * The serving primary's work in one view (mode `primary` of the `Replica`): its requests in
 * flight (`Pipeline`), its lease (`PrimaryLease`: asked every `leaseRenewMs`) and the queries it
 * answers alone (`ReadGate`). Made when the view starts serving, dropped (`leave`) when it ends.
 */
export class ServingPrimary<S> {
  readonly pipeline: Pipeline;
  readonly lease: PrimaryLease;
  readonly reads: ReadGate;
  readonly #deps: ServingPrimaryDeps<S>;

  constructor(deps: ServingPrimaryDeps<S>) {
    this.#deps = deps;
    const { vid, self, backups, options, clock, held, observer } = deps;
    this.pipeline = deps.pipeline;
    this.lease = new PrimaryLease({ vid, backups, leaseMs: options.leaseMs, now: () => clock.now(), alwaysHeld: deps.mutations.serveWithoutLease === true });
    this.reads = new ReadGate({
      self,
      vid,
      lease: this.lease,
      options,
      now: () => clock.now(),
      run: (request) => held.queryLocally(request),
      confirm: (out) => this.#ask(out),
      answered: (request, outcome, out) => {
        const atMs = clock.now();
        out.upcall(() => observer.queryAnswered?.(vid, request, outcome, atMs));
      },
    });
  }

  /** Asks for the first lease at once (one round trip to the first grant). */
  start(out: RsmOutbox): void {
    this.#ask(out);
    this.#leaseMoved(Number.NEGATIVE_INFINITY, out); // a view of one holds it from the start
  }

  /**
   * A client's request. A query is answered here alone when the client table knows its client
   * below its number (see `ReplicatedState.queryLocally`); otherwise, and for every write, it is
   * replicated. Writes need no lease: each is confirmed by every backup's acknowledgement, which a
   * deposed primary never gets (its client's attempt timeout moves it on), and a primary whose
   * lease cannot hold (a backup slower than a `leaseMs` round trip) still serves them.
   */
  submit(from: ReturnAddress, r: Request, out: RsmOutbox): void {
    if (this.#deps.isQuery(r.proc) && r.internal !== true && this.#deps.held.knowsBefore(r.clientId, r.seq)) this.reads.submit(from, r, out);
    else this.pipeline.submit(from, r, out);
  }

  /** Backup `from` granted lease round `round` of this view. */
  onGrant(from: NodeId, round: number, out: RsmOutbox): void {
    const before = this.lease.validUntil;
    if (!this.lease.grant(from, round)) return;
    this.#leaseMoved(before, out);
    this.reads.onGrant(out);
  }

  /** The renew timer: says once that the lease lapsed, gives up on stale queries, asks again. */
  onRenewTimer(out: RsmOutbox): void {
    const { self, vid, log, held } = this.#deps;
    const lapsed = this.lease.lapsedNews(self);
    if (lapsed !== null) log.warn({ vid, vs: formatViewstamp(held.last) }, `rsm: ${lapsed}`);
    this.reads.onTick(out);
    this.#ask(out);
  }

  /** The view is being left: requests and queries still waiting are told to retry; the lease is given up. */
  leave(out: RsmOutbox): void {
    this.pipeline.abandon(out);
    this.reads.abandon(out);
    const { vid, observer } = this.#deps;
    out.upcall(() => observer.leaseChanged?.(vid, Number.NEGATIVE_INFINITY));
    out.cancelTimer(rsmTimers.leaseRenew);
  }

  /** Opens the next lease round and asks every backup (the renew timer then fires again). */
  #ask(out: RsmOutbox): void {
    const round = this.lease.open();
    // The ask rests on nothing durable: it leaves at once (its time was taken before it left).
    const { leaseMs, maxClockDriftPpm } = this.#deps.options;
    for (const b of this.#deps.backups) out.sendVolatile(b, { kind: 'lease-ask', vid: this.#deps.vid, round, leaseMs, maxDriftPpm: maxClockDriftPpm });
    out.setTimer(rsmTimers.leaseRenew, this.#deps.options.leaseRenewMs);
  }

  #leaseMoved(before: number, out: RsmOutbox): void {
    const until = this.lease.validUntil;
    if (until === before) return;
    const { vid, observer } = this.#deps;
    out.upcall(() => observer.leaseChanged?.(vid, until));
  }
}
