import type { RecordSink } from '../env/durable-log.js';
import { GenerationalStore } from '../env/generational-store.js';
import type { Logger } from '../env/logger.js';
import { CorruptSnapshotError } from '../env/snapshot-file.js';
import { object, uint } from '../env/validate.js';
import type { NodeStorage } from '../env/world.js';
import { decodePaxosRecord, decodePaxosSnapshot } from './codec.js';
import type { PaxosRecord, PaxosSnapshot } from './messages.js';

/** Test-only switches that break the store on purpose, to prove the tests bite. */
export interface PaxosStoreMutations {
  /** A snapshot replaces the log behind it before the snapshot is durable (a crash then loses both). */
  readonly paxosSnapshotWithoutFsync?: boolean;
}

/** What the store is made of: the node's storage, named, and where to log. */
export interface PaxosStoreDeps {
  readonly world: NodeStorage;
  /**
   * Names the files: the snapshot `<name>.snapshot`, log generation 0 `<name>` (the one log of
   * a node from before compaction existed, so an old data directory loads as it is), later
   * generations `<name>-<gen>`.
   */
  readonly name: string;
  readonly logger: Logger;
  readonly mutations?: PaxosStoreMutations;
}

/** What the previous processes left: the newest snapshot (if any) and the records after it. */
export interface LoadedPaxosState {
  readonly snapshot: PaxosSnapshot | null;
  readonly records: readonly PaxosRecord[];
  /** The generation the store appends to (0 until the first compaction). */
  readonly gen: number;
}

/** The snapshot file's first fields, which say what it is. */
const snapshotTag = 'paxos-snapshot';
const snapshotVersion = 1;

/**
 * A node's durable Paxos state (log compaction, design §2): `paxos.snapshot` and the log
 * generations after it, kept by the shared `GenerationalStore` (its comment tells how the disk
 * always holds a snapshot, or none, and an unbroken log after it). Every Paxos snapshot holds the
 * records after it back until it is durable: one that adopts a peer's compacted history holds
 * what the log does not, and they are rare (every `compactAfterViews` views).
 */
export class PaxosStore implements RecordSink<PaxosRecord> {
  readonly #store: GenerationalStore<PaxosRecord, PaxosSnapshot>;
  readonly #name: string;

  constructor(deps: PaxosStoreDeps) {
    this.#name = deps.name;
    this.#store = new GenerationalStore<PaxosRecord, PaxosSnapshot>({
      world: deps.world,
      name: deps.name,
      logName: (gen) => this.logName(gen),
      layer: 'paxos',
      logger: deps.logger,
      snapshotWithoutFsync: deps.mutations?.paxosSnapshotWithoutFsync,
      format: {
        snapshotStart: (r) => (r.kind !== 'snapshot' ? null : { contents: (gen) => encodeSnapshotFile(gen, r.snapshot), why: r.why, holdsBack: true }),
        encodeRecord: (r) => textEncoder.encode(JSON.stringify(r)),
        decodeRecord: (bytes) => decodePaxosRecord(JSON.parse(textDecoder.decode(bytes))),
        decodeSnapshot: (bytes) => decodeSnapshotFile(bytes, `${deps.name}.snapshot`),
      },
    });
  }

  /** Log generation `gen`'s name. */
  logName(gen: number): string {
    return gen === 0 ? this.#name : `${this.#name}-${gen}`;
  }

  /** The generation appended to now. */
  get gen(): number {
    return this.#store.gen;
  }

  /**
   * Reads the snapshot and the generations after it. Throws `CorruptSnapshotError` or
   * `CorruptLogError` (naming the file) for damage. Call once, first.
   */
  load(): LoadedPaxosState {
    return this.#store.load();
  }

  append(record: PaxosRecord): void {
    this.#store.append(record);
  }

  sync(done: (err?: Error) => void): void {
    this.#store.sync(done);
  }

  /** Waits for a snapshot write in flight, flushes what was appended and releases the files. */
  close(): Promise<void> {
    return this.#store.close();
  }
}

/** The snapshot file's contents: `{"synod":"paxos-snapshot","version":1,"gen":G,"snapshot":{…}}` (the file adds the checksum). */
export function encodeSnapshotFile(gen: number, snapshot: PaxosSnapshot): Uint8Array {
  return textEncoder.encode(JSON.stringify({ synod: snapshotTag, version: snapshotVersion, gen, snapshot }));
}

/** Reads a snapshot file back; `CorruptSnapshotError` naming `file` for anything but one this store wrote. */
export function decodeSnapshotFile(bytes: Uint8Array, file: string): { snapshot: PaxosSnapshot; gen: number } {
  try {
    const o = object(JSON.parse(textDecoder.decode(bytes)), 'paxos snapshot');
    if (o['synod'] !== snapshotTag) throw new Error(`not a paxos snapshot (synod: ${JSON.stringify(o['synod'])})`);
    if (o['version'] !== snapshotVersion) throw new Error(`version ${JSON.stringify(o['version'])}; this build reads version ${snapshotVersion}`);
    return { gen: uint(o['gen'], 'gen', 1, Number.MAX_SAFE_INTEGER), snapshot: decodePaxosSnapshot(o['snapshot'], 'snapshot') };
  } catch (err) {
    throw new CorruptSnapshotError(file, (err as Error).message);
  }
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });
