/**
 * A replicated key-value configuration store, written only against synod's public API.
 *
 * Procedures (arguments and replies are JSON):
 *   put({ key, value })                       → { version }    sets the value; versions start at 1
 *   get({ key })                              → { value, version } | null
 *   delete({ key })                           → { deleted: boolean }
 *   cas({ key, expectedVersion, value })      → { version }    only if the key is at expectedVersion
 *                                                              (0: only if the key does not exist)
 *   list({ prefix })                          → [{ key, version }] in key order, at most `maxListed`
 * Refusals are `AppError`s with a code the caller can act on: `bad-key`, `bad-value`,
 * `version-mismatch` (with the current version in the message), `too-large`.
 *
 * Every handler is a pure function of (state, args): no clock, no randomness, no I/O. That is
 * what lets every replica execute the same requests into the same state.
 */
import { AppError, type Json, defineApp } from 'synod';

/** Longest key accepted, in characters. */
export const maxKeyLength = 256;
/** Largest value accepted, as JSON text. 64 KiB: a configuration store holds small values. */
export const maxValueBytes = 64 * 1024;
/** Most keys one `list` returns. */
export const maxListed = 1000;

export interface Entry {
  readonly value: Json;
  readonly version: number;
}

/** The state: a Map, so that any string is a key (a plain object would treat `__proto__` specially). */
export type KvState = Map<string, Entry>;

function fields(args: Json): Record<string, Json> {
  if (typeof args !== 'object' || args === null || Array.isArray(args)) throw new AppError('bad-args', 'arguments must be an object');
  return args;
}

function keyOf(args: Record<string, Json>): string {
  const key = args['key'];
  if (typeof key !== 'string' || key.length === 0 || key.length > maxKeyLength) {
    throw new AppError('bad-key', `key must be a string of 1 to ${maxKeyLength} characters`);
  }
  return key;
}

function valueOf(args: Record<string, Json>): Json {
  const value = args['value'];
  if (value === undefined) throw new AppError('bad-value', 'value is missing');
  const size = JSON.stringify(value).length;
  if (size > maxValueBytes) throw new AppError('too-large', `value is ${size} characters of JSON; at most ${maxValueBytes}`);
  return value;
}

function write(state: KvState, key: string, value: Json): Json {
  const version = (state.get(key)?.version ?? 0) + 1;
  state.set(key, { value, version });
  return { version };
}

export const kvApp = defineApp<KvState>({
  name: 'kv',
  version: '1.0.0',
  initialState: () => new Map(),
  handlers: {
    put: (state, args) => {
      const a = fields(args);
      return write(state, keyOf(a), valueOf(a));
    },
    get: (state, args) => {
      const entry = state.get(keyOf(fields(args)));
      return entry === undefined ? null : { value: entry.value, version: entry.version };
    },
    delete: (state, args) => ({ deleted: state.delete(keyOf(fields(args))) }),
    cas: (state, args) => {
      const a = fields(args);
      const key = keyOf(a);
      const expected = a['expectedVersion'];
      if (typeof expected !== 'number' || !Number.isInteger(expected) || expected < 0) {
        throw new AppError('bad-args', 'expectedVersion must be a non-negative integer (0: the key must not exist)');
      }
      const current = state.get(key)?.version ?? 0;
      if (current !== expected) throw new AppError('version-mismatch', `${key} is at version ${current}, not ${expected}`);
      return write(state, key, valueOf(a));
    },
    list: (state, args) => {
      const prefix = fields(args)['prefix'] ?? '';
      if (typeof prefix !== 'string') throw new AppError('bad-args', 'prefix must be a string');
      const keys = [...state.keys()].filter((k) => k.startsWith(prefix)).sort().slice(0, maxListed);
      return keys.map((key) => ({ key, version: state.get(key)!.version }));
    },
  },
  // The state travels as JSON: [[key, { value, version }], …] in key order.
  marshalState: (state) => new TextEncoder().encode(JSON.stringify([...state].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))),
  unmarshalState: (bytes) => new Map(JSON.parse(new TextDecoder().decode(bytes)) as Array<[string, Entry]>),
});

export default kvApp;
