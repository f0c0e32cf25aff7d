import { CorruptLogError, type DurableLog, type RecordSink } from '../env/durable-log.js';
import { InvalidMessageError, invariant } from '../env/errors.js';
import type { Logger } from '../env/logger.js';
import { CorruptSnapshotError, type SnapshotFile } from '../env/snapshot-file.js';
import type { NodeWorld } from '../env/world.js';
import {
  type DurableReplicaState, type RsmLogRecord, type RsmRecord, type RsmSnapshotRecord, type StoredSnapshot,
  decodeRsmRecord, decodeSnapshotFile, encodeRsmRecord, encodeSnapshotFile,
} from './durable-records.js';

/** Test-only switches that break the store on purpose, to prove the simulator's checkers bite. */
export interface RsmStoreMutations {
  /** A snapshot replaces the log behind it before the snapshot is durable (a crash then loses both). */
  readonly snapshotWithoutFsync?: boolean;
}

/** What the store is made of: the node's storage, named, and where to log. */
export interface RsmStoreDeps {
  readonly world: Pick<NodeWorld, 'durableLog' | 'hasLog' | 'removeLog' | 'snapshotFile'>;
  /** Names the files: `<name>.snapshot` and the log generations `<name>-<gen>`. */
  readonly name: string;
  readonly logger: Logger;
  readonly mutations?: RsmStoreMutations;
}

type Op =
  | { readonly kind: 'append'; readonly record: RsmRecord }
  | { readonly kind: 'sync'; readonly done: (err?: Error) => void };

/**
 * A replica's durable state on one node (design §4, durability): a snapshot file and the log of
 * what happened after it, in generations. Generation `g` is the log `<name>-<g>`; the snapshot
 * file names the generation that follows it. At start the store reads the snapshot and replays
 * its generation and any later one; it appends to the newest.
 *
 * A snapshot record (`RsmSnapshotRecord`) starts a new generation: the store makes everything
 * appended before it durable (later appends and syncs wait in memory meanwhile), then:
 * - a compaction (the state the log already holds): switches to the new generation at once and
 *   writes the snapshot in the background; the older generations go once it is durable. A crash
 *   before then finds the old snapshot and every generation after it: an unbroken log;
 * - an installed copy (a state the log does not hold): writes the snapshot first, and only then
 *   switches and carries on with what waited, in order, so no record resting on the copy is
 *   durable before the copy is.
 * So at every moment the disk holds a snapshot and an unbroken log after it.
 *
 * Failure semantics are `DurableLog`'s (`RecordSink`): syncs call back in order; once a write
 * fails, every later sync gets the error and the node must stop.
 */
export class RsmStore implements RecordSink<RsmRecord> {
  readonly #deps: RsmStoreDeps;
  readonly #file: SnapshotFile;
  #log: DurableLog | null = null;
  #gen = 0;
  /** The oldest generation that may still be on the disk. */
  #oldestGen = 0;
  /** A snapshot is being made durable: every later operation waits here, in order. */
  #waiting: Op[] | null = null;
  #failure: Error | undefined;
  /** Settles once every snapshot write issued so far has called back (`close` waits for it). */
  #lastWrite: Promise<void> = Promise.resolve();

  constructor(deps: RsmStoreDeps) {
    this.#deps = deps;
    this.#file = deps.world.snapshotFile(deps.name);
  }

