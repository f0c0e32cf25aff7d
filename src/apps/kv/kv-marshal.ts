import { type Json, jsonState } from '../../rsm/app.js';
import { type KvChange, type KvRevisionEntry, changeBytes, firstHistoryRevision } from './kv-history.js';
import type { KvLimits } from './kv-limits.js';
import { type KvLease, type KvRecord, type KvState, emptyKvState, setRecord } from './kv-state.js';

/**
 * The KV store's state as bytes (JSON text), and back. Deterministic: keys in key order, leases
 * in id order, the history in revision order, so equal states give equal bytes whatever order
 * their Maps were filled in. The history is shipped whole: a new primary continues every watch
 * exactly where the old one was.
 *
 * Format `synod-kv/1`:
 * `{ format, revision, compactRevision, nextLeaseId, kvs: [[key, value, createRevision,
 * modRevision, version, lease]…], leases: [[id, ttlSeconds, renewals, grant]…], leaseGrants, history: [[revision,
 * [change…]]…] }`, a change `['put', key, value, createRevision, modRevision, version, lease,
 * prev]` or `['delete', key, prev]`, `prev` a record without its key (`[value, createRevision,
 * modRevision, version, lease]`) or null (a put that created its key).
 *
 * Reading checks every field and the invariants between them (sorted unique keys, leases that
 * exist, a history without gaps whose last change of each key is what the store holds, within
 * `maxHistoryBytes`): anything else is a `TypeError` naming what is wrong.
 */
export const kvStateFormat = 'synod-kv/1';

type Row = Json[];

function recordRow(kv: KvRecord): Row {
  return [kv.value, kv.createRevision, kv.modRevision, kv.version, kv.lease];
}

function sameRecord(a: KvRecord | null, b: KvRecord | null): boolean {
  return a === null || b === null ? a === b : JSON.stringify(recordRow(a)) === JSON.stringify(recordRow(b));
}

function changeRow(c: KvChange): Row {
  const prev = c.prev === null ? null : recordRow(c.prev);
  return c.type === 'put' ? ['put', c.kv.key, ...recordRow(c.kv), prev] : ['delete', c.key, prev];
}

export function marshalKvState(state: KvState): Uint8Array {
  const entries = state.history.entries.slice(state.history.start);
  return jsonState.marshal({
    format: kvStateFormat,
    revision: state.revision,
    compactRevision: state.compactRevision,
    nextLeaseId: state.nextLeaseId,
    leaseGrants: state.leaseGrants,
    kvs: state.sortedKeys.map((key) => [key, ...recordRow(state.kvs.get(key)!)]),
    leases: [...state.leases.values()].sort((a, b) => a.id - b.id).map((l) => [l.id, l.ttlSeconds, l.renewals, l.grant]),
    history: entries.map((e) => [e.revision, e.changes.map(changeRow)]),
  });
}

function fail(what: string): never {
  throw new TypeError(`kv state: ${what}`);
}

function int(v: Json | undefined, what: string, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) fail(`${what} must be an integer >= ${min}`);
  return v;
}

function array(v: Json | undefined, what: string): Json[] {
  if (!Array.isArray(v)) fail(`${what} must be an array`);
  return v;
}

/** A record from `[value, createRevision, modRevision, version, lease]`, checked against the store's revision. */
function readRecord(key: string, row: Json[], revision: number, what: string): KvRecord {
  const [value, createRevision, modRevision, version, lease] = row;
  if (row.length !== 5 || typeof value !== 'string') fail(`${what} is not [value, createRevision, modRevision, version, lease]`);
  const kv: KvRecord = {
    key, value,
    createRevision: int(createRevision, `${what} createRevision`, 2),
    modRevision: int(modRevision, `${what} modRevision`, 2),
    version: int(version, `${what} version`, 1),
    lease: int(lease, `${what} lease`, 0),
  };
  if (kv.createRevision > kv.modRevision || kv.modRevision > revision) fail(`${what}: createRevision <= modRevision <= ${revision} does not hold`);
  return kv;
}

