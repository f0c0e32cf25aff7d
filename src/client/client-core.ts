import type { Logger } from '../env/logger.js';
import type { Outbox } from '../env/outbox.js';
import type { Random } from '../env/random.js';
import { type CallFailure, describeCallFailure } from '../env/transport.js';
import type { NodeId } from '../env/types.js';
import type { ClientOptions } from '../options.js';
import type { Json } from '../rsm/app.js';
import { tableCodes } from '../rsm/client-table.js';
import { checkCall } from './call-input.js';
import type { ClientAnswer, ClientCall } from '../rsm/messages.js';
import { KnownReplicas } from './known-replicas.js';
import {
  AppRejectedError,
  BusyError,
  ClientExpiredError,
  DeadlineExceededError,
  InvalidArgumentError,
  NotPrimaryError,
  type RsmClientError,
  UnavailableError,
  WrongClusterError,
} from './errors.js';

export type ClientOutbox = Outbox<ClientCall, never>;

export type CallResult = { readonly ok: true; readonly value: Json } | { readonly ok: false; readonly error: RsmClientError };

export const clientTimers = { attempt: 'client-attempt', retry: 'client-retry', deadline: 'client-deadline', newClientWindow: 'client-new-window' } as const;

/** NOT_PRIMARY hints followed at once in a row, beyond the number of replicas known, before backing off. */
const extraRedirects = 1;
/** The exponential backoff stops doubling after this many steps (the cap `retryMaxMs` applies anyway). */
const maxBackoffDoublings = 30;
/** A backoff waits a random share of its ceiling in [jitterFloor, 1]: randomised so that clients spread out. */
const jitterFloor = 0.5;

interface Call {
  readonly proc: string;
  readonly args: Json;
  /** `args` as JSON text, written once when the call was submitted: every attempt sends the same text (the request's digest is taken from it). */
  readonly argsText: string;
  readonly deadlineMs: number;
  readonly done: (result: CallResult) => void;
}

/** The call being worked on: it keeps its sequence number across every retry. */
interface Current extends Call {
  readonly seq: number;
  /** Mark the attempts as a new client's (see `ClientCore`); cleared when `newClientWindowMs` passed. */
  markFirst: boolean;
  target: NodeId;
  attempts: number;
  /** Failures (busy, every replica unreachable, no primary known) in this call: drives the backoff. */
  failures: number;
  /** NOT_PRIMARY hints followed at once in a row; a hint that keeps bouncing is followed after a backoff. */
  redirects: number;
  /** Replicas tried without an answer since the last useful one (to know when all were tried). */
  readonly silent: Set<NodeId>;
  /**
   * True while an attempt to `target` awaits its answer; false while backing off. Only an answer
   * from the current target while waiting may redirect or back off: a late or duplicated answer
   * of an earlier attempt must not start more attempts.
   */
  waiting: boolean;
  lastError: RsmClientError | null;
}

export interface ClientCoreDeps {
  /** Unique per client; the at-most-once key together with the sequence number. */
  readonly clientId: string;
  /**
   * Replicas to start from (any members of the cluster). The client learns the current members
   * and the primary from the cluster, and keeps these as the fallback (see `KnownReplicas`).
   */
  readonly members: readonly NodeId[];
  /**
   * The first call's sequence number is this + 1. A client that restarts under the same id must
   * start above every number it used before (the client table keys on them); `RsmClient` takes
   * it from the clock. Default 0.
   */
  readonly firstSeq?: number;
  /**
   * The cluster is known to be the one this client names (`connect()` found it, or a replica
   * answered). Until then a node of another cluster ends a call at once (`WrongClusterError`: the
   * client was pointed at the wrong cluster); after, it is one unusable replica among the
   * addresses kept (e.g. a removed member's port reused by another cluster), and the call moves
   * on. Default false.
   */
  readonly clusterConfirmed?: boolean;
  /** Largest request (arguments as JSON) sent; a larger one is refused here, certainly not executed. */
  readonly maxRequestBytes?: number;
  readonly random: Random;
  readonly logger: Logger;
  /** Resolved where the client is composed (`RsmClient`: `withDefaults`). */
  readonly options: ClientOptions;
}

