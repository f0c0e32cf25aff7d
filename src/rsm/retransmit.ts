import type { NodeId } from '../env/types.js';
import type { RsmOptions } from '../options.js';

/** A stamped request in flight, as the retransmitter sees it. */
export interface Unacked {
  readonly seqno: number;
  /** Its request's bytes (`requestBytes`), for the per-period byte window. */
  readonly bytes: number;
}

/** When a request was last sent to one backup, in timer periods, and how often it was re-sent. */
interface Sent {
  tick: number;
  resends: number;
}

/** Doubling the timeout stops here (the cap in periods applies anyway; this keeps 2^n exact). */
const maxDoublings = 20;

/**
 * One backup's retransmit timeout, in timer periods, estimated like TCP's (RFC 6298) from the
 * acknowledgements of invokes sent to it once only (Karn: a re-sent invoke's acknowledgement
 * could answer either copy, so it measures nothing): smoothed round trip plus four deviations,
 * at least one period; doubled after every period in which something had to be re-sent, until
 * the next measurement.
 */
class BackupLink {
  /** The requests sent to this backup and not acknowledged by it, by seqno, in seqno order (first sends come in that order; re-sends update in place). */
  readonly sent = new Map<number, Sent>();
  #srtt: number | null = null;
  #rttvar = 0;
  #backoff = 0;

  /** The timeout in periods before any per-invoke doubling, at most `maxTicks`. */
  rto(maxTicks: number): number {
    const base = this.#srtt === null ? 1 : Math.max(1, Math.ceil(this.#srtt + 4 * this.#rttvar));
    return Math.min(maxTicks, base * 2 ** this.#backoff);
  }

  /** An acknowledgement `ticks` periods after the (only) send. */
  measured(ticks: number): void {
    if (this.#srtt === null) {
      this.#srtt = ticks;
      this.#rttvar = ticks / 2;
    } else {
      this.#rttvar = 0.75 * this.#rttvar + 0.25 * Math.abs(this.#srtt - ticks);
      this.#srtt = 0.875 * this.#srtt + 0.125 * ticks;
    }
    this.#backoff = 0;
  }

  timedOut(): void {
    this.#backoff = Math.min(maxDoublings, this.#backoff + 1);
  }
}

/** One re-send the pipeline must make (it groups a backup's re-sends into `invoke` batches). */
export interface Resend {
  readonly to: NodeId;
  readonly seqno: number;
}

/**
 * When the serving primary re-sends a stamped request a backup has not acknowledged (design §4:
 * its invoke batch or the acknowledgement was lost, or the backup dropped it from a full buffer).
 * Acknowledgements are cumulative (`invoke-ack`): one of seqno s acknowledges every request up
 * to s. Re-sending never multiplies traffic under load: a request goes again to one backup only
 * once it has waited that backup's retransmit timeout (adaptive, see `BackupLink`; between
 * `invokeRetryMs` and `invokeRetryMaxMs`), each re-send of the same request doubles its wait, and
 * at most `maxRetransmitInvokes` requests and `maxRetransmitBytes` bytes (one request at least) go
 * to one backup per timer period, lowest seqno first (what the backup needs next to execute in
 * order). The pipeline sends them in batches within the batch bounds.
 *
 * Time is counted in periods of the pipeline's retransmit timer (`invokeRetryMs`), as the core has
 * no clock: `tick` counts the firings. An invoke sent in period k has, at firing t, waited more
 * than (t - k - 1) periods; it is due once t - k exceeds its timeout, so it has waited at least
 * that long.
 */
export class Retransmitter {
  readonly #options: Pick<RsmOptions, 'invokeRetryMs' | 'invokeRetryMaxMs' | 'maxRetransmitInvokes' | 'maxRetransmitBytes'>;
  readonly #links = new Map<NodeId, BackupLink>();
  readonly #maxTicks: number;
  #tick = 0;

  constructor(backups: readonly NodeId[], options: Pick<RsmOptions, 'invokeRetryMs' | 'invokeRetryMaxMs' | 'maxRetransmitInvokes' | 'maxRetransmitBytes'>) {
    this.#options = options;
    this.#maxTicks = Math.max(1, Math.floor(options.invokeRetryMaxMs / options.invokeRetryMs));
    for (const b of backups) this.#links.set(b, new BackupLink());
  }

  /** The request at `seqno` was sent to `backup` for the first time; call it in seqno order for each backup. */
  sent(backup: NodeId, seqno: number): void {
    this.#links.get(backup)?.sent.set(seqno, { tick: this.#tick, resends: 0 });
  }

  /**
   * `backup` acknowledged every request up to `seqno` (cumulative). The acknowledgement measures
   * the link when the request at `seqno` itself was sent once only and not acknowledged before
   * (Karn): it is the last of a batch, so the time is the batch's round trip.
   */
  acked(backup: NodeId, seqno: number): void {
    const link = this.#links.get(backup);
    if (link === undefined) return;
    const last = link.sent.get(seqno);
    for (const key of link.sent.keys()) {
      if (key > seqno) break;
      link.sent.delete(key);
    }
    if (last !== undefined && last.resends === 0) link.measured(this.#tick - last.tick);
  }

  /** The invoke at `seqno` executed or was abandoned: nothing more is sent for it. */
  forget(seqno: number): void {
    for (const link of this.#links.values()) link.sent.delete(seqno);
  }

  /**
   * One timer period passed. Returns the re-sends due now, within each backup's window, each
   * backup's in seqno order; `inFlight` lists the requests in flight, in seqno order (those not
   * sent to a backup yet are skipped for it).
   */
  onTick(inFlight: Iterable<Unacked>): Resend[] {
    this.#tick++;
    const { maxRetransmitInvokes, maxRetransmitBytes } = this.#options;
    const entries = [...inFlight];
    const resends: Resend[] = [];
    for (const [backup, link] of this.#links) {
      const rto = link.rto(this.#maxTicks);
      let count = 0;
      let bytes = 0;
      for (const e of entries) {
        if (count >= maxRetransmitInvokes) break;
        const sent = link.sent.get(e.seqno);
        if (sent === undefined) continue; // acknowledged, or never sent
        const wait = Math.min(this.#maxTicks, rto * 2 ** Math.min(sent.resends, maxDoublings));
        if (this.#tick - sent.tick <= wait) continue;
        if (count > 0 && bytes + e.bytes > maxRetransmitBytes) break;
        sent.tick = this.#tick;
        sent.resends++;
        count++;
        bytes += e.bytes;
        resends.push({ to: backup, seqno: e.seqno });
      }
      if (count > 0) link.timedOut();
    }
    return resends;
  }

  /** `backup`'s current retransmit timeout in ms (for tests and status). */
  timeoutMs(backup: NodeId): number {
    const link = this.#links.get(backup);
    return link === undefined ? 0 : link.rto(this.#maxTicks) * this.#options.invokeRetryMs;
  }
}
