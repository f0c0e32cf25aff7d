import type { NodeId } from '../env/types.js';
import type { Json } from '../rsm/app.js';
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
