import type { DurableLog, LoadedRecord } from '../../src/env/durable-log.js';
import type { SnapshotFile } from '../../src/env/snapshot-file.js';
import type { NodeStorage } from '../../src/env/world.js';
import type { Prng } from './prng.js';

/** How the simulated disk behaves. */
export interface DiskProfile {
  /** An fsync takes a random time in [minSyncMs, maxSyncMs]. */
  readonly minSyncMs: number;
  readonly maxSyncMs: number;
  /** Probability that an fsync is slow: uniform in [maxSyncMs, slowSyncMs] (a busy disk). */
  readonly slowRate: number;
  readonly slowSyncMs: number;
  /** Test-only: acknowledge syncs without making anything durable (see `lyingDiskProfile`). */
  readonly lies?: boolean;
}

export const defaultDiskProfile: DiskProfile = { minSyncMs: 0.1, maxSyncMs: 3, slowRate: 0.05, slowSyncMs: 40 };

/** A loaded or throttled disk: every fsync is slow, some very slow. */
export const slowDiskProfile: DiskProfile = { minSyncMs: 20, maxSyncMs: 150, slowRate: 0.1, slowSyncMs: 400 };

/** A random disk for one run: usually fast, sometimes a slow one. */
export function drawDisk(shape: Prng): DiskProfile {
  return shape.chance(0.15) ? slowDiskProfile : defaultDiskProfile;
}

/**
 * Test-only: a disk that acknowledges every fsync at once without making anything durable (a
 * drive that lies about its write cache). Crashes then lose acknowledged records; the
 * durability and agreement checkers must notice.
 */
export const lyingDiskProfile: DiskProfile = { minSyncMs: 0, maxSyncMs: 0, slowRate: 0, slowSyncMs: 0, lies: true };

/**
 * What one named log holds on a simulated node's disk. It outlives the node's processes: a
 * restart opens the same store. A crash keeps every durable record and a random prefix of the
 * others (the rest is lost, as an unsynced page cache would be).
 */
export class SimLogStore {
  readonly records: Uint8Array[] = [];
  durableCount = 0;
  /** Virtual time the last issued sync completes; completions stay in order. */
  lastCompletionMs = 0;

  /** Syncs issued and not yet called back; only with none may a sync call back at once. */
  outstandingSyncs = 0;
  /** The next sync reports a disk error (a fault injected by the simulator). */
  failNextSync = false;

  /** The node crashed: unsynced records survive only as a random prefix. */
  crash(rng: Prng): number {
    const unsynced = this.records.length - this.durableCount;
    const keep = rng.int(unsynced + 1);
    this.records.length = this.durableCount + keep;
    this.durableCount = this.records.length;
    this.lastCompletionMs = 0;
    this.outstandingSyncs = 0;
    this.failNextSync = false; // an injected disk error belongs to the process that died
    return unsynced - keep;
  }
}

/** What a node's data directory says it belongs to (production: `identity.json`, written durably at once). */
export interface SimIdentity {
  /** The cluster's id; null while the node has not learned it (a joiner). */
  clusterId: string | null;
  /**
   * The data directory's disk id (production: `identity.json`'s `disk`), made with the disk: null
   * (listed by address alone) for the cluster's first node and for every machine's first disk, so
   * that runs without wipes list the same members as before disk ids; the disk's number
   * (`SimDisk.number`) for a later one, so the second disk of n3 makes it the member `n3@2`.
   * Drawn from no generator: a run replays exactly from its seed.
   */
  readonly disk: string | null;
}

/**
 * What one named snapshot file holds on a simulated node's disk: the contents last made durable,
 * and the writes still in flight (a crash loses those: the rename never reached the disk).
 */
export class SimSnapshotStore {
  durable: Uint8Array | null = null;
  /** Writes issued and not yet durable, oldest first; each becomes durable at its time, in order. */
  inFlight = 0;
  /** Virtual time the last issued write completes. */
  lastCompletionMs = 0;
  /** Bumped by every crash: a completion scheduled by an earlier process is void. */
  epoch = 0;
  /** The next write reports a disk error and leaves the previous contents (a fault injected by the simulator). */
  failNextWrite = false;

