import type { LeaseSpec } from '../../node/lease-keeper.js';
import type { KvState } from './kv-state.js';

/**
 * What the serving primary's `LeaseKeeper` needs of the KV store: every lease with its TTL and
 * renewal count, and the request that expires one (`leaseExpire`, internal only, naming the
 * count the keeper saw so that a keepalive that ran since keeps the lease).
 */
export const kvLeaseSpec: LeaseSpec<KvState> = {
  leases: (state) => [...state.leases.values()].map((l) => ({ id: l.id, ttlMs: l.ttlSeconds * 1000, renewals: l.renewals, grant: l.grant })),
  expire: ({ id, renewals, grant }) => ({ proc: 'leaseExpire', args: { id, renewals, grant } }),
};
