import type { Logger } from '../../env/logger.js';
import type { KvClientOptions } from '../../options/kv-client.js';
import { KvLeaseNotFoundError } from './kv-client-errors.js';

/** Why a `KvLease` ended: `expired` (the store no longer has it: its TTL ran out, or another client revoked it), `revoked` (by this handle), `client-closed`. */
export interface KvLeaseLost {
  readonly id: number;
  readonly reason: 'expired' | 'revoked' | 'client-closed';
  readonly detail: string;
}

/** What a lease handle needs of its client: the two calls it makes. */
export interface KvLeaseCalls {
  keepAlive(id: number, deadlineMs: number): Promise<unknown>;
  revoke(id: number): Promise<{ readonly deleted: number; readonly revision: number }>;
}

/**
 * A granted lease (`KvClient.grantLease`) that keeps itself alive: a keepalive starts every
 * `ttl / keepAlivesPerTtl` (but not more often than `minKeepAliveIntervalMs`), one at a time,
 * each given until the next is due (its deadline), so one that got no answer is followed at once.
 * A keepalive without an answer (a failover, a partition) is not the end: the next one tries
 * again, and the store keeps the lease while any keepalive lands within its TTL (a new primary
 * gives every lease its whole TTL again). When the store answers that the lease is gone, the
 * keepalives stop and `lost` resolves `expired`; it resolves `revoked` after `revoke()`, and
 * `client-closed` when the client closes while the handle keeps the lease alive (the lease then
 * lives on in the store until its TTL runs out). `lost` never rejects.
 *
 * `stopKeepAlive()` stops the keepalives without revoking: the store expires the lease after its
 * TTL (as if this process had died); `lost` then resolves only through `revoke()` or a failed
 * `keepAliveOnce()`.
 */
export class KvLease {
  readonly id: number;
  /** The TTL granted, in seconds (the store raises a short one to its minimum). */
  readonly ttl: number;
  /** Resolves once the lease is gone for this handle (see the class comment); never rejects. */
  readonly lost: Promise<KvLeaseLost>;
  readonly #calls: KvLeaseCalls;
  readonly #intervalMs: number;
  readonly #log: Logger;
  readonly #onStop: () => void;
  #resolveLost!: (lost: KvLeaseLost) => void;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #ended: KvLeaseLost | null = null;
  #keepingAlive = true;
  #renewals = 0;
  #lastRenewedMs: number;

  /** @internal use `KvClient.grantLease`. `onStop`: called once the keepalives stop (for any reason). */
  constructor(id: number, ttl: number, calls: KvLeaseCalls, options: KvClientOptions, logger: Logger, onStop: () => void = () => {}) {
    this.id = id;
    this.#onStop = onStop;
    this.ttl = ttl;
    this.#calls = calls;
    this.#log = logger;
    this.#intervalMs = Math.max(options.minKeepAliveIntervalMs, Math.floor((ttl * 1000) / options.keepAlivesPerTtl));
    this.#lastRenewedMs = performance.now();
    this.lost = new Promise((resolve) => (this.#resolveLost = resolve));
    this.#schedule();
  }

  /** Whether keepalives are still being sent. */
  get keepingAlive(): boolean {
    return this.#keepingAlive && this.#ended === null;
  }

  /** Keepalives the store answered (by this handle). */
  get renewals(): number {
    return this.#renewals;
  }

  /** Milliseconds since the grant or the last keepalive the store answered. */
  get sinceRenewedMs(): number {
    return performance.now() - this.#lastRenewedMs;
  }

  /** The pause between keepalives, in milliseconds. */
  get keepAliveIntervalMs(): number {
    return this.#intervalMs;
  }

  /** Stops the keepalives without revoking: the store expires the lease after its TTL. */
  stopKeepAlive(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (!this.#keepingAlive) return;
    this.#keepingAlive = false;
    this.#onStop();
  }

  /** One keepalive now; rejects with `KvLeaseNotFoundError` (and ends the lease) when the store no longer has it. */
  async keepAliveOnce(deadlineMs?: number): Promise<void> {
    try {
      await this.#calls.keepAlive(this.id, deadlineMs ?? this.#intervalMs);
      this.#renewals++;
      this.#lastRenewedMs = performance.now();
    } catch (err) {
      if (err instanceof KvLeaseNotFoundError) this.#end('expired', err.detail);
      throw err;
    }
  }

  /** Revokes the lease: its keys are deleted in one revision. Resolves with that; `lost` resolves `revoked`. */
  async revoke(): Promise<{ readonly deleted: number; readonly revision: number }> {
    this.stopKeepAlive();
    try {
      const result = await this.#calls.revoke(this.id);
      this.#end('revoked', `revoked: ${result.deleted} keys deleted at revision ${result.revision}`);
      return result;
    } catch (err) {
      if (err instanceof KvLeaseNotFoundError) this.#end('expired', err.detail);
      throw err;
    }
  }

  /** @internal the client closed. */
  close(): void {
    this.#end('client-closed', 'the client was closed; the lease lives in the store until its TTL runs out');
  }

  /** The next keepalive `delayMs` from now (a keepalive starts every interval, however long the last one took). */
  #schedule(delayMs = this.#intervalMs): void {
    if (!this.keepingAlive) return;
    this.#timer = setTimeout(() => void this.#tick(), delayMs);
    // A lease must never hold a process open by itself: whoever needs the process alive awaits something.
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    this.#timer = null;
    if (!this.keepingAlive) return;
    const startedMs = performance.now();
    try {
      await this.keepAliveOnce();
    } catch (err) {
      if (this.#ended !== null) return;
      // No answer in time (a failover, the cluster unreachable): the next keepalive tries again.
      this.#log.warn({ lease: this.id, err: (err as Error).message, sinceRenewedMs: Math.round(this.sinceRenewedMs) }, 'kv client: lease keepalive failed; trying again');
    }
    this.#schedule(Math.max(0, this.#intervalMs - (performance.now() - startedMs)));
  }

  #end(reason: KvLeaseLost['reason'], detail: string): void {
    if (this.#ended !== null) return;
    this.stopKeepAlive();
    this.#ended = { id: this.id, reason, detail };
    this.#resolveLost(this.#ended);
  }
}