  crash(): void {
    this.failNextWrite = false; // an injected disk error belongs to the process that died
    this.inFlight = 0;
    this.lastCompletionMs = 0;
    this.epoch++;
  }
}

/** A node's disk: named logs, snapshot files and the node's identity, surviving restarts. */
export class SimDisk {
  readonly #stores = new Map<string, SimLogStore>();
  readonly #snapshots = new Map<string, SimSnapshotStore>();
  /**
   * Null until a node stack's first process recorded it (a fresh disk: that process is the disk's
   * first life). A machine that runs no node stack (a bare layer, a client) never has one, and its
   * channels carry and check no cluster id.
   */
  identity: SimIdentity | null = null;
  /** Which disk the machine runs on: 1 for its first, one more after every `wipe` (a new data directory). */
  number = 1;
  /**
   * How this disk behaves when it differs from the run's profile (e.g. one machine's disk much
   * slower than the others': `BackupPowerCut`); null: the run's. Read at every sync and write,
   * so a change takes effect at once, also for the running process. The latency of each sync
   * draws the same values from the run's generator whatever the profile.
   */
  profile: DiskProfile | null = null;

  store(name: string): SimLogStore {
    let store = this.#stores.get(name);
    if (store === undefined) {
      store = new SimLogStore();
      this.#stores.set(name, store);
    }
    return store;
  }

  hasStore(name: string): boolean {
    return this.#stores.has(name);
  }

  removeStore(name: string): void {
    this.#stores.delete(name);
  }

  snapshot(name: string): SimSnapshotStore {
    let store = this.#snapshots.get(name);
    if (store === undefined) {
      store = new SimSnapshotStore();
      this.#snapshots.set(name, store);
    }
    return store;
  }

