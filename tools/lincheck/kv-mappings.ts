import type { Json } from '../../src/rsm/app.js';
import type { KvInput, KvOutput } from './kv-spec.js';
import type { InternalCallMapping } from './mappings.js';
import { type CallMapping, notExecuted } from './recorder.js';

/**
 * The KV store's calls as `kvModel` sees them (for `HistoryRecorder`). Modelled: put, get/range
 * (key or prefix, revision, limit), delete (key or prefix), txn, compact and the lease calls;
 * `prevKv` may be asked for (the reply's `prevKv`/`prevKvs` are left out before the check). Not
 * modelled, so not recorded: `rangeEnd`, `keysOnly`, `countOnly` (a history with one is checkable
 * only if the call changed nothing), and the read-only `leaseTimeToLive`, `leases`, `status`.
 */

const obj = (v: Json | undefined): { readonly [k: string]: Json } | null => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v : null);
const unmodelled = ['rangeEnd', 'keysOnly', 'countOnly'];

/** Refusals the store gives before it changes anything, for calls the model does not describe (bad input, bounds). */
const refusedUnchanged: ReadonlySet<string> = new Set(['bad-request', 'key-too-large', 'value-too-large', 'too-many-ops', 'internal-only', 'store-full', 'too-many-leases']);
/** Refusals the model predicts. */
const modelled: ReadonlySet<string> = new Set(['lease-not-found', 'lease-exists', 'compacted', 'future-revision', 'duplicate-key']);

/** The reply without what the model does not produce (`prevKv`, `prevKvs`, in txn responses too). */
function withoutPrev(value: Json): Json {
  const o = obj(value);
  if (o === null) return value;
  const out: { [k: string]: Json } = {};
  for (const [k, v] of Object.entries(o)) {
    if (k === 'prevKv' || k === 'prevKvs') continue;
    out[k] = k === 'responses' && Array.isArray(v) ? v.map((r) => Object.fromEntries(Object.entries(obj(r) ?? {}).map(([op, res]) => [op, withoutPrev(res)]))) : v;
  }
  return out;
}

export const kvCalls: CallMapping<KvInput, KvOutput> = {
  input(proc, args) {
    const a = obj(args);
    if (a === null || unmodelled.some((f) => Object.hasOwn(a, f))) return null;
    if (!['put', 'get', 'range', 'delete', 'txn', 'compact', 'leaseGrant', 'leaseRevoke', 'leaseKeepAlive'].includes(proc)) return null;
    const txnOps = (ops: Json | undefined): boolean => !Array.isArray(ops) || ops.every((op) => Object.values(obj(op) ?? {}).every((x) => !unmodelled.some((f) => Object.hasOwn(obj(x) ?? {}, f))));
    if (proc === 'txn' && !(txnOps(a['success']) && txnOps(a['failure']))) return null;
    // The store refuses malformed calls before changing anything (`refusedUnchanged`): the shape is the app's to check.
    const { prevKv: _ignored, ...rest } = a as { [k: string]: Json };
    return { proc, ...(proc === 'txn' ? { compare: [], success: [], failure: [] } : {}), ...rest } as unknown as KvInput;
  },
  value: (_input, value) => withoutPrev(value),
  appError: (_input, code) => (refusedUnchanged.has(code) ? notExecuted : modelled.has(code) ? { error: code } : null),
};

/** The nodes' own `leaseExpire` requests (`LeaseKeeper`), as operations of `kvModel`. */
export const kvInternalCalls: InternalCallMapping<KvInput, KvOutput> = {
  operations(proc, args, value) {
    const a = obj(args);
    if (proc !== 'leaseExpire' || a === null || typeof a['id'] !== 'number') return [];
    const renewals = a['renewals'];
    const grant = a['grant'];
    return [{ input: { proc: 'leaseExpire', id: a['id'], ...(typeof renewals === 'number' ? { renewals } : {}), ...(typeof grant === 'number' ? { grant } : {}) }, output: value }];
  },
};
