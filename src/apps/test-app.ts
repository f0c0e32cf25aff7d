import { limits } from '../options.js';
import { AppError, type Json, argOf, defineApp, jsonState } from '../rsm/app.js';

/**
 * The built-in test app: an append-only list and named counters. It makes divergence visible:
 * every item names the request that appended it, so a lost, duplicated or reordered request
 * shows in the list, and replicas can be compared byte for byte.
 *
 * Handlers:
 * - `append({ item })` → the item's index (0-based)
 * - `add({ key, by })` → the counter's new value
 * - `refuse({ code })` → always refused with an app error of that code (tests app errors); a code
 *   longer than `limits.maxErrorTextLength` is refused `bad-args`
 * Queries (read-only):
 * - `get({ key })` → the counter's value (0 when unset)
 * - `length()` → the list's length
 * - `list()` → the whole list (for tests; keep lists small)
 *
 * Version 1.1.0: `get`, `length` and `list` became queries (1.0.0 had them as handlers); the
 * state's form is unchanged.
 */
export interface TestState {
  readonly list: string[];
  /** Counters by key. A `Map`: keys come from clients, and `__proto__` or `constructor` is a key like any other. */
  readonly counters: Map<string, number>;
}

function stringArg(args: Json, name: string): string {
  const v = argOf(args, name);
  if (typeof v !== 'string' || v.length === 0) throw new AppError('bad-args', `${name} must be a non-empty string`);
  return v;
}

/**
 * A state from its marshalled form, checked (the bytes come from another replica): `{ list,
 * counters }`, the counters as a JSON object keyed by counter name (the form since version 1.0.0).
 * `JSON.parse` makes every key an own property, `__proto__` included.
 */
function stateOf(v: Json): TestState {
  const o = typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {};
  const list = o['list'];
  const counters = o['counters'];
  if (!Array.isArray(list) || !list.every((item) => typeof item === 'string')) throw new TypeError('test app state: list must be a list of strings');
  if (typeof counters !== 'object' || counters === null || Array.isArray(counters)) throw new TypeError('test app state: counters must be an object');
  const entries = Object.entries(counters);
  if (!entries.every(([, n]) => Number.isSafeInteger(n))) throw new TypeError('test app state: every counter must be an integer');
  return { list: list as string[], counters: new Map(entries as Array<[string, number]>) };
}

export const testApp = defineApp<TestState>({
  name: 'test',
  version: '1.1.0',
  initialState: () => ({ list: [], counters: new Map() }),
  handlers: {
    append: (state, args) => {
      state.list.push(stringArg(args, 'item'));
      return state.list.length - 1;
    },
    add: (state, args) => {
      const key = stringArg(args, 'key');
      const by = argOf(args, 'by');
      if (typeof by !== 'number' || !Number.isSafeInteger(by)) throw new AppError('bad-args', 'by must be an integer');
      const value = (state.counters.get(key) ?? 0) + by;
      if (!Number.isSafeInteger(value)) throw new AppError('out-of-range', `${key} would pass ${Number.MAX_SAFE_INTEGER}`);
      state.counters.set(key, value);
      return value;
    },
    refuse: (_state, args) => {
      const code = stringArg(args, 'code');
      // A longer code is no AppError code at all (the guard would report the app as failed).
      if (code.length > limits.maxErrorTextLength) throw new AppError('bad-args', `code is longer than ${limits.maxErrorTextLength} characters`);
      throw new AppError(code, 'refused on request');
    },
  },
  queries: {
    get: (state, args) => state.counters.get(stringArg(args, 'key')) ?? 0,
    length: (state) => state.list.length,
    list: (state) => [...state.list],
  },
  // `Object.fromEntries` makes own properties, `__proto__` too, so every key is written.
  marshalState: (state) => jsonState.marshal({ list: state.list, counters: Object.fromEntries(state.counters) }),
  unmarshalState: (data) => stateOf(jsonState.unmarshal(data)),
});
