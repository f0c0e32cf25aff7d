import { AppError, type Json, defineApp, jsonState } from '../rsm/app.js';

/**
 * The built-in test app: an append-only list and named counters. It makes divergence visible:
 * every item names the request that appended it, so a lost, duplicated or reordered request
 * shows in the list, and replicas can be compared byte for byte.
 *
 * - `append({ item })` → the item's index (0-based)
 * - `add({ key, by })` → the counter's new value
 * - `get({ key })` → the counter's value (0 when unset)
 * - `length()` → the list's length
 * - `list()` → the whole list (for tests; keep lists small)
 * - `refuse({ code })` → always refused with an app error of that code (tests app errors)
 */
export interface TestState {
  readonly list: string[];
  readonly counters: Record<string, number>;
}

function arg(args: Json, name: string): Json | undefined {
  return typeof args === 'object' && args !== null && !Array.isArray(args) ? args[name] : undefined;
}

function stringArg(args: Json, name: string): string {
  const v = arg(args, name);
  if (typeof v !== 'string' || v.length === 0) throw new AppError('bad-args', `${name} must be a non-empty string`);
  return v;
}

export const testApp = defineApp<TestState>({
  name: 'test',
  version: '1.0.0',
  initialState: () => ({ list: [], counters: {} }),
  handlers: {
    append: (state, args) => {
      state.list.push(stringArg(args, 'item'));
      return state.list.length - 1;
    },
    add: (state, args) => {
      const key = stringArg(args, 'key');
      const by = arg(args, 'by');
      if (typeof by !== 'number' || !Number.isSafeInteger(by)) throw new AppError('bad-args', 'by must be an integer');
      state.counters[key] = (state.counters[key] ?? 0) + by;
      return state.counters[key]!;
    },
    get: (state, args) => state.counters[stringArg(args, 'key')] ?? 0,
    length: (state) => state.list.length,
    list: (state) => [...state.list],
    refuse: (_state, args) => {
      throw new AppError(stringArg(args, 'code'), 'refused on request');
    },
  },
  marshalState: (state) => jsonState.marshal({ list: state.list, counters: state.counters }),
  unmarshalState: (data) => {
    const v = jsonState.unmarshal(data) as { list: string[]; counters: Record<string, number> };
    return { list: v.list, counters: v.counters };
  },
});
