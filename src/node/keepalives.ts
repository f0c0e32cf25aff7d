import type { CallbackOptions } from '../options.js';
import { wireMs } from './callback-ends.js';
import type { OwnerStream, OwnerStreams } from './owner-streams.js';

/**
 * The callback hub's keepalives (`CallbackHub`) and the ledger of when each owner last got one:
 * a keepalive carries the time since its stream was accepted (hub clock), the lease's remaining
 * time, `sessionTimeoutMs` and the drift bound, and a client bounds its cached grants by it
 * (Chubby's session). `SessionKeeper` never expires an owner sooner than `sessionTimeoutMs` after
 * its last keepalive (`confirmedAt`).
 *
 * Invariant: `send` is only called in a task that read the lease held, so every recorded
 * confirmation was given under the lease. Bounded: an owner's confirmation is forgotten
 * (`forgetExpired`) once `sessionTimeoutMs` has passed since it, when it no longer bounds anything;
 * so the ledger holds at most the owners that had a stream within the session timeout.
 */
export class Keepalives {
  readonly #options: CallbackOptions;
  readonly #maxClockDriftPpm: number;
  /** When each owner was last sent a keepalive (hub clock), kept after its stream ends. */
  readonly #confirmed = new Map<string, number>();

  constructor(options: CallbackOptions, maxClockDriftPpm: number) {
    this.#options = options;
    this.#maxClockDriftPpm = maxClockDriftPpm;
  }

  /** When `owner` was last sent a keepalive, or null: none within the last `sessionTimeoutMs`. */
  confirmedAt(owner: string): number | null {
    return this.#confirmed.get(owner) ?? null;
  }

  /**
   * Sends `owner`'s stream a keepalive and records it as the owner's latest confirmation if the
   * stream took it. Only in a task that read the lease held (`leaseRemainingMs` is what it said).
   */
  send(owner: string, entry: OwnerStream, now: number, leaseRemainingMs: number): void {
    const sent = entry.stream.send({
      kind: 'keepalive',
      sinceAcceptMs: wireMs(now - entry.acceptedAt),
      leaseRemainingMs: wireMs(leaseRemainingMs),
      sessionTimeoutMs: wireMs(this.#options.sessionTimeoutMs),
      maxDriftPpm: this.#maxClockDriftPpm,
      intervalMs: wireMs(this.#options.keepaliveIntervalMs),
    });
    if (sent) this.#confirmed.set(owner, now);
  }

  /**
   * The keepalive round: every open stream of `streams` gets one, except that a stream of an owner
   * bound to another client is ended instead. Only in a task that read the lease held.
   */
  round(streams: OwnerStreams, now: number, leaseRemainingMs: number): void {
    for (const [owner, entry] of streams.entries()) {
      if (!entry.stream.open) continue;
      if (!streams.rightful(owner, entry)) streams.endTaken(owner, entry);
      else this.send(owner, entry, now, leaseRemainingMs);
    }
  }

  /** Forgets every confirmation `sessionTimeoutMs` or more before `now`. */
  forgetExpired(now: number): void {
    for (const [owner, at] of this.#confirmed) if (now - at >= this.#options.sessionTimeoutMs) this.#confirmed.delete(owner);
  }
}
