/**
 * `KvClient`: the KV store's typed client (`synod node --app kv`, docs/kv.md), over the ordinary
 * client (`SynodClient`): one method per procedure, leases that keep themselves alive
 * (`KvLease`), watches as async iterators that resume by themselves after a failover (`KvWatch`,
 * the `watch` feed underneath), and the Clone pattern (`snapshotAndWatch`). The store's refusals
 * come out as `KvError`s (`KvCompactedError`, `KvLeaseNotFoundError`, or `code`).
 */
import { type ConnectOptions, type SynodClient, connect } from '../../client/connect.js';
import { ClientClosedError } from '../../client/errors.js';
import { type Logger, silentLogger } from '../../env/logger.js';
import type { CallOptions } from '../../client/rsm-client.js';
import type { FeedReaderOptions } from '../../client/feed-reader.js';
import type { FeedSubscriberOptions } from '../../options/feeds.js';
import { type KvClientOptions, kvClientOptions } from '../../options/kv-client.js';
import type { Json } from '../../rsm/app.js';
import { KvCompactedError, kvError } from './kv-client-errors.js';
import type {
  CompactResult, DeleteResult, KeySelector, KeyValue, KvStatus, LeaseInfo, LeaseTimeToLive, PutOptions, PutResult, RangeOptions, RangeResult,
  TxnRequest, TxnResult, WatchRequest, WireRange,
} from './kv-client-types.js';
import { KvLease } from './kv-lease-handle.js';
import { KvWatch } from './kv-watch-stream.js';

export interface KvConnectOptions extends ConnectOptions {
  /** The KV client's tunables (keepalive pace, snapshot page size). */
  readonly kv?: Partial<KvClientOptions>;
}

/** How a watch's feed subscription reads (see `SynodClient.feed`). */
export type KvWatchOptions = FeedReaderOptions & { readonly subscriber?: Partial<FeedSubscriberOptions> };

/** What `snapshotAndWatch` gives: every key under the prefix at `revision`, and a watch of the prefix from `revision + 1`. */
export interface KvSnapshot {
  readonly revision: number;
  readonly kvs: readonly KeyValue[];
  readonly watch: KvWatch;
}

/** A selector as the store's range arguments. */
export function wireRange(selector: KeySelector): WireRange {
  if (typeof selector !== 'object' || selector === null) throw new TypeError('a key selector is { key }, { prefix } or { key, rangeEnd }');
  if (selector.prefix !== undefined) {
    if (selector.key !== undefined || selector.rangeEnd !== undefined) throw new TypeError('give prefix alone, or key (with rangeEnd), not both');
    return { key: selector.prefix, prefix: true };
  }
  return selector.rangeEnd === undefined ? { key: selector.key } : { key: selector.key, rangeEnd: selector.rangeEnd };
}

/** The smallest key above every key starting with `prefix` (`'\u0000'`: none, every key from the prefix on). */
export function prefixEnd(prefix: string): string {
  let p = prefix;
  while (p.length > 0 && p.charCodeAt(p.length - 1) === 0xffff) p = p.slice(0, -1);
  return p.length === 0 ? '\u0000' : p.slice(0, -1) + String.fromCharCode(p.charCodeAt(p.length - 1) + 1);
}

/** Drops the fields left undefined (the store refuses an unknown field, and JSON has no undefined). */
function defined(args: Record<string, unknown>): Json {
  return Object.fromEntries(Object.entries(args).filter(([, v]) => v !== undefined)) as Json;
}

export class KvClient {
  /** The ordinary client underneath (its `invoke` reaches every procedure). */
  readonly client: SynodClient;
  readonly #options: KvClientOptions;
  readonly #log: Logger;
  readonly #ownClient: boolean;
  readonly #leases = new Set<KvLease>();
  readonly #watches = new Set<KvWatch>();
  #closed = false;

  /** Wraps `client` (connected to a KV cluster). With `own`, `close()` closes it too. */
  constructor(client: SynodClient, options: { readonly kv?: Partial<KvClientOptions>; readonly logger?: Logger; readonly own?: boolean } = {}) {
    this.client = client;
    this.#options = kvClientOptions(options.kv);
    this.#log = options.logger ?? silentLogger;
    this.#ownClient = options.own ?? false;
  }

