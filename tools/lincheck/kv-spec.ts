import { kvLimits } from '../../src/apps/kv/kv-limits.js';
import type { Json } from '../../src/rsm/app.js';

/**
 * The KV store's sequential specification for the linearizability checker (`kvModel`), written
 * on its own, from etcd's rules as docs/kv.md states them (not from the app's code, so that one
 * cannot hide the other's mistake): `applyKv(state, input)` is the state after the operation and
 * the exact reply the store must give. States are immutable values.
 *
 * What it covers: put, get/range (one key or a prefix, at the current or an old revision,
 * limit), delete (key or prefix), txn (compares on every target; put/delete/range operations),
 * compact, leaseGrant, leaseRevoke, leaseKeepAlive and leaseExpire (the node's own request: the
 * recorder puts it in the history like a client's call, bracketed by when it was submitted and
 * answered). Replies carry no `prevKv` (the recorder does not ask for them). Refusals are
 * `{ error: code }` for the codes a well-formed call can meet: `lease-not-found`, `lease-exists`,
 * `compacted`, `future-revision`, `duplicate-key`.
 * Assumptions: a fresh store (revision 1), and a history within the store's history bound (no
 * compaction by the store itself: with one, an old read answered `compacted` fails here).
 */

export interface KvModelRecord {
  readonly value: string;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  readonly lease: number;
}

export interface KvModelState {
  readonly rev: number;
  readonly compact: number;
  readonly nextLeaseId: number;
  /** Leases granted so far (each lease's grant number). */
  readonly leaseGrants: number;
  /** Live keys, sorted. */
  readonly kvs: ReadonlyArray<readonly [string, KvModelRecord]>;
  /** Leases by id, sorted: [id, ttl, renewals, grant]. */
  readonly leases: ReadonlyArray<readonly [number, number, number, number]>;
  /** Every change above `compact`, oldest first: [revision, key, what the key held before (null: nothing)]. */
  readonly undo: ReadonlyArray<readonly [number, string, KvModelRecord | null]>;
}

export type KvRangeInput = { readonly key: string; readonly prefix?: boolean; readonly revision?: number; readonly limit?: number };
export type KvTxnOp = { readonly put: { readonly key: string; readonly value: string; readonly lease?: number } } | { readonly delete: { readonly key: string; readonly prefix?: boolean } } | { readonly range: Omit<KvRangeInput, 'revision'> };
export interface KvCompare { readonly key: string; readonly target: 'value' | 'version' | 'createRevision' | 'modRevision' | 'lease'; readonly op: '=' | '!=' | '<' | '>'; readonly value: string | number }

export type KvInput =
  | { readonly proc: 'put'; readonly key: string; readonly value: string; readonly lease?: number }
  | ({ readonly proc: 'get' | 'range' } & KvRangeInput)
  | { readonly proc: 'delete'; readonly key: string; readonly prefix?: boolean }
  | { readonly proc: 'txn'; readonly compare: readonly KvCompare[]; readonly success: readonly KvTxnOp[]; readonly failure: readonly KvTxnOp[] }
  | { readonly proc: 'compact'; readonly revision: number }
  | { readonly proc: 'leaseGrant'; readonly ttl: number; readonly id?: number }
  | { readonly proc: 'leaseRevoke' | 'leaseKeepAlive'; readonly id: number }
  | { readonly proc: 'leaseExpire'; readonly id: number; readonly renewals?: number; readonly grant?: number };

/** The app's reply (JSON as the client got it), or `{ error: code }` for a refusal. */
export type KvOutput = Json;

export const emptyKvModel: KvModelState = { rev: 1, compact: 0, nextLeaseId: 1, leaseGrants: 0, kvs: [], leases: [], undo: [] };

const byKey = (a: readonly [string, unknown], b: readonly [string, unknown]): number => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
const matches = (key: string, target: string, prefix: boolean | undefined): boolean => (prefix === true ? key.startsWith(target) : key === target);
const kvJson = (key: string, r: KvModelRecord): Json => ({ key, value: r.value, createRevision: r.createRevision, modRevision: r.modRevision, version: r.version, lease: r.lease });

