/**
 * The KV clients of the tester's KV scenarios: a watcher that keeps every event it receives
 * (`KvWatcher`, on `SynodClient.feed('watch', …)`), and a writer of seeded random puts, deletes
 * and txns that keeps what it saw acknowledged (`KvWriter`). tools/tester/kv-watch-check.ts
 * checks what they kept.
 */
import type { SynodClient } from '../../src/client/connect.js';
import { DeadlineExceededError } from '../../src/client/errors.js';
import type { FeedReader } from '../../src/client/feed-reader.js';
import type { Json } from '../../src/rsm/app.js';
import { sleep } from '../harness/node-process.js';
import { Prng } from '../sim/prng.js';
import type { AckedWrite, KvRecord, KvWatchFilter, WatchEvent, WatcherLog } from './kv-watch-check.js';

/** A watcher that keeps every event, in the order received. */
export class KvWatcher {
  readonly name: string;
  readonly filter: KvWatchFilter;
  /** The position the first subscription started after. */
  readonly after: number;
  readonly events: WatchEvent[] = [];
  /** What ended the subscription, when something other than `close` did. */
  error: Error | null = null;
  #reader: FeedReader;
  #loop: Promise<void>;
  #streams = 0;

  readonly #onEvent: (revision: number) => void;

  /** `onEvent` is told of each event's revision as it is received. */
  constructor(client: SynodClient, name: string, filter: KvWatchFilter, after = 0, onEvent: (revision: number) => void = () => {}) {
    this.#onEvent = onEvent;
    this.name = name;
    this.filter = filter;
    this.after = after;
    this.#reader = client.feed('watch', filter as unknown as Json, { after });
    this.#loop = this.#consume(this.#reader);
  }

  async #consume(reader: FeedReader): Promise<void> {
    try {
      for await (const batch of reader) {
        for (const e of batch.events) {
          this.events.push(e.event as unknown as WatchEvent);
          this.#onEvent(e.position);
        }
      }
    } catch (err) {
      this.error = err as Error;
    }
  }

  /** The last position received (events or progress). */
  get position(): number {
    return this.#reader.position;
  }

  /** Streams opened so far, by every subscription of this watcher (more than one: it moved). */
  get streams(): number {
    return this.#streams + this.#reader.stats.streams;
  }

  /** Ends the subscription (the events kept stay); `resume` continues after `position`. */
  async close(): Promise<void> {
    this.#reader.close();
    await this.#loop;
  }

  /** A new subscription of `client`, after the position this one reached: the watcher a restarted program would be. */
  resume(client: SynodClient): void {
    const from = this.position;
    this.#streams += this.#reader.stats.streams;
    this.#reader = client.feed('watch', this.filter as unknown as Json, { after: from });
    this.#loop = this.#consume(this.#reader);
  }

  /** Waits until the watcher's position reaches `revision`; throws after `timeoutMs`. */
  async caughtUp(revision: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.position < revision) {
      if (this.error !== null) throw new Error(`watcher ${this.name} ended: ${this.error.message}`);
      if (Date.now() > deadline) throw new Error(`watcher ${this.name} at revision ${this.position}, not ${revision}, after ${timeoutMs} ms`);
      await sleep(20);
    }
  }

  log(): WatcherLog {
    return { name: this.name, filter: this.filter, after: this.after, events: [...this.events] };
  }
}

/** The keys the writer touches: two prefixes and one lone key, so that watchers by prefix and by key each see some. */
export const writerKeys = ['a/1', 'a/2', 'a/3', 'b/1', 'b/2', 'k'] as const;

/**
 * Seeded random writes, one at a time: puts (most), deletes of one key, and txns that put two
 * keys if the first one's version is what the writer last saw, else delete it. Every write whose
 * reply it got is kept as an `AckedWrite` (a delete that found nothing makes no revision and is
 * not kept); one that ended with an unknown outcome is counted and left out.
 */
export class KvWriter {
  readonly acked: AckedWrite[] = [];
  unknown = 0;
  #seq = 0;
  readonly #prng: Prng;
  readonly #client: SynodClient;
  readonly #deadlineMs: number;

  constructor(client: SynodClient, seed: number, deadlineMs: number) {
    this.#client = client;
    this.#prng = new Prng(seed);
    this.#deadlineMs = deadlineMs;
  }

  /** The last revision acknowledged (1: none yet). */
  get revision(): number {
    return this.acked.at(-1)?.revision ?? 1;
  }

  /** Makes `count` writes, one after another. */
  async write(count: number): Promise<void> {
    for (let i = 0; i < count; i++) await this.one();
  }

  /** One random write. */
  async one(): Promise<void> {
    const key = this.#prng.pick(writerKeys);
    const value = `v${++this.#seq}`;
    const roll = this.#prng.int(10);
    try {
      if (roll < 6) {
        const r = (await this.#invoke('put', { key, value })) as { revision: number };
        this.acked.push({ revision: r.revision, puts: [[key, value]], deletes: [] });
      } else if (roll < 8) {
        const r = (await this.#invoke('delete', { key })) as { revision: number; deleted: number };
        if (r.deleted > 0) this.acked.push({ revision: r.revision, puts: [], deletes: [key] });
      } else {
        const other = this.#prng.pick(writerKeys.filter((k) => k !== key));
        const seen = (await this.#invoke('get', { key })) as unknown as { kvs: KvRecord[] };
        const version = seen.kvs[0]?.version ?? 0;
        const r = (await this.#invoke('txn', {
          compare: [{ key, target: 'version', op: '=', value: version }],
          success: [{ put: { key, value } }, { put: { key: other, value: `${value}'` } }],
          failure: [{ delete: { key } }],
        })) as { succeeded: boolean; revision: number; responses: { delete?: { deleted: number } }[] };
        if (r.succeeded) this.acked.push({ revision: r.revision, puts: [[key, value], [other, `${value}'`]], deletes: [] });
        else if ((r.responses[0]?.delete?.deleted ?? 0) > 0) this.acked.push({ revision: r.revision, puts: [], deletes: [key] });
      }
    } catch (err) {
      if (!(err instanceof DeadlineExceededError)) throw err;
      this.unknown++;
    }
  }

  #invoke(proc: string, args: Json): Promise<Json> {
    return this.#client.invoke(proc, args, { deadlineMs: this.#deadlineMs });
  }
}

/** Every live key and the store's revision, read in pages of `pageSize` (a range reply is bounded). */
export async function rangeAll(client: SynodClient, deadlineMs: number, pageSize = 1000): Promise<{ kvs: KvRecord[]; revision: number }> {
  const kvs: KvRecord[] = [];
  let from = '';
  let revision = 0;
  for (;;) {
    const args: Json = kvs.length === 0 ? { key: '', prefix: true, limit: pageSize } : { key: from, rangeEnd: '\u0000', limit: pageSize, revision };
    const r = (await client.invoke('range', args, { deadlineMs })) as unknown as { kvs: KvRecord[]; more: boolean; revision: number };
    if (revision === 0) revision = r.revision;
    const first = kvs.length === 0;
    kvs.push(...r.kvs.filter((kv) => first || kv.key > from));
    if (!r.more) return { kvs, revision };
    from = kvs.at(-1)!.key;
  }
}
