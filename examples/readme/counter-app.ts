import { AppError, type Json, defineApp, jsonState } from 'synod';

// A Map, not a plain object: any string a client sends is then just a key (even "__proto__").
type Counters = Map<string, number>;

function name(args: Json): string {
  const n = typeof args === 'object' && args !== null && !Array.isArray(args) ? args['name'] : undefined;
  if (typeof n !== 'string' || n === '') throw new AppError('bad-name', 'name must be a non-empty string');
  return n;
}

export default defineApp<Counters>({
  name: 'counters',
  version: '1.0.0',
  initialState: () => new Map(),
  handlers: {
    // Pure functions of (state, args): no clocks, randomness or I/O.
    add: (state, args) => {
      const n = name(args);
      state.set(n, (state.get(n) ?? 0) + 1);
      return state.get(n) ?? 0;
    },
  },
  queries: {
    // Read-only: a query that tries to change the state is refused (query-mutates).
    get: (state, args) => state.get(name(args)) ?? 0,
  },
  marshalState: (state) => jsonState.marshal([...state]),
  unmarshalState: (bytes) => new Map(jsonState.unmarshal(bytes) as Array<[string, number]>),
});
