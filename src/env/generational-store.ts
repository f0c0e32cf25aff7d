import { CorruptLogError, type DurableLog, type RecordSink } from './durable-log.js';
import { invariant } from './errors.js';
import type { Logger } from './logger.js';
import { CorruptSnapshotError, type SnapshotFile } from './snapshot-file.js';
import type { NodeStorage } from './world.js';

/** A record that starts a new log generation: its snapshot file's contents, and how to write them. */
export interface SnapshotStart {
  /** The snapshot file's contents, naming `gen`: the generation that follows it. */
  readonly contents: (gen: number) => Uint8Array;
  /** Named in log lines. */
  readonly why: string;
  /**
   * The snapshot holds a state the log does not (an installed copy, a history adopted from a
   * peer): the records after it rest on it, so they wait until it is durable. Otherwise (a
   * compaction of what the log already holds) they go to the new generation at once and the
   * snapshot is written in the background.
   */
  readonly holdsBack: boolean;
}

/** How one layer's records and snapshots are written and read back. */
export interface GenerationFormat<R, L> {
  /** `record` starts a new generation (it is the layer's snapshot record), or null for a log record. */
  snapshotStart(record: R): SnapshotStart | null;
  encodeRecord(record: R): Uint8Array;
  /** Throws for bytes that are no record (reported as `CorruptLogError` at the record's offset). */
  decodeRecord(bytes: Uint8Array): R;
  /** Throws for bytes that are no snapshot (reported as `CorruptSnapshotError`). */
  decodeSnapshot(bytes: Uint8Array): { readonly gen: number; readonly snapshot: L };
}

export interface GenerationalStoreDeps<R, L> {
  readonly world: NodeStorage;
  /** The snapshot file is `<name>.snapshot`. */
  readonly name: string;
  /** Log generation `gen`'s name. */
  readonly logName: (gen: number) => string;
  /** Prefixes its log lines (`rsm`, `paxos`). */
  readonly layer: string;
  readonly logger: Logger;
  readonly format: GenerationFormat<R, L>;
  /** Test-only: a snapshot replaces the log behind it before it is durable (a crash then loses both). */
  readonly snapshotWithoutFsync?: boolean;
}

type Op<R> =
  | { readonly kind: 'append'; readonly record: R }
  | { readonly kind: 'sync'; readonly done: (err?: Error) => void };

/**
 * A layer's durable state as a snapshot file and the log of what happened after it, in
 * generations (the RSM's `RsmStore`, Paxos' `PaxosStore`). The snapshot names the generation that
 * follows it; `load` reads the snapshot and replays that generation and every later one; appends
 * go to the newest.
 *
 * A snapshot record (`GenerationFormat.snapshotStart`) starts a new generation: everything
 * appended before it is made durable first (later appends and syncs wait in memory meanwhile),
 * then the store switches to the new generation, and the snapshot (naming it) is written;
 * generations older than it are removed once it is durable. A snapshot that `holdsBack` keeps the
 * records after it waiting until it is durable, so none of them is durable without it; another is
 * written in the background (until it is durable, the old snapshot and every generation since
 * still replay). So at every moment the disk holds a snapshot (or none) and an unbroken log after
 * it; a generation missing while a later one exists is refused as corruption.
 *
 * Failure semantics are `DurableLog`'s (`RecordSink`): syncs call back in order; once a write
 * fails, nothing more is appended and every later sync gets the error: the node must stop.
 */
export class GenerationalStore<R, L> implements RecordSink<R> {
  readonly #deps: GenerationalStoreDeps<R, L>;
  readonly #file: SnapshotFile;
  #log: DurableLog | null = null;
  #gen = 0;
  /** The oldest generation that may still be on the disk. */
  #oldestGen = 0;
  /** A snapshot is being started: every later operation waits here, in order. */
  #waiting: Array<Op<R>> | null = null;
  #failure: Error | undefined;
  /** Settles once every snapshot write issued so far has called back (`close` waits for it). */
  #lastWrite: Promise<void> = Promise.resolve();

  constructor(deps: GenerationalStoreDeps<R, L>) {
    this.#deps = deps;
    this.#file = deps.world.snapshotFile(deps.name);
  }

  /** The generation appended to now. */
  get gen(): number {
    return this.#gen;
  }

