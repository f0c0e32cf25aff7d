import { invariant } from '../env/errors.js';
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
import { type Call, CallsInFlight, type InFlightCall, callTimerKey, clientTimers, parseTimerKey } from './client-calls.js';
import { limits } from '../options.js';
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

export { clientTimers } from './client-calls.js';

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

/** NOT_PRIMARY hints followed at once in a row, beyond the number of replicas known, before backing off. */
const extraRedirects = 1;
/** The exponential backoff stops doubling after this many steps (the cap `retryMaxMs` applies anyway). */
const maxBackoffDoublings = 30;
/** A backoff waits a random share of its ceiling in [jitterFloor, 1]: randomised so that clients spread out. */
const jitterFloor = 0.5;

/**
 * The client's core (design §5): learns the members of the current view (asking the replica it
 * tries, on its first call and after every failover), finds the primary, sends requests,
 * follows NOT_PRIMARY hints, backs off (with jitter) on BUSY, moves to the next replica when one
 * is unreachable or silent, and gives up only at the caller's deadline. Every retry of a call
 * carries the same `(clientId, seq)`, so the replicas execute it at most once. Synchronous like
 * every core: effects go to the outbox; results are upcalled.
 *
 * Many calls in flight: calls start in submission order, numbered upwards, up to
 * `ClientOptions.maxCallsInFlight` at once, and each goes its own way (its own target, timers and
 * backoff; what the client learns of the primary and the members is shared). Every request says
 * the lowest number still in flight (`answeredBelow`): the client table keeps the outcomes from
 * there on (`ClientTable`), so a call starts only while its number stays within
 * `limits.maxClientWindow` of it; calls beyond wait in a queue, in order.
 *
 * The client table may forget a client (see `ClientTable`). Until a call of this client has been
 * answered by the table, and again after the table said it does not know it, the client marks
 * its attempts `first` ("I am new"), for at most `newClientWindowMs` after a call's first attempt.
 * An unmarked attempt the table refuses (`client-expired`) either never ran (it was the call's only
 * attempt: the client sends the call again under a new number, as a new client's, and from then
 * on says every number below that one is settled, so that no request sent before can run after
 * it) or may have (`ClientExpiredError`, outcome unknown). A new client the table has no room
 * for yet (`client-table-full`) backs off as on BUSY.
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
  readonly #queue: Call[] = [];
  readonly #maxRequestBytes: number;
  readonly #calls: CallsInFlight;

  constructor(deps: ClientCoreDeps) {
    this.#replicas = new KnownReplicas(deps.members);
    this.#clusterConfirmed = deps.clusterConfirmed ?? false;
    this.clientId = deps.clientId;
    this.#random = deps.random;
    this.#log = deps.logger;
    this.#options = deps.options;
    const most = deps.options.maxCallsInFlight;
    if (!Number.isSafeInteger(most) || most < 1 || most > limits.maxClientWindow) {
      throw new RangeError(`client maxCallsInFlight must be an integer from 1 to ${limits.maxClientWindow} (limits.maxClientWindow), got ${most}`);
    }
    this.#calls = new CallsInFlight(deps.firstSeq ?? 0);
    this.#maxRequestBytes = deps.maxRequestBytes ?? Number.POSITIVE_INFINITY;
  }

  /** The replica this client currently believes is primary (null: none known). */
  get primary(): NodeId | null {
    return this.#primary;
  }

  /**
   * `server` accepted a stream that only the serving primary accepts (a feed subscription): take
   * it as the primary guess. A client that only subscribes makes no calls, so without this its
   * guess would stay on a primary that died, and everything following the guess would go there.
   */
  heardFromPrimary(server: NodeId): void {
    this.#replicas.hint(server);
    this.#primary = server;
  }

  /** Every replica the client knows now, those it learned from the cluster first. */
  get replicas(): readonly NodeId[] {
    return this.#replicas.all;
  }

  /** Calls submitted and not finished: in flight and queued. */
  get pending(): number {
    return this.#queue.length + this.#calls.size;
  }

  /** Calls in flight now. */
  get inFlight(): number {
    return this.#calls.size;
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
    this.#startQueued(out);
  }

  onAnswer(server: NodeId, a: ClientAnswer, out: ClientOutbox): void {
    this.#clusterConfirmed = true; // only a node of the cluster named answers at all
    if (a.kind === 'members') {
      if (this.#replicas.learnView(a.vid, a.members) && a.primary !== null) this.#primary = a.primary;
      return;
    }
    if (a.clientId !== this.clientId) return;
    const c = this.#calls.bySeq(a.seq);
    if (c === undefined) return; // a late answer to a finished call
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
        this.#finish(c, o.ok ? { ok: true, value: o.value } : { ok: false, error: new AppRejectedError(o.code, o.message) }, out);
        return;
      }
      case 'invalid':
        this.#finish(c, { ok: false, error: new InvalidArgumentError(a.field, a.reason) }, out);
        return;
      case 'stale':
        // Below the floor: either this client said so when it learned the table forgot it (the call may have run before), or another client uses this id.
        this.#finish(c, {
          ok: false,
          error: this.#calls.settled(c.seq)
            ? new ClientExpiredError(this.clientId, c.seq, c.attempts)
            : new InvalidArgumentError('clientId', `a request of client ${this.clientId} beyond this one settled it already: is this client id used by two clients at once?`),
        }, out);
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
   * The transport reports that request `seq` to `server` got no answer, and why. Each kind has its
   * own reaction: another cluster's server ends the call at once (`WrongClusterError`: no replica
   * of the wrong cluster can help); a request refused as malformed ends it too (nothing ran);
   * an overloaded server is backed off from, as BUSY (at least as long as it asked), and asked
   * again; anything else (down, timed out, not serving the service yet, failed) moves on to the
   * next replica.
   */
  onFailed(server: NodeId, failure: CallFailure, seq: number, out: ClientOutbox): void {
    const c = this.#calls.bySeq(seq);
    if (c === undefined || server !== c.target || !c.waiting) return;
    switch (failure.kind) {
      case 'wrong-cluster':
        if (this.#clusterConfirmed) {
          this.#moveOn(c, new UnavailableError(server, `a node of another cluster (${JSON.stringify(failure.actual)}) now`), out);
          return;
        }
        this.#finish(c, { ok: false, error: new WrongClusterError(server, failure.expected, failure.actual) }, out);
        return;
      case 'invalid-request':
        this.#finish(c, { ok: false, error: new InvalidArgumentError('request', failure.detail) }, out);
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
    const named = parseTimerKey(key);
    const c = named === null ? undefined : this.#calls.byId(named.id);
    if (c === undefined) return;
    switch (named!.timer) {
      case clientTimers.deadline:
        this.#finish(c, { ok: false, error: new DeadlineExceededError(c.deadlineMs, c.attempts, c.lastError) }, out);
        return;
      case clientTimers.attempt:
        if (c.waiting) this.#moveOn(c, new UnavailableError(c.target, `no answer within ${this.#options.attemptTimeoutMs} ms`), out);
        return;
      case clientTimers.retry:
        this.#send(c, c.target, out);
        return;
      case clientTimers.newClientWindow:
        c.markFirst = false;
        return;
    }
  }

  /**
   * The client table refused `c`'s request: it does not know this client. Refused on the call's
   * only attempt, the request never ran (that refusal was its one decision), so the call starts
   * over under a new number, marked as a new client's; otherwise an earlier attempt may have run
   * before the entry went, and the call ends with its outcome unknown. Either way every number
   * used so far is settled from now on (the table lifts its floor above them when the next call
   * runs, so no request this client sent before can run after it: another call in flight then
   * ends with its outcome unknown too).
   */
  #expired(c: InFlightCall, server: NodeId, out: ClientOutbox): void {
    this.#known = false;
    // Any request sent so far (this call's, or another's in flight) may retry one that ran before
    // the entry went: every number used is settled, so that the first marked call to run lifts
    // the table's floor above them all and none of them can run after it.
    this.#calls.settleAll();
    // The other calls in flight were sent before: each may have run, or may still (until that
    // marked call runs). Their outcomes are unknown now, and retrying them can only be refused.
    for (const other of this.#calls.all()) {
      if (other !== c) this.#finish(other, { ok: false, error: new ClientExpiredError(this.clientId, other.seq, other.attempts) }, out, false);
    }
    if (c.attempts > 1) {
      this.#finish(c, { ok: false, error: new ClientExpiredError(this.clientId, c.seq, c.attempts) }, out);
      return;
    }
    this.#log.debug({ client: this.clientId, seq: c.seq }, 'client: the cluster no longer knew this client; sending the call again as a new client\'s');
    this.#calls.remove(c, true);
    const again = this.#fresh(c, server, out, c.id); // its deadline keeps running; its number is the settled bound
    this.#send(again, server, out);
  }

  /** `call` in flight under the next number (under `id`, when it is a call sent again: its timers go on). */
  #fresh(call: Call, target: NodeId, out: ClientOutbox, id?: number): InFlightCall {
    const c = this.#calls.start(call, target, !this.#known, id);
    if (c.markFirst) out.setTimer(callTimerKey(clientTimers.newClientWindow, c.id), this.#options.newClientWindowMs);
    else out.cancelTimer(callTimerKey(clientTimers.newClientWindow, c.id));
    return c;
  }

  /** Starts queued calls, in order, while the bounds allow. */
  #startQueued(out: ClientOutbox): void {
    while (this.#queue.length > 0 && this.#calls.mayStart(this.#options.maxCallsInFlight)) {
      const call = this.#queue.shift()!;
      const target = this.#primary ?? this.#replicas.pick(this.#random);
      const c = this.#fresh(call, target, out);
      out.setTimer(callTimerKey(clientTimers.deadline, c.id), c.deadlineMs);
      this.#send(c, target, out);
    }
  }

  #send(c: InFlightCall, target: NodeId, out: ClientOutbox): void {
    c.target = target;
    c.waiting = true;
    c.attempts++;
    const answeredBelow = this.#calls.answeredBelow();
    invariant(answeredBelow <= c.seq, () => `client ${this.clientId} would send ${c.seq} saying every number below ${answeredBelow} is settled`);
    const request = { clientId: this.clientId, seq: c.seq, proc: c.proc, args: c.args, argsText: c.argsText, first: c.markFirst, answeredBelow };
    out.send(target, { kind: 'invoke', request });
    if (this.#askMembers) {
      // Alongside the request, not before it: learning the members costs the call no time.
      this.#askMembers = false;
      out.send(target, { kind: 'members' });
    }
    out.setTimer(callTimerKey(clientTimers.attempt, c.id), this.#options.attemptTimeoutMs);
  }

  /** `c.target` failed: try the next replica at once, or back off once every replica was tried. */
  #moveOn(c: InFlightCall, error: RsmClientError, out: ClientOutbox): void {
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

  #backOff(c: InFlightCall, target: NodeId, atLeastMs: number, out: ClientOutbox): void {
    const { retryBaseMs, retryMaxMs } = this.#options;
    const ceiling = Math.min(retryMaxMs, retryBaseMs * 2 ** Math.min(Math.max(c.failures - 1, 0), maxBackoffDoublings));
    const delay = Math.max(atLeastMs, ceiling * (jitterFloor + (1 - jitterFloor) * this.#random.next()));
    c.target = target;
    c.waiting = false;
    out.cancelTimer(callTimerKey(clientTimers.attempt, c.id));
    out.setTimer(callTimerKey(clientTimers.retry, c.id), delay);
  }

  /** Ends call `c` with `result`; then starts queued calls unless told not to (`startQueued`: a caller that goes on sending first). */
  #finish(c: InFlightCall, result: CallResult, out: ClientOutbox, startQueued = true): void {
    this.#calls.remove(c);
    for (const timer of Object.values(clientTimers)) out.cancelTimer(callTimerKey(timer, c.id));
    if (!result.ok) this.#log.debug({ client: this.clientId, seq: c.seq, error: result.error.message }, 'client: call failed');
    out.upcall(() => c.done(result));
    if (startQueued) this.#startQueued(out);
  }

  /** `server` failed, or is no longer the primary: forget it as the primary, and let the next replica tried tell the current members. */
  #failOver(server: NodeId): void {
    if (server === this.#primary) this.#primary = null;
    this.#askMembers = true;
  }
}