/**
 * The client's core (design §5): learns the members of the current view (asking the replica it
 * tries, on its first call and after every failover), finds the primary, sends a request,
 * follows NOT_PRIMARY hints, backs off (with jitter) on BUSY, moves to the next replica when one
 * is unreachable or silent, and gives up only at the caller's deadline. Every retry of a call carries the same
 * `(clientId, seq)`, so the replicas execute it at most once. Calls are run one at a time, in
 * submission order (one request outstanding per client id, as the client table requires).
 * Synchronous like every core: effects go to the outbox; results are upcalled.
 *
 * The client table may forget a client (see `ClientTable`). Until a call of this client has been
 * answered by the table, and again after the table said it does not know it, the client marks
 * its attempts `first` ("I am new"), for at most `newClientWindowMs` after a call's first attempt.
 * An unmarked attempt the table refuses (`client-expired`) either never ran (it was the call's only
 * attempt: the client sends the call again under a new number, as a new client's) or may have
 * (`ClientExpiredError`, outcome unknown). A new client the table has no room for yet
 * (`client-table-full`) backs off as on BUSY.
 */
export class ClientCore {
  readonly clientId: string;
  readonly #random: Random;
  readonly #log: Logger;
  readonly #options: ClientOptions;
  readonly #replicas: KnownReplicas;
  #primary: NodeId | null = null;
  /** See `ClientCoreDeps.clusterConfirmed`; set by the first answer from any replica. */
  #clusterConfirmed: boolean;
  /**
   * Ask the next replica tried for the members of its view (design §5): true until the client
   * first asked, and again after every failover, so the member list stays current.
   */
  #askMembers = true;
  /** The client table holds this client, as far as it knows: its attempts go unmarked. */
  #known = false;
  #seq = 0;
  readonly #queue: Call[] = [];
  readonly #maxRequestBytes: number;
  #current: Current | null = null;

  constructor(deps: ClientCoreDeps) {
    this.#replicas = new KnownReplicas(deps.members);
    this.#clusterConfirmed = deps.clusterConfirmed ?? false;
    this.clientId = deps.clientId;
    this.#random = deps.random;
    this.#log = deps.logger;
    this.#options = deps.options;
    this.#seq = deps.firstSeq ?? 0;
    this.#maxRequestBytes = deps.maxRequestBytes ?? Number.POSITIVE_INFINITY;
  }

  /** The replica this client currently believes is primary (null: none known). */
  get primary(): NodeId | null {
    return this.#primary;
  }

  /** Every replica the client knows now, those it learned from the cluster first. */
  get replicas(): readonly NodeId[] {
    return this.#replicas.all;
  }

  get pending(): number {
    return this.#queue.length + (this.#current === null ? 0 : 1);
  }

