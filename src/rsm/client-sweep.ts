import { limits } from '../options.js';
import type { Json } from './app.js';
import { type ClientTable, type Outcome, type TableLimits, checkLimits, tableCodes } from './client-table.js';

/**
 * The client table's sweep as a replicated request (procedure `sweepProc`): what the serving
 * primary stamps (`ClientSweeper`: its wall-clock time and its table options) and how every
 * replica executes it (`ReplicatedState.execute`). It never enters the client table itself:
 * sweeping twice does no harm, so it needs no at-most-once entry.
 */
export interface SweepArgs {
  /** The stamping primary's wall clock, whole milliseconds. */
  readonly nowMs: number;
  readonly limits: TableLimits;
}

/** The sweep's arguments as JSON. */
export function sweepArgs(args: SweepArgs): Json {
  const { retentionMs, maxClients, evictableAfterMs } = args.limits;
  return { nowMs: args.nowMs, retentionMs, maxClients, evictableAfterMs };
}

/**
 * Executes a sweep on `table`: its outcome says what it did (the clock, entries dropped and
 * evicted, entries left). Arguments that are not a sweep's leave the table as it was, with an
 * `invalid-sweep` outcome: the same on every replica, since they all read the same arguments.
 */
export function executeSweep(table: ClientTable, args: Json): Outcome {
  const a = (typeof args === 'object' && args !== null && !Array.isArray(args) ? args : {}) as Record<string, Json>;
  const nowMs = a['nowMs'];
  let limits: TableLimits;
  try {
    if (typeof nowMs !== 'number' || !Number.isSafeInteger(nowMs) || nowMs < 0) throw new RangeError('nowMs must be a whole number of milliseconds');
    limits = checkLimits({ retentionMs: a['retentionMs'] as number, maxClients: a['maxClients'] as number, evictableAfterMs: a['evictableAfterMs'] as number });
  } catch (err) {
    return { ok: false, code: 'invalid-sweep', message: (err as Error).message };
  }
  const { clockMs, dropped, evicted, clients } = table.sweep(nowMs, limits);
  return { ok: true, value: { clockMs, dropped, evicted, clients } };
}

/** The outcome of a request the table refused: the client is unknown and did not say it is new. */
export function expiredOutcome(clientId: string, seq: number): Outcome {
  return {
    ok: false,
    code: tableCodes.expired,
    message: `the cluster does not know client ${clientId} (its entry expired or was evicted): ` +
      `whether request ${seq}, or an earlier call it retries, was executed is unknown`,
  };
}

/** The outcome of a new client's request refused because the table is full. */
/** The refusal of a request numbered beyond its client's window (`limits.maxClientWindow`): not executed. */
export function windowOutcome(clientId: string, seq: number): Outcome {
  return {
    ok: false,
    code: tableCodes.window,
    message: `request ${seq} of client ${clientId} is numbered ${limits.maxClientWindow} or more above the lowest one ` +
      'it has not had answered (limits.maxClientWindow): not executed; a client must have fewer calls in flight',
  };
}

export function fullOutcome(limits: TableLimits): Outcome {
  return {
    ok: false,
    code: tableCodes.full,
    message: `the client table holds ${limits.maxClients} clients (maxClients), each active within ` +
      `${limits.evictableAfterMs} ms (clientEvictableAfterMs); not executed, try again later`,
  };
}
