import { CorruptLogError, type DurableLog, type RecordSink } from '../env/durable-log.js';
import { invariant } from '../env/errors.js';
import type { Logger } from '../env/logger.js';
import { CorruptSnapshotError, type SnapshotFile } from '../env/snapshot-file.js';
import { object, uint } from '../env/validate.js';
import type { NodeWorld } from '../env/world.js';
import { decodePaxosRecord, decodePaxosSnapshot } from './codec.js';
import type { PaxosRecord, PaxosSnapshot } from './messages.js';

/** Test-only switches that break the store on purpose, to prove the tests bite. */
export interface PaxosStoreMutations {
  /** A snapshot replaces the log behind it before the snapshot is durable (a crash then loses both). */
  readonly paxosSnapshotWithoutFsync?: boolean;
}

/** What the store is made of: the node's storage, named, and where to log. */
export interface PaxosStoreDeps {
  readonly world: Pick<NodeWorld, 'durableLog' | 'hasLog' | 'removeLog' | 'snapshotFile'>;
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

type Op =
  | { readonly kind: 'append'; readonly record: PaxosRecord }
  | { readonly kind: 'sync'; readonly done: (err?: Error) => void };

/** The snapshot file's first fields, which say what it is. */
const snapshotTag = 'paxos-snapshot';
const snapshotVersion = 1;

/**
 * A node's durable Paxos state (log compaction, design §2): a snapshot file and the log of what
 * happened after it, in generations. The snapshot names the generation that follows it; at
 * start the store reads the snapshot and replays that generation and any later one; it appends
 * to the newest.
 *
 * A `snapshot` record starts a new generation: the store makes everything appended before it
 * durable, writes the snapshot (naming the new generation) durably, and only then removes the
 * older generations and carries on with what was appended after it, in order; until then every
 * later append and sync waits in memory. So at every moment the disk holds a snapshot (or none)
 * and an unbroken log after it: before the new snapshot is durable, the old pair; after, the new
 * one (a new generation holds nothing before its snapshot is durable).
 *
 * Failure semantics are `DurableLog`'s (`RecordSink`): syncs call back in order; once a write
 * fails, every later sync gets the error and the node must stop.
 */
export class PaxosStore implements RecordSink<PaxosRecord> {
  readonly #deps: PaxosStoreDeps;
  readonly #file: SnapshotFile;
  #log: DurableLog | null = null;
  #gen = 0;
  /** The oldest generation that may still be on the disk. */
  #oldestGen = 0;
  /** A snapshot is being made durable: every later operation waits here, in order. */
  #waiting: Op[] | null = null;
  #failure: Error | undefined;

  constructor(deps: PaxosStoreDeps) {
    this.#deps = deps;
    this.#file = deps.world.snapshotFile(deps.name);
  }

  /** Log generation `gen`'s name. */
  logName(gen: number): string {
    return gen === 0 ? this.#deps.name : `${this.#deps.name}-${gen}`;
  }

  /** The generation appended to now. */
  get gen(): number {
    return this.#gen;
  }

  /**
   * Reads the snapshot and the generations after it. Throws `CorruptSnapshotError` or
   * `CorruptLogError` (naming the file) for damage. Call once, first.
   */
  load(): LoadedPaxosState {
    invariant(this.#log === null, 'PaxosStore.load called twice');
    const { world, name } = this.#deps;
    const bytes = this.#file.read();
    let snapshot: PaxosSnapshot | null = null;
    let gen = 0;
    if (bytes !== null) ({ snapshot, gen } = decodeSnapshotFile(bytes, `${name}.snapshot`));
    // Generations older than the snapshot's were replaced by it; a crash may have left some.
    for (let g = gen - 1; g >= 0 && world.hasLog(this.logName(g)); g--) world.removeLog(this.logName(g));
    this.#oldestGen = gen;
    const records: PaxosRecord[] = [];
    for (let g = gen; ; g++) {
      const log = world.durableLog(this.logName(g));
      for (const { offset, data } of log.load()) records.push(decodeRecord(data, this.logName(g), offset));
      if (!world.hasLog(this.logName(g + 1))) {
        this.#log = log;
        this.#gen = g;
        break;
      }
      void log.close();
    }
    return { snapshot, records, gen: this.#gen };
  }

  append(record: PaxosRecord): void {
    invariant(this.#log !== null, 'PaxosStore.append before load');
    if (this.#waiting !== null) this.#waiting.push({ kind: 'append', record });
    else if (record.kind === 'snapshot') this.#startGeneration(record.snapshot, record.why);
    else this.#log.append(textEncoder.encode(JSON.stringify(record)));
  }

  sync(done: (err?: Error) => void): void {
    invariant(this.#log !== null, 'PaxosStore.sync before load');
    if (this.#waiting !== null) this.#waiting.push({ kind: 'sync', done });
    else this.#log.sync((err) => done(err ?? this.#failure));
  }

  /** Flushes what was appended and releases the files. */
  async close(): Promise<void> {
    await this.#log?.close();
  }

  /** The snapshot's generation change (see the class comment). */
  #startGeneration(snapshot: PaxosSnapshot, why: string): void {
    const previous = this.#log!;
    const gen = this.#gen + 1;
    this.#waiting = [];
    const contents = encodeSnapshotFile(gen, snapshot);
    const fail = (err: Error): void => {
      this.#failure ??= err;
      this.#deps.logger.error({ err, gen, snapshotBytes: contents.length }, 'paxos: could not make the log snapshot durable; the node must stop');
      this.#resume();
    };
    previous.sync((err) => {
      if (err !== undefined) return fail(err);
      const next = this.#deps.world.durableLog(this.logName(gen));
      next.load();
      const replaced = (): void => {
        this.#log = next;
        this.#gen = gen;
        void previous.close();
        for (let g = this.#oldestGen; g < gen; g++) this.#deps.world.removeLog(this.logName(g));
        this.#oldestGen = gen;
        this.#deps.logger.info({ gen, why, snapshotBytes: contents.length }, 'paxos: log snapshot durable; older log generations removed');
        this.#resume();
      };
      if (this.#deps.mutations?.paxosSnapshotWithoutFsync === true) {
        this.#file.write(contents, () => {});
        replaced();
        return;
      }
      this.#file.write(contents, (werr) => (werr === undefined ? replaced() : fail(werr)));
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

function decodeRecord(data: Uint8Array, file: string, offset: number): PaxosRecord {
  try {
    return decodePaxosRecord(JSON.parse(textDecoder.decode(data)));
  } catch (err) {
    throw new CorruptLogError(file, offset, `undecodable record: ${(err as Error).message}`);
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