  /**
   * What the previous processes left: the newest snapshot and the records after it. Throws
   * `CorruptSnapshotError` or `CorruptLogError` (naming the file) for damage. Call once, first.
   */
  load(): { readonly snapshot: L | null; readonly records: R[]; readonly gen: number } {
    invariant(this.#log === null, `${this.#deps.layer} store: load called twice`);
    const { world, name, logName, format } = this.#deps;
    const bytes = this.#file.read();
    let snapshot: L | null = null;
    let gen = 0;
    if (bytes !== null) {
      try {
        ({ snapshot, gen } = format.decodeSnapshot(bytes));
      } catch (err) {
        if (err instanceof CorruptSnapshotError) throw err;
        throw new CorruptSnapshotError(`${name}.snapshot`, (err as Error).message);
      }
    }
    // Generations older than the snapshot's were replaced by it; a crash may have left some.
    for (let g = gen - 1; g >= 0 && world.hasLog(logName(g)); g--) world.removeLog(logName(g));
    this.#oldestGen = gen;
    if (!world.hasLog(logName(gen)) && world.hasLog(logName(gen + 1))) {
      throw new CorruptLogError(logName(gen), 0, 'this log generation is missing while a later one exists');
    }
    const records: R[] = [];
    for (let g = gen; ; g++) {
      const log = world.durableLog(logName(g));
      for (const { offset, data } of log.load()) {
        try {
          records.push(format.decodeRecord(data));
        } catch (err) {
          throw new CorruptLogError(logName(g), offset, `undecodable record: ${(err as Error).message}`);
        }
      }
      if (!world.hasLog(logName(g + 1))) {
        this.#log = log;
        this.#gen = g;
        break;
      }
      void log.close();
    }
    return { snapshot, records, gen: this.#gen };
  }

  append(record: R): void {
    invariant(this.#log !== null, `${this.#deps.layer} store: append before load`);
    // Stopped: a record appended now could rest on a snapshot that never became durable.
    if (this.#failure !== undefined) return;
    if (this.#waiting !== null) {
      this.#waiting.push({ kind: 'append', record });
      return;
    }
    const start = this.#deps.format.snapshotStart(record);
    if (start !== null) this.#startGeneration(start);
    else this.#log.append(this.#deps.format.encodeRecord(record));
  }

  sync(done: (err?: Error) => void): void {
    invariant(this.#log !== null, `${this.#deps.layer} store: sync before load`);
    if (this.#waiting !== null) this.#waiting.push({ kind: 'sync', done });
    else this.#log.sync((err) => done(err ?? this.#failure));
  }

  /** Waits for a snapshot write in flight, flushes what was appended and releases the files. */
  async close(): Promise<void> {
    await this.#lastWrite;
    await this.#log?.close();
  }

  /** Writes the snapshot file; `#lastWrite` settles once this write and every earlier one called back. */
  #writeSnapshot(contents: Uint8Array, done: (err?: Error) => void): void {
    this.#lastWrite = new Promise((settled) => {
      this.#file.write(contents, (err) => {
        settled();
        done(err);
      });
    });
  }

  /** The generation change (see the class comment). */
  #startGeneration(start: SnapshotStart): void {
    const { world, logName, logger, layer } = this.#deps;
    const previous = this.#log!;
    const gen = this.#gen + 1;
    this.#waiting = [];
    const contents = start.contents(gen);
    // Every later sync gets the error, so the shell stops the node.
    const poison = (err: Error): void => {
      this.#failure ??= err;
      logger.error({ err, gen, snapshotBytes: contents.length }, `${layer}: could not make a snapshot durable; the node must stop`);
    };
    const fail = (err: Error): void => {
      poison(err);
      this.#resume();
    };
    previous.sync((err) => {
      if (err !== undefined) return fail(err);
      let next: DurableLog;
      try {
        next = world.durableLog(logName(gen));
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
          for (let g = this.#oldestGen; g < gen; g++) world.removeLog(logName(g));
        } catch (removeErr) {
          // The snapshot is durable; an old generation left behind is removed at the next start.
          logger.warn({ err: removeErr, gen }, `${layer}: could not remove a log generation the snapshot replaced`);
        }
        this.#oldestGen = Math.max(this.#oldestGen, gen);
        logger.info({ gen, why: start.why, snapshotBytes: contents.length }, `${layer}: snapshot durable; older log generations removed`);
      };
      if (this.#deps.snapshotWithoutFsync === true) {
        this.#writeSnapshot(contents, () => {});
        switchToNext();
        durable();
        this.#resume();
        return;
      }
      if (!start.holdsBack) {
        switchToNext();
        this.#resume();
        this.#writeSnapshot(contents, (werr) => (werr === undefined ? durable() : poison(werr)));
        return;
      }
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
      const again = this.#waiting as Array<Op<R>> | null; // a snapshot among them started another wait
      if (again !== null) {
        again.push(...waiting.slice(i + 1));
        return;
      }
    }
  }
}
