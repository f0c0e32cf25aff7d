// The tunables of the KV store's client (src/apps/kv/kv-client.ts, kv-lease-handle.ts).
import { withDefaults } from './with-defaults.js';

/** `KvClient`: how leases are kept alive and how a snapshot pages through a large prefix. */
export interface KvClientOptions {
  /**
   * A lease's keepalive is sent this many times per TTL (every `ttl / keepAlivesPerTtl`
   * seconds). Default 3, as etcd's client: two keepalives in a row may be lost or late (a
   * failover takes about a second) before the lease's TTL runs out on the primary.
   */
  readonly keepAlivesPerTtl: number;
  /**
   * Shortest pause between two keepalives of one lease, whatever its TTL. Default 500 ms: the
   * store raises every TTL to at least 2 s, so this only bounds the load of a lease granted
   * with a tiny TTL by a client that asked for one.
   */
  readonly minKeepAliveIntervalMs: number;
  /**
   * Most keys one page of `snapshotAndWatch` (and `rangeAll`) asks for. Default 256: with values
   * of up to 4 KiB a page stays within the 1 MiB reply limit (`limits.maxReplyBytes`); a store of
   * larger values needs a smaller page, since a range whose reply is too large is refused.
   */
  readonly snapshotPageKeys: number;
  /**
   * How many times `snapshotAndWatch` takes its snapshot when a compaction passes the snapshot's
   * revision between two of its pages (each attempt starts again at the store's revision then).
   * Default 3: a compaction is an operator's or a bound's rare act; one that races every attempt
   * means the history is too short for the prefix's size, which the caller should hear about
   * (the last attempt's `KvCompactedError`).
   */
  readonly snapshotAttempts: number;
}

export const defaultKvClientOptions: KvClientOptions = {
  keepAlivesPerTtl: 3,
  minKeepAliveIntervalMs: 500,
  snapshotPageKeys: 256,
  snapshotAttempts: 3,
};

/** KV client options with defaults filled in; throws `RangeError` for a value out of range. */
export function kvClientOptions(given?: Partial<KvClientOptions>): KvClientOptions {
  const o = withDefaults(defaultKvClientOptions, given, 'kvClient');
  for (const [name, value] of Object.entries(o)) {
    if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`kvClient.${name}: must be a positive integer, not ${String(value)}`);
  }
  return o;
}
