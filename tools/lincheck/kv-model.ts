import { createHash } from 'node:crypto';
import type { Json } from '../../src/rsm/app.js';
import { type KvInput, type KvModelState, type KvOutput, applyKv, emptyKvModel } from './kv-spec.js';
import type { Model } from './types.js';

export type { KvInput, KvOutput, KvModelState } from './kv-spec.js';

/** Deep equality of JSON values (object keys in any order). */
function sameJson(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJson(x, b[i]));
  }
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && sameJson(a[k], b[k]));
}

function describeInput(i: KvInput): string {
  switch (i.proc) {
    case 'put': return `put ${i.key}=${i.value}${i.lease ? ` lease ${i.lease}` : ''}`;
    case 'get': case 'range': return `${i.proc} ${i.key}${i.prefix ? '*' : ''}${i.revision ? ` @${i.revision}` : ''}`;
    case 'delete': return `delete ${i.key}${i.prefix ? '*' : ''}`;
    case 'txn': return `txn if ${i.compare.map((c) => `${c.key}.${c.target}${c.op}${JSON.stringify(c.value)}`).join(' && ') || 'true'}`;
    case 'compact': return `compact ${i.revision}`;
    case 'leaseGrant': return `leaseGrant ttl ${i.ttl}${i.id ? ` id ${i.id}` : ''}`;
    case 'leaseExpire': return `leaseExpire ${i.id}${i.renewals === undefined ? '' : ` (renewals ${i.renewals})`}`;
    default: return `${i.proc} ${i.id}`;
  }
}

/**
 * The KV store as a model for `checkLinearizable`: each operation's reply must be exactly what
 * the specification (`applyKv`, kv-spec.ts) gives in the state the operations before it left,
 * revisions, create/mod revisions and versions included. One part (the revision is global, so
 * keys cannot be checked apart). An operation whose outcome is unknown took effect as the
 * specification says, or never did. Lease expiry is an operation of the history (the node's own
 * `leaseExpire`, between its submission and its answer): no clock is modelled.
 */
export const kvModel: Model<KvModelState, KvInput, KvOutput> = {
  name: 'kv-store',
  init: () => emptyKvModel,
  step(state, input, output) {
    const r = applyKv(state, input);
    if (output === undefined) return r.state;
    return sameJson(r.output, output) ? r.state : undefined;
  },
  // The undo log (what reads at old revisions need) grows with every revision: kept whole in every
  // memo key it made a real-process history of 5,000 operations and 3,000 revisions pass the
  // checker's 512 MiB memo budget. It is keyed by its SHA-1 instead (a collision, which would merge
  // two states, is beyond any history's reach); the rest of the state as it is.
  key: (s) => `${JSON.stringify({ ...s, undo: null })}#${createHash('sha1').update(JSON.stringify(s.undo)).digest('base64')}`,
  describe: (op) => `${describeInput(op.input)} → ${op.output === undefined ? '?' : JSON.stringify(op.output)}`,
  describeState: (s) => `revision ${s.rev} (compacted to ${s.compact}), keys ${s.kvs.map(([k, r]) => `${k}=${r.value}@v${r.version}/m${r.modRevision}${r.lease ? `/l${r.lease}` : ''}`).join(', ') || 'none'}` +
    `, leases ${s.leases.map(([id, , n]) => `${id}(renewed ${n})`).join(', ') || 'none'}`,
};