  /** Log generation `gen`'s name. */
  #logName(gen: number): string {
    return `${this.#deps.name}-${gen}`;
  }

  /**
   * What the previous processes left: the newest snapshot and the records after it. Throws
   * `CorruptSnapshotError` or `CorruptLogError` (naming the file) for damage. Call once, first.
   */
  load(): DurableReplicaState {
    invariant(this.#log === null, 'RsmStore.load called twice');
    const { world, name } = this.#deps;
    const bytes = this.#file.read();
    let snapshot: StoredSnapshot | null = null;
    let gen = 0;
    if (bytes !== null) {
      try {
        const { header, state } = decodeSnapshotFile(bytes);
        snapshot = { state, syncedVid: header.syncedVid, joinedVid: header.joinedVid };
        gen = header.gen;
      } catch (err) {
        if (!(err instanceof InvalidMessageError)) throw err;
        throw new CorruptSnapshotError(`${name}.snapshot`, err.message);
      }
    }
    // Generations older than the snapshot's were replaced by it; a crash may have left one.
    for (let g = gen - 1; g >= 0 && world.hasLog(this.#logName(g)); g--) world.removeLog(this.#logName(g));
    this.#oldestGen = gen;
    const records: RsmLogRecord[] = [];
    for (let g = gen; ; g++) {
      if (g === gen && !world.hasLog(this.#logName(g)) && world.hasLog(this.#logName(g + 1))) {
        // The generation the snapshot names is gone but a later one exists: records are missing.
        throw new CorruptLogError(this.#logName(g), 0, 'this log generation is missing while a later one exists');
      }
      const log = world.durableLog(this.#logName(g));
      for (const { offset, data } of log.load()) {
        try {
          records.push(decodeRsmRecord(data));
        } catch (err) {
          if (!(err instanceof InvalidMessageError)) throw err;
          throw new CorruptLogError(this.#logName(g), offset, `undecodable record: ${err.message}`);
        }
      }
      if (!world.hasLog(this.#logName(g + 1))) {
        this.#log = log;
        this.#gen = g;
        break;
      }
      void log.close();
    }
    return { snapshot, records };
  }

  append(record: RsmRecord): void {
    invariant(this.#log !== null, 'RsmStore.append before load');
    // Stopped: a record appended now could rest on a copy whose snapshot never became durable.
    if (this.#failure !== undefined) return;
    if (this.#waiting !== null) {
      this.#waiting.push({ kind: 'append', record });
      return;
    }
    if (record.kind === 'snapshot') this.#startGeneration(record);
    else this.#log.append(encodeRsmRecord(record));
  }

  sync(done: (err?: Error) => void): void {
    invariant(this.#log !== null, 'RsmStore.sync before load');
    if (this.#waiting !== null) this.#waiting.push({ kind: 'sync', done });
    else this.#log.sync((err) => done(err ?? this.#failure));
  }

  /** Waits for a snapshot write in flight, flushes what was appended and releases the files. */
  async close(): Promise<void> {
    await this.#lastWrite;
    await this.#log?.close();
  }

  /** Writes a snapshot file; `#lastWrite` settles once this write and every earlier one called back. */
  #writeSnapshot(contents: Uint8Array, done: (err?: Error) => void): void {
    this.#lastWrite = new Promise((settled) => {
      this.#file.write(contents, (err) => {
        settled();
        done(err);
      });
    });
  }

  /** The snapshot's generation change (see the class comment). */
  #startGeneration(record: RsmSnapshotRecord): void {
    const previous = this.#log!;
    const gen = this.#gen + 1;
    const waiting: Op[] = [];
    this.#waiting = waiting;
    const contents = encodeSnapshotFile({ gen, syncedVid: record.syncedVid, joinedVid: record.joinedVid }, record.state);
    // Every later sync gets the error, so the shell stops the node.
    const poison = (err: Error): void => {
      this.#failure ??= err;
      this.#deps.logger.error({ err, gen, snapshotBytes: contents.length }, 'rsm: the replica could not make its snapshot durable; the node must stop');
    };
    /** Before the switch: poison, and release what waited (each sync then gets the error). */
    const fail = (err: Error): void => {
      poison(err);
      this.#resume();
    };
    previous.sync((err) => {
      if (err !== undefined) return fail(err);
      let next: DurableLog;
      try {
        next = this.#deps.world.durableLog(this.#logName(gen));
        next.load();
      } catch (openErr) {
        return fail(openErr as Error);
      }
      const switchToNext = (): void => {
        this.#log = next;
        this.#gen = gen;
        void previous.close();
      };
      const durable = (): void => {
        try {
          for (let g = this.#oldestGen; g < gen; g++) this.#deps.world.removeLog(this.#logName(g));
        } catch (removeErr) {
          // The snapshot is durable; an old generation left behind is removed at the next start.
          this.#deps.logger.warn({ err: removeErr, gen }, 'rsm: could not remove a log generation the snapshot replaced');
        }
        this.#oldestGen = Math.max(this.#oldestGen, gen);
        this.#deps.logger.info({ gen, why: record.why, snapshotBytes: contents.length }, 'rsm: snapshot durable; older log generations removed');
      };
      if (record.why === 'compaction' && this.#deps.mutations?.snapshotWithoutFsync !== true) {
        // A compaction's snapshot holds nothing the log lacks: the records after it may go to the
        // new generation at once, and a crash before the snapshot is durable leaves the old
        // snapshot and an unbroken log (every older generation stays until then). So nothing waits
        // for the snapshot's write.
        switchToNext();
        this.#resume();
        this.#writeSnapshot(contents, (werr) => (werr === undefined ? durable() : poison(werr)));
        return;
      }
      if (this.#deps.mutations?.snapshotWithoutFsync === true) {
        this.#writeSnapshot(contents, () => {});
        switchToNext();
        durable();
        this.#resume();
        return;
      }
      // An installed copy replaces the state: records after it rest on it, so they wait until the
      // snapshot holding it is durable (before that, a crash must find none of them).
      this.#writeSnapshot(contents, (werr) => {
        if (werr !== undefined) return fail(werr);
        switchToNext();
        durable();
        this.#resume();
      });
    });
  }

  /** Carries out, in order, what waited behind a snapshot (a later snapshot waits again). */
  #resume(): void {
    const waiting = this.#waiting ?? [];
    this.#waiting = null;
    for (let i = 0; i < waiting.length; i++) {
      const op = waiting[i]!;
      if (this.#failure !== undefined) {
        if (op.kind === 'sync') op.done(this.#failure);
        continue;
      }
      if (op.kind === 'sync') this.sync(op.done);
      else this.append(op.record);
      const again = this.#waiting as Op[] | null; // a snapshot among them started another wait
      if (again !== null) {
        again.push(...waiting.slice(i + 1));
        return;
      }
    }
  }
}
