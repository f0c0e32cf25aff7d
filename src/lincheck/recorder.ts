import type { CallResult } from '../client/client-core.js';
import { AppRejectedError, InvalidArgumentError } from '../client/errors.js';
import type { ObservedCall, RsmCallObserver } from '../client/rsm-client.js';
import type { Json } from '../rsm/app.js';
import type { History, Operation } from './types.js';

/**
 * How the calls of one app map onto the operations of a model: which calls belong in the
 * history, and what each reply means to the model.
 */
export interface CallMapping<I, O> {
  /** The model input of a call, or null: the call is not part of the history (e.g. a debug read). */
  input(proc: string, args: Json): I | null;
  /** The model output for a reply the app gave. */
  value(input: I, value: Json): O;
  /**
   * The model output for an app error (the call *was* executed and refused by the handler), or
   * null if the model does not expect this error: the operation is then recorded with an
   * unknown outcome, so an unexpected error never hides a violation nor invents one.
   */
  appError(input: I, code: string): O | null;
}

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
 * - a reply → its output (`mapping.value`); an app error → `mapping.appError` (executed);
 * - `InvalidArgumentError` → left out (refused as bad input, never executed: it constrains nothing);
 * - any other error (deadline passed, client closed), and a call not completed when `history()`
 *   is taken → unknown outcome: it may have taken effect at any time after its invocation, or never.
 * Invariant: an operation's [call, ret] interval contains everything its request did on the
 * servers (the observer is told before the request is sent and after the reply is received).
 */
export class HistoryRecorder<I, O> implements RsmCallObserver {
  readonly #mapping: CallMapping<I, O>;
  readonly #calls: Array<Pending<I, O>> = [];
  readonly #byCall = new Map<string, Pending<I, O>>();
  /** Calls `mapping.input` refused to record, by procedure (for reports). */
  readonly skipped = new Map<string, number>();

  constructor(mapping: CallMapping<I, O>) {
    this.#mapping = mapping;
  }

  invoked(call: ObservedCall, atMs: number): void {
    const input = this.#mapping.input(call.proc, call.args);
    if (input === null) {
      this.skipped.set(call.proc, (this.skipped.get(call.proc) ?? 0) + 1);
      return;
    }
    const pending: Pending<I, O> = { client: call.clientId, input, call: atMs, ret: undefined, output: undefined, omitted: false };
    this.#calls.push(pending);
    this.#byCall.set(`${call.clientId}#${call.call}`, pending);
  }

  completed(call: ObservedCall, result: CallResult, atMs: number): void {
    const key = `${call.clientId}#${call.call}`;
    const pending = this.#byCall.get(key);
    if (pending === undefined) return; // not recorded
    this.#byCall.delete(key);
    pending.ret = atMs;
    if (result.ok) {
      pending.output = this.#mapping.value(pending.input, result.value);
    } else if (result.error instanceof AppRejectedError) {
      pending.output = this.#mapping.appError(pending.input, result.error.code) ?? undefined;
    } else if (result.error instanceof InvalidArgumentError) {
      pending.omitted = true;
    }
    // Otherwise the outcome stays unknown.
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
