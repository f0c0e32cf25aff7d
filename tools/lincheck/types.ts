/**
 * Linearizability checking of client histories (issue 7): the types shared by the checker, its
 * models, the pictures it draws, and the recorders (simulator runs, the nemesis).
 *
 * A history is every operation the clients ran, with when it was invoked and when it completed,
 * as the clients saw it. The checker asks whether some total order of the operations, consistent
 * with real time (an operation that completed before another was invoked comes first) and with
 * a sequential model of the service, explains every completed operation's output. An operation
 * whose outcome is unknown (it timed out) may or may not have taken effect, at any time after
 * its invocation.
 */

/** One client operation. A client runs one operation at a time. */
export interface Operation<I, O> {
  /** Index of the operation in its history (stable, for reports and pictures). */
  readonly id: number;
  /** Who ran it (one lane per client in pictures). */
  readonly client: string;
  readonly input: I;
  /** Its result; `undefined`: the outcome is unknown (may or may not have taken effect). */
  readonly output: O | undefined;
  /** Invocation time (ms, any monotonic scale shared by the history). */
  readonly call: number;
  /** Completion time; `undefined` for an unknown outcome (it may take effect at any later time). */
  readonly ret: number | undefined;
}

export type History<I, O> = ReadonlyArray<Operation<I, O>>;

/**
 * A sequential specification. States are immutable values (a step returns a new state); `key`
 * turns a state into a string for memoization. It must identify the state: two states with equal
 * keys must behave alike from then on (the search merges them), and equal states should give
 * equal keys (else the memo only works less well).
 */
export interface Model<S, I, O> {
  readonly name: string;
  init(): S;
  /**
   * Applies `input` to `state`. With a known `output`: the next state if the model allows that
   * output, or `undefined` if it does not. With `output === undefined` (unknown outcome): the
   * state after the operation took effect, whatever its output would have been.
   */
  step(state: S, input: I, output: O | undefined): S | undefined;
  key(state: S): string;
  /** Splits a history into independent parts checked separately (per key, per lock); default: one part. */
  partition?(history: History<I, O>): Array<History<I, O>>;
  /** A short description of an operation for reports and pictures. */
  describe?(op: Operation<I, O>): string;
  /**
   * A short description of a state, for the explanation of a violation (what the operation that
   * could not be placed met there, e.g. "the list has 4 items"); default: its `key`. Added with
   * the checker, optional.
   */
  describeState?(state: S): string;
  /**
   * Names what an operation of `input` does when its outcome is unknown, such that two with equal
   * names change every state alike (e.g. every append makes the list one longer, whatever its
   * item); undefined: like no other. The checker then places alike unknown operations in call
   * order only (k of them cost k + 1 choices instead of 2^k subsets). Optional: without it no two
   * operations are taken as alike.
   */
  unknownEffect?(input: I): string | undefined;
}

/** The checker's answer for one history (or one part of it). */
export type CheckResult =
  | { readonly verdict: 'ok'; readonly operations: number; readonly parts: number; readonly elapsedMs: number }
  | {
      readonly verdict: 'violation';
      readonly operations: number;
      readonly parts: number;
      readonly elapsedMs: number;
      /** The part (of `partition`) that has no linearization. */
      readonly part: number;
      /** Ids of the longest linearizable prefix found, in the order it linearizes them. */
      readonly longestPrefix: readonly number[];
      /** Id of an operation that could not be placed after that prefix. */
      readonly failedOp: number;
      readonly explanation: string;
    }
  | {
      readonly verdict: 'unknown';
      readonly operations: number;
      readonly parts: number;
      readonly elapsedMs: number;
      readonly reason: string;
    };

export interface CheckOptions {
  /** Give up (verdict unknown) after this much wall time. */
  readonly timeBudgetMs?: number;
  /** Give up (verdict unknown) once the memo of one part takes about this much memory. */
  readonly memoryBudgetBytes?: number;
}
