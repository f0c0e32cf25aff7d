import type { FeedEvent } from '../rsm/feed.js';
import { FeedClosedError, type FeedError } from './feed-errors.js';
import type { FeedHandlers, FeedSubscription } from './feed-subscription.js';

/** Events as a reader gets them: in increasing positions; `through` is the position the subscriber has reached. */
export interface FeedBatch {
  readonly events: readonly FeedEvent[];
  readonly through: number;
}

/** Default `FeedReaderOptions.maxBufferedEvents`. */
export const defaultMaxBufferedEvents = 10_000;
/** Default `FeedReaderOptions.maxBufferedBytes`. */
export const defaultMaxBufferedBytes = 64 * 1024 * 1024;

export interface FeedReaderOptions {
  /**
   * Most events held for a reader that has not taken them: beyond it the subscription pauses (its
   * stream closes) and resumes after the last position received once the reader has taken half.
   * Default 10,000: a reader that keeps up never pauses, one that does not holds a bounded amount.
   */
  readonly maxBufferedEvents?: number;
  /**
   * Most bytes (the events' JSON text, counted in UTF-16 units: about their size on the wire)
   * held for a reader that has not taken them; past it the subscription pauses as past
   * `maxBufferedEvents`, and resumes once both are at half or below. Default 64 MiB: one event
   * may be a whole revision of a store (a KV delete of many keys with their previous values), so
   * a count alone does not bound memory.
   */
  readonly maxBufferedBytes?: number;
  /** Wraps each promise `next` returns (`connect()`'s client keeps the process alive while one is pending). */
  readonly hold?: <T>(promise: Promise<T>) => Promise<T>;
}

/**
 * A feed subscription as an async iterator of `FeedBatch`es (`for await (const batch of reader)`).
 * It resumes by itself across failovers (see `FeedSubscription`) and holds at most
 * `maxBufferedEvents` events and `maxBufferedBytes` bytes the reader has not taken. The iteration
 * ends when the reader breaks out of it or calls `close()`; it throws the `FeedError` that ended the subscription otherwise
 * (`FeedCompactedError`, `FeedRefusedError`), after every batch received before it.
 */
export class FeedReader implements AsyncIterableIterator<FeedBatch> {
  readonly #subscription: FeedSubscription;
  readonly #maxBuffered: number;
  readonly #maxBufferedBytes: number;
  #bufferedBytes = 0;
  /** The bytes of each batch held, in the order of `#batches`. */
  readonly #batchBytes: number[] = [];
  readonly #hold: <T>(promise: Promise<T>) => Promise<T>;
  readonly #batches: FeedBatch[] = [];
  #buffered = 0;
  #error: FeedError | null = null;
  /** Callers of `next` waiting for a batch, first come first served (several may call at once). */
  readonly #waiters: { resolve: (r: IteratorResult<FeedBatch>) => void; reject: (e: unknown) => void }[] = [];

  /** `subscribe` makes the subscription with the handlers given (it must not start it). */
  constructor(subscribe: (handlers: FeedHandlers) => FeedSubscription, options: FeedReaderOptions = {}) {
    const max = options.maxBufferedEvents ?? defaultMaxBufferedEvents;
    if (!Number.isSafeInteger(max) || max <= 0) throw new RangeError(`maxBufferedEvents must be a positive integer, not ${max}`);
    this.#maxBuffered = max;
    const maxBytes = options.maxBufferedBytes ?? defaultMaxBufferedBytes;
    if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) throw new RangeError(`maxBufferedBytes must be a positive integer, not ${maxBytes}`);
    this.#maxBufferedBytes = maxBytes;
    this.#hold = options.hold ?? ((p) => p);
    this.#subscription = subscribe({
      events: (events, through) => this.#push({ events, through }),
      ended: (error) => this.#end(error),
    });
    this.#subscription.start();
  }

  /** The last position received (what a later subscription would continue after). */
  get position(): number {
    return this.#subscription.position;
  }

  get stats(): { readonly streams: number; readonly evictions: number } {
    return this.#subscription.stats;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<FeedBatch> {
    return this;
  }

  next(): Promise<IteratorResult<FeedBatch>> {
    const batch = this.#batches.shift();
    if (batch !== undefined) {
      this.#buffered -= batch.events.length;
      this.#bufferedBytes -= this.#batchBytes.shift() ?? 0;
      if (this.#buffered <= this.#maxBuffered / 2 && this.#bufferedBytes <= this.#maxBufferedBytes / 2) this.#subscription.resume();
      return Promise.resolve({ done: false, value: batch });
    }
    if (this.#error !== null) {
      return this.#error instanceof FeedClosedError ? Promise.resolve({ done: true, value: undefined }) : Promise.reject(this.#error);
    }
    return this.#hold(new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
    }));
  }

  /** Ends the iteration (`break` calls it). */
  return(): Promise<IteratorResult<FeedBatch>> {
    this.close();
    return Promise.resolve({ done: true, value: undefined });
  }

  /** Ends the subscription; the iteration ends after the batches already received. Idempotent. */
  close(): void {
    this.#subscription.close();
  }

  #push(batch: FeedBatch): void {
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      waiter.resolve({ done: false, value: batch });
      return;
    }
    this.#batches.push(batch);
    const bytes = batch.events.reduce((sum, e) => sum + JSON.stringify(e.event).length, 0);
    this.#buffered += batch.events.length;
    this.#bufferedBytes += bytes;
    this.#batchBytes.push(bytes);
    if (this.#buffered > this.#maxBuffered || this.#bufferedBytes > this.#maxBufferedBytes) this.#subscription.pause();
  }

  #end(error: FeedError): void {
    this.#error = error;
    for (const waiter of this.#waiters.splice(0)) {
      if (error instanceof FeedClosedError) waiter.resolve({ done: true, value: undefined });
      else waiter.reject(error);
    }
  }
}
