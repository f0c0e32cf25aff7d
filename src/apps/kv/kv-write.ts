import { AppError, type Json } from '../../rsm/app.js';
import { type KeyRange, argsObject, flagArg, keyArg, leaseIdArg, rangeArg, valueArg } from './kv-args.js';
import { type KvChange, recordRevision } from './kv-history.js';
import type { KvLimits } from './kv-limits.js';
import { liveRecords, kvJson } from './kv-range.js';
import { type KvRecord, type KvState, recordBytes, removeRecord, setRecord } from './kv-state.js';

/**
 * The write path: one request's changes, made under the one revision the request gets. A batch
 * applies each change at once (so a txn's later range sees its earlier puts) and records it; its
 * commit makes the revision (only if something changed: a delete of nothing makes none) and its
 * history entry. Callers check everything that can be refused before the first change: a handler
 * never throws half-way, so a refused request changes nothing.
 */
export interface WriteBatch {
  readonly state: KvState;
  /** The revision the changes are made at: the state's next one. */
  readonly revision: number;
  readonly changes: KvChange[];
}

export function beginWrite(state: KvState): WriteBatch {
  return { state, revision: state.revision + 1, changes: [] };
}

/** Makes the batch's revision, if it changed anything; returns the store's revision after it. */
export function commitWrite(batch: WriteBatch): number {
  if (batch.changes.length > 0) {
    batch.state.revision = batch.revision;
    recordRevision(batch.state, batch.changes);
  }
  return batch.state.revision;
}

/** Puts `key` (checked: its lease exists); returns the record it replaced, null if none. */
export function putKey(batch: WriteBatch, key: string, value: string, lease: number): KvRecord | null {
  const prev = batch.state.kvs.get(key) ?? null;
  const kv: KvRecord = {
    key, value, lease,
    createRevision: prev?.createRevision ?? batch.revision,
    modRevision: batch.revision,
    version: (prev?.version ?? 0) + 1,
  };
  setRecord(batch.state, kv);
  batch.changes.push({ type: 'put', kv, prev });
  return prev;
}

/** Deletes every live key of `keys` (in the order given); returns the records deleted. */
export function deleteKeys(batch: WriteBatch, keys: readonly string[]): KvRecord[] {
  const deleted: KvRecord[] = [];
  for (const key of keys) {
    const prev = batch.state.kvs.get(key);
    if (prev === undefined) continue;
    removeRecord(batch.state, key);
    batch.changes.push({ type: 'delete', key, prev });
    deleted.push(prev);
  }
  return deleted;
}

/** A put's arguments, checked. */
export interface PutOp { readonly key: string; readonly value: string; readonly lease: number; readonly prevKv: boolean }
/** A delete's arguments, checked. */
export interface DeleteOp { readonly range: KeyRange; readonly prevKv: boolean }

export function parsePut(args: Json, proc: string, limits: KvLimits): PutOp {
  argsObject(args, proc, ['key', 'value', 'lease', 'prevKv']);
  return { key: keyArg(args, proc, limits), value: valueArg(args, proc, limits), lease: leaseIdArg(args, 'lease', proc, true), prevKv: flagArg(args, 'prevKv', proc) };
}

export function parseDelete(args: Json, proc: string, limits: KvLimits): DeleteOp {
  argsObject(args, proc, ['key', 'rangeEnd', 'prefix', 'prevKv']);
  return { range: rangeArg(args, proc, limits), prevKv: flagArg(args, 'prevKv', proc) };
}

/**
 * Refuses puts the state cannot take, before any change: a lease that does not exist
 * (`lease-not-found`), or more bytes than `maxStoreBytes` leaves (`store-full`; counted as if
 * nothing else in the request freed any).
 */
export function checkPuts(state: KvState, puts: readonly PutOp[]): void {
  let grow = 0;
  for (const put of puts) {
    if (put.lease !== 0 && !state.leases.has(put.lease)) throw new AppError('lease-not-found', `lease ${put.lease} does not exist (expired, revoked, or never granted)`);
    const old = state.kvs.get(put.key);
    grow += recordBytes(put.key, put.value) - (old === undefined ? 0 : recordBytes(old.key, old.value));
  }
  if (grow > 0 && state.storeBytes + grow > state.limits.maxStoreBytes) {
    throw new AppError('store-full', `the store holds ${state.storeBytes} bytes and this would add ${grow}; at most ${state.limits.maxStoreBytes} (kvLimits.maxStoreBytes): delete or compact first`);
  }
}

/** Runs a checked put in `batch`: `{ prevKv? }` (the caller adds the revision). */
export function applyPut(batch: WriteBatch, put: PutOp): { [key: string]: Json } {
  const prev = putKey(batch, put.key, put.value, put.lease);
  return put.prevKv ? { prevKv: prev === null ? null : kvJson(prev) } : {};
}

/** Runs a checked delete in `batch`: `{ deleted, prevKvs? }`. */
export function applyDelete(batch: WriteBatch, del: DeleteOp): { [key: string]: Json } {
  const deleted = deleteKeys(batch, liveRecords(batch.state, del.range).map((kv) => kv.key));
  return { deleted: deleted.length, ...(del.prevKv ? { prevKvs: deleted.map((kv) => kvJson(kv)) } : {}) };
}
