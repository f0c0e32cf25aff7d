import type { ExecutedRequest } from './messages.js';
import { requestBytes } from './request-bytes.js';
import { type Viewstamp, compareViewstamps, sameViewstamp } from './viewstamp.js';


/**
 * Dropped entries the array keeps at its front before it is copied down (and only once they are
 * more than half of it): dropping stays O(1) amortised without holding many dead slots.
 */
const compactAfterDropped = 1024;

/** How many requests and bytes `RecentRequests` keeps (`RsmOptions.catchUpRequests`, `catchUpBytes`). */
export interface RecentLimits {
  readonly requests: number;
  readonly bytes: number;
}

/**
 * The requests a replica executed most recently, in order, since its state was last replaced
 * whole (a copy installed, a snapshot restored): the stretch of its history from `base` (the
 * viewstamp its state stood at before the first of them) to its last. A replica whose state
 * stands anywhere on that stretch can be brought to the end by executing the rest
 * (`suffixAfter`), instead of copying the whole state.
 *
 * Why a state at such a viewstamp is the same state: requests are executed only by normal
 * replicas, every normal replica of a view starts it from the view's state, and only the view's
 * primary stamps its requests; so two replicas that executed the request at (v, k) both hold the
 * state of view v's history at (v, k).
 *
 * Invariant: viewstamps strictly increase; at most `limits.requests` entries and (but for one
 * entry larger than the budget on its own) `limits.bytes` bytes; `base` is the viewstamp before the first.
 */
export class RecentRequests {
  readonly #limits: RecentLimits;
  #entries: Array<ExecutedRequest & { readonly bytes: number }> = [];
  #first = 0;
  #bytes = 0;
  #base: Viewstamp | null = null;

  constructor(limits: RecentLimits) {
    this.#limits = limits;
  }

  /** The state was replaced whole and now stands at `at` (null: no state): the stretch starts over. */
  reset(at: Viewstamp | null): void {
    this.#entries = [];
    this.#first = 0;
    this.#bytes = 0;
    this.#base = at;
  }

  /** The request at `vs` was executed (after every one kept). */
  executed(vs: Viewstamp, request: ExecutedRequest['request']): void {
    const bytes = requestBytes(request);
    this.#entries.push({ vs, request, bytes });
    this.#bytes += bytes;
    while (this.size > 1 && (this.size > this.#limits.requests || this.#bytes > this.#limits.bytes)) {
      const dropped = this.#entries[this.#first++]!;
      this.#bytes -= dropped.bytes;
      this.#base = dropped.vs;
    }
    if (this.#first > compactAfterDropped && this.#first * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#first);
      this.#first = 0;
    }
  }

  get size(): number {
    return this.#entries.length - this.#first;
  }

  /**
   * The requests executed after `after`, at most `maxCount` and `maxBytes` of them (at least one), or null when
   * `after` is not on the stretch kept (then only a whole copy will do). Empty when `after` is the
   * last one.
   */
  suffixAfter(after: Viewstamp, maxBytes: number, maxCount: number): ExecutedRequest[] | null {
    let start: number;
    if (this.#base !== null && sameViewstamp(after, this.#base)) {
      start = this.#first;
    } else {
      let lo = this.#first;
      let hi = this.#entries.length - 1;
      start = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        const c = compareViewstamps(this.#entries[mid]!.vs, after);
        if (c === 0) {
          start = mid + 1;
          break;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
      }
      if (start < 0) return null;
    }
    const out: ExecutedRequest[] = [];
    let bytes = 0;
    for (let i = start; i < this.#entries.length && out.length < maxCount; i++) {
      const e = this.#entries[i]!;
      if (out.length > 0 && bytes + e.bytes > maxBytes) break;
      out.push({ vs: e.vs, request: e.request });
      bytes += e.bytes;
    }
    return out;
  }
}
