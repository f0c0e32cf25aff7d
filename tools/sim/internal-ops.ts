import type { NodeId } from '../../src/env/types.js';
import type { Outcome } from '../../src/rsm/client-table.js';
import type { Request } from '../../src/rsm/messages.js';
import type { Viewstamp } from '../../src/rsm/viewstamp.js';
import { formatViewstamp } from '../../src/rsm/viewstamp.js';
import type { InternalCallMapping } from '../lincheck/mappings.js';
import type { HistoryRecorder } from '../lincheck/recorder.js';

/** The pseudo-client the nodes' own requests (session expiries, ends of lock-delay) are recorded under. */
export const internalClient = 'synod:sessions';

/** An internal request seen executed: its operations, and whether its primary executed it yet. */
interface Seen {
  readonly ops: ReadonlyArray<{ took(): void }>;
  confirmed: boolean;
}

/**
 * Records the requests the nodes make on their own (`Request.internal`: a session's `expire`, a
 * lock's `endDelay`) into a client history, so that the model can explain what they did to the
 * clients' locks. Fed every execution of every replica (`ReplicaObserver.executed`).
 *
 * When it takes effect, for the checker: an internal request is invoked by no client, so its
 * operations are opened at its first execution anywhere (a backup executes before its primary,
 * and no client can see the effect before: every reply and every local query answer comes from
 * a primary, which executes it after every backup did) and closed, zero-length in the common
 * case, at the execution by the primary of the view that stamped it (from then on a reply or a
 * query may show it). A request whose primary never executed it (it crashed first) stays open:
 * an unknown outcome, which may have taken effect at any time after, or never (a later view may
 * not hold it). Each request counts once, by viewstamp and request id (replays and catch-up
 * re-run it).
 */
export class InternalOpRecorder<I, O> {
  readonly #recorder: HistoryRecorder<I, O>;
  readonly #mapping: InternalCallMapping<I, O>;
  readonly #now: () => number;
  readonly #isPrimary: (id: NodeId, vid: number) => boolean;
  readonly #seen = new Map<string, Seen>();
  /** Requests confirmed by their primary, by procedure (for the run's figures). */
  readonly confirmed = new Map<string, number>();

  constructor(recorder: HistoryRecorder<I, O>, mapping: InternalCallMapping<I, O>, now: () => number, isPrimary: (id: NodeId, vid: number) => boolean) {
    this.#recorder = recorder;
    this.#mapping = mapping;
    this.#now = now;
    this.#isPrimary = isPrimary;
  }

  /** Replica `id` executed `request` at `vs` (`ran`: its handler ran, not the client table). */
  executed(id: NodeId, vs: Viewstamp, request: Request, outcome: Outcome, ran: boolean): void {
    // A refused internal request changed nothing; one the table answered ran before.
    if (request.internal !== true || !ran || !outcome.ok) return;
    const key = `${formatViewstamp(vs)} ${request.clientId}#${request.seq}`;
    let seen = this.#seen.get(key);
    if (seen === undefined) {
      const ops = this.#mapping.operations(request.proc, request.args, outcome.value).map((op) => {
        const pending = this.#recorder.internal(internalClient, op.input, this.#now());
        return { took: () => pending.took(op.output, this.#now()) };
      });
      seen = { ops, confirmed: false };
      this.#seen.set(key, seen);
    }
    if (seen.confirmed || seen.ops.length === 0 || !this.#isPrimary(id, vs.vid)) return;
    seen.confirmed = true;
    for (const op of seen.ops) op.took();
    this.confirmed.set(request.proc, (this.confirmed.get(request.proc) ?? 0) + 1);
  }
}
