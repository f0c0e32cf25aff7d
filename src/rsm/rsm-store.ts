import { GenerationalStore } from '../env/generational-store.js';
import type { RecordSink } from '../env/durable-log.js';
import type { Logger } from '../env/logger.js';
import type { NodeStorage } from '../env/world.js';
import {
  type DurableReplicaState, type RsmLogRecord, type RsmRecord, type StoredSnapshot,
  decodeRsmRecord, decodeSnapshotFile, encodeRsmRecord, encodeSnapshotFile,
} from './durable-records.js';

/** Test-only switches that break the store on purpose, to prove the simulator's checkers bite. */
export interface RsmStoreMutations {
  /** A snapshot replaces the log behind it before the snapshot is durable (a crash then loses both). */
  readonly snapshotWithoutFsync?: boolean;
}

/** What the store is made of: the node's storage, named, and where to log. */
export interface RsmStoreDeps {
  readonly world: NodeStorage;
  /** Names the files: `<name>.snapshot` and the log generations `<name>-<gen>`. */
  readonly name: string;
  readonly logger: Logger;
  readonly mutations?: RsmStoreMutations;
}

/**
 * A replica's durable state on one node (design §4, durability): `rsm.snapshot` and the log
 * generations `rsm-<gen>` after it, kept by the shared `GenerationalStore` (its comment tells how
 * the disk always holds a snapshot and an unbroken log after it). A compaction's snapshot is
 * written in the background; an installed copy's holds back the records after it (they rest on
 * the copy) until it is durable.
 */
export class RsmStore implements RecordSink<RsmRecord> {
  readonly #store: GenerationalStore<RsmRecord, StoredSnapshot>;

  constructor(deps: RsmStoreDeps) {
    this.#store = new GenerationalStore<RsmRecord, StoredSnapshot>({
      world: deps.world,
      name: deps.name,
      logName: (gen) => `${deps.name}-${gen}`,
      layer: 'rsm',
      logger: deps.logger,
      snapshotWithoutFsync: deps.mutations?.snapshotWithoutFsync,
      format: {
        snapshotStart: (r) => (r.kind !== 'snapshot' ? null : {
          contents: (gen) => encodeSnapshotFile({ gen, syncedVid: r.syncedVid }, r.state),
          why: r.why,
          holdsBack: r.why === 'installed',
        }),
        encodeRecord: (r) => encodeRsmRecord(r as RsmLogRecord),
        decodeRecord: decodeRsmRecord,
        decodeSnapshot: (bytes) => {
          const { header, state } = decodeSnapshotFile(bytes);
          return { gen: header.gen, snapshot: { state, syncedVid: header.syncedVid } };
        },
      },
    });
  }

  /** What the previous processes left (see `GenerationalStore.load`); throws for damage, naming the file. Call once, first. */
  load(): DurableReplicaState {
    const { snapshot, records } = this.#store.load();
    return { snapshot, records: records as RsmLogRecord[] };
  }

  append(record: RsmRecord): void {
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