  async #call<T>(proc: string, args: Json, options?: CallOptions): Promise<T> {
    try {
      return (await this.client.invoke(proc, args, options)) as unknown as T; // the store's reply, shaped as docs/kv.md says
    } catch (err) {
      throw kvError(err);
    }
  }

  /** Sets `key` to `value` (one new revision). */
  put(key: string, value: string, options: PutOptions = {}, call?: CallOptions): Promise<PutResult> {
    return this.#call('put', defined({ key, value, lease: options.lease, prevKv: options.prevKv }), call);
  }

  /** The record of `key` (at `revision`, default now), or null when there is none. */
  async get(key: string, options: { readonly revision?: number } = {}, call?: CallOptions): Promise<KeyValue | null> {
    const reply = await this.#call<RangeResult>('get', defined({ key, revision: options.revision }), call);
    return reply.kvs[0] ?? null;
  }

  /** The records of the keys selected, in key order (`limit`, `revision`, `keysOnly`, `countOnly`: see `RangeOptions`). */
  range(request: KeySelector & RangeOptions, call?: CallOptions): Promise<RangeResult> {
    const { limit, revision, keysOnly, countOnly } = request;
    return this.#call('range', defined({ ...wireRange(request), limit, revision, keysOnly, countOnly }), call);
  }

  /** Deletes `key` (a string) or the keys selected, in one revision (none if nothing was there). */
  delete(target: string | KeySelector, options: { readonly prevKv?: boolean } = {}, call?: CallOptions): Promise<DeleteResult> {
    const range = typeof target === 'string' ? { key: target } : wireRange(target);
    return this.#call('delete', defined({ ...range, prevKv: options.prevKv }), call);
  }

  /** A transaction: if every compare holds, the `success` operations, else the `failure` ones; one revision at most. */
  txn(request: TxnRequest, call?: CallOptions): Promise<TxnResult> {
    return this.#call('txn', request as unknown as Json, call); // TxnRequest is JSON by construction
  }

  /** Forgets the history up to `revision` (reads and watches below it then fail `compacted`). */
  compact(revision: number, call?: CallOptions): Promise<CompactResult> {
    return this.#call('compact', { revision }, call);
  }

  status(call?: CallOptions): Promise<KvStatus> {
    return this.#call('status', null, call);
  }

  /**
   * Grants a lease of `ttlSeconds` (raised to the store's minimum) and keeps it alive until it is
   * revoked, stopped or the client closes (`KvLease`). `id`: ask for this id (`lease-exists` if taken).
   */
  async grantLease(ttlSeconds: number, options: { readonly id?: number } = {}, call?: CallOptions): Promise<KvLease> {
    const granted = await this.#call<LeaseInfo>('leaseGrant', defined({ ttl: ttlSeconds, id: options.id }), call);
    return this.#track(granted);
  }

  /** Takes over keeping lease `id` alive (granted elsewhere): one keepalive now (`KvLeaseNotFoundError` if gone), then on schedule. */
  async keepAlive(id: number, call?: CallOptions): Promise<KvLease> {
    const renewed = await this.#call<LeaseInfo>('leaseKeepAlive', { id }, call);
    return this.#track(renewed);
  }

  /** Revokes lease `id` (its keys deleted in one revision). */
  revokeLease(id: number, call?: CallOptions): Promise<{ readonly deleted: number; readonly revision: number }> {
    return this.#call('leaseRevoke', { id }, call);
  }

  leaseTimeToLive(id: number, options: { readonly keys?: boolean } = {}, call?: CallOptions): Promise<LeaseTimeToLive> {
    return this.#call('leaseTimeToLive', defined({ id, keys: options.keys }), call);
  }

  /** Every live lease, in id order. */
  async leases(call?: CallOptions): Promise<readonly LeaseInfo[]> {
    return (await this.#call<{ leases: LeaseInfo[] }>('leases', null, call)).leases;
  }

  /**
   * Watches the keys selected from `fromRevision` (default: changes after the store's revision
   * when the watch starts): an async iterator of `KvWatchEvent`s that resumes by itself after a
   * failover (see `KvWatch`). Close it (or `break`) when done; closing the client closes it.
   */
  watch(request: WatchRequest, options: KvWatchOptions = {}): KvWatch {
    this.#open();
    const { fromRevision, prevKv, noPut, noDelete } = request;
    if (fromRevision !== undefined && (!Number.isSafeInteger(fromRevision) || fromRevision < 1)) {
      throw new RangeError(`fromRevision must be a positive integer, not ${String(fromRevision)}`);
    }
    const filter = defined({ ...wireRange(request), prevKv, noPut, noDelete });
    const after = fromRevision === undefined ? this.status().then((s) => s.revision) : Promise.resolve(fromRevision - 1);
    const opened = after.then((position) => this.client.feed('watch', filter, { ...options, after: position }));
    const watch: KvWatch = new KvWatch(opened, fromRevision === undefined ? 0 : fromRevision - 1, () => this.#watches.delete(watch));
    this.#watches.add(watch);
    return watch;
  }

  /**
   * The Clone pattern: every key under `prefix` as of one revision R (read in pages of
   * `snapshotPageKeys`, all at R), and a watch of the prefix from R + 1, so the snapshot plus the
   * watch's events are every change, none missed or repeated. A snapshot whose later pages find
   * R compacted (a compaction raced it) is taken again from the start, up to `snapshotAttempts`
   * times in all. (The watch from R + 1 can still find R compacted, if a compaction comes between
   * the snapshot and the watch's start: it then throws `FeedCompactedError`; take a new snapshot.)
   */
  async snapshotAndWatch(prefix: string, options: { readonly prevKv?: boolean } & KvWatchOptions = {}): Promise<KvSnapshot> {
    const { revision, kvs } = await this.#snapshot(prefix);
    const { prevKv, ...watchOptions } = options;
    return { revision, kvs, watch: this.watch({ prefix, fromRevision: revision + 1, prevKv }, watchOptions) };
  }

  async #snapshot(prefix: string): Promise<{ revision: number; kvs: KeyValue[] }> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#snapshotOnce(prefix);
      } catch (err) {
        if (!(err instanceof KvCompactedError) || attempt >= this.#options.snapshotAttempts) throw err;
        this.#log.info({ prefix, attempt, err: err.message }, 'kv client: a compaction passed the snapshot\'s revision; taking it again');
      }
    }
  }

  /** One snapshot: the first page at the store's revision R, the others at R. */
  async #snapshotOnce(prefix: string): Promise<{ revision: number; kvs: KeyValue[] }> {
    const limit = this.#options.snapshotPageKeys;
    const first = await this.range({ prefix, limit });
    const kvs = [...first.kvs];
    let more = first.more;
    while (more) {
      const from = `${kvs.at(-1)!.key}\u0000`; // the next key after the last one read
      const page = await this.range({ key: from, rangeEnd: prefixEnd(prefix), limit, revision: first.revision });
      kvs.push(...page.kvs);
      more = page.more;
    }
    return { revision: first.revision, kvs };
  }

  /** Closes every watch and every lease handle still keeping its lease alive (the leases live on in the store until their TTL) and, if it owns it, the client. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const lease of this.#leases) lease.close();
    for (const watch of this.#watches) watch.close();
    if (this.#ownClient) await this.client.close();
  }

  #track(granted: LeaseInfo): KvLease {
    this.#open();
    // The client holds a handle only while it sends keepalives (what close() must stop), so stopped handles never pile up.
    const lease: KvLease = new KvLease(granted.id, granted.ttl, {
      keepAlive: (id, deadlineMs) => this.#call('leaseKeepAlive', { id }, { deadlineMs }),
      revoke: (id) => this.revokeLease(id),
    }, this.#options, this.#log, () => this.#leases.delete(lease));
    this.#leases.add(lease);
    return lease;
  }

  #open(): void {
    if (this.#closed) throw new ClientClosedError();
  }
}

/** Connects to a KV cluster (`synod node --app kv` nodes) through any of its addresses; `close()` the client when done. */
export async function connectKv(options: KvConnectOptions): Promise<KvClient> {
  const { kv, ...connectOptions } = options;
  return new KvClient(await connect(connectOptions), { kv, logger: options.logger, own: true });
}