export function unmarshalKvState(data: Uint8Array, limits: KvLimits): KvState {
  const v = jsonState.unmarshal(data);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail('not an object');
  if (v['format'] !== kvStateFormat) fail(`format must be ${kvStateFormat}`);
  const state = emptyKvState(limits);
  state.revision = int(v['revision'], 'revision', 1);
  state.compactRevision = int(v['compactRevision'], 'compactRevision', 0);
  if (state.compactRevision > state.revision) fail('compactRevision is above revision');
  state.nextLeaseId = int(v['nextLeaseId'], 'nextLeaseId', 1);
  state.leaseGrants = int(v['leaseGrants'], 'leaseGrants', 0);
  let lastId = 0;
  const grants = new Set<number>();
  for (const row of array(v['leases'], 'leases')) {
    const [id, ttl, renewals, grant] = array(row, 'a lease');
    const lease: KvLease = { id: int(id, 'lease id', lastId + 1), ttlSeconds: int(ttl, 'lease ttl', 1), renewals: int(renewals, 'lease renewals', 0), grant: int(grant, 'lease grant', 1), keys: new Set() };
    if (lease.grant > state.leaseGrants || grants.has(lease.grant)) fail(`lease ${lease.id}'s grant ${lease.grant} is above leaseGrants or another lease's`);
    grants.add(lease.grant);
    if (lease.ttlSeconds > limits.maxLeaseTtlSeconds) fail(`lease ${lease.id} has a TTL above kvLimits.maxLeaseTtlSeconds`);
    state.leases.set(lease.id, lease);
    lastId = lease.id;
  }
  let lastKey: string | null = null;
  for (const row of array(v['kvs'], 'kvs')) {
    const [key, ...rest] = array(row, 'a kv');
    if (typeof key !== 'string' || key.length === 0 || (lastKey !== null && key <= lastKey)) fail('kvs must be in increasing key order, keys non-empty strings');
    const kv = readRecord(key, rest, state.revision, `key ${JSON.stringify(key)}`);
    if (kv.lease !== 0 && !state.leases.has(kv.lease)) fail(`key ${JSON.stringify(key)} is attached to lease ${kv.lease}, which does not exist`);
    setRecord(state, kv);
    lastKey = key;
  }
  readHistory(state, array(v['history'], 'history'));
  return state;
}

/** The history rows into `state.history`, checked (see the module comment). */
function readHistory(state: KvState, rows: Json[]): void {
  const first = firstHistoryRevision(state);
  if (rows.length !== Math.max(0, state.revision - first + 1)) fail(`history must hold revisions ${first} to ${state.revision}, one entry each`);
  const last = new Map<string, KvRecord | null>();
  rows.forEach((row, i) => {
    const [revision, changeRows] = array(row, 'a history entry');
    if (revision !== first + i) fail(`history entry ${i} must be revision ${first + i}`);
    const changes = array(changeRows, `revision ${revision}`).map((c) => readChange(array(c, `a change of revision ${revision}`), revision, state.revision));
    if (changes.length === 0) fail(`revision ${revision} has no changes`);
    const bytes = changes.reduce((sum, c) => sum + changeBytes(c), 0);
    state.history.entries.push({ revision, changes, bytes } satisfies KvRevisionEntry);
    state.history.bytes += bytes;
    for (const c of changes) {
      const key = c.type === 'put' ? c.kv.key : c.key;
      // Each change's prev is what the key's previous change in the history left (when there is one).
      if (last.has(key) && !sameRecord(last.get(key)!, c.prev)) fail(`key ${JSON.stringify(key)} at ${revision}: prev is not what its previous change made`);
      last.set(key, c.type === 'put' ? c.kv : null);
    }
  });
  if (state.history.bytes > state.limits.maxHistoryBytes) fail(`the history is ${state.history.bytes} bytes, above kvLimits.maxHistoryBytes (${state.limits.maxHistoryBytes})`);
  for (const [key, kv] of last) {
    if (!sameRecord(kv, state.kvs.get(key) ?? null)) {
      fail(`key ${JSON.stringify(key)}: the store does not hold what its last change in the history made`);
    }
  }
}

function readChange(row: Json[], revision: number, storeRevision: number): KvChange {
  const [type, key] = row;
  if (type !== 'put' && type !== 'delete') fail(`a change of revision ${revision} is not ['put', …] or ['delete', …]`);
  if (typeof key !== 'string' || key.length === 0) fail(`a change of revision ${revision} has no key`);
  const prevRow = type === 'put' ? row[7] : row[2];
  const prev = prevRow === null ? null : readRecord(key, array(prevRow, 'prev'), revision - 1, `prev of ${JSON.stringify(key)} at ${revision}`);
  if (type === 'put' && row.length === 8) {
    const kv = readRecord(key, row.slice(2, 7), storeRevision, `${JSON.stringify(key)} at ${revision}`);
    if (kv.modRevision !== revision) fail(`the put of ${JSON.stringify(key)} at ${revision} has modRevision ${kv.modRevision}`);
    if (kv.version !== (prev?.version ?? 0) + 1) fail(`the put of ${JSON.stringify(key)} at ${revision} does not follow its prev's version`);
    return { type, kv, prev };
  }
  if (type === 'delete' && row.length === 3 && prev !== null) return { type, key, prev };
  fail(`a change of revision ${revision} is not ['put', key, value, createRevision, modRevision, version, lease, prev] or ['delete', key, prev]`);
}
