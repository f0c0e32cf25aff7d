import type { FeedCancel } from '../rsm/feeds-wire.js';

/** Why a feed subscription ended for good (`FeedSubscription`): nothing more will come. */
export class FeedError extends Error {}

/**
 * The positions the subscription needs are compacted away: events after `after` were asked for,
 * and every position up to `compactedThrough` is gone. To go on, subscribe after
 * `compactedThrough` (missing what was compacted), or take a snapshot of the state (a read at the
 * head) and subscribe after the position it was taken at (Clone).
 */
export class FeedCompactedError extends FeedError {
  override readonly name = 'FeedCompactedError';
  constructor(
    readonly feed: string,
    readonly after: number,
    readonly compactedThrough: number,
  ) {
    super(`feed ${feed}: positions up to ${compactedThrough} are compacted (asked for those after ${after}); ` +
      `subscribe after ${compactedThrough}, or read a snapshot and subscribe after its position`);
  }
}

/**
 * The server refused the subscription itself, which retrying cannot cure: the filter
 * (`bad-filter`, with the app's `code`), an unknown feed (`no-such-feed`), an event too large to
 * send (`event-too-large`), another cluster (`wrong-cluster`), or a request the server found
 * malformed (`invalid-request`).
 */
export class FeedRefusedError extends FeedError {
  override readonly name = 'FeedRefusedError';
  constructor(
    readonly feed: string,
    readonly reason: FeedCancel['reason'] | 'wrong-cluster' | 'invalid-request' | 'internal',
    readonly detail: string,
    readonly code: string | null = null,
  ) {
    super(`feed ${feed} refused (${reason}${code === null ? '' : `, ${code}`}): ${detail}`);
  }
}

/** The subscription was closed by its owner. */
export class FeedClosedError extends FeedError {
  override readonly name = 'FeedClosedError';
  constructor(readonly feed: string) {
    super(`feed ${feed}: the subscription was closed`);
  }
}
