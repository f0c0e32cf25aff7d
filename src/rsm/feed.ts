import type { Json } from './app.js';

/**
 * Feeds: event streams an app derives from its replicated state, which the serving primary pushes
 * to subscribers (the KV store's watches; Clone's "snapshot, then the sequenced updates").
 *
 * A feed is a sequence of events at increasing **positions** (the KV store: revisions), kept in
 * the app's own state, so every replica holds the same feed and a new primary continues it
 * exactly where the old one stopped. That is what gives a subscriber ordering, no gaps and no
 * duplicates across failovers and restarts: it remembers the last position it received and
 * subscribes again from there; the feed, not the stream, is the source of truth. The state keeps
 * events back to a floor of its own choosing (the KV store: its compaction revision); a
 * subscriber that asks for positions below it is told so (`compacted`), never silently skipped.
 *
 * Rules (the same as a handler's): `head` and `read` are pure functions of the state, never
 * change it, and never look at clocks. The framework calls them on the serving primary through
 * the read-only view queries get.
 */
export interface Feed<S, F = unknown> {
  /**
   * The position of the latest event the state holds, 0 before any. Never decreases from one
   * executed request to the next (a new position is a new event, or a request that changed
   * nothing any subscriber could see: positions may be skipped, never reused).
   */
  head(state: Readonly<S>): number;
  /**
   * Checks a subscriber's filter (JSON the client sent: which keys, which kinds of event) and
   * returns it in the form `read` takes (parsed once per subscription, not per read). Throws
   * `AppError` (code `bad-filter` or the app's own) for one it does not accept; the subscription
   * is then refused with that error.
   */
  filter(filter: Json): F;
  /**
   * The events at positions after `after`, in increasing order, that match `filter` (as `filter`
   * returned it), at most `maxEvents` of them; `through` is the last position the read covered
   * (the subscriber's next read starts after it), `head` when it found fewer than `maxEvents`.
   * `compacted` when positions after `after` are no longer held: `compactedThrough` is the last
   * position gone (the subscriber may read from it on, i.e. `after >= compactedThrough`).
   */
  read(state: Readonly<S>, after: number, filter: F, maxEvents: number): FeedRead;
}

/** One event of a feed: where it is, and what it is (the app's JSON). */
export interface FeedEvent {
  readonly position: number;
  readonly event: Json;
}

/** What a feed read found (`Feed.read`). */
export type FeedRead =
  | { readonly kind: 'events'; readonly events: readonly FeedEvent[]; readonly through: number }
  | { readonly kind: 'compacted'; readonly compactedThrough: number };
