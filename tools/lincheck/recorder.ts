import type { CallResult } from '../../src/client/client-core.js';
import { AppRejectedError, InvalidArgumentError } from '../../src/client/errors.js';
import type { ObservedCall, RsmCallObserver } from '../../src/client/rsm-client.js';
import type { Json } from '../../src/rsm/app.js';
import type { History, Operation } from './types.js';

/**
 * How the calls of one app map onto the operations of a model: which calls belong in the
 * history, and what each reply means to the model.
 */
export interface CallMapping<I, O> {
  /**
   * The model input of a call, or null: the call is not part of the history (e.g. a debug read).
   * `args` are as the servers see them (after a JSON round trip: NaN is null, undefined fields gone);
   * `clientId` is the calling client's (its handler's `HandlerContext.clientId`).
   */
  input(proc: string, args: Json, clientId: string): I | null;
  /** The model output for a reply the app gave. */
  value(input: I, value: Json): O;
  /**
   * What an app error means (the handler ran and threw an `AppError` with `code`): a model output
   * (the model expects this refusal), `notExecuted` (the handler refuses this code before it
   * changes anything, e.g. bad arguments: the call had no effect and is left out), or null (not
   * known to the model: recorded with an unknown outcome, which may let a wrong effect through,
   * so map every code the app can give).
   */
  appError(input: I, code: string): O | typeof notExecuted | null;
}

/** `CallMapping.appError`: the call had no effect (left out of the history). */
export const notExecuted: unique symbol = Symbol('not executed');

/**
 * Outcome codes of the RSM itself (src/rsm/replica.ts) for a request it did not run: no handler
 * for the procedure; another request of the client was executed under this number or a later one.
 */
const notRunCodes: ReadonlySet<string> = new Set(['unknown-procedure', 'stale', 'conflict']);

/**
 * Added to a time stamp equal to (or, on a clock that stepped back, below) the last one the
 * recorder gave, so that stamps grow strictly in the order the recorder is told of events: a
 * client's completion seen before another's invocation at the same clock reading then orders them
 * (the checker would take equal times as concurrent and lose that order). Far below any clock's
 * resolution.
 */
const tieStepMs = 1e-6;

/** A call being recorded: times on the recorder's clock, output undefined until it completes. */
interface Pending<I, O> {
  readonly client: string;
  readonly input: I;
  readonly call: number;
  ret: number | undefined;
  output: O | undefined;
  /** Refused before execution: left out of the history. */
  omitted: boolean;
}

/**
 * Records client histories for the linearizability checker: an `RsmCallObserver` shared by any
 * number of `RsmClient`s on one clock. Every call `mapping.input` accepts becomes an operation,
 * in invocation order:
 * - a reply → its output (`mapping.value`); an app error → `mapping.appError` (an output, or left
 *   out when it means the call had no effect; the RSM's own not-run codes are left out too);
 * - `InvalidArgumentError` → left out (refused as bad input, never executed: it constrains nothing);
 * - any other error (deadline passed, client closed), and a call not completed when `history()`
 *   is taken → unknown outcome: it may have taken effect at any time after its invocation, or never.
 * Invariant: an operation's [call, ret] interval contains everything its request did on the
 * servers (the observer is told before the request is sent and after the reply is received), and
 * time stamps grow strictly in the order the recorder is told of events (ties broken by it).
 */
export class HistoryRecorder<I, O> implements RsmCallObserver {
  readonly #mapping: CallMapping<I, O>;
  readonly #calls: Array<Pending<I, O>> = [];
  readonly #byCall = new Map<string, Pending<I, O>>();
  /** The last time stamp given (see `tieStepMs`). */
  #lastStamp = Number.NEGATIVE_INFINITY;
  /** Calls `mapping.input` refused to record, by procedure (for reports). */
  readonly skipped = new Map<string, number>();

  constructor(mapping: CallMapping<I, O>) {
    this.#mapping = mapping;
  }

  invoked(call: ObservedCall, atMs: number): void {
    // What the servers will see: the request travels as JSON.
    const args = JSON.parse(JSON.stringify(call.args) ?? 'null') as Json;
    const input = this.#mapping.input(call.proc, args, call.clientId);
    if (input === null) {
      this.skipped.set(call.proc, (this.skipped.get(call.proc) ?? 0) + 1);
      return;
    }
    const pending: Pending<I, O> = { client: call.clientId, input, call: this.#stamp(atMs), ret: undefined, output: undefined, omitted: false };
    this.#calls.push(pending);
    this.#byCall.set(`${call.clientId}#${call.call}`, pending);
  }

  completed(call: ObservedCall, result: CallResult, atMs: number): void {
    const key = `${call.clientId}#${call.call}`;
    const pending = this.#byCall.get(key);
    if (pending === undefined) return; // not recorded
    this.#byCall.delete(key);
    pending.ret = this.#stamp(atMs);
    if (result.ok) {
      pending.output = this.#mapping.value(pending.input, result.value);
    } else if (result.error instanceof AppRejectedError) {
      const code = result.error.code;
      const meaning = notRunCodes.has(code) ? notExecuted : this.#mapping.appError(pending.input, code);
      if (meaning === notExecuted) pending.omitted = true;
      else pending.output = meaning ?? undefined;
    } else if (result.error instanceof InvalidArgumentError) {
      pending.omitted = true;
    }
    // Otherwise the outcome stays unknown.
  }

  /**
   * An operation the servers ran on their own (no client call: e.g. a node's session expiry),
   * under the pseudo-client `client`, taking effect no earlier than `atMs`. Its outcome stays
   * unknown (it may never take effect) until `took` gives its output and the time by which it
   * surely had.
   */
  internal(client: string, input: I, atMs: number): { took(output: O, atMs: number): void } {
    const pending: Pending<I, O> = { client, input, call: this.#stamp(atMs), ret: undefined, output: undefined, omitted: false };
    this.#calls.push(pending);
    return {
      took: (output, at) => {
        pending.ret = this.#stamp(at);
        pending.output = output;
      },
    };
  }

  /** `atMs`, or just above the last stamp if it is not above it: stamps follow the order of events. */
  #stamp(atMs: number): number {
    this.#lastStamp = Math.max(atMs, this.#lastStamp + tieStepMs);
    return this.#lastStamp;
  }

  /** Recorded calls not completed yet. */
  get running(): number {
    return this.#byCall.size;
  }

  /** Calls recorded so far (including those left out and those still running). */
  get size(): number {
    return this.#calls.length;
  }

  /** The history so far: calls still running have an unknown outcome. Ids are invocation order. */
  history(): History<I, O> {
    const ops: Array<Operation<I, O>> = [];
    for (const p of this.#calls) {
      if (p.omitted) continue;
      const known = p.output !== undefined;
      ops.push({ id: ops.length, client: p.client, input: p.input, output: p.output, call: p.call, ret: known ? p.ret : undefined });
    }
    return ops;
  }
}
