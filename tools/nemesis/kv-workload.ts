import { setTimeout as delay } from 'node:timers/promises';
import { type SynodClient, connect } from '../../src/client/connect.js';
import { ClientClosedError } from '../../src/client/errors.js';
import { RsmClient } from '../../src/client/rsm-client.js';
import type { NodeId } from '../../src/env/types.js';
import type { Json } from '../../src/rsm/app.js';
import type { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import type { ClientTlsFiles } from '../../src/runtime/tls-files.js';
import { realClock } from '../../src/runtime/real-clock.js';
import { Prng } from '../sim/prng.js';
import { KvWatcher, rangeAll } from '../tester/kv-clients.js';
import type { KvRecord, KvWatchFilter, WatchEvent, WatcherLog } from '../tester/kv-watch-check.js';
import type { KvHistoryRecorder } from './kv-recorder.js';
import { lockCallDeadlineMs, stopClientsTimeoutMs, thinkMs } from './timing.js';

/**
 * The nemesis's KV workload (`--app kv`): `clients` KV clients (`RsmClient`s, lanes c1 …) doing
 * seeded random puts, gets, ranges by prefix, deletes and txns on a few contended keys under
 * `k/`, one lease client (lane `leases`) that grants 2 s leases, attaches a key `e/ID` to each and
 * then either keeps it alive a while and revokes it, or keeps it alive and lets it expire, and
 * watchers: a reference of every key with `prevKv`, and watchers of `k/`, of one key, and of `e/`.
 * Every client call is recorded (`KvHistoryRecorder`) for `kvModel`; the lease expiries, which
 * the nodes decide, are added from the reference watcher's events (see `KvHistoryRecorder`).
 */

/** Keys the clients contend for: few, so that txns' compares and reads often meet others' writes. */
const keys = ['k/a', 'k/b', 'k/c', 'k/d'] as const;
/** TTL of the lease client's leases (s): the store's minimum, so that expiries happen often. */
const leaseTtlS = 2;
/** Keepalives of one lease before it is revoked or let go, and the pause between them. */
const keepAlives = { min: 1, max: 4, pauseMs: 500 } as const;
/** Of the leases, the share let go to expire (the rest are revoked). */
const expireChance = 0.5;

/** The watchers of the workload (the first is the reference the check needs). */
export const kvWatchers: readonly { name: string; filter: KvWatchFilter }[] = [
  { name: 'reference', filter: { key: '', prefix: true, prevKv: true } },
  { name: 'k/', filter: { key: 'k/', prefix: true } },
  { name: 'k/a', filter: { key: 'k/a', prevKv: true } },
  { name: 'e/', filter: { key: 'e/', prefix: true, prevKv: true } },
];

interface User {
  readonly name: string;
  readonly client: RsmClient;
  readonly prng: Prng;
  cycles: number;
  failure: string | null;
  loop: Promise<void> | null;
}

export class KvWorkload {
  readonly #users: User[];
  readonly #recorder: KvHistoryRecorder;
  readonly #deadlineMs: number;
  readonly #members: readonly NodeId[];
  #watchClient: SynodClient | null = null;
  #watchers: KvWatcher[] = [];
  #running = false;

  readonly #tls: ClientTlsFiles | undefined;

  /** `tls`: the client's files when the nodes run with TLS (the watchers' `connect()`); `transport` carries the same. */
  constructor(config: { members: readonly NodeId[]; transport: GrpcClientTransport; clients: number; seed: number; recorder: KvHistoryRecorder; callDeadlineMs?: number; tls?: ClientTlsFiles }) {
    this.#tls = config.tls;
    this.#recorder = config.recorder;
    this.#members = config.members;
    this.#deadlineMs = config.callDeadlineMs ?? lockCallDeadlineMs;
    const names = [...Array.from({ length: config.clients }, (_, i) => `c${i + 1}`), 'leases'];
    this.#users = names.map((name, i) => {
      const client = new RsmClient({ members: [...config.members], transport: config.transport, clock: realClock });
      client.observe(config.recorder.observerFor(name)); // before its first call
      return { name, client, prng: new Prng(config.seed + i + 1), cycles: 0, failure: null, loop: null };
    });
  }

  get description(): string {
    return `${this.#users.length - 1} KV clients on ${keys.join(', ')}, a lease client, ${kvWatchers.length} watchers`;
  }

  /** Opens the watchers (from the store's start), then starts the clients. */
  async start(): Promise<void> {
    this.#watchClient = await connect({ members: this.#members, tls: this.#tls });
    this.#watchers = kvWatchers.map((w) => new KvWatcher(this.#watchClient!, w.name, w.filter, 0, (revision) => {
      if (w.name === 'reference') this.#recorder.revisionReceived(revision, performance.now());
    }));
    this.#running = true;
    for (const u of this.#users) u.loop = u.name === 'leases' ? this.#leases(u) : this.#work(u);
  }

  get watchers(): readonly KvWatcher[] {
    return this.#watchers;
  }

  /** Once the clients stopped: every watcher's events and a final read (see `finishKvWorkload`). */
  finish(): Promise<KvEnd> {
    if (this.#watchClient === null) return Promise.reject(new Error('the KV workload never started'));
    return finishKvWorkload(this, this.#watchClient, this.#deadlineMs);
  }

  /** Operations completed (with a known outcome) by every client. */
  get cycles(): number {
    return this.#users.reduce((sum, u) => sum + u.cycles, 0);
  }

  cyclesByUser(): Map<string, number> {
    return new Map(this.#users.map((u) => [u.name, u.cycles]));
  }

  failures(): string[] {
    return this.#users.filter((u) => u.failure !== null).map((u) => `${u.name}: ${u.failure}`);
  }

  /** Stops the clients after the call they are in (at most `stopClientsTimeoutMs`); the watchers go on until `close`. */
  async stop(): Promise<void> {
    this.#running = false;
    await Promise.race([Promise.all(this.#users.map((u) => u.loop)), delay(stopClientsTimeoutMs)]);
  }

  async close(): Promise<void> {
    this.#running = false;
    for (const u of this.#users) u.client.close();
    await Promise.all(this.#watchers.map((w) => w.close()));
    await this.#watchClient?.close();
  }

  async #call(u: User, proc: string, args: Json): Promise<Json | 'unknown' | { refused: string }> {
    try {
      return await u.client.invoke(proc, args, { deadlineMs: this.#deadlineMs });
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if ((err as Error).name === 'AppRejectedError' && typeof code === 'string') return { refused: code };
      if ((err as Error).name === 'DeadlineExceededError' || err instanceof ClientClosedError) return 'unknown';
      throw err;
    }
  }

  async #work(u: User): Promise<void> {
    const p = u.prng;
    try {
      while (this.#running) {
        const key = p.pick(keys);
        const roll = p.int(20);
        let outcome: unknown;
        if (roll < 8) outcome = await this.#call(u, 'put', { key, value: `${u.name}-${u.cycles}` });
        else if (roll < 11) outcome = await this.#call(u, 'get', { key });
        else if (roll < 13) outcome = await this.#call(u, 'range', { key: 'k/', prefix: true, ...(p.chance(0.3) ? { limit: 2 } : {}) });
        else if (roll < 15) outcome = await this.#call(u, 'delete', { key });
        else {
          const version = p.int(4);
          outcome = await this.#call(u, 'txn', {
            compare: [{ key, target: 'version', op: p.pick(['=', '<', '>']), value: version }],
            success: [{ put: { key, value: `${u.name}-${u.cycles}-t` } }, { range: { key: 'k/', prefix: true } }],
            failure: [{ range: { key } }],
          });
        }
        if (outcome !== 'unknown') u.cycles++;
        await delay(p.between(thinkMs.minMs, thinkMs.maxMs));
      }
    } catch (err) {
      if (this.#running) u.failure = `${(err as Error).name}: ${(err as Error).message}; the client stopped`;
    }
  }

  /** Grants a lease, attaches `e/ID`, keeps it alive a few times, then revokes it or lets it expire. */
  async #leases(u: User): Promise<void> {
    const p = u.prng;
    try {
      while (this.#running) {
        const grantedAt = performance.now();
        const grant = await this.#call(u, 'leaseGrant', { ttl: leaseTtlS });
        if (grant === 'unknown' || 'refused' in (grant as object)) {
          await delay(100);
          continue;
        }
        const id = (grant as { id: number }).id;
        this.#recorder.leaseGranted(id, grantedAt);
        u.cycles++;
        await this.#call(u, 'put', { key: `e/${id}`, value: 'x', lease: id });
        for (let n = p.between(keepAlives.min, keepAlives.max); n > 0 && this.#running; n--) {
          await delay(keepAlives.pauseMs);
          const calledAt = performance.now();
          const kept = await this.#call(u, 'leaseKeepAlive', { id });
          if (kept !== 'unknown' && !('refused' in (kept as object))) this.#recorder.leaseKeptAlive(id, calledAt);
        }
        if (!p.chance(expireChance)) {
          const revoked = await this.#call(u, 'leaseRevoke', { id });
          this.#recorder.leaseRevoked(id, revoked === 'unknown' ? 'unknown' : 'refused' in (revoked as object) ? 'refused' : 'ok');
        }
        u.cycles++;
      }
    } catch (err) {
      if (this.#running) u.failure = `${(err as Error).name}: ${(err as Error).message}; the lease client stopped`;
    }
  }
}

/** What the KV workload's watchers and a final read of every key saw at the end of a run. */
export interface KvEnd {
  readonly reference: readonly WatchEvent[];
  readonly others: readonly WatcherLog[];
  readonly streams: readonly { readonly name: string; readonly events: number; readonly streams: number }[];
  readonly finalKvs: readonly KvRecord[];
  readonly head: number;
}

/** How long the watchers may take, once the clients stopped, to reach the store's last revision. */
const endCatchUpTimeoutMs = 30_000;

/**
 * Reads every key (through the watchers' client) and waits until every watcher reached that
 * revision; the caller closes the workload afterwards. Throws if a watcher ended or lags.
 */
export async function finishKvWorkload(w: KvWorkload, client: SynodClient, deadlineMs: number): Promise<KvEnd> {
  const final = await rangeAll(client, deadlineMs);
  for (const watcher of w.watchers) await watcher.caughtUp(final.revision, endCatchUpTimeoutMs);
  // Leases still alive may expire after the read (the keeper goes on): only what the read covers is checked.
  const upTo = (events: readonly WatchEvent[]): WatchEvent[] => events.filter((e) => e.revision <= final.revision);
  const [reference, ...others] = w.watchers;
  return {
    reference: upTo(reference!.events), others: others.map((o) => { const l = o.log(); return { ...l, events: upTo(l.events) }; }),
    streams: w.watchers.map((o) => ({ name: o.name, events: o.events.length, streams: o.streams })), finalKvs: final.kvs, head: final.revision,
  };
}
