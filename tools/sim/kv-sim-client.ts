import { AppRejectedError } from '../../src/client/errors.js';
import type { CallResult } from '../../src/client/client-core.js';
import type { RsmClient } from '../../src/client/rsm-client.js';
import type { Json } from '../../src/rsm/app.js';
import type { KvReference } from './kv-reference.js';
import type { Prng } from './prng.js';
import { type WorkloadRun, rsmRunBounds } from './stack-workload.js';

/** The KV run's shape: keys, shares of each call, lease behaviour (virtual ms, shares of 1). */
export const kvRunBounds = {
  /** A small key space under two prefixes, so that calls overlap. */
  keys: ['a/1', 'a/2', 'a/3', 'b/1', 'b/2'] as readonly string[],
  prefixes: ['a/', 'b/', ''] as readonly string[],
  /** Relative weights of the calls a client picks (keepalives and revokes come when due). */
  weights: { put: 30, get: 12, range: 8, delete: 8, txn: 15, leaseGrant: 8, compact: 1.5 },
  /** Share of puts that attach the key to a lease (when one is known). */
  leasedPutShare: 0.35,
  /** Share of gets at an old revision. */
  oldReadShare: 0.2,
  /** Grants ask for 2–3 s (the store's minimum is 2). */
  leaseTtlSeconds: [2, 3] as const,
  /** A client holds at most this many leases of its own at once. */
  maxOwnLeases: 2,
  /** What an owner does with its lease: keep it alive, stop after a few keepalives (it expires), or revoke it. */
  leaseModes: { keep: 0.5, stop: 0.3, revoke: 0.2 },
  /** A kept lease is renewed once this share of its TTL passed since the last keepalive was sent. */
  keepAliveAt: 0.3,
  /** Share of runs whose store compacts its history by itself, and its bound then (bytes: a change costs about 140). */
  smallHistoryShare: 0.3,
  smallHistoryBytes: [600, 3000] as const,
  /** A compaction goes through a revision this far below the reference's head at most. */
  compactBackMax: 15,
  /** A client's pause between calls. */
  pauseMs: [0, 40] as const,
};

type LeaseMode = 'keep' | 'stop' | 'revoke';

/** A lease a client granted, and what it does with it. */
interface OwnLease {
  readonly id: number;
  readonly ttlSeconds: number;
  readonly mode: LeaseMode;
  /** `stop`: keepalives left before it falls silent; `revoke`: when it is revoked (virtual ms). */
  keepalivesLeft: number;
  readonly revokeAtMs: number;
  lastKeepAliveMs: number;
}

/** What the clients share: the run's counts, the leases any of them may put with, the reference (for compaction targets). */
export interface KvClientShared {
  readonly counts: Record<string, number>;
  /** Lease ids granted and not known to be ended: any client may attach a key to one (it may be gone: `lease-not-found`). */
  readonly leases: Set<number>;
  readonly reference: KvReference;
  /** The highest revision an acknowledged call reported. */
  ackedRevision: number;
  /** The store compacts by itself: no client compaction, no read at an old revision (the model cannot tell what they answer then). */
  readonly storeCompacts: boolean;
  /** When a client last sent a lease grant or keepalive (virtual ms). */
  lastLeaseCallMs: number;
}

const objectOf = (v: Json): { readonly [k: string]: Json } => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {});

/**
 * One KV client loop of the run: one call at a time on its `RsmClient` (a client may run several
 * loops at once, `--calls-per-client`; each owns its own leases; every call is recorded for
 * the linearizability check by the run's observer), picked at random over a small key space:
 * puts (some with a lease, some asking for prevKv), gets (some at an old revision), prefix
 * ranges, deletes of a key or a prefix, compare-and-swap transactions on what it last read,
 * lease grants, rare compactions; and for the leases it granted, keepalives when due (`keep`), a
 * few then silence (`stop`: the lease keeper must expire it), or a revoke.
 */
export class KvSimClient {
  readonly #client: RsmClient;
  readonly #run: WorkloadRun;
  readonly #rng: Prng;
  readonly #shared: KvClientShared;
  readonly #own: OwnLease[] = [];
  /** The last record this client read of each key (for its transactions' compares). */
  readonly #lastRead = new Map<string, { value: string; modRevision: number; version: number }>();
  #n = 0;

