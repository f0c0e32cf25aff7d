import type { NodeId } from '../env/types.js';
import type { Json } from '../rsm/app.js';
import { limits } from '../options.js';
import type { RsmClientError } from './errors.js';
import type { CallResult } from './client-core.js';

/** The timers of one call; each runs per call, under `callTimerKey(timer, id)` (the call's `id`, which outlives a new number). */
export const clientTimers = { attempt: 'client-attempt', retry: 'client-retry', deadline: 'client-deadline', newClientWindow: 'client-new-window' } as const;
export type ClientTimer = (typeof clientTimers)[keyof typeof clientTimers];

/** The key of `timer` of the call with `id`: `<timer>#<id>`. */
export function callTimerKey(timer: ClientTimer, id: number): string {
  return `${timer}#${id}`;
}

/** The timer and call a key names; null for a key of no call. */
export function parseTimerKey(key: string): { readonly timer: ClientTimer; readonly id: number } | null {
  const at = key.lastIndexOf('#');
  const timer = key.slice(0, at) as ClientTimer;
  const id = Number(key.slice(at + 1));
  if (at < 0 || !Object.values(clientTimers).includes(timer) || !Number.isSafeInteger(id)) return null;
  return { timer, id };
}

/** A call as submitted: what to run, until when, and whom to tell. */
export interface Call {
  readonly proc: string;
  readonly args: Json;
  /** `args` as JSON text, written once when the call was submitted: every attempt sends the same text (the request's digest is taken from it). */
  readonly argsText: string;
  readonly deadlineMs: number;
  readonly done: (result: CallResult) => void;
}

/** A call in flight: it keeps its sequence number across every retry (a new one only after the table said it did not know the client). */
export interface InFlightCall extends Call {
  /** The call's own number in this client (its timers' keys): kept when the call is sent again under a new `seq`. */
  readonly id: number;
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

/**
 * The calls a client has in flight and how it numbers them (`ClientCore`): numbers go upwards,
 * never reused; `answeredBelow` is what every request says (the lowest number in flight, never
 * below `settledBelow`), and a call may start only while its number stays within
 * `limits.maxClientWindow` of it.
 *
 * Invariants: `calls` holds every call in flight by number, in increasing number (a `Map` keeps
 * insertion order, and numbers only grow); `byId` the same calls by id; `answeredBelow()` is at
 * most the number of every call in flight.
 */
export class CallsInFlight {
  /** The last number used. */
  #seq: number;
  /** Every number below this is settled whatever is in flight (raised when the table said it did not know the client). */
  #settledBelow = 0;
  readonly #calls = new Map<number, InFlightCall>();
  readonly #byId = new Map<number, InFlightCall>();
  #lastId = 0;

  /** `firstSeq`: the first call's number is this + 1 (`ClientCoreDeps.firstSeq`). */
  constructor(firstSeq: number) {
    this.#seq = firstSeq;
  }

  get size(): number {
    return this.#calls.size;
  }

  bySeq(seq: number): InFlightCall | undefined {
    return this.#calls.get(seq);
  }

  byId(id: number): InFlightCall | undefined {
    return this.#byId.get(id);
  }

  all(): InFlightCall[] {
    return [...this.#calls.values()];
  }

  /** Whether `seq` was settled by an expiry (`settleAll`): a late answer about it says its outcome is unknown. */
  settled(seq: number): boolean {
    return seq < this.#settledBelow;
  }

  /**
   * `call` in flight under the next number, to `target`, marked `first` or not; under `id` when it
   * is a call sent again (its timers go on), else under a new id.
   */
  start(call: Call, target: NodeId, markFirst: boolean, id = ++this.#lastId): InFlightCall {
    const { proc, args, argsText, deadlineMs, done } = call;
    const c: InFlightCall = { proc, args, argsText, deadlineMs, done, id, seq: ++this.#seq, markFirst, target, attempts: 0, failures: 0, redirects: 0, silent: new Set(), waiting: false, lastError: null };
    this.#calls.set(c.seq, c);
    this.#byId.set(id, c);
    return c;
  }

  /** `c` is no longer in flight under its number (it ended, or goes on under a new one: then `keepId`). */
  remove(c: InFlightCall, keepId = false): void {
    this.#calls.delete(c.seq);
    if (!keepId) this.#byId.delete(c.id);
  }

  /** Every number used so far is settled (the client table forgot this client). */
  settleAll(): void {
    this.#settledBelow = this.#seq + 1;
  }

  /** The lowest number not settled: the lowest in flight, or the next to use. */
  answeredBelow(): number {
    const lowest = this.#calls.keys().next();
    return Math.max(lowest.done === true ? this.#seq + 1 : lowest.value, this.#settledBelow);
  }

  /** Whether another call may start: fewer than `most` in flight, and its number within the window. */
  mayStart(most: number): boolean {
    return this.#calls.size < most && this.#seq + 1 < this.answeredBelow() + limits.maxClientWindow;
  }
}