  /** Queues a call; `done` is upcalled with its result. `deadlineMs` counts from when the call starts. */
  submit(proc: string, args: Json, deadlineMs: number | undefined, done: (result: CallResult) => void, out: ClientOutbox): void {
    const deadline = deadlineMs ?? this.#options.defaultDeadlineMs;
    const checked = checkCall(proc, args, deadline, this.#maxRequestBytes);
    if (!checked.ok) {
      out.upcall(() => done({ ok: false, error: checked.error }));
      return;
    }
    this.#queue.push({ proc, args, argsText: checked.argsText, deadlineMs: deadline, done });
    if (this.#current === null) this.#startNext(out);
  }

  onAnswer(server: NodeId, a: ClientAnswer, out: ClientOutbox): void {
    this.#clusterConfirmed = true; // only a node of the cluster named answers at all
    if (a.kind === 'members') {
      if (this.#replicas.learnView(a.vid, a.members) && a.primary !== null) this.#primary = a.primary;
      return;
    }
    const c = this.#current;
    if (c === null || a.clientId !== this.clientId || a.seq !== c.seq) return; // a late answer to a finished call
    // Only terminal answers count from anyone; the others only from the attempt under way.
    const current = c.waiting && server === c.target;
    if ((a.kind === 'not-primary' || a.kind === 'busy') && !current) return;
    switch (a.kind) {
      case 'executed': {
        const o = a.outcome;
        if (!o.ok && o.code === tableCodes.expired) {
          this.#expired(c, server, out);
          return;
        }
        if (!o.ok && o.code === tableCodes.full) {
          if (!current) return;
          c.lastError = new BusyError(server, 0, o.message);
          c.failures++;
          this.#backOff(c, server, 0, out);
          return;
        }
        this.#known = true;
        this.#primary = server;
        this.#finish(o.ok ? { ok: true, value: o.value } : { ok: false, error: new AppRejectedError(o.code, o.message) }, out);
        return;
      }
      case 'invalid':
        this.#finish({ ok: false, error: new InvalidArgumentError(a.field, a.reason) }, out);
        return;
      case 'stale':
        this.#finish({ ok: false, error: new InvalidArgumentError('clientId', `a newer request of client ${this.clientId} was executed already: is this client id used by two clients at once?`) }, out);
        return;
      case 'not-primary': {
        c.lastError = new NotPrimaryError(server, a.primary, a.vid);
        c.silent.delete(server);
        if (server === this.#primary) this.#failOver(server);
        if (a.primary !== null && a.primary !== server) {
          this.#replicas.hint(a.primary);
          this.#primary = a.primary;
          // Follow the hint at once, unless hints keep bouncing between replicas that disagree
          // (a view change under way): then back off first, and still go where it points.
          if (++c.redirects <= this.#replicas.all.length + extraRedirects) {
            this.#send(c, a.primary, out);
            return;
          }
          c.redirects = 0;
          c.failures++;
          this.#backOff(c, a.primary, 0, out);
          return;
        }
        // Nobody knows a primary (the view is forming): back off, growing, and ask elsewhere.
        c.failures++;
        this.#backOff(c, this.#replicas.next(server, c.silent), 0, out);
        return;
      }
      case 'busy':
        c.lastError = new BusyError(server, a.retryAfterMs, a.reason);
        c.silent.delete(server);
        c.redirects = 0;
        c.failures++;
        this.#backOff(c, server, a.retryAfterMs, out);
        return;
    }
  }

  /**
   * The transport reports that a request to `server` got no answer, and why. Each kind has its
   * own reaction: another cluster's server ends the call at once (`WrongClusterError`: no replica
   * of the wrong cluster can help); a request refused as malformed ends it too (nothing ran);
   * an overloaded server is backed off from, as BUSY (at least as long as it asked), and asked again; anything else (down,
   * timed out, not serving the service yet, failed) moves on to the next replica.
   */
  onFailed(server: NodeId, failure: CallFailure, out: ClientOutbox): void {
    const c = this.#current;
    if (c === null || server !== c.target || !c.waiting) return;
    switch (failure.kind) {
      case 'wrong-cluster':
        if (this.#clusterConfirmed) {
          this.#moveOn(c, new UnavailableError(server, `a node of another cluster (${JSON.stringify(failure.actual)}) now`), out);
          return;
        }
        this.#finish({ ok: false, error: new WrongClusterError(server, failure.expected, failure.actual) }, out);
        return;
      case 'invalid-request':
        this.#finish({ ok: false, error: new InvalidArgumentError('request', failure.detail) }, out);
        return;
      case 'overloaded':
        c.lastError = new BusyError(server, failure.retryAfterMs ?? 0, failure.detail);
        c.failures++;
        this.#backOff(c, server, failure.retryAfterMs ?? 0, out);
        return;
      case 'unreachable':
      case 'timeout':
      case 'unimplemented':
      case 'internal':
      case 'invalid-answer':
        this.#moveOn(c, new UnavailableError(server, describeCallFailure(failure)), out);
        return;
    }
  }

  onTimer(key: string, out: ClientOutbox): void {
    const c = this.#current;
    if (c === null) return;
    if (key === clientTimers.deadline) {
      this.#finish({ ok: false, error: new DeadlineExceededError(c.deadlineMs, c.attempts, c.lastError) }, out);
    } else if (key === clientTimers.attempt) {
      if (!c.waiting) return;
      this.#moveOn(c, new UnavailableError(c.target, `no answer within ${this.#options.attemptTimeoutMs} ms`), out);
    } else if (key === clientTimers.retry) {
      this.#send(c, c.target, out);
    } else if (key === clientTimers.newClientWindow) {
      c.markFirst = false;
    }
  }

  /**
   * The client table refused `c`'s request: it does not know this client. Refused on the call's
   * only attempt, the request never ran (that refusal was its one decision), so the call starts
   * over under a new number, marked as a new client's; otherwise an earlier attempt may have run
   * before the entry went, and the call ends with its outcome unknown.
   */
  #expired(c: Current, server: NodeId, out: ClientOutbox): void {
    this.#known = false;
    if (c.attempts > 1) {
      this.#finish({ ok: false, error: new ClientExpiredError(this.clientId, c.seq, c.attempts) }, out);
      return;
    }
    this.#log.debug({ client: this.clientId, seq: c.seq }, 'client: the cluster no longer knew this client; sending the call again as a new client\'s');
    this.#current = this.#fresh(c, server, out);
    this.#send(this.#current, server, out);
  }

  /** `call` as the current call under the next number (its deadline keeps running). */
  #fresh(call: Call, target: NodeId, out: ClientOutbox): Current {
    const c: Current = { ...call, seq: ++this.#seq, markFirst: !this.#known, target, attempts: 0, failures: 0, redirects: 0, silent: new Set(), waiting: false, lastError: null };
    if (c.markFirst) out.setTimer(clientTimers.newClientWindow, this.#options.newClientWindowMs);
    else out.cancelTimer(clientTimers.newClientWindow);
    return c;
  }

  #startNext(out: ClientOutbox): void {
    const call = this.#queue.shift();
    if (call === undefined) return;
    const target = this.#primary ?? this.#replicas.pick(this.#random);
    const c = this.#fresh(call, target, out);
    this.#current = c;
    out.setTimer(clientTimers.deadline, c.deadlineMs);
    this.#send(c, target, out);
  }

  #send(c: Current, target: NodeId, out: ClientOutbox): void {
    c.target = target;
    c.waiting = true;
    c.attempts++;
    out.send(target, { kind: 'invoke', request: { clientId: this.clientId, seq: c.seq, proc: c.proc, args: c.args, argsText: c.argsText, first: c.markFirst } });
    if (this.#askMembers) {
      // Alongside the request, not before it: learning the members costs the call no time.
      this.#askMembers = false;
      out.send(target, { kind: 'members' });
    }
    out.setTimer(clientTimers.attempt, this.#options.attemptTimeoutMs);
  }

  /** `c.target` failed: try the next replica at once, or back off once every replica was tried. */
  #moveOn(c: Current, error: RsmClientError, out: ClientOutbox): void {
    c.lastError = error;
    c.silent.add(c.target);
    this.#failOver(c.target);
    const next = this.#replicas.next(c.target, c.silent);
    if (c.silent.size >= this.#replicas.all.length) {
      c.silent.clear();
      c.failures++;
      this.#backOff(c, next, 0, out);
    } else {
      this.#send(c, next, out);
    }
  }

  #backOff(c: Current, target: NodeId, atLeastMs: number, out: ClientOutbox): void {
    const { retryBaseMs, retryMaxMs } = this.#options;
    const ceiling = Math.min(retryMaxMs, retryBaseMs * 2 ** Math.min(Math.max(c.failures - 1, 0), maxBackoffDoublings));
    const delay = Math.max(atLeastMs, ceiling * (jitterFloor + (1 - jitterFloor) * this.#random.next()));
    c.target = target;
    c.waiting = false;
    out.cancelTimer(clientTimers.attempt);
    out.setTimer(clientTimers.retry, delay);
  }

  #finish(result: CallResult, out: ClientOutbox): void {
    const c = this.#current!;
    this.#current = null;
    out.cancelTimer(clientTimers.attempt);
    out.cancelTimer(clientTimers.retry);
    out.cancelTimer(clientTimers.deadline);
    out.cancelTimer(clientTimers.newClientWindow);
    if (!result.ok) this.#log.debug({ client: this.clientId, seq: c.seq, error: result.error.message }, 'client: call failed');
    out.upcall(() => c.done(result));
    this.#startNext(out);
  }

  /** `server` failed, or is no longer the primary: forget it as the primary, and let the next replica tried tell the current members. */
  #failOver(server: NodeId): void {
    if (server === this.#primary) this.#primary = null;
    this.#askMembers = true;
  }
}
