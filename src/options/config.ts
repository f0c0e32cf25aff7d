// The config layer's tunables: heartbeats and the failure detector (src/config).
import { withDefaults } from './with-defaults.js';

export interface ConfigOptions {
  /**
   * How often members send each other heartbeats (and the config layer's tick). Default 100 ms:
   * on loopback or a LAN a heartbeat costs nothing, and detection time is a multiple of it.
   */
  readonly heartbeatIntervalMs: number;
  /**
   * A member is suspected after this many heartbeat intervals without a good heartbeat from it
   * (one that reports the same view and a live incarnation). Default 5: one or two lost
   * heartbeats never cause churn, and a dead member of a 3-node cluster on loopback is removed
   * in about 0.5 s plus one Paxos round, well under the 2 s budget.
   */
  readonly suspectAfterMissed: number;
  /**
   * A node outside the view asks to join again this often until a view adds it. Default 300 ms.
   */
  readonly joinRetryMs: number;
  /**
   * An admitted joiner that stops asking is forgotten after this long (it died or gave up).
   * Default 2000 ms.
   */
  readonly joinRequestTtlMs: number;
}

export const defaultConfigOptions: ConfigOptions = {
  heartbeatIntervalMs: 100,
  suspectAfterMissed: 5,
  joinRetryMs: 300,
  joinRequestTtlMs: 2000,
};

/** Config options with defaults filled in; a count of heartbeats must be a whole number. */
export function configOptions(given: Partial<ConfigOptions> | undefined): ConfigOptions {
  const o = withDefaults(defaultConfigOptions, given, 'config');
  if (!Number.isInteger(o.suspectAfterMissed)) throw new RangeError(`config.suspectAfterMissed must be a positive integer, got ${o.suspectAfterMissed}`);
  return o;
}
