// A user's key-value app, its client loop and a model of it, written only against synod's public
// API (`synod`, `synod/testkit`): what a user of the testkit writes.
import { AppError, type Json, defineApp } from '../../src/index.js';
import type { Call, Outcome, SeededRandom, SequentialModel, SimulatedClient } from '../../tools/testkit/index.js';

/** One key's entry: its value and how many times it was written since it was created. */
export type Entry = { readonly value: Json; readonly version: number };
export type Store = Record<string, Entry>;

function field(args: Json, name: string): Json | undefined {
  return typeof args === 'object' && args !== null && !Array.isArray(args) ? args[name] : undefined;
}

function keyOf(args: Json): string {
  const key = field(args, 'key');
  if (typeof key !== 'string' || key === '') throw new AppError('bad-key', 'key must be a non-empty string');
  return key;
}

/**
 * put({ key, value }) → the new version; get({ key }) → { value, version } or null;
 * delete({ key }) → whether the key existed; cas({ key, version, value }) → the new version, or
 * the error `version-mismatch` when the key's version is not `version` (0: the key must not exist).
 */
export const kvApp = defineApp<Store>({
  name: 'kv',
  version: '1.0.0',
  initialState: () => ({}),
  handlers: {
    put: (store, args) => {
      const key = keyOf(args);
      const version = (store[key]?.version ?? 0) + 1;
      store[key] = { value: field(args, 'value') ?? null, version };
      return version;
    },
    get: (store, args) => {
      const entry = store[keyOf(args)];
      return entry === undefined ? null : { value: entry.value, version: entry.version };
    },
    delete: (store, args) => {
      const key = keyOf(args);
      const existed = store[key] !== undefined;
      delete store[key];
      return existed;
    },
    cas: (store, args) => {
      const key = keyOf(args);
      const current = store[key]?.version ?? 0;
      if (field(args, 'version') !== current) throw new AppError('version-mismatch', `${key} is at version ${current}`);
      store[key] = { value: field(args, 'value') ?? null, version: current + 1 };
      return current + 1;
    },
  },
  // Entries sorted by key: one state, one byte string, whatever order the keys were written in.
  marshalState: (store) => new TextEncoder().encode(JSON.stringify(Object.keys(store).sort().map((k) => [k, store[k]]))),
  unmarshalState: (bytes) => Object.fromEntries(JSON.parse(new TextDecoder().decode(bytes)) as Array<[string, Entry]>),
});

const keys = ['a', 'b', 'c'];

/** A client's next call: mostly writes and reads of three keys, values unique to the call. */
export function nextKvCall(rng: SeededRandom, client: SimulatedClient): Call {
  const key = rng.pick(keys);
  const value = `${client.id}:${client.calls}`;
  const r = rng.next();
  if (r < 0.35) return { proc: 'put', args: { key, value } };
  if (r < 0.65) return { proc: 'get', args: { key } };
  if (r < 0.75) return { proc: 'delete', args: { key } };
  if (r < 0.97) return { proc: 'cas', args: { key, version: rng.between(0, 3), value } };
  return { proc: 'get', args: { key: '' } }; // refused with bad-key: an outcome the model must give too
}

/** What one key holds in the model. */
export type KeyState = Entry | null;

const ok = (value: Json): Outcome => ({ ok: true, value });

/** The key-value store as a specification, one key at a time (`partitionBy` the key). */
export const kvModel: SequentialModel<KeyState, Store> = {
  name: 'kv model',
  init: () => null,
  step(entry, call: Call) {
    const key = field(call.args, 'key');
    if (typeof key !== 'string' || key === '') return { state: entry, outcome: { ok: false, code: 'bad-key' } };
    const value = field(call.args, 'value') ?? null;
    switch (call.proc) {
      case 'put': {
        const next = { value, version: (entry?.version ?? 0) + 1 };
        return { state: next, outcome: ok(next.version) };
      }
      case 'get': return { state: entry, outcome: ok(entry) };
      case 'delete': return { state: null, outcome: ok(entry !== null) };
      case 'cas': {
        const current = entry?.version ?? 0;
        if (field(call.args, 'version') !== current) return { state: entry, outcome: { ok: false, code: 'version-mismatch' } };
        return { state: { value, version: current + 1 }, outcome: ok(current + 1) };
      }
      default: return { state: entry, outcome: { ok: false, code: 'unknown-procedure' } };
    }
  },
  key: (entry) => JSON.stringify(entry),
  partitionBy: (call) => String(field(call.args, 'key')),
  stateOf: (store, key) => store[key ?? ''] ?? null,
  describeState: (entry) => (entry === null ? 'the key is absent' : `the key holds ${JSON.stringify(entry.value)} at version ${entry.version}`),
};
