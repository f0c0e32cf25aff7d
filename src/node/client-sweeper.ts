import type { Clock } from '../env/clock.js';
import { type Periodic, everyInExecutor } from './periodic.js';
import type { Executor } from '../env/executor.js';
import type { Logger } from '../env/logger.js';
import type { NodeId } from '../env/types.js';
import type { RsmOptions } from '../options.js';
import { sweepProc } from '../rsm/client-table.js';
import { sweepArgs } from '../rsm/client-sweep.js';
import { type ClientAnswer, type Request, internalClientId, newInternalRequest } from '../rsm/messages.js';
import type { ReplicaStatus } from '../rsm/replica.js';

/** What the sweeper reads of the replica (inside tasks of the node's executor). */
export interface SweepReplicaView {
  readonly isPrimary: boolean;
  readonly status: ReplicaStatus;
  /** The view this replica is in: a new view is a new reign, whose time starts anew. */
  readonly vid: number;
  /** The client table's replicated clock in this replica's state (null before the first sweep). */
  readonly tableClockMs: number | null;
}

export interface ClientSweeperDeps {
  readonly self: NodeId;
  readonly executor: Executor;
  /** For the sweep timer. */
  readonly clock: Clock;
  /** Wall-clock milliseconds: only the very first sweep of a cluster's table starts its clock at it. */
  readonly wallClockMs: () => number;
  readonly logger: Logger;
  readonly replica: SweepReplicaView;
  /** Submits a request to this node's replica from inside the node (`RsmLayer.submitInternal`). */
  readonly submit: (request: Request, onAnswer: (answer: ClientAnswer) => void) => () => void;
  /** Uses `clientTableSweepMs` and the table options a sweep carries. */
  readonly options: RsmOptions;
  /** The first sweep's sequence number, minus one (numbers only keep this node's sweeps apart in flight). */
  readonly firstSeq: number;
}

/**
 * The client id the node `self` submits sweeps under: `synod:sweep@<self>` (hashed if too long),
 * in the namespace synod keeps for the nodes' own requests (`synod:`, like a session expiry's).
 */
export function sweeperClientId(self: NodeId): string {
  return internalClientId('sweep', self);
}

/**
 * The most one sweep advances the table's clock, in sweep intervals. Two: a sweep delayed by a
 * busy event loop still counts its time, while a primary that could not sweep for long (BUSY
 * under a flood) lets the clock lag rather than jump.
 */
export const maxSweepAdvanceIntervals = 2;

/**
 * Sweeps the client table (design §4: idle clients expire through a replicated request with a
 * primary-stamped time): every `clientTableSweepMs`, if this node is the serving primary, it
 * submits a sweep through its own RSM (`sweepProc`, arguments `sweepArgs`: a time and its table
 * options), so that every replica advances the table's clock, and drops and evicts the same
 * entries, at the same point of the request order. No replica ever reads its own clock for the
 * table.
 *
 * The time stamped is the table's clock plus the time this primary measured (monotonic) since its
 * previous sweep in this view, at most `maxSweepAdvanceIntervals` intervals; a primary's first
 * sweep in a view only starts its measure. So the table's clock never runs ahead of real time:
 * a primary whose wall clock is ahead (a skewed host, an NTP step, a resumed VM) or sweeps that
 * could not get in for a while (BUSY under a flood) can only make it lag, and an entry is never
 * dropped or evicted before its client has really been idle that long, which is what keeps a
 * new client's marked retry (`newClientWindowMs`) from running twice. Invariant: the clock only
 * moves by time some primary measured while it was primary of the view.
 *
 * One sweep is in flight at a time; one that got no answer within an interval (a view change
 * swallowed it) is forgotten and the next one is submitted. A deposed primary's sweep never
 * executes: it cannot be acknowledged by the new view's members.
 */
export class ClientSweeper {
  readonly #deps: ClientSweeperDeps;
  readonly #log: Logger;
  readonly #clientId: string;
  #seq: number;
  #ticker: Periodic | null = null;
  #outstanding: { readonly forget: () => void; readonly sinceMs: number } | null = null;
  /** The view of this node's reign as primary and when it last measured time in it (monotonic). */
  #reign: { readonly vid: number; lastMs: number } | null = null;
  #stopped = false;

  constructor(deps: ClientSweeperDeps) {
    this.#deps = deps;
    this.#log = deps.logger;
    this.#clientId = sweeperClientId(deps.self);
    this.#seq = deps.firstSeq;
  }

  start(): void {
    this.#ticker = everyInExecutor(this.#deps.clock, this.#deps.executor, this.#deps.options.clientTableSweepMs, () => this.#tick());
  }

  /** Stops sweeping; an answer still to come is dropped. */
  stop(): void {
    this.#stopped = true;
    this.#ticker?.cancel();
    this.#ticker = null;
    this.#outstanding?.forget();
    this.#outstanding = null;
  }

  /** One tick (a task of the node's executor): sweep, if this node serves and no sweep is under way. */
  #tick(): void {
    const { replica, options, clock } = this.#deps;
    if (!replica.isPrimary || replica.status !== 'normal') {
      this.#reign = null;
      return;
    }
    const now = clock.now();
    const base = replica.tableClockMs;
    if (base !== null && this.#reign?.vid !== replica.vid) {
      // A new reign: time is measured from now on, never guessed for the gap before it.
      this.#reign = { vid: replica.vid, lastMs: now };
      return;
    }
    if (this.#outstanding !== null) {
      if (now - this.#outstanding.sinceMs < options.clientTableSweepMs) return;
      this.#outstanding.forget();
    }
    let stamp: number;
    if (base === null) {
      stamp = Math.floor(this.#deps.wallClockMs()); // the table's clock starts: any origin will do
      this.#reign = { vid: replica.vid, lastMs: now };
    } else {
      const elapsed = Math.min(now - this.#reign!.lastMs, maxSweepAdvanceIntervals * options.clientTableSweepMs);
      stamp = base + Math.max(0, Math.floor(elapsed));
      this.#reign!.lastMs = now;
    }
    const args = sweepArgs({
      nowMs: stamp,
      limits: { retentionMs: options.clientRetentionMs, maxClients: options.maxClients, evictableAfterMs: options.clientEvictableAfterMs },
    });
    const request = newInternalRequest(this.#clientId, ++this.#seq, sweepProc, args);
    const forget = this.#deps.submit(request, (answer) => this.#answered(answer));
    this.#outstanding = { forget, sinceMs: now };
  }

  #answered(answer: ClientAnswer): void {
    this.#outstanding = null;
    if (this.#stopped) return;
    if (answer.kind !== 'executed') {
      this.#log.debug({ answer: answer.kind }, 'client table: sweep not executed (not the serving primary any more); the next one follows');
      return;
    }
    if (!answer.outcome.ok) {
      this.#log.error({ outcome: answer.outcome }, 'client table: sweep refused');
      return;
    }
    const value = answer.outcome.value as { dropped?: number; evicted?: number };
    const gone = (value.dropped ?? 0) + (value.evicted ?? 0) > 0;
    if (gone) this.#log.info({ ...(answer.outcome.value as object) }, 'client table: idle clients dropped');
    else this.#log.debug({ ...(answer.outcome.value as object) }, 'client table: swept');
  }
}
