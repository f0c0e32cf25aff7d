import { createHash } from 'node:crypto';
import type { App } from '../../src/rsm/app.js';
import { anonymousCall, runHandler } from '../../src/rsm/app-guard.js';
import { describeBytes, jsonTrip } from './json.js';
import type { Call, Outcome, SequentialModel } from './types.js';

/**
 * Runs `call` against `state` (changing it in place) as a replica executes a request of its
 * client (`runHandler`, the replicas' own rules), and says what its client sees: the reply after the
 * JSON trip it takes to the client, or the refusal's code.
 */
export function executeOnce<S>(app: App<S>, state: S, call: Call): Outcome {
  const context = call.clientId === undefined ? anonymousCall : { clientId: call.clientId, internal: false };
  const outcome = runHandler(app, state, call.proc, call.args, context);
  return outcome.ok ? { ok: true, value: jsonTrip(outcome.value) } : { ok: false, code: outcome.code };
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
