// A user's app, written only against synod's public API (what `npm install synod` gives).
import { AppError, type Json, defineApp, jsonState } from 'synod';

export type Counters = Record<string, number>;

function counterName(args: Json): string {
  const name = typeof args === 'object' && args !== null && !Array.isArray(args) ? args['name'] : undefined;
  if (typeof name !== 'string' || name === '') throw new AppError('bad-name', 'name must be a non-empty string');
  return name;
}

export const counters = defineApp<Counters>({
  name: 'counters',
  version: '1.0.0',
  initialState: () => ({}),
  handlers: {
    add: (state, args) => {
      const name = counterName(args);
      const by = typeof args === 'object' && args !== null && !Array.isArray(args) ? args['by'] : undefined;
      if (typeof by !== 'number' || !Number.isInteger(by) || by < 0) throw new AppError('bad-amount', 'by must be a non-negative integer');
      state[name] = (state[name] ?? 0) + by;
      return state[name] ?? 0;
    },
    get: (state, args) => state[counterName(args)] ?? 0,
  },
  marshalState: (state) => jsonState.marshal(state),
  unmarshalState: (bytes) => jsonState.unmarshal(bytes) as Counters,
});
