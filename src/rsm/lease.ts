// The primary lease (design §4, "Leases"): what lets a serving primary act on its own.

/**
 * What the replica says of its lease, for the parts of the node that act on it (the callback
 * hub, sessions, queries), read in the same executor task in which they act:
 * - held: this replica is the serving primary of its view and every backup granted it a lease
 *   that still runs for `remainingMs` on this node's clock;
 * - lapsed: the serving primary, but the lease ran out (`why` names the backups that did not
 *   renew it): it may have been replaced; it must not act on its own until a grant comes;
 * - none: not the serving primary (a backup, syncing, joining, or a view change under way).
 */
export type LeaseStatus =
  | { readonly state: 'held'; readonly remainingMs: number }
  | { readonly state: 'lapsed'; readonly why: string }
  | { readonly state: 'none' };
