/**
 * The KV store's bounds (`kvApp`), each checked where the thing it bounds grows, with a typed
 * refusal (`AppError`) when it is reached. Sizes are UTF-8 bytes of the JavaScript strings.
 * They are part of the app's behaviour (a put one replica refuses every replica refuses): change
 * them only with a new app version, except `maxHistoryBytes`, which a test may lower through
 * `kvApp({ maxHistoryBytes })` for a cluster that runs that very app everywhere.
 */
export interface KvLimits {
  /** Longest key (1 KiB, under etcd's practical limits; a key is copied into every event and index). */
  readonly maxKeyBytes: number;
  /**
   * Largest value (256 KiB): a put's request and a range's reply must fit synod's 1 MiB
   * `limits.maxRequestBytes`/`maxReplyBytes` with room for the key and the framing.
   */
  readonly maxValueBytes: number;
  /** Most operations in one txn (128: etcd's default `--max-txn-ops`). */
  readonly maxTxnOps: number;
  /** Shortest lease TTL in seconds (2); a shorter grant is raised to it, as etcd raises short TTLs, so the keeper's check interval is small beside it. */
  readonly minLeaseTtlSeconds: number;
  /** Longest lease TTL in seconds (9,000,000,000: etcd's `MaxLeaseTTL`, so an etcd client's TTL is accepted). */
  readonly maxLeaseTtlSeconds: number;
  /** Most leases alive at once (100,000): each costs state and a clock on the primary's keeper. */
  readonly maxLeases: number;
  /**
   * The history's size (64 MiB, counted as `historyChangeBytes`): past it, the oldest revisions
   * are compacted by the handler that grew it, on every replica alike. It bounds how far back
   * reads and watches can go under write load, and what a state transfer ships besides the keys.
   */
  readonly maxHistoryBytes: number;
  /**
   * The keys and values held (256 MiB of UTF-8, plus `recordOverheadBytes` a key): a put past it
   * is refused `store-full` (etcd's NOSPACE quota); deletes are always accepted.
   */
  readonly maxStoreBytes: number;
}

export const kvLimits: KvLimits = {
  maxKeyBytes: 1024,
  maxValueBytes: 256 * 1024,
  maxTxnOps: 128,
  minLeaseTtlSeconds: 2,
  maxLeaseTtlSeconds: 9_000_000_000,
  maxLeases: 100_000,
  maxHistoryBytes: 64 * 1024 * 1024,
  maxStoreBytes: 256 * 1024 * 1024,
};

/** What a key costs the store and history beside its bytes: the record's numbers and the map entry (an estimate, the same on every replica). */
export const recordOverheadBytes = 64;

/** UTF-8 size of `s` (what the limits count). */
export function utf8Bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}
