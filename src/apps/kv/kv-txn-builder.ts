/**
 * A small typed builder for `KvClient.txn`'s requests, so a program names what it compares and
 * does instead of writing the wire's objects by hand (which `txn` also takes):
 *
 *   kv.txn({
 *     compare: [kvCompare.version('config/app/replicas', '=', 1)],
 *     success: [kvOp.put('config/app/replicas', '5'), kvOp.range({ prefix: 'config/app/' }, { countOnly: true })],
 *     failure: [kvOp.range({ key: 'config/app/replicas' })],
 *   });
 *
 * Each function returns the plain JSON object the store takes (docs/kv.md, "txn").
 */
import type { Compare, CompareOp, KeySelector, PutOptions, TxnOp, WireRange } from './kv-client-types.js';

/** The selector as the wire's range fields (a string is one key). */
function range(target: string | KeySelector): WireRange {
  if (typeof target === 'string') return { key: target };
  if (target.prefix !== undefined) return { key: target.prefix, prefix: true };
  return target.rangeEnd === undefined ? { key: target.key } : { key: target.key, rangeEnd: target.rangeEnd };
}

/** Leaves out the fields not given (the store refuses an unknown field, and JSON has no undefined). */
function given<T extends object>(fields: T): T {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as T;
}

/** A txn's compares: the key's value (a string) or one of its numbers. A missing key fails a value compare; its numbers are 0. */
export const kvCompare = {
  value: (key: string, op: CompareOp, value: string): Compare => ({ key, target: 'value', op, value }),
  version: (key: string, op: CompareOp, value: number): Compare => ({ key, target: 'version', op, value }),
  createRevision: (key: string, op: CompareOp, value: number): Compare => ({ key, target: 'createRevision', op, value }),
  modRevision: (key: string, op: CompareOp, value: number): Compare => ({ key, target: 'modRevision', op, value }),
  lease: (key: string, op: CompareOp, value: number): Compare => ({ key, target: 'lease', op, value }),
  /** The key does not exist (its version is 0). */
  missing: (key: string): Compare => ({ key, target: 'version', op: '=', value: 0 }),
} as const;

/** A txn's operations (a branch may not put one key twice, nor put and delete it). */
export const kvOp = {
  put: (key: string, value: string, options: PutOptions = {}): TxnOp => ({ put: given({ key, value, lease: options.lease, prevKv: options.prevKv }) }),
  delete: (target: string | KeySelector, options: { readonly prevKv?: boolean } = {}): TxnOp => ({ delete: given({ ...range(target), prevKv: options.prevKv }) }),
  range: (target: string | KeySelector, options: { readonly limit?: number; readonly keysOnly?: boolean; readonly countOnly?: boolean } = {}): TxnOp =>
    ({ range: given({ ...range(target), limit: options.limit, keysOnly: options.keysOnly, countOnly: options.countOnly }) }),
} as const;
