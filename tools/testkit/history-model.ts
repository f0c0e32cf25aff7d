import type { Json } from '../../src/rsm/app.js';
import type { CallMapping } from '../lincheck/recorder.js';
import type { CheckResult, History, Model, Operation } from '../lincheck/types.js';
import { canonicalJson, describeOutcome, preview, sameOutcome } from './json.js';
import type { Call, Outcome, SequentialModel } from './types.js';

/**
 * How a user's `SequentialModel` meets the linearizability checker (tools/lincheck): the
 * operations of a history, how client calls become them, and the checker's `Model` over them.
 *
 * Besides the clients' calls, a history may end with the replicas' final state: one operation per
 * part, after every call, whose "output" is that state. It can follow the calls only if some
 * order of them leads the model to that very state.
 */

/** An operation's input: a client's call (with the part it touches), or the final state of a part. */
export type HistoryInput =
  | { readonly kind: 'call'; readonly call: Call; readonly part: string }
  | { readonly kind: 'final'; readonly part: string };

/** An operation's output: what the client saw, or the replicas' final state (its key and description). */
export type HistoryOutput = Outcome | { readonly finalKey: string; readonly finalText: string };

const isFinal = (o: HistoryOutput): o is Extract<HistoryOutput, { finalKey: string }> => 'finalKey' in o;

/** Who the final-state operations belong to, in reports and pictures. */
export const finalStateClient = 'replicas';

/** The part a history has when the model does not partition. */
const wholeState = '';

/** The part `call` touches (`model.partitionBy`), or the whole state. */
function partOf<M, S>(model: SequentialModel<M, S>, call: Call): string {
  return model.partitionBy === undefined ? wholeState : model.partitionBy(call);
}

/** Every client call is recorded; app errors are outcomes (the handler ran, and may have changed the state). */
export function callMapping<M, S>(model: SequentialModel<M, S>): CallMapping<HistoryInput, HistoryOutput> {
  return {
    input: (proc: string, args: Json, clientId: string) => ({ kind: 'call', call: { proc, args, clientId }, part: partOf(model, { proc, args, clientId }) }),
    value: (_input, value) => ({ ok: true, value }),
    appError: (_input, code) => ({ ok: false, code }),
  };
}

/** A call as a sentence fragment: `add({"by":2})`, `get()` (arguments null). */
export function describeCall(call: Call): string {
  return `${call.proc}(${call.args === null ? '' : preview(canonicalJson(call.args))})`;
}

/** `op` as a sentence fragment: `add({"by":2}) → 5`, `get() → ?`, `the replicas' final state: …`. */
function describeOperation(op: Operation<HistoryInput, HistoryOutput>): string {
  if (op.input.kind === 'final') {
    const text = op.output !== undefined && isFinal(op.output) ? op.output.finalText : '?';
    return `the replicas' final state${op.input.part === wholeState ? '' : ` of part ${JSON.stringify(op.input.part)}`}: ${text}`;
  }
  const out = op.output === undefined ? '?' : isFinal(op.output) ? '(a final state)' : describeOutcome(op.output);
  return `${describeCall(op.input.call)} → ${out}`;
}

/** The checker's model over `model`'s states. */
export function checkerModel<M, S>(model: SequentialModel<M, S>): Model<M, HistoryInput, HistoryOutput> {
  return {
    name: model.name ?? 'the model',
    init: () => model.init(),
    step(state, input, output) {
      if (input.kind === 'final') {
        return output !== undefined && isFinal(output) && output.finalKey === model.key(state) ? state : undefined;
      }
      const next = model.step(state, input.call);
      if (output === undefined) return next.state;
      return !isFinal(output) && sameOutcome(next.outcome, output) ? next.state : undefined;
    },
    key: (state) => model.key(state),
    partition(history) {
      const parts = new Map<string, Array<Operation<HistoryInput, HistoryOutput>>>();
      for (const op of history) {
        let part = parts.get(op.input.part);
        if (part === undefined) {
          part = [];
          parts.set(op.input.part, part);
        }
        part.push(op);
      }
      return [...parts.values()];
    },
    describe: describeOperation,
    describeState: (state) => (model.describeState === undefined ? `the model's state is ${preview(model.key(state))}` : model.describeState(state)),
    // The model is deterministic: two calls of one client with equal procedure and arguments change every state alike.
    unknownEffect: (input) => (input.kind === 'call' ? canonicalJson([input.call.proc, input.call.args, input.call.clientId ?? null]) : undefined),
  };
}

/**
 * `history` followed by the replicas' final state: one operation per part the history has (the
 * whole state when the model does not partition), after every call completed. Null when the
 * model cannot say which of its states an app state stands for (`stateOf`).
 */
export function withFinalState<M, S>(
  history: History<HistoryInput, HistoryOutput>,
  model: SequentialModel<M, S>,
  appState: S,
): History<HistoryInput, HistoryOutput> | null {
  const stateOf = model.stateOf;
  if (stateOf === undefined) return null;
  const parts = model.partitionBy === undefined ? [wholeState] : [...new Set(history.map((op) => op.input.part))];
  const at = history.reduce((t, op) => Math.max(t, op.ret ?? op.call), 0) + 1;
  const finals = parts.map((part, k): Operation<HistoryInput, HistoryOutput> => {
    const state = stateOf.call(model, appState, model.partitionBy === undefined ? undefined : part);
    const finalText = model.describeState === undefined ? preview(model.key(state)) : model.describeState(state);
    return { id: history.length + k, client: finalStateClient, input: { kind: 'final', part }, output: { finalKey: model.key(state), finalText }, call: at, ret: at + 1 };
  });
  return [...history, ...finals];
}

/**
 * What `model` answers to the operation a violation could not place, after the longest prefix
 * the checker found (a sentence), or null when that operation is not a client call.
 */
export function expectedAnswer<M, S>(
  history: History<HistoryInput, HistoryOutput>,
  model: SequentialModel<M, S>,
  violation: Extract<CheckResult, { verdict: 'violation' }>,
): string | null {
  const byId = new Map(history.map((op) => [op.id, op]));
  const failed = byId.get(violation.failedOp);
  if (failed === undefined || failed.input.kind !== 'call') return null;
  let state = model.init();
  for (const id of violation.longestPrefix) {
    const op = byId.get(id);
    if (op !== undefined && op.input.kind === 'call') state = model.step(state, op.input.call).state;
  }
  const answer = describeOutcome(model.step(state, failed.input.call).outcome);
  return `${model.name ?? 'the model'} answers ${answer} there`;
}
