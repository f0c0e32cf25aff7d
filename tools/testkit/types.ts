import type { App, Json } from '../../src/rsm/app.js';

/**
 * The testkit's vocabulary (`synod/testkit`): what a user gives `simulateApp` and what it gives
 * back. Everything here is about the user's own app; nothing names synod's internals.
 */

/** One call a client makes: a procedure of the app and its arguments (a JSON value). */
export interface Call {
  readonly proc: string;
  readonly args: Json;
  /**
   * The client that made it, as the handler's context names it (`HandlerContext.clientId`): set
   * on the calls of a recorded history (so a model can tell clients apart, as the app may);
   * `nextCall` leaves it out. Absent: a call of no client in particular (`anonymousCall`).
   */
  readonly clientId?: string;
}

/**
 * What a client saw of a call that ran: the app's reply, or the code of the `AppError` the app
 * refused it with (the request still executed: it counts, and it may have changed the state).
 * A handler that throws anything else is answered with the code `handler-error`.
 */
export type Outcome = { readonly ok: true; readonly value: Json } | { readonly ok: false; readonly code: string };

/** What one step of a sequential model does: the next state, and the outcome a client must see. */
export interface ModelStep<M> {
  readonly state: M;
  readonly outcome: Outcome;
}

/**
 * A sequential specification of an app: what one copy of it, called one call at a time, does.
 * The client history of a simulation must be explainable by some order of its calls (one that
 * respects real time) run through this model, each outcome equal to what the client saw (JSON
 * equality). A call whose outcome the client never learnt (its deadline passed) may have taken
 * effect at any time after it was made, or never.
 *
 * Without a model, `simulateApp` uses the app itself (`appAsModel`). A model of your own is a
 * stronger specification: it says what the app should do, not what it does.
 *
 * `M` is the model's state; `S` the app's (only `stateOf` sees it).
 */
export interface SequentialModel<M, S = unknown> {
  /** Names the model in reports and pictures. */
  readonly name?: string;
  /** The state of a fresh app (what a new cluster starts from). */
  init(): M;
  /**
   * Runs `call` against `state`. Must not change `state` (the checker backtracks and comes back
   * to it): return a new state. Must be deterministic: the same state and call, the same step.
   */
  step(state: M, call: Call): ModelStep<M>;
  /**
   * Identifies a state: two states with equal keys must behave alike from then on (the checker
   * merges them); equal states should give equal keys (else checking is slower, never wrong).
   */
  key(state: M): string;
  /**
   * Optional, for speed: the part of the state a call touches (e.g. its key in a key-value
   * store). Calls of different parts must never affect each other; each part is then checked on
   * its own, from `init()`.
   */
  partitionBy?(call: Call): string;
  /**
   * Optional: the model state that an app state stands for (of the part `part`, when the model
   * partitions). With it, the replicas' final state is checked too: it must be the state some
   * order of the clients' calls leads to, which catches an acknowledged call lost (or one applied
   * twice) even when no client read it afterwards.
   */
  stateOf?(appState: S, part?: string): M;
  /** A short description of a state, for the explanation of a violation; default: its key. */
  describeState?(state: M): string;
}

/**
 * The seeded source of randomness a client loop draws from. Draw only from it (no
 * `Math.random`, no clock): a seed then replays a run exactly.
 */
export interface SeededRandom {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  /** An integer in [lo, hi]. */
  between(lo: number, hi: number): number;
  /** A float in [lo, hi). */
  uniform(lo: number, hi: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** One of `items` (not empty). */
  pick<T>(items: readonly T[]): T;
}

/** The client `nextCall` draws a call for. */
export interface SimulatedClient {
  /** Its id (`c1`, `c2` …), as the history and its picture name it. */
  readonly id: string;
  /** 0 for `c1`, 1 for `c2` … */
  readonly index: number;
  /** How many calls it made before this one (so `${id}:${calls}` is unique in the run). */
  readonly calls: number;
}

/** What `simulateApp` runs: the app, a seed, the clients' calls, and optionally the model and shape. */
export interface SimulateAppOptions<S, M = Uint8Array> {
  readonly app: App<S>;
  /** Replays a run exactly (a non-negative integer below 2^32). */
  readonly seed: number;
  /**
   * The next call of `client`, drawn from `rng` only. Each client makes one call at a time, then
   * pauses a little and asks for its next, until the run stops it. Return procedures the app has.
   */
  readonly nextCall: (rng: SeededRandom, client: SimulatedClient) => Call;
  /** The specification the history must linearize in; default: the app itself (`appAsModel`). */
  readonly model?: SequentialModel<M, S>;
  /** How many replicas (1–7); default drawn from the seed (3–5). */
  readonly nodes?: number;
  /** How many concurrent clients (1–10); default drawn from the seed (2–5). */
  readonly clients?: number;
  /**
   * `all` (default): crashes (also mid-step and in crash loops), restarts, pauses, partitions,
   * message loss, duplication, reordering and delay, failing disks, and crashes at protocol
   * breakpoints. `none`: none of them (to tell an app's own bug from one faults bring out).
   */
  readonly faults?: 'all' | 'none';
  /** Keep the run's trace lines in the result (for printing a replay). */
  readonly keepTrace?: boolean;
}

/** A linearizability violation found in a run's client history. */
export interface Violation {
  /** Why no order of the calls explains what the clients saw (the checker's explanation). */
  readonly explanation: string;
  /** What the model answers to the call that could not be placed, there; null if not a call. */
  readonly expected: string | null;
  /** Operations in the history checked (the final state counts as one per part). */
  readonly operations: number;
}

/** The outcome of one `simulateApp` run. */
export interface SimulationResult {
  readonly seed: number;
  /** True when every check passed. */
  readonly ok: boolean;
  /**
   * Every failure as a sentence, prefixed with the virtual time it was found at: replica
   * divergence, lost or duplicated effects, liveness, a linearizability violation with its
   * explanation, a run that crashed.
   */
  readonly failures: readonly string[];
  /** Client operations recorded in the history (calls with a known outcome, and unknown ones). */
  readonly operations: number;
  /** Digest of the run's trace: the same seed gives the same digest (unless the app is not deterministic). */
  readonly digest: string;
  /**
   * The history check's verdict: `unknown` when its time budget ran out (not a failure);
   * `skipped` when the run crashed before it.
   */
  readonly lincheck: 'ok' | 'violation' | 'unknown' | 'skipped';
  /** The first violation found (of the history, or of the final state); null if none. */
  readonly violation: Violation | null;
  /** Figures of the run (nodes, clients, calls, acknowledged, unknown, faults, views …). */
  readonly stats: Readonly<Record<string, number>>;
  /** The trace's lines, with `keepTrace`. */
  readonly trace?: readonly string[];
  /**
   * Writes a picture of the violation (an HTML page: one lane per client, the longest
   * linearizable prefix, the call that could not follow it) to `<dir>/<name>.html` (default
   * name `seed-<seed>`) and returns its path; null when there is no violation.
   */
  writePicture(dir: string, name?: string): string | null;
}

/** A mistake in how the testkit is called (bad options, a call the app cannot take): fix the test. */
export class TestkitUsageError extends Error {
  override readonly name = 'TestkitUsageError';
}