class Refused {
  constructor(readonly code: string) {}
}

/** A working copy of a state for one operation; `changed` collects the operation's changes (all at revision rev + 1). */
class Working {
  readonly kvs: Map<string, KvModelRecord>;
  readonly leases: Map<number, [number, number, number]>;
  readonly undo: Array<readonly [number, string, KvModelRecord | null]>;
  compact: number;
  nextLeaseId: number;
  leaseGrants: number;
  changed = false;
  constructor(readonly base: KvModelState) {
    this.kvs = new Map(base.kvs);
    this.leases = new Map(base.leases.map(([id, ttl, renewals, grant]) => [id, [ttl, renewals, grant]]));
    this.undo = [...base.undo];
    this.compact = base.compact;
    this.nextLeaseId = base.nextLeaseId;
    this.leaseGrants = base.leaseGrants;
  }
  get next(): number {
    return this.base.rev + 1;
  }
  put(key: string, value: string, lease: number): void {
    const prev = this.kvs.get(key) ?? null;
    this.kvs.set(key, { value, lease, createRevision: prev?.createRevision ?? this.next, modRevision: this.next, version: (prev?.version ?? 0) + 1 });
    this.undo.push([this.next, key, prev]);
    this.changed = true;
  }
  del(key: string, prefix: boolean | undefined): number {
    const gone = [...this.kvs.keys()].filter((k) => matches(k, key, prefix)).sort();
    for (const k of gone) {
      this.undo.push([this.next, k, this.kvs.get(k)!]);
      this.kvs.delete(k);
      this.changed = true;
    }
    return gone.length;
  }
  /** The range read now (the txn's own state) or at an old revision. */
  range(r: KvRangeInput): Json {
    const at = r.revision === undefined || r.revision === 0 ? this.base.rev : r.revision;
    if (at > this.base.rev) throw new Refused('future-revision');
    if (at < this.compact) throw new Refused('compacted');
    const view = new Map(this.kvs);
    // A read at the current revision sees the working state as it is: inside a txn, the branch's
    // earlier puts and deletes too (they carry the next revision, so the undo walk below would
    // take them back). Only a read at an older revision walks back.
    const current = r.revision === undefined || r.revision === 0;
    for (let i = this.undo.length - 1; !current && i >= 0 && this.undo[i]![0] > at; i--) {
      const [, key, prev] = this.undo[i]!;
      if (prev === null) view.delete(key);
      else view.set(key, prev);
    }
    const found = [...view].filter(([k]) => matches(k, r.key, r.prefix)).sort(byKey);
    const limit = r.limit ?? 0;
    return { kvs: (limit > 0 ? found.slice(0, limit) : found).map(([k, rec]) => kvJson(k, rec)), count: found.length, more: limit > 0 && found.length > limit };
  }
  endLease(id: number): { deleted: number; revision: number } {
    let deleted = 0;
    for (const [k, rec] of [...this.kvs].sort(byKey)) {
      if (rec.lease !== id) continue;
      this.undo.push([this.next, k, rec]);
      this.kvs.delete(k);
      this.changed = true;
      deleted++;
    }
    this.leases.delete(id);
    return { deleted, revision: this.changed ? this.next : this.base.rev };
  }
  needLease(id: number | undefined): void {
    if (id !== undefined && id !== 0 && !this.leases.has(id)) throw new Refused('lease-not-found');
  }
  done(): KvModelState {
    return {
      rev: this.changed ? this.next : this.base.rev,
      compact: this.compact,
      nextLeaseId: this.nextLeaseId,
      leaseGrants: this.leaseGrants,
      kvs: [...this.kvs].sort(byKey),
      leases: [...this.leases].sort((a, b) => a[0] - b[0]).map(([id, [ttl, renewals, grant]]) => [id, ttl, renewals, grant] as const),
      undo: this.undo.filter(([rev]) => rev > this.compact),
    };
  }
}

