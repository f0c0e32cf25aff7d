// Apps with the bugs the testkit exists to catch, and one whose replies show nothing (only the
// final state can then show a lost or doubled call); written only against synod's public API.
import { type Json, defineApp, jsonState } from '../../src/index.js';

function name(args: Json): string {
  const who = typeof args === 'object' && args !== null && !Array.isArray(args) ? args['who'] : undefined;
  return typeof who === 'string' ? who : 'anyone';
}

/**
 * Hands out tickets from a module-level counter instead of one kept in the state. Every replica
 * runs the handler, and every run moves the counter: replicas store different tickets.
 */
let nextTicket = 1;
export const globalTicketApp = defineApp<{ tickets: Record<string, number> }>({
  name: 'global-tickets',
  version: '1.0.0',
  initialState: () => ({ tickets: {} }),
  handlers: {
    take: (state, args) => {
      const ticket = nextTicket++;
      state.tickets[name(args)] = ticket;
      return ticket;
    },
    mine: (state, args) => state.tickets[name(args)] ?? null,
  },
  marshalState: (state) => jsonState.marshal(state),
  unmarshalState: (bytes) => jsonState.unmarshal(bytes) as { tickets: Record<string, number> },
});

interface Tally {
  counts: Record<string, number>;
  /** The sum of every count, kept beside them to answer `total` quickly. */
  total: number;
}

/** Keeps a running total that `marshalState` forgets: a state transfer (or a restart) resets it. */
export const forgetfulTallyApp = defineApp<Tally>({
  name: 'forgetful-tally',
  version: '1.0.0',
  initialState: () => ({ counts: {}, total: 0 }),
  handlers: {
    count: (state, args) => {
      const who = name(args);
      state.counts[who] = (state.counts[who] ?? 0) + 1;
      state.total++;
      return state.counts[who] ?? 0;
    },
    total: (state) => state.total,
  },
  marshalState: (state) => jsonState.marshal({ counts: state.counts }),
  unmarshalState: (bytes) => ({ total: 0, ...(jsonState.unmarshal(bytes) as { counts: Record<string, number> }) }),
});

/** A counter whose `add` answers nothing: a lost or doubled add shows only in the final state. */
export const silentCounterApp = defineApp<{ n: number }>({
  name: 'silent-counter',
  version: '1.0.0',
  initialState: () => ({ n: 0 }),
  handlers: {
    add: (state) => {
      state.n++;
      return null;
    },
  },
  marshalState: (state) => jsonState.marshal(state),
  unmarshalState: (bytes) => jsonState.unmarshal(bytes) as { n: number },
});