  clearFaults(): void {
    for (const store of this.#stores.values()) store.failNextSync = false;
    for (const snapshot of this.#snapshots.values()) snapshot.failNextWrite = false;
  }

  /** The next sync of every log, and the next write of every snapshot file, on this disk fails (an injected disk error). */
  failNextSync(): void {
    for (const store of this.#stores.values()) store.failNextSync = true;
    for (const snapshot of this.#snapshots.values()) snapshot.failNextWrite = true;
  }

  /** Everything on the disk is gone (an operator wiped the data directory): the next process starts as a new node. */
  wipe(): void {
    this.#stores.clear();
    this.#snapshots.clear();
    this.identity = null;
    this.profile = null; // a new disk
    this.number++;
  }

  /**
   * A power cut that flushed nothing of the page cache on its way out: every record not yet
   * durable is lost, in every log (one of the outcomes `crash` draws from, made certain). Call it
   * right before the node's crash; returns how many records were lost.
   */
  loseUnsynced(): number {
    let lost = 0;
    for (const store of this.#stores.values()) {
      lost += store.records.length - store.durableCount;
      store.records.length = store.durableCount;
    }
    return lost;
  }

  /** Returns how many unsynced records were lost across all logs. */
  crash(rng: Prng): number {
    let lost = 0;
    for (const store of this.#stores.values()) lost += store.crash(rng);
    for (const snapshot of this.#snapshots.values()) {
      lost += snapshot.inFlight;
      snapshot.crash();
    }
    return lost;
  }
}

/** What a simulated log needs from the simulation: time, randomness, scheduling for its process. */
export interface DiskScheduler {
  readonly now: number;
  readonly rng: Prng;
  /** Runs `fn` at virtual time `atMs`, unless the process that asked has died by then. */
  at(atMs: number, fn: () => void): void;
}

/** A disk profile, or where to read it at each operation (a disk whose behaviour may change: `SimDisk.profile`). */
export type DiskProfileSource = DiskProfile | (() => DiskProfile);

function profileOf(source: DiskProfileSource): DiskProfile {
  return typeof source === 'function' ? source() : source;
}

/** One process's handle on a `SimLogStore`, with the `DurableLog` semantics. */
export class SimDurableLog implements DurableLog {
  readonly #store: SimLogStore;
  readonly #sched: DiskScheduler;
  readonly #profile: DiskProfileSource;
  #loaded = false;

  constructor(store: SimLogStore, sched: DiskScheduler, profile: DiskProfileSource = defaultDiskProfile) {
    this.#store = store;
    this.#sched = sched;
    this.#profile = profile;
  }

  load(): LoadedRecord[] {
    if (this.#loaded) throw new Error('SimDurableLog.load called twice');
    this.#loaded = true;
    return this.#store.records.map((data, offset) => ({ offset, data }));
  }

  append(data: Uint8Array): void {
    if (!this.#loaded) throw new Error('SimDurableLog.append before load');
    this.#store.records.push(data.slice());
  }

  sync(done: (err?: Error) => void): void {
    const store = this.#store;
    const p = profileOf(this.#profile);
    if (p.lies === true) {
      done();
      return;
    }
    const target = store.records.length;
    const now = this.#sched.now;
    if (target === store.durableCount && store.outstandingSyncs === 0) {
      done();
      return;
    }
    const rng = this.#sched.rng;
    const latency = rng.chance(p.slowRate) ? rng.uniform(p.maxSyncMs, p.slowSyncMs) : rng.uniform(p.minSyncMs, p.maxSyncMs);
    const at = Math.max(store.lastCompletionMs, now + latency);
    store.lastCompletionMs = at;
    store.outstandingSyncs++;
    const fail = store.failNextSync;
    store.failNextSync = false;
    this.#sched.at(at, () => {
      store.outstandingSyncs--;
      if (fail) {
        done(new Error('simulated disk error: fdatasync failed'));
        return;
      }
      if (target > store.durableCount) store.durableCount = target;
      done();
    });
  }

  async close(): Promise<void> {
    this.#store.durableCount = this.#store.records.length;
  }
}

/**
 * One process's handle on a `SimSnapshotStore`, with the `SnapshotFile` semantics: a write becomes
 * durable (and is called back) after a simulated delay, in order; a crash before then keeps the
 * previous contents. `lies` (test-only, `DiskProfile.lies`): `done` is called at once, before the
 * write is durable.
 */
export class SimSnapshotFile implements SnapshotFile {
  readonly #store: SimSnapshotStore;
  readonly #sched: DiskScheduler;
  readonly #profile: DiskProfileSource;
  #read = false;

  constructor(store: SimSnapshotStore, sched: DiskScheduler, profile: DiskProfileSource = defaultDiskProfile) {
    this.#store = store;
    this.#sched = sched;
    this.#profile = profile;
  }

  read(): Uint8Array | null {
    if (this.#read) throw new Error('SimSnapshotFile.read called twice');
    this.#read = true;
    return this.#store.durable?.slice() ?? null;
  }

  write(data: Uint8Array, done: (err?: Error) => void): void {
    this.#read = true;
    const store = this.#store;
    const copy = data.slice();
    const p = profileOf(this.#profile);
    const rng = this.#sched.rng;
    // A whole file written, fsynced, renamed and its directory fsynced: two syncs' time at least.
    const latency = 2 * (rng.chance(p.slowRate) ? rng.uniform(p.maxSyncMs, p.slowSyncMs) : rng.uniform(p.minSyncMs, p.maxSyncMs));
    const at = Math.max(store.lastCompletionMs, this.#sched.now + latency);
    store.lastCompletionMs = at;
    store.inFlight++;
    const epoch = store.epoch;
    const lies = p.lies === true;
    const fail = store.failNextWrite;
    store.failNextWrite = false;
    this.#sched.at(at, () => {
      if (store.epoch !== epoch) return;
      store.inFlight--;
      if (fail) {
        if (!lies) done(new Error('simulated disk error: the snapshot write failed'));
        return;
      }
      store.durable = copy;
      if (!lies) done();
    });
    if (lies) this.#sched.at(this.#sched.now, () => done());
  }
}

/**
 * What a simulated node keeps on `disk`, as its world gives it to the stores; I/O completes
 * through `sched`, at the speed of `profile` unless the disk has one of its own (`SimDisk.profile`).
 */
export function simDiskStorage(disk: SimDisk, sched: DiskScheduler, profile: DiskProfile = defaultDiskProfile): NodeStorage {
  const current = (): DiskProfile => disk.profile ?? profile;
  return {
    durableLog: (name) => new SimDurableLog(disk.store(name), sched, current),
    hasLog: (name) => disk.hasStore(name),
    removeLog: (name) => disk.removeStore(name),
    snapshotFile: (name) => new SimSnapshotFile(disk.snapshot(name), sched, current),
  };
}
