/**
 * The KV store's requests and replies as the typed client (`KvClient`) sees them: the JSON the
 * procedures take and give (docs/kv.md), with types. The client sends these shapes as they are;
 * the store checks them again (a caller from plain JavaScript gets the store's `bad-request`).
 */

import type { KvRecord } from './kv-state.js';
import type { Compare, CompareOp, CompareTarget } from './kv-txn.js';

export type { Compare, CompareOp, CompareTarget };

/** A key's record (etcd's KeyValue): the store's own record as replies carry it. `lease` 0: none. */
export type KeyValue = KvRecord;

/**
 * Which keys a read, delete or watch is about: one key; every key starting with `prefix` (`''`:
 * every key); or `[key, rangeEnd)` (`rangeEnd: '\u0000'`: every key from `key` on).
 */
export type KeySelector =
  | { readonly key: string; readonly rangeEnd?: undefined; readonly prefix?: undefined }
  | { readonly prefix: string; readonly key?: undefined; readonly rangeEnd?: undefined }
  | { readonly key: string; readonly rangeEnd: string; readonly prefix?: undefined };

export interface PutOptions {
  /** Attach the key to this lease (it is deleted when the lease ends); absent or 0: none (a put without it detaches the key). */
  readonly lease?: number;
  /** Return the record the put replaced. */
  readonly prevKv?: boolean;
}

export interface PutResult {
  /** The store's revision after the put (the put's own). */
  readonly revision: number;
  /** With `prevKv`: the record replaced, null when the key was new. */
  readonly prevKv?: KeyValue | null;
}

export interface RangeOptions {
  /** At most this many kvs (0 or absent: all); `more` says some were left out. */
  readonly limit?: number;
  /** Read the store as it was at this revision (absent or 0: now); below the compaction: `KvCompactedError`. */
  readonly revision?: number;
  /** Values are left out (`''`). */
  readonly keysOnly?: boolean;
  /** Only `count`; no kvs. */
  readonly countOnly?: boolean;
}

export interface RangeResult {
  readonly kvs: readonly KeyValue[];
  /** Every key that matched (also those `limit` left out). */
  readonly count: number;
  readonly more: boolean;
  /** The store's current revision (not the one read at). */
  readonly revision: number;
}

export interface DeleteResult {
  readonly revision: number;
  readonly deleted: number;
  /** With `prevKv`: the records deleted. */
  readonly prevKvs?: readonly KeyValue[];
}

/** The wire's range arguments: `key` with `prefix: true` or `rangeEnd`. */
export interface WireRange {
  readonly key: string;
  readonly prefix?: boolean;
  readonly rangeEnd?: string;
}

export type TxnOp =
  | { readonly put: { readonly key: string; readonly value: string; readonly lease?: number; readonly prevKv?: boolean } }
  | { readonly delete: WireRange & { readonly prevKv?: boolean } }
  | { readonly range: WireRange & { readonly limit?: number; readonly keysOnly?: boolean; readonly countOnly?: boolean } };

export interface TxnRequest {
  readonly compare?: readonly Compare[];
  readonly success?: readonly TxnOp[];
  readonly failure?: readonly TxnOp[];
}

export type TxnResponse =
  | { readonly put: { readonly prevKv?: KeyValue | null } }
  | { readonly delete: { readonly deleted: number; readonly prevKvs?: readonly KeyValue[] } }
  | { readonly range: { readonly kvs: readonly KeyValue[]; readonly count: number; readonly more: boolean } };

export interface TxnResult {
  readonly succeeded: boolean;
  /** The store's revision after the txn (unchanged when it changed nothing). */
  readonly revision: number;
  /** One per operation of the branch that ran, in order. */
  readonly responses: readonly TxnResponse[];
}

export interface CompactResult {
  readonly revision: number;
  readonly compactRevision: number;
}

export interface KvStatus {
  readonly revision: number;
  readonly compactRevision: number;
  readonly keys: number;
  readonly historyRevisions: number;
  readonly historyBytes: number;
  readonly storeBytes: number;
  readonly leases: number;
}

export interface LeaseTimeToLive {
  readonly id: number;
  /** The TTL granted (seconds). The remaining TTL is the primary's lease keeper's and is not reported. */
  readonly grantedTtl: number;
  /** Keepalives executed so far. */
  readonly renewals: number;
  /** With `keys`: the keys attached, sorted. */
  readonly keys?: readonly string[];
}

export interface LeaseInfo {
  readonly id: number;
  readonly ttl: number;
}

/** What to watch (the `watch` feed's filter) and from where. */
export type WatchRequest = KeySelector & {
  /**
   * The first revision to deliver. Absent: the revision after the store's current one when the
   * watch starts (new changes only, as etcd's default). At or below the compaction:
   * `FeedCompactedError` naming the compact revision.
   */
  readonly fromRevision?: number;
  /** Deliver each change's previous record (when the key existed). */
  readonly prevKv?: boolean;
  /** Leave out puts. */
  readonly noPut?: boolean;
  /** Leave out deletes. */
  readonly noDelete?: boolean;
};

/**
 * One change as a watch delivers it. Every event carries its `revision`: the changes of one
 * request (a txn, a lease's end) share one revision and arrive one after another, in the order
 * the request made them. A delete's `kv` has only the key and the deleting revision (as etcd's).
 */
export type KvWatchEvent =
  | { readonly type: 'put'; readonly revision: number; readonly kv: KeyValue; readonly prevKv?: KeyValue }
  | { readonly type: 'delete'; readonly revision: number; readonly kv: { readonly key: string; readonly modRevision: number }; readonly prevKv?: KeyValue };
