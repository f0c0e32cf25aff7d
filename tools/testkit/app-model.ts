import { createHash } from 'node:crypto';
import { limits } from '../../src/options.js';
import { type App, AppError } from '../../src/rsm/app.js';
import { describeBytes, jsonTrip } from './json.js';
import type { Call, Outcome, SequentialModel } from './types.js';

/**
 * Runs `call` against `state` (changing it in place) as a replica executes a request, and says
 * what its client sees. Keep this in step with `Replica`'s execution in src/rsm/replica.ts: an
 * unknown procedure, a reply too large to send, an `AppError` (its code) and any other throw
 * (`handler-error`) are answered exactly as the replica answers them; a handler that changed the
 * state before it threw keeps the change, there as here.
 */
export function executeOnce<S>(app: App<S>, state: S, call: Call): Outcome {
  const handler = app.handlers[call.proc];
  if (handler === undefined) return { ok: false, code: 'unknown-procedure' };
  try {
    const value = handler(state, call.args);
    const size = JSON.stringify(value)?.length ?? 0;
    if (size > limits.maxReplyBytes) return { ok: false, code: 'reply-too-large' };
    return { ok: true, value: jsonTrip(value) };
  } catch (err) {
    if (err instanceof AppError) return { ok: false, code: err.code };
    return { ok: false, code: 'handler-error' };
  }
}

/**
 * The app itself as its own sequential model: what one copy of it does, called one call at a
 * time. The model's state is the app state's marshalled bytes; a step unmarshals a fresh copy,
 * runs the handler on it (`executeOnce`) and marshals the result. A history that linearizes in
 * it shows that synod and the app together behave like one copy of the app; no model to write.
 *
 * Because every step goes through `marshalState`/`unmarshalState`, a lossy pair (a field
 * forgotten) shows at once, as a reply the model cannot give, not only after a state transfer.
 * States are keyed by a SHA-256 of their bytes, so marshal the same state to the same bytes
 * where you can (e.g. sorted keys): two orders of calls that reach one state then merge.
 */
export function appAsModel<S>(app: App<S>): SequentialModel<Uint8Array, S> {
  const marshal = (state: S): Uint8Array => Uint8Array.from(app.marshalState(state));
  return {
    // Read in sentences as "<name> answers 3 there" and as the title of a violation's picture.
    name: 'one copy of the app',
    init: () => marshal(app.initialState()),
    step(bytes, call) {
      const state = app.unmarshalState(bytes);
      const outcome = executeOnce(app, state, call);
      return { state: marshal(state), outcome };
    },
    key: (bytes) => createHash('sha256').update(bytes).digest('base64'),
    stateOf: (state) => marshal(state),
    describeState: (bytes) => `one copy of the app holds ${describeBytes(bytes)} (as marshalState wrote it)`,
  };
}
