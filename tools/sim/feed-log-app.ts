// The test app with a feed (`App.feeds`), for the feed service's simulator runs and tests: every
// appended item is the event at its position (its index + 1), and `trim` moves a floor below which
// the feed answers `compacted`. The items stay in the state (the run's final checks compare the
// lists), so the final state is the whole reference history the checker compares watchers against.
import { type TestState, testApp } from '../../src/apps/test-app.js';
import { AppError, type Json, argOf, defineApp } from '../../src/rsm/app.js';
import type { Feed, FeedEvent } from '../../src/rsm/feed.js';

export interface FeedLogState extends TestState {
  /** Positions up to here read as compacted. */
  floor: number;
}

/** A filter: every item (null), or those starting with `prefix`. */
export type FeedLogFilter = null | { readonly prefix: string };

/** The items feed: position p is `list[p - 1]`. */
export const feedLogFeed: Feed<FeedLogState, string | null> = {
  head: (s) => s.list.length,
  filter: (f: Json) => {
    if (f === null) return null;
    const prefix = argOf(f, 'prefix');
    if (typeof prefix !== 'string') throw new AppError('bad-filter', 'a filter is null or { prefix: string }');
    return prefix;
  },
  read: (s, after, filter, max) => {
    if (after < s.floor) return { kind: 'compacted', compactedThrough: s.floor };
    const events: FeedEvent[] = [];
    for (let i = after; i < s.list.length; i++) {
      const item = s.list[i]!;
      if (typeof filter === 'string' && !item.startsWith(filter)) continue;
      events.push({ position: i + 1, event: item });
      if (events.length === max) return { kind: 'events', events, through: i + 1 };
    }
    return { kind: 'events', events, through: s.list.length };
  },
};

export const feedLogApp = defineApp<FeedLogState>({
  name: 'feedlog',
  version: '1.0.0',
  initialState: () => ({ ...testApp.initialState(), floor: 0 }),
  handlers: {
    ...testApp.handlers,
    /** Compacts the feed through position `through` (never lowers the floor, never above the head). */
    trim: (s, args) => {
      const through = argOf(args, 'through');
      if (typeof through !== 'number' || !Number.isSafeInteger(through) || through < 0) throw new AppError('bad-args', 'through must be a position');
      s.floor = Math.max(s.floor, Math.min(through, s.list.length));
      return s.floor;
    },
  },
  queries: testApp.queries,
  feeds: { items: feedLogFeed },
  marshalState: (s) => {
    const rest = testApp.marshalState(s);
    const head = new TextEncoder().encode(`${s.floor}\n`);
    const out = new Uint8Array(head.length + rest.length);
    out.set(head);
    out.set(rest, head.length);
    return out;
  },
  unmarshalState: (b) => {
    const nl = b.indexOf(10);
    const floor = Number(new TextDecoder().decode(b.subarray(0, nl)));
    if (nl < 0 || !Number.isSafeInteger(floor) || floor < 0) throw new TypeError('feedlog state: no floor');
    return { ...testApp.unmarshalState(b.subarray(nl + 1)), floor };
  },
});
