// A small app with a feed, for the feed service's tests: an append-only log whose entries are the
// feed's events (position = the entry's number), trimmed from the front on request.
import { AppError, type Json, argOf, defineApp } from '../../src/index.js';
import type { FeedEvent } from '../../src/index.js';

export interface LogState {
  /** Entries after `floor`, in order; entry k (1-based) has position k. */
  entries: { position: number; text: string }[];
  head: number;
  floor: number;
}

function text(args: Json): string {
  const t = argOf(args, 'text');
  if (typeof t !== 'string') throw new AppError('bad-request', 'text must be a string');
  return t;
}

export const logApp = defineApp<LogState>({
  name: 'feedlog',
  version: '1.0.0',
  initialState: () => ({ entries: [], head: 0, floor: 0 }),
  handlers: {
    append: (s, args) => {
      s.head++;
      s.entries.push({ position: s.head, text: text(args) });
      return s.head;
    },
    /** Forgets the entries up to `through` (as a compaction does). */
    trim: (s, args) => {
      const through = argOf(args, 'through');
      if (typeof through !== 'number' || through > s.head || through < s.floor) throw new AppError('bad-request', 'through out of range');
      s.entries = s.entries.filter((e) => e.position > through);
      s.floor = through;
      return through;
    },
    /** Changes nothing a feed shows (positions do not move). */
    nothing: () => null,
  },
  feeds: {
    log: {
      head: (s) => s.head,
      filter: (f) => {
        if (f === null) return null;
        const prefix = argOf(f, 'prefix');
        if (typeof prefix !== 'string') throw new AppError('bad-filter', 'a filter is null or { prefix: string }');
        return prefix;
      },
      read: (s, after, filter, max) => {
        if (after < s.floor) return { kind: 'compacted', compactedThrough: s.floor };
        const events: FeedEvent[] = [];
        // Entries are dense from floor + 1: entry p is at index p - floor - 1.
        for (let i = Math.max(0, after - s.floor); i < s.entries.length; i++) {
          const e = s.entries[i]!;
          if (typeof filter === 'string' && !e.text.startsWith(filter)) continue;
          events.push({ position: e.position, event: e.text });
          if (events.length === max) return { kind: 'events', events, through: e.position };
        }
        return { kind: 'events', events, through: s.head };
      },
    },
  },
  marshalState: (s) => new TextEncoder().encode(JSON.stringify(s)),
  unmarshalState: (b) => JSON.parse(new TextDecoder().decode(b)) as LogState,
});
