// The tunables of app leases kept by the serving primary (src/node/lease-keeper.ts).
import { withDefaults } from './with-defaults.js';

/**
 * `LeaseKeeper`: the serving primary's clocks of an app's leases (the KV store's), which expire a
 * lease by submitting the app's expire request once it has had no renewal for its TTL.
 */
export interface LeaseKeeperOptions {
  /**
   * How often the keeper looks at the leases. An expiry comes up to this late. Default 250 ms:
   * small beside the shortest TTL the KV store grants (2 s), and one pass over the leases four
   * times a second costs little even at the store's 100,000 leases.
   */
  readonly checkIntervalMs: number;
  /**
   * At most this many expiries submitted and not yet answered; leases due beyond it wait for a
   * later check (later by a check interval or so). Default 64: a mass expiry (a client with many
   * leases gone) goes through the RSM's pipeline in batches instead of flooding it at once.
   */
  readonly maxExpiringLeases: number;
}

export const defaultLeaseKeeperOptions: LeaseKeeperOptions = {
  checkIntervalMs: 250,
  maxExpiringLeases: 64,
};

export function leaseKeeperOptions(given: Partial<LeaseKeeperOptions> | undefined): LeaseKeeperOptions {
  return withDefaults(defaultLeaseKeeperOptions, given, 'leases');
}
