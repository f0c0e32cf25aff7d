import { AppError, type HandlerContext, type Json, argOf } from '../../rsm/app.js';
import { argsObject, flagArg, leaseIdArg } from './kv-args.js';
import type { KvLease, KvState } from './kv-state.js';
import { beginWrite, commitWrite, deleteKeys } from './kv-write.js';

/**
 * Leases, as etcd's: a lease is granted with a TTL in seconds, keys are attached to it by `put`
 * with `lease`, and when it ends (revoked by a client, or expired) every key attached to it is
 * deleted in one revision (one history entry: watchers see the deletions as one atomic event).
 *
 * Expiry is never a replica's clock: the serving primary's lease keeper (`LeaseKeeper`, with
 * `kvLeaseSpec`) watches each lease's `renewals` and, once a lease has had no keepalive for its
 * TTL under the primary lease, submits `leaseExpire` as the node's own request. The state holds
 * only the granted TTL and the renewal count: the remaining TTL is the keeper's business.
 */

function lease(state: KvState, id: number): KvLease {
  const l = state.leases.get(id);
  if (l === undefined) throw new AppError('lease-not-found', `lease ${id} does not exist (expired, revoked, or never granted)`);
  return l;
}

/**
 * Deletes the lease and its keys in one revision (none if it had no keys). The keys are deleted
 * in key order: a Set's order depends on how the state was built (a replica that unmarshalled it
 * holds another), and the history must be the same on every replica.
 */
function endLease(state: KvState, l: KvLease): { deleted: number; revision: number } {
  const batch = beginWrite(state);
  const deleted = deleteKeys(batch, [...l.keys].sort()).length;
  state.leases.delete(l.id);
  return { deleted, revision: commitWrite(batch) };
}

/** leaseGrant({ ttl, id? }) → { id, ttl }: `id` 0 or absent: the store picks the lowest free id from a counter. */
export function leaseGrant(state: KvState, args: Json): Json {
  const { limits } = state;
  argsObject(args, 'leaseGrant', ['ttl', 'id']);
  const ttl = argOf(args, 'ttl');
  if (typeof ttl !== 'number' || !Number.isSafeInteger(ttl) || ttl < 1 || ttl > limits.maxLeaseTtlSeconds) {
    throw new AppError('bad-request', `leaseGrant: ttl must be a whole number of seconds from 1 to ${limits.maxLeaseTtlSeconds} (kvLimits.maxLeaseTtlSeconds)`);
  }
  let id = leaseIdArg(args, 'id', 'leaseGrant', true);
  if (id !== 0 && state.leases.has(id)) throw new AppError('lease-exists', `lease ${id} exists already`);
  if (state.leases.size >= limits.maxLeases) throw new AppError('too-many-leases', `${state.leases.size} leases are alive; at most ${limits.maxLeases} (kvLimits.maxLeases)`);
  if (id === 0) {
    id = state.nextLeaseId;
    while (state.leases.has(id)) id++;
    state.nextLeaseId = id + 1;
  }
  // A TTL below the minimum is raised to it, as etcd does (the answer says what was granted).
  const ttlSeconds = Math.max(ttl, limits.minLeaseTtlSeconds);
  state.leases.set(id, { id, ttlSeconds, renewals: 0, grant: ++state.leaseGrants, keys: new Set() });
  return { id, ttl: ttlSeconds };
}

/** leaseRevoke({ id }) → { deleted, revision }. */
export function leaseRevoke(state: KvState, args: Json): Json {
  argsObject(args, 'leaseRevoke', ['id']);
  return endLease(state, lease(state, leaseIdArg(args, 'id', 'leaseRevoke', false)));
}

/** leaseKeepAlive({ id }) → { id, ttl }: counts a renewal (the keeper restarts the lease's clock on seeing it). */
export function leaseKeepAlive(state: KvState, args: Json): Json {
  argsObject(args, 'leaseKeepAlive', ['id']);
  const l = lease(state, leaseIdArg(args, 'id', 'leaseKeepAlive', false));
  l.renewals++;
  return { id: l.id, ttl: l.ttlSeconds };
}

/**
 * leaseExpire({ id, renewals?, grant? }) → { expired: true, deleted, revision } | { expired: false }:
 * only a node (`context.internal`: the lease keeper), refused `internal-only` from a client. With
 * `renewals`, the count the keeper saw when it decided: a keepalive that ran since (between its
 * check and this request) keeps the lease. With `grant`, the grant it saw: a lease revoked and
 * granted again under the same id since is another lease, and is kept. A lease already gone is
 * not an error (a revoke may have run first).
 */
export function leaseExpire(state: KvState, args: Json, context: HandlerContext): Json {
  if (!context.internal) throw new AppError('internal-only', 'leaseExpire is called by the nodes when a lease\'s TTL ran out; a client ends a lease with leaseRevoke');
  argsObject(args, 'leaseExpire', ['id', 'renewals', 'grant']);
  const id = leaseIdArg(args, 'id', 'leaseExpire', false);
  const renewals = argOf(args, 'renewals');
  const grant = argOf(args, 'grant');
  for (const [name, v] of [['renewals', renewals], ['grant', grant]] as const) {
    if (v !== undefined && (typeof v !== 'number' || !Number.isSafeInteger(v))) throw new AppError('bad-request', `leaseExpire: ${name} must be an integer`);
  }
  const l = state.leases.get(id);
  if (l === undefined || (renewals !== undefined && renewals !== l.renewals) || (grant !== undefined && grant !== l.grant)) return { expired: false };
  return { expired: true, ...endLease(state, l) };
}

/** leaseTimeToLive({ id, keys? }) → { id, grantedTtl, renewals, keys? } (query; the remaining TTL is the primary's keeper's, not the state's). */
export function leaseTimeToLive(state: Readonly<KvState>, args: Json): Json {
  argsObject(args, 'leaseTimeToLive', ['id', 'keys']);
  const withKeys = flagArg(args, 'keys', 'leaseTimeToLive');
  const id = leaseIdArg(args, 'id', 'leaseTimeToLive', false);
  const l = state.leases.get(id);
  if (l === undefined) throw new AppError('lease-not-found', `lease ${id} does not exist (expired, revoked, or never granted)`);
  return { id, grantedTtl: l.ttlSeconds, renewals: l.renewals, ...(withKeys ? { keys: [...l.keys].sort() } : {}) };
}

/** leases() → { leases: [{ id, ttl }] } in id order (query). */
export function leaseList(state: Readonly<KvState>, args: Json): Json {
  if (args !== null) argsObject(args, 'leases', []);
  return { leases: [...state.leases.values()].sort((a, b) => a.id - b.id).map((l) => ({ id: l.id, ttl: l.ttlSeconds })) };
}
