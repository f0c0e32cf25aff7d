import { leaseExpire } from '../../src/apps/kv/kv-leases.js';
import type { KvState } from '../../src/apps/kv/kv-state.js';
import type { App, HandlerContext, Json } from '../../src/rsm/app.js';

/**
 * Test-only breakage of the KV app (the KV run's mutations; the app itself has none).
 *
 * `expireOnReplicaClock`: the bug issue 16 forbids, "expiry decided by a replica's clock": before
 * every request, each replica expires the leases that have had no renewal for their TTL by its
 * own clock (`nowMs`, the simulated machines' wall time), instead of waiting for the serving
 * primary's `leaseExpire` request. Replicas execute a request at different times (a backup before
 * its primary, a restarted one replaying its log much later), so they expire at different
 * revisions, and keys vanish with no expiry in the history: the state comparison and the
 * linearizability check catch it. The per-lease clocks live beside the state object, as a
 * replica's local memory would (a restart starts them again).
 */
export function expireOnReplicaClock(app: App<KvState>, nowMs: () => number): App<KvState> {
  const clocks = new WeakMap<KvState, Map<number, { renewals: number; since: number }>>();
  const sweep = (state: KvState, context: HandlerContext): void => {
    const now = nowMs();
    let seen = clocks.get(state);
    if (seen === undefined) clocks.set(state, (seen = new Map()));
    for (const lease of [...state.leases.values()]) {
      const clock = seen.get(lease.id);
      if (clock === undefined || clock.renewals !== lease.renewals) {
        seen.set(lease.id, { renewals: lease.renewals, since: now });
      } else if (now - clock.since >= lease.ttlSeconds * 1000) {
        leaseExpire(state, { id: lease.id }, { ...context, internal: true });
        seen.delete(lease.id);
      }
    }
  };
  const handlers = Object.fromEntries(Object.entries(app.handlers).map(([name, handler]) => [name, (state: KvState, args: Json, context: HandlerContext): Json => {
    sweep(state, context);
    return handler(state, args, context);
  }]));
  return { ...app, handlers };
}
