import type { ClientOptions, RsmOptions } from '../../src/options.js';
import type { Prng } from './prng.js';

/** Share of whole-stack runs whose client table forgets idle clients within the run (see `drawTableLimits`). */
const shortTableShare = 0.3;

/** The client table's options of one run, and the clients' matching new-client window. */
export interface TableLimitsDraw {
  /** Whether the table forgets idle clients within the run. */
  readonly short: boolean;
  readonly rsm: Partial<RsmOptions>;
  readonly client: Partial<ClientOptions>;
}

/**
 * The client table of one whole-stack run. With the defaults (hours) nothing expires in a run of
 * seconds, so in a share of runs, and in every run when `force`d, the table forgets clients
 * within the run: sweeps every 50–300 ms, entries dropped after 300–2000 ms idle and evictable
 * sooner, so that calls retried across a fault find their client's entry gone (the clients are
 * then told `ClientExpiredError`, and nothing may run twice). The clients' new-client window
 * stays below both, as `ClientOptions.newClientWindowMs` requires. `maxClients` leaves room for
 * every id of the run (its clients and one session id per node): clients that call all the time
 * are never idle long enough to be evicted, so a smaller table would only starve one of them.
 * Every value is drawn in every run, so the rest of the run's shape does not depend on the choice.
 */
export function drawTableLimits(shape: Prng, ids: number, force: boolean, slowness = 1): TableLimitsDraw {
  const drawn = shape.chance(shortTableShare);
  // On a slow disk every request takes `slowness` times longer; idle times stretch with it.
  const sweepMs = shape.between(50, 300) * slowness;
  const retentionMs = shape.between(300, 2000) * slowness;
  const evictableAfterMs = shape.between(200 * slowness, retentionMs);
  const windowMs = shape.between(20, 150) * slowness;
  const room = shape.between(0, 2);
  if (!(drawn || force)) return { short: false, rsm: {}, client: {} };
  return {
    short: true,
    rsm: { clientTableSweepMs: sweepMs, clientRetentionMs: retentionMs, clientEvictableAfterMs: evictableAfterMs, maxClients: ids + room },
    client: { newClientWindowMs: Math.min(windowMs, evictableAfterMs / 2) },
  };
}