function holds(w: Working, c: KvCompare): boolean {
  const rec = w.kvs.get(c.key);
  if (rec === undefined && c.target === 'value') return false;
  const actual: string | number = rec === undefined ? 0 : rec[c.target];
  switch (c.op) {
    case '=': return actual === c.value;
    case '!=': return actual !== c.value;
    case '<': return actual < c.value;
    case '>': return actual > c.value;
  }
}

function txn(w: Working, input: Extract<KvInput, { proc: 'txn' }>): Json {
  for (const branch of [input.success, input.failure]) {
    const puts = branch.flatMap((op) => ('put' in op ? [op.put.key] : []));
    if (new Set(puts).size !== puts.length) throw new Refused('duplicate-key');
    for (const op of branch) if ('delete' in op && puts.some((k) => matches(k, op.delete.key, op.delete.prefix))) throw new Refused('duplicate-key');
  }
  const succeeded = input.compare.every((c) => holds(w, c));
  const branch = succeeded ? input.success : input.failure;
  for (const op of branch) if ('put' in op) w.needLease(op.put.lease);
  const responses = branch.map((op): Json => {
    if ('put' in op) {
      w.put(op.put.key, op.put.value, op.put.lease ?? 0);
      return { put: {} };
    }
    if ('delete' in op) return { delete: { deleted: w.del(op.delete.key, op.delete.prefix) } };
    return { range: w.range(op.range) };
  });
  return { succeeded, revision: w.changed ? w.next : w.base.rev, responses };
}

function run(w: Working, input: KvInput): Json {
  switch (input.proc) {
    case 'put':
      w.needLease(input.lease);
      w.put(input.key, input.value, input.lease ?? 0);
      return { revision: w.next };
    case 'get': case 'range':
      return { ...(w.range(input) as { [k: string]: Json }), revision: w.base.rev };
    case 'delete': {
      const deleted = w.del(input.key, input.prefix);
      return { revision: w.changed ? w.next : w.base.rev, deleted };
    }
    case 'txn':
      return txn(w, input);
    case 'compact':
      if (input.revision > w.base.rev) throw new Refused('future-revision');
      if (input.revision <= w.compact) throw new Refused('compacted');
      w.compact = input.revision;
      return { revision: w.base.rev, compactRevision: input.revision };
    case 'leaseGrant': {
      let id = input.id ?? 0;
      if (id !== 0 && w.leases.has(id)) throw new Refused('lease-exists');
      if (id === 0) {
        id = w.nextLeaseId;
        while (w.leases.has(id)) id++;
        w.nextLeaseId = id + 1;
      }
      const ttl = Math.max(input.ttl, kvLimits.minLeaseTtlSeconds);
      w.leases.set(id, [ttl, 0, ++w.leaseGrants]);
      return { id, ttl };
    }
    case 'leaseRevoke':
      w.needLease(input.id);
      return w.endLease(input.id);
    case 'leaseKeepAlive': {
      w.needLease(input.id);
      const [ttl, renewals, grant] = w.leases.get(input.id)!;
      w.leases.set(input.id, [ttl, renewals + 1, grant]);
      return { id: input.id, ttl };
    }
    case 'leaseExpire': {
      const lease = w.leases.get(input.id);
      if (lease === undefined || (input.renewals !== undefined && input.renewals !== lease[1]) || (input.grant !== undefined && input.grant !== lease[2])) return { expired: false };
      return { expired: true, ...w.endLease(input.id) };
    }
  }
}

/** The state after `input` and the reply the store must give (`{ error }` for a refusal, which changes nothing). */
export function applyKv(state: KvModelState, input: KvInput): { state: KvModelState; output: Json } {
  const w = new Working(state);
  try {
    const output = run(w, input);
    return { state: w.done(), output };
  } catch (err) {
    if (err instanceof Refused) return { state, output: { error: err.code } };
    throw err;
  }
}
