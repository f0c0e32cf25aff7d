import { AppError, type Json, argOf } from '../../rsm/app.js';
import { type KvLimits, utf8Bytes } from './kv-limits.js';

/**
 * Reading the KV store's arguments: every field an own property (`argOf`), checked, and any field
 * the procedure does not know refused, so a misspelt option is an error, not a silent default.
 * Every refusal is an `AppError` thrown before the state is touched.
 */

/** Which keys a request is about: one key, the keys with a prefix, or `[from, to)` (`to` null: no end). */
export type KeyRange =
  | { readonly kind: 'key'; readonly key: string }
  | { readonly kind: 'prefix'; readonly prefix: string }
  | { readonly kind: 'interval'; readonly from: string; readonly to: string | null };

/** `args` as an object with only the fields `allowed`; `bad-request` otherwise. */
export function argsObject(args: Json, proc: string, allowed: readonly string[]): { readonly [key: string]: Json } {
  if (typeof args !== 'object' || args === null || Array.isArray(args)) throw new AppError('bad-request', `${proc}: the arguments must be an object`);
  for (const name of Object.keys(args)) {
    if (!allowed.includes(name)) throw new AppError('bad-request', `${proc}: unknown field ${JSON.stringify(name)} (it takes ${allowed.join(', ')})`);
  }
  return args;
}

/** A string field; `undefined` when absent and not `required`. */
export function stringArg(args: Json, name: string, proc: string, required: true): string;
export function stringArg(args: Json, name: string, proc: string, required: false): string | undefined;
export function stringArg(args: Json, name: string, proc: string, required: boolean): string | undefined {
  const v = argOf(args, name);
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string') throw new AppError('bad-request', `${proc}: ${name} must be a string`);
  return v;
}

/** A boolean field, false when absent. */
export function flagArg(args: Json, name: string, proc: string): boolean {
  const v = argOf(args, name);
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new AppError('bad-request', `${proc}: ${name} must be true or false`);
  return v;
}

/** A non-negative safe integer field; `fallback` when absent (undefined fallback: required). */
export function countArg(args: Json, name: string, proc: string, fallback?: number): number {
  const v = argOf(args, name);
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new AppError('bad-request', `${proc}: ${name} must be a non-negative integer`);
  return v;
}

/** Refuses a key (or range end) longer than the limit: `key-too-large`. */
export function checkKeySize(key: string, limits: KvLimits, what = 'key'): string {
  const bytes = utf8Bytes(key);
  if (bytes > limits.maxKeyBytes) throw new AppError('key-too-large', `${what} is ${bytes} bytes; at most ${limits.maxKeyBytes} (kvLimits.maxKeyBytes)`);
  return key;
}

/** A put's key: a non-empty string within `maxKeyBytes`. */
export function keyArg(args: Json, proc: string, limits: KvLimits): string {
  const key = stringArg(args, 'key', proc, true);
  if (key.length === 0) throw new AppError('bad-request', `${proc}: key must not be empty`);
  return checkKeySize(key, limits);
}

/** A value within `maxValueBytes`. */
export function valueArg(args: Json, proc: string, limits: KvLimits): string {
  const value = stringArg(args, 'value', proc, true);
  const bytes = utf8Bytes(value);
  if (bytes > limits.maxValueBytes) throw new AppError('value-too-large', `value is ${bytes} bytes; at most ${limits.maxValueBytes} (kvLimits.maxValueBytes)`);
  return value;
}

/** A lease id: a positive safe integer (0 allowed as "none" when `zero`). */
export function leaseIdArg(args: Json, name: string, proc: string, zero: boolean): number {
  const v = argOf(args, name);
  if (v === undefined && zero) return 0;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < (zero ? 0 : 1)) {
    throw new AppError('bad-request', `${proc}: ${name} must be a ${zero ? 'non-negative' : 'positive'} integer (a lease id${zero ? '; 0: none' : ''})`);
  }
  return v;
}

/**
 * The keys a get/range/delete names: `key` alone; `key` with `prefix: true` (every key starting
 * with it; `''` is every key); or `key` with `rangeEnd` (`[key, rangeEnd)`; `rangeEnd: "\u0000"`
 * is every key from `key` on, as etcd's `"\0"`). `key` is non-empty unless a prefix or range end
 * is given.
 */
export function rangeArg(args: Json, proc: string, limits: KvLimits): KeyRange {
  const key = checkKeySize(stringArg(args, 'key', proc, true), limits);
  const rangeEnd = stringArg(args, 'rangeEnd', proc, false);
  const prefix = flagArg(args, 'prefix', proc);
  if (prefix && rangeEnd !== undefined) throw new AppError('bad-request', `${proc}: give prefix or rangeEnd, not both`);
  if (prefix) return { kind: 'prefix', prefix: key };
  if (rangeEnd !== undefined) return { kind: 'interval', from: key, to: rangeEnd === '\u0000' ? null : checkKeySize(rangeEnd, limits, 'rangeEnd') };
  if (key.length === 0) throw new AppError('bad-request', `${proc}: key must not be empty (use prefix: true with key '' for every key)`);
  return { kind: 'key', key };
}

/** Whether `key` is in `range`. */
export function inRange(range: KeyRange, key: string): boolean {
  switch (range.kind) {
    case 'key': return key === range.key;
    case 'prefix': return key.startsWith(range.prefix);
    case 'interval': return key >= range.from && (range.to === null || key < range.to);
  }
}

/** The first key `range` can hold (where a walk of the sorted keys starts). */
export function rangeStart(range: KeyRange): string {
  return range.kind === 'key' ? range.key : range.kind === 'prefix' ? range.prefix : range.from;
}

/** Whether two ranges share a key (for a txn's "no key written twice" rule). */
export function rangesOverlap(a: KeyRange, b: KeyRange): boolean {
  if (a.kind === 'key') return inRange(b, a.key);
  if (b.kind === 'key') return inRange(a, b.key);
  const [aFrom, aTo] = bounds(a);
  const [bFrom, bTo] = bounds(b);
  return (aTo === null || bFrom < aTo) && (bTo === null || aFrom < bTo);
}

/** `[from, to)` of a prefix or interval (`to` null: unbounded); a prefix's end is the smallest string above all its keys. */
function bounds(range: Exclude<KeyRange, { kind: 'key' }>): [string, string | null] {
  if (range.kind === 'interval') return [range.from, range.to];
  let p = range.prefix;
  while (p.length > 0 && p.charCodeAt(p.length - 1) === 0xffff) p = p.slice(0, -1);
  if (p.length === 0) return [range.prefix, null];
  return [range.prefix, p.slice(0, -1) + String.fromCharCode(p.charCodeAt(p.length - 1) + 1)];
}

/** The range as JSON, for messages and replies. */
export function describeRange(range: KeyRange): Json {
  switch (range.kind) {
    case 'key': return { key: range.key };
    case 'prefix': return { key: range.prefix, prefix: true };
    case 'interval': return { key: range.from, rangeEnd: range.to ?? '\u0000' };
  }
}