  /** `lane`: which of the client's concurrent loops this is (`WorkloadRun.callsPerClient`); it names the values it writes. */
  constructor(client: RsmClient, run: WorkloadRun, shared: KvClientShared, readonly lane = 0) {
    this.#client = client;
    this.#run = run;
    this.#rng = run.sim.rng;
    this.#shared = shared;
  }

  start(): void {
    this.#run.sim.schedule(this.#rng.uniform(0, 100), () => this.#next());
  }

  get #id(): string {
    return this.#client.clientId;
  }

  /** A value no other loop writes. */
  #value(): string {
    return `${this.#id}${this.lane === 0 ? '' : `.${this.lane}`}:${++this.#n}`;
  }

  #next(): void {
    if (!this.#run.issuing()) return;
    const now = this.#run.sim.now;
    const rng = this.#rng;
    const due = this.#own.find((l) => (l.mode === 'revoke' && now >= l.revokeAtMs) ||
      (l.keepalivesLeft > 0 && now - l.lastKeepAliveMs >= l.ttlSeconds * 1000 * kvRunBounds.keepAliveAt));
    if (due !== undefined) return due.mode === 'revoke' && now >= due.revokeAtMs ? this.#revoke(due) : this.#keepAlive(due);
    const w = kvRunBounds.weights;
    const pick = rng.uniform(0, w.put + w.get + w.range + w.delete + w.txn + w.leaseGrant + w.compact);
    const key = rng.pick(kvRunBounds.keys);
    let at = pick;
    if ((at -= w.put) < 0) return this.#put(key);
    if ((at -= w.get) < 0) return this.#get(key);
    if ((at -= w.range) < 0) return this.#call('range', { key: rng.pick(kvRunBounds.prefixes), prefix: true, ...(rng.chance(0.3) ? { limit: rng.between(1, 3) } : {}) });
    if ((at -= w.delete) < 0) return this.#call('delete', rng.chance(0.2) ? { key: rng.pick(kvRunBounds.prefixes.slice(0, 2)), prefix: true } : { key, ...(rng.chance(0.3) ? { prevKv: true } : {}) });
    if ((at -= w.txn) < 0) return this.#txn(key);
    if ((at -= w.leaseGrant) < 0 && this.#own.length < kvRunBounds.maxOwnLeases) return this.#grant();
    if (at >= 0 && at < w.compact) return this.#compact();
    return this.#put(key);
  }

  #put(key: string): void {
    const value = this.#value();
    const leases = [...this.#shared.leases];
    const lease = leases.length > 0 && this.#rng.chance(kvRunBounds.leasedPutShare) ? this.#rng.pick(leases) : 0;
    this.#call('put', { key, value, ...(lease === 0 ? {} : { lease }), ...(this.#rng.chance(0.3) ? { prevKv: true } : {}) });
  }

  #get(key: string): void {
    const head = this.#shared.ackedRevision;
    const old = head > 1 && this.#rng.chance(kvRunBounds.oldReadShare) && !this.#shared.storeCompacts;
    this.#call('get', { key, ...(old ? { revision: this.#rng.between(Math.max(1, head - 10), head) } : {}) }, (value) => {
      const kv = (objectOf(value)['kvs'] as Json[] | undefined)?.[0];
      if (old) return;
      if (kv === undefined) this.#lastRead.delete(key);
      else this.#lastRead.set(key, objectOf(kv) as unknown as { value: string; modRevision: number; version: number });
    });
  }

  /** Compare-and-swap on what this client last read of `key`: put if it is unchanged, else read it. */
  #txn(key: string): void {
    const seen = this.#lastRead.get(key);
    const roll = this.#rng.next();
    const compare = seen === undefined ? [{ key, target: 'version', op: '=', value: 0 }]
      : roll < 0.5 ? [{ key, target: 'modRevision', op: '=', value: seen.modRevision }]
        : roll < 0.8 ? [{ key, target: 'value', op: '=', value: seen.value }] : [{ key, target: 'version', op: '>', value: seen.version }];
    const other = this.#rng.pick(kvRunBounds.keys.filter((k) => k !== key));
    const leases = [...this.#shared.leases];
    const lease = leases.length > 0 && this.#rng.chance(kvRunBounds.leasedPutShare) ? this.#rng.pick(leases) : 0;
    const success: Json[] = [{ put: { key, value: this.#value(), ...(lease === 0 ? {} : { lease }) } }, ...(this.#rng.chance(0.3) ? [{ delete: { key: other } }] : [])];
    this.#call('txn', { compare, success, failure: [{ range: { key } }] }, () => this.#lastRead.delete(key));
  }

  #grant(): void {
    const ttl = this.#rng.between(...kvRunBounds.leaseTtlSeconds);
    const roll = this.#rng.next();
    const modes = kvRunBounds.leaseModes;
    const mode: LeaseMode = roll < modes.keep ? 'keep' : roll < modes.keep + modes.stop ? 'stop' : 'revoke';
    this.#shared.lastLeaseCallMs = this.#run.sim.now;
    this.#call('leaseGrant', { ttl }, (value) => {
      const v = objectOf(value);
      const id = v['id'] as number;
      const now = this.#run.sim.now;
      this.#own.push({
        id, ttlSeconds: v['ttl'] as number, mode, lastKeepAliveMs: now,
        keepalivesLeft: mode === 'keep' ? Number.POSITIVE_INFINITY : mode === 'stop' ? this.#rng.between(0, 3) : 1,
        revokeAtMs: now + this.#rng.uniform(0.3, 2) * ttl * 1000,
      });
      this.#shared.leases.add(id);
      this.#shared.counts['grants']!++;
    });
  }

  #keepAlive(lease: OwnLease): void {
    lease.keepalivesLeft--;
    lease.lastKeepAliveMs = this.#run.sim.now;
    this.#shared.lastLeaseCallMs = this.#run.sim.now;
    this.#shared.counts['keepalives']!++;
    this.#call('leaseKeepAlive', { id: lease.id }, undefined, (code) => {
      if (code === 'lease-not-found') this.#ended(lease, 'lost');
    });
  }

  #revoke(lease: OwnLease): void {
    this.#call('leaseRevoke', { id: lease.id }, () => this.#ended(lease, 'revoked'), (code) => {
      if (code === 'lease-not-found') this.#ended(lease, 'lost');
    });
  }

  #ended(lease: OwnLease, how: 'revoked' | 'lost'): void {
    const at = this.#own.indexOf(lease);
    if (at < 0) return;
    this.#own.splice(at, 1);
    this.#shared.leases.delete(lease.id);
    this.#shared.counts[how === 'revoked' ? 'revokes' : 'leasesLost']!++;
  }

  /** Compacts through a revision at most the reference's head (see `KvReference`: so no revision is compacted before it is recorded). */
  #compact(): void {
    const head = this.#shared.reference.head;
    if (head < 3 || this.#shared.storeCompacts) return this.#put(this.#rng.pick(kvRunBounds.keys));
    this.#shared.counts['compactions']!++;
    this.#call('compact', { revision: this.#rng.between(Math.max(2, head - kvRunBounds.compactBackMax), head) });
  }

  /** One call; `ok` on a reply, `refused` on an app refusal; then the next call after a pause. Completed calls count as progress. */
  #call(proc: string, args: Json, ok?: (value: Json) => void, refused?: (code: string) => void): void {
    const invokedMs = this.#run.sim.now;
    this.#shared.counts['calls']!++;
    this.#client.submit(proc, args, { deadlineMs: rsmRunBounds.clientDeadlineMs }, (r: CallResult) => {
      if (r.ok) {
        const revision = objectOf(r.value)['revision'];
        if (typeof revision === 'number') this.#shared.ackedRevision = Math.max(this.#shared.ackedRevision, revision);
        ok?.(r.value);
        this.#run.progressed(this.#id, invokedMs);
      } else if (r.error instanceof AppRejectedError) {
        refused?.(r.error.code);
        this.#shared.counts[`refused:${r.error.code}`] = (this.#shared.counts[`refused:${r.error.code}`] ?? 0) + 1;
        this.#run.progressed(this.#id, invokedMs);
      } else {
        this.#shared.counts['unknown']!++;
      }
      this.#run.sim.schedule(this.#rng.uniform(...kvRunBounds.pauseMs), () => this.#next());
    });
  }
}
