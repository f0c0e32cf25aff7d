import { invariant } from '../env/errors.js';
import type { RsmOptions } from '../options.js';

/** What one client id holds in flight. */
interface Held {
  count: number;
  bytes: number;
}

/** The verdict on one request: admitted (and counted), or why not (the BUSY answer's reason). */
export type Admission = { readonly admitted: true; readonly bytes: number } | { readonly admitted: false; readonly reason: string };

/**
 * The primary's in-flight budget (`RsmOptions.maxInFlight`, `maxInFlightBytes`) and each client
 * id's fair share of it (`clientInFlightShare`): what the pipeline may hold stamped and not yet
 * executed, counted in requests and in request bytes (`requestBytes`). A request over the
 * budget or over its client's share is refused (the pipeline answers BUSY); nothing queues.
 *
 * Two exceptions keep every request of an accepted size runnable, whatever the options: a
 * request is never refused for its bytes while nothing is in flight, nor for its client's share
 * while that client has nothing in flight. So the held bytes stay below `maxInFlightBytes` plus
 * one request, and a client's below its share plus one request.
 *
 * Invariant: the totals are the sums over the clients; a client with nothing in flight has no
 * entry (the map is bounded by the requests in flight).
 */
export class InFlightBudget {
  readonly #options: Pick<RsmOptions, 'maxInFlight' | 'maxInFlightBytes' | 'clientInFlightShare'>;
  readonly #clients = new Map<string, Held>();
  #count = 0;
  #bytes = 0;

  constructor(options: Pick<RsmOptions, 'maxInFlight' | 'maxInFlightBytes' | 'clientInFlightShare'>) {
    this.#options = options;
  }

  /** Requests held. */
  get count(): number {
    return this.#count;
  }

  /** Request bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The most requests one client id may hold (at least one). */
  get clientMaxCount(): number {
    return Math.max(1, Math.floor(this.#options.maxInFlight * this.#options.clientInFlightShare));
  }

  /** The most request bytes one client id may hold (beyond one request; see the class comment). */
  get clientMaxBytes(): number {
    return Math.floor(this.#options.maxInFlightBytes * this.#options.clientInFlightShare);
  }

  /**
   * Admits one request of `clientId` whose size `sizeOf()` tells, or says why not. The checks
   * that need no size come first, so that a client already at its share is refused without
   * measuring (serialising) its request.
   */
  admit(clientId: string, sizeOf: () => number): Admission {
    const { maxInFlight, maxInFlightBytes } = this.#options;
    const held = this.#clients.get(clientId);
    if (this.#count >= maxInFlight) return refused(`${this.#count} requests in flight (maxInFlight ${maxInFlight})`);
    if (held !== undefined && held.count >= this.clientMaxCount) {
      return refused(`client ${clientId} has ${held.count} requests in flight, its share of ${this.clientMaxCount} (clientInFlightShare)`);
    }
    if (held !== undefined && held.bytes >= this.clientMaxBytes) return this.#overShare(clientId, held, 0);
    const bytes = sizeOf();
    if (this.#count > 0 && this.#bytes + bytes > maxInFlightBytes) {
      return refused(`${this.#bytes} request bytes in flight; ${bytes} more would pass maxInFlightBytes ${maxInFlightBytes}`);
    }
    if (held !== undefined && held.bytes + bytes > this.clientMaxBytes) return this.#overShare(clientId, held, bytes);
    const mine = held ?? { count: 0, bytes: 0 };
    mine.count++;
    mine.bytes += bytes;
    this.#clients.set(clientId, mine);
    this.#count++;
    this.#bytes += bytes;
    invariant(this.#count === 1 || this.#bytes <= maxInFlightBytes, () => `${this.#bytes} bytes in flight, above maxInFlightBytes ${maxInFlightBytes}`);
    return { admitted: true, bytes };
  }

  /** A request of `clientId` of `bytes` (as admitted) executed or was abandoned. */
  release(clientId: string, bytes: number): void {
    const held = this.#clients.get(clientId);
    invariant(held !== undefined && held.count > 0 && held.bytes >= bytes, () => `releasing ${bytes} bytes client ${clientId} does not hold`);
    held.count--;
    held.bytes -= bytes;
    if (held.count === 0) this.#clients.delete(clientId);
    this.#count--;
    this.#bytes -= bytes;
  }

  /** Forgets everything held (the view is being left). */
  clear(): void {
    this.#clients.clear();
    this.#count = 0;
    this.#bytes = 0;
  }

  #overShare(clientId: string, held: Held, bytes: number): Admission {
    const more = bytes === 0 ? '' : `; ${bytes} more`;
    return refused(`client ${clientId} has ${held.bytes} request bytes in flight${more}, its share is ${this.clientMaxBytes} (clientInFlightShare)`);
  }
}

function refused(reason: string): Admission {
  return { admitted: false, reason };
}
