import type { FeedReader } from '../../client/feed-reader.js';
import type { KvWatchEvent } from './kv-client-types.js';

/** A revision of the `watch` feed as the store sends it (src/apps/kv/kv-watch.ts). */
interface WatchFeedEvent {
  readonly revision: number;
  readonly events: ReadonlyArray<Omit<KvWatchEvent, 'revision'>>;
}

/**
 * A watch (`KvClient.watch`): an async iterator of `KvWatchEvent`s, one change at a time, each
 * with its revision, in revision order, every change once. Underneath it is the store's `watch`
 * feed (`SynodClient.feed`), which follows the primary and resumes by itself after a failover
 * from the last revision received. It throws `FeedCompactedError` (its `compactedThrough` is the
 * store's compact revision: watch again from the revision after it, or take a snapshot) and
 * `FeedRefusedError` for a filter the store refuses; it ends when closed (or on `break`).
 *
 * The feed is opened once `open` resolves (a watch "from now" first asks the store its revision),
 * so the iterator exists at once and an error in opening comes out of the first `next()`.
 */
export class KvWatch implements AsyncIterableIterator<KvWatchEvent> {
  readonly #reader: Promise<FeedReader>;
  /** The events of the last batch taken from the reader and not yet given out, in order. */
  #pending: KvWatchEvent[] = [];
  /** The `through` of the last batch taken (before the first: the revision before the start): handed out whole once `#pending` is empty. */
  #batchThrough: number;
  /**
   * Resolves once the watch is open, with the first revision it delivers: every change from it
   * on comes (a watch "from now" learns it from the store; it rejects as `next()` would).
   */
  readonly started: Promise<number>;
  #closed = false;
  /** The last `next()` call's settling (the next one waits for it). */
  #last: Promise<void> = Promise.resolve();
  #opened: FeedReader | null = null;
  readonly #onEnd: () => void;

  /**
   * @internal use `KvClient.watch`. `after`: the revision before the first one wanted (when known
   * now); `onEnd`: called once the watch is closed or its iteration ended.
   */
  constructor(open: Promise<FeedReader>, after: number, onEnd: () => void = () => {}) {
    this.#onEnd = onEnd;
    this.#batchThrough = after;
    this.#reader = open.then((reader) => {
      if (this.#closed) reader.close();
      this.#opened = reader;
      this.#batchThrough = Math.max(this.#batchThrough, reader.position);
      return reader;
    });
    this.started = this.#reader.then((reader) => reader.position + 1);
    // An opening that failed comes out of next() (and `started`); it must not also be reported as unhandled.
    this.#reader.catch(() => {});
    this.started.catch(() => {});
  }

  /**
   * Every revision up to this one has been handed out whole: a new watch from `position + 1`
   * continues this one with nothing missed or repeated (if the revisions are not compacted).
   */
  get position(): number {
    return this.#pending.length > 0 ? this.#pending[0]!.revision - 1 : this.#batchThrough;
  }

  /**
   * How the subscription went so far (null until it is open): the streams it opened (more than one
   * after a failover, or after it paused because the reader fell `maxBufferedEvents` behind) and
   * the times the primary evicted it for reading too slowly.
   */
  get stats(): { readonly streams: number; readonly evictions: number } | null {
    return this.#opened?.stats ?? null;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<KvWatchEvent> {
    return this;
  }

  /** Calls made before the last one finished wait for it: each takes the next event, in order (the reader underneath serves one taker at a time). */
  next(): Promise<IteratorResult<KvWatchEvent>> {
    const result = this.#last.then(() => this.#nextOrEnd());
    this.#last = result.then(() => {}, () => {});
    return result;
  }

  async #nextOrEnd(): Promise<IteratorResult<KvWatchEvent>> {
    try {
      return await this.#next();
    } catch (err) {
      this.#onEnd();
      throw err;
    }
  }

  async #next(): Promise<IteratorResult<KvWatchEvent>> {
    for (;;) {
      const event = this.#pending.shift();
      if (event !== undefined) return { done: false, value: event };
      const reader = await this.#reader;
      const batch = await reader.next();
      if (batch.done === true) {
        this.#onEnd();
        return { done: true, value: undefined };
      }
      for (const { event: revision } of batch.value.events) {
        const r = revision as unknown as WatchFeedEvent; // the store's event shape (kv-watch.ts)
        for (const e of r.events) this.#pending.push({ ...e, revision: r.revision } as KvWatchEvent);
      }
      this.#batchThrough = batch.value.through;
    }
  }

  /** Ends the watch (`break` calls it). */
  return(): Promise<IteratorResult<KvWatchEvent>> {
    this.close();
    return Promise.resolve({ done: true, value: undefined });
  }

  /** Ends the watch; events already received are still handed out. Idempotent. */
  close(): void {
    this.#closed = true;
    this.#onEnd();
    void this.#reader.then((r) => r.close(), () => {});
  }
}
