import { invariant } from '../../env/errors.js';
import { type KvHistory, emptyHistory } from './kv-history.js';
import { type KvLimits, recordOverheadBytes, utf8Bytes } from './kv-limits.js';

/**
 * The KV store's replicated state (`kvApp`): the live keys, the leases, and the history of
 * changes (what reads at old revisions and watches use).
 *
 * Keys and values are JavaScript strings, ordered as JavaScript compares strings (UTF-16 code
 * units; the same as UTF-8 byte order except for characters above U+FFFF beside U+E000-U+FFFF).
 * How an etcd gateway maps bytes onto them is its business (issue 18).
 */

/**
 * One key's record at one revision. Immutable: a change makes a new record, so the history can
 * hold the records it names without copying them.
 */
export interface KvRecord {
  readonly key: string;
  readonly value: string;
  /** The revision of the put that created the key (since its last delete). */
  readonly createRevision: number;
  /** The revision of the key's last put. */
  readonly modRevision: number;
  /** 1 at creation, +1 each put; a delete ends the key (a later put starts again at 1). */
  readonly version: number;
  /** The lease the key is attached to; 0: none. */
  readonly lease: number;
}

export interface KvLease {
  readonly id: number;
  /** The TTL granted, in seconds. */
  readonly ttlSeconds: number;
  /** How many keepalives it has had: the lease keeper restarts the lease's clock when it changes. */
  renewals: number;
  /**
   * Which grant made it: the store's grant count when it was granted (`KvState.leaseGrants`). A
   * lease revoked or expired and granted again under the same id is another lease: an expiry the
   * keeper decided for the first must not end the second (`leaseExpire` names the grant).
   */
  readonly grant: number;
  /** The keys attached to it. Invariant: exactly the live keys whose `lease` is this id. */
  readonly keys: Set<string>;
}

export interface KvState {
  /** The store's revision: 1 for a new store, +1 for each request that changed a key. */
  revision: number;
  /** Reads at revisions below it are refused `compacted`; the history holds the revisions above it. */
  compactRevision: number;
  /** Live keys. A `Map`: keys come from clients, and `__proto__` is a key like any other. */
  readonly kvs: Map<string, KvRecord>;
  /** The keys of `kvs`, sorted (JavaScript string order): ranges walk it. */
  readonly sortedKeys: string[];
  /** UTF-8 bytes of every live key and value, plus `recordOverheadBytes` each (`KvLimits.maxStoreBytes`). */
  storeBytes: number;
  readonly leases: Map<number, KvLease>;
  /** The id the next lease granted without one is given (the lowest free id at or above it). */
  nextLeaseId: number;
  /** Leases granted so far (each lease's `grant`). */
  leaseGrants: number;
  readonly history: KvHistory;
  /** The bounds this state is kept to (not marshalled: the app's). */
  readonly limits: KvLimits;
}

export function emptyKvState(limits: KvLimits): KvState {
  return { revision: 1, compactRevision: 0, kvs: new Map(), sortedKeys: [], storeBytes: 0, leases: new Map(), nextLeaseId: 1, leaseGrants: 0, history: emptyHistory(), limits };
}

/** What a record costs the store. */
export function recordBytes(key: string, value: string): number {
  return utf8Bytes(key) + utf8Bytes(value) + recordOverheadBytes;
}

/** The index in sorted `keys` of the first key `>= key` (binary search: `keys` may be a read-only view). */
export function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Sets `key`'s record (a put), keeping `sortedKeys`, `storeBytes` and the leases' key sets. */
export function setRecord(state: KvState, record: KvRecord): void {
  const old = state.kvs.get(record.key);
  if (old === undefined) {
    state.sortedKeys.splice(lowerBound(state.sortedKeys, record.key), 0, record.key);
  } else {
    state.storeBytes -= recordBytes(old.key, old.value);
    if (old.lease !== 0) state.leases.get(old.lease)?.keys.delete(old.key);
  }
  state.kvs.set(record.key, record);
  state.storeBytes += recordBytes(record.key, record.value);
  if (record.lease !== 0) {
    const lease = state.leases.get(record.lease);
    invariant(lease !== undefined, () => `kv state: key attached to lease ${record.lease}, which does not exist`);
    lease.keys.add(record.key);
  }
}

/** Removes `key` (a delete), keeping `sortedKeys`, `storeBytes` and the leases' key sets. */
export function removeRecord(state: KvState, key: string): void {
  const old = state.kvs.get(key);
  invariant(old !== undefined, () => `kv state: removing ${JSON.stringify(key)}, which is not there`);
  const at = lowerBound(state.sortedKeys, key);
  invariant(state.sortedKeys[at] === key, () => `kv state: ${JSON.stringify(key)} missing from the sorted keys`);
  state.sortedKeys.splice(at, 1);
  state.kvs.delete(key);
  state.storeBytes -= recordBytes(old.key, old.value);
  if (old.lease !== 0) state.leases.get(old.lease)?.keys.delete(key);
}
