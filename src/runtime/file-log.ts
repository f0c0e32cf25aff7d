/**
 * The production `DurableLog`: one append-only file, written with group commit.
 *
 * On-disk format (every integer little-endian):
 *
 *   offset 0   8 bytes   magic "SYNODLG3": the format's name and version 3
 *   offset 8   batches, back to back. A batch holds the records of one flush (group commit),
 *              goes to the file in one write, and is durable (fdatasync returned) before the
 *              next batch is written. (A flush of more than 64 MiB is split into several
 *              batches, written one after the other in that way.)
 *                u32     batch payload length in bytes
 *                u32     header checksum: CRC-32 (IEEE, as zlib) of the 4 length bytes
 *                u32     payload checksum: CRC-32 of the batch payload
 *                ...     the batch payload: one or more records, back to back, each one
 *                          u32   record length in bytes, at most `maxRecordBytes`
 *                          ...   the record
 *
 * Why batches. A crash can tear a write at any page: a page early in the write may read back as
 * zeros while a later page of the same write reached the disk. With a checksum per record, such
 * a tear looks like a damaged record followed by valid ones, which is indistinguishable from
 * damage in the middle of the log, and the node would refuse to start after an ordinary crash.
 * With one checksum over everything one write carried, the unit that can be torn is the unit
 * that is checked, and it is accepted or cut off whole. Records carry only a length: the batch
 * checksum covers them, so a checksum per record would add bytes and no protection.
 *
 * The batch length has its own checksum so that a damaged length is recognised before it is
 * used: trusting it could make a batch in the middle look like one cut short at the end of the
 * file, and cutting there would drop every durable batch after it. An all-zero header is never
 * valid (crc32(00 00 00 00) = 0x2144df1c, not 0), so zeros are never mistaken for a batch.
 *
 * Versions 1 and 2 ("SYNODLG1", "SYNODLG2": a checksum per record, no batches) are refused with
 * `CorruptLogError` at offset 0; no deployed logs used them, so there is no migration.
 *
 * Creation. A new log is written as `<path>.tmp` (header, fsync), renamed to `<path>`, and the
 * directory is fsynced; so `<path>` always holds a whole header, and a crash during creation
 * leaves only the `.tmp` file, which the next `load` removes before it creates the log afresh.
 * An empty file at `<path>` (which this code never leaves) is replaced the same way.
 *
 * Recovery (`load`) reads the file front to back, one batch at a time. Every batch but the last
 * one written was durable before the next was written, so only the last batch in the file can be
 * torn: that unfinished write of the crashed run was never acknowledged (a sync calls back only
 * after its whole write reached the disk). A torn tail is cut off (ftruncate + fsync) and
 * reported with a warning naming the file, the offset and the number of bytes cut. Anything else
 * that is not a valid batch is damage before the end: `CorruptLogError` naming the file and the
 * offset, with the file left untouched, because cutting there would drop durable records.
 * At each batch:
 * - fewer than 12 bytes left: a header cut short, which only a torn write leaves → torn tail;
 * - the header checksum fails: the length is unknown, so where the batch ends is unknown too.
 *   The torn page of a crash may be the one holding the header (zeros, or partly zeros, with
 *   later pages of the same write persisted). So: if a valid batch (both checksums holding)
 *   starts anywhere after this offset, durable data follows → `CorruptLogError` 'damaged batch
 *   header'; if none does, everything from here on is the torn last write → torn tail. (A
 *   zero-filled tail is the simplest case. Damage confined to the very last batch is, like a
 *   bad checksum in it, indistinguishable from a tear and is cut as one.) The search runs only
 *   on this recovery path and looks at each later offset once;
 * - the batch extends past the end of the file: a write cut short → torn tail;
 * - the payload checksum fails: if the batch ends exactly at the end of the file, or only zeros
 *   follow it → torn tail; otherwise → `CorruptLogError` 'batch checksum mismatch';
 * - the payload, whose checksum holds, does not split into records of at most `maxRecordBytes`
 *   that fill it exactly → `CorruptLogError` at the offending record (a log written with a
 *   larger `maxRecordBytes`, or not by this code).
 */
import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Mutex } from 'async-mutex';
import { CorruptLogError, type DurableLog, type LoadedRecord } from '../env/durable-log.js';
import type { Logger } from '../env/logger.js';
import { limits } from '../options.js';
import { crc32 } from './crc32.js';
import { fsyncDir } from './durable-fs.js';

/** The first bytes of every log file; a file that starts differently is not loaded. */
export const fileLogMagic: Uint8Array = new TextEncoder().encode('SYNODLG3');

/** The magic without its last byte, the version: shared by every version of the format. */
const fileLogMagicFamily: Uint8Array = fileLogMagic.subarray(0, fileLogMagic.length - 1);

/** Size of a batch's header: the u32 length, the u32 header checksum, the u32 payload checksum. */
export const batchHeaderBytes = 12;

/** Size of a record's header inside a batch: the u32 length. */
export const recordHeaderBytes = 4;

/** A batch's length field is a u32 and holds at least one whole record. */
const maxEncodableRecordBytes = 0xffff_ffff - recordHeaderBytes;

/**
 * A flush whose records add up to more than this is written as several batches, each one
 * written and fdatasynced before the next (see `#writeDurably`), so that a single write stays
 * of a sane size. A batch always holds at least one record, so a single larger record still
 * travels alone. 64 MiB: far above what one group commit of protocol records carries.
 */
const batchTargetBytes = 64 * 1024 * 1024;

/** Where a new log is written before it is renamed into place. */
export function fileLogTmpPath(path: string): string {
  return `${path}.tmp`;
}

/**
 * The part of `fs.promises.FileHandle` the log writes through after `load`. A `FileHandle` is
 * one; tests pass a wrapper (see `FileLogOptions.openForWrite`).
 */
export interface LogFile {
  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  datasync(): Promise<void>;
  close(): Promise<void>;
}

export interface FileLogOptions {
  readonly logger: Logger;
  /**
   * Largest record payload `append` accepts and `load` believes, in bytes. Default
   * `limits.maxLogRecordBytes` (16 MiB). Lowering it below a record already in a log makes that
   * log refuse to load (`CorruptLogError`), rather than cutting the record off.
   */
  readonly maxRecordBytes?: number;
  /**
   * Test-only seam: opens the file for the writes that follow `load` (it exists by then).
   * Production leaves it unset and gets `fs.promises.open(path, 'r+')`; tests wrap the handle
   * to count datasyncs, hold a write in flight, or inject a disk error.
   */
  readonly openForWrite?: (path: string) => Promise<LogFile>;
}

type SyncCallback = (err?: Error) => void;

/**
 * - `new`: constructed; only `load` is allowed.
 * - `loading`: `load` ran and threw (a `load` that returns moves on at once); nothing is allowed.
 * - `open`: loaded; appends and syncs are accepted.
 * - `closed`: `close` was called; syncs are still answered, appends are refused.
 */
type Phase = 'new' | 'loading' | 'open' | 'closed';

/**
 * An append-only log in one file. `load` is synchronous (it runs once, at startup, before the
 * node serves anything); every later write is asynchronous and never blocks the event loop.
 *
 * Group commit: `append` only buffers a record in memory. A `sync` that finds nothing buffered
 * and nothing being written calls back at once. Otherwise it waits for the next flush, which
 * takes everything appended and every sync issued up to the moment it starts, writes those
 * records as one batch with a single positional write, fdatasyncs, and then calls those syncs
 * back in order (beyond 64 MiB: several batches, each written and fdatasynced in turn). Flushes
 * run one at a time (an async-mutex); syncs issued while one is in flight share the next.
 */
export class FileLog implements DurableLog {
  readonly #path: string;
  readonly #logger: Logger;
  readonly #maxRecordBytes: number;
  readonly #openForWrite: (path: string) => Promise<LogFile>;
  /** Held for one flush's writes + datasyncs, so that flushes never overlap. Never held across a callback. */
  readonly #writeMutex = new Mutex();
  #phase: Phase = 'new';
  /** Records appended since the last flush took its batch, each already framed with its length. */
  #frames: Uint8Array[] = [];
  #frameBytes = 0;
  /** Syncs issued since the last flush took its batch; the next flush calls them back. */
  #waiting: SyncCallback[] = [];
  /** A flush is scheduled that has not taken its batch yet (it may be waiting for the mutex). */
  #flushScheduled = false;
  /** Flushes scheduled whose callbacks have not all run yet. While above 0, `sync` must queue. */
  #flushesUnfinished = 0;
  /** Where the next write goes: the end of the last batch known to be in the file. */
  #endOffset = 0;
  /** Opened by the first flush that has bytes to write; released by `close`. */
  #file: LogFile | undefined;
  /** The first write or datasync error. Once set the log is poisoned: every later sync gets it. */
  #failure: Error | undefined;
  #closing: Promise<void> | undefined;

  constructor(path: string, options: FileLogOptions) {
    const maxRecordBytes = options.maxRecordBytes ?? limits.maxLogRecordBytes;
    if (!Number.isInteger(maxRecordBytes) || maxRecordBytes < 1 || maxRecordBytes > maxEncodableRecordBytes) {
      throw new RangeError(
        `FileLog maxRecordBytes must be an integer in [1, ${maxEncodableRecordBytes}], got ${maxRecordBytes}`,
      );
    }
    this.#path = path;
    this.#logger = options.logger;
    this.#maxRecordBytes = maxRecordBytes;
    this.#openForWrite = options.openForWrite ?? ((file) => open(file, 'r+'));
  }

  load(): LoadedRecord[] {
    if (this.#phase !== 'new') {
      throw new Error(`FileLog ${this.#path}: load() was already called; it must be called exactly once`);
    }
    this.#phase = 'loading';
    this.#removeInterruptedCreation();
    const records = this.#loadExisting() ?? this.#create();
    this.#phase = 'open';
    return records;
  }

  append(data: Uint8Array): void {
    if (this.#phase !== 'open') throw this.#refusal('append');
    if (data.length > this.#maxRecordBytes) {
      throw new RangeError(
        `FileLog ${this.#path}: a record of ${data.length} bytes exceeds maxRecordBytes ${this.#maxRecordBytes}`,
      );
    }
    // The frame is a copy, so the caller may reuse `data` at once.
    const frame = new Uint8Array(recordHeaderBytes + data.length);
    new DataView(frame.buffer).setUint32(0, data.length, true);
    frame.set(data, recordHeaderBytes);
    this.#frames.push(frame);
    this.#frameBytes += frame.length;
  }

  sync(done: SyncCallback): void {
    if (this.#phase !== 'open' && this.#phase !== 'closed') throw this.#refusal('sync');
    if (this.#frameBytes === 0 && this.#flushesUnfinished === 0) {
      // Nothing to make durable and no earlier sync still waiting, so answering now keeps the order.
      done(this.#failure);
      return;
    }
    this.#waiting.push(done);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    this.#flushesUnfinished++;
    // #flush never rejects unless a sync callback throws, which is a bug: that rejection is left
    // unhandled on purpose, so that Node stops the process.
    void this.#flush();
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const wasOpen = this.#phase === 'open';
    this.#phase = 'closed'; // refuse appends from here on: they could miss the final flush
    if (!wasOpen) return; // never loaded: no file handle to release
    const flushError = await new Promise<Error | undefined>((resolve) => this.sync(resolve));
    const release = await this.#writeMutex.acquire();
    try {
      await this.#file?.close();
      this.#file = undefined;
    } finally {
      release();
    }
    if (flushError !== undefined) throw flushError;
  }

  /**
   * A `.tmp` file is what a crash during `#create` leaves: the log was never renamed into place,
   * so nothing in it was ever acknowledged. Removed before anything else, so that it cannot
   * stand in the way of creating the log again.
   */
  #removeInterruptedCreation(): void {
    const tmp = fileLogTmpPath(this.#path);
    let bytes: number;
    try {
      bytes = statSync(tmp).size;
      unlinkSync(tmp);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    this.#logger.warn(
      { file: tmp, bytes },
      'durable log: removed the file of a log creation interrupted by a crash (it never held records)',
    );
  }

  /** Loads the log at the path; undefined when there is none yet (no file, or an empty one). */
  #loadExisting(): LoadedRecord[] | undefined {
    let fd: number;
    try {
      fd = openSync(this.#path, constants.O_RDWR);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const contents = readWholeFile(fd);
      if (contents.length === 0) return undefined;
      return this.#recover(fd, contents);
    } finally {
      closeSync(fd);
    }
  }

  /** Validates the contents, and cuts a torn tail; returns the records. */
  #recover(fd: number, contents: Buffer): LoadedRecord[] {
    const { records, validEnd, tornTail } = scanLog(this.#path, contents, this.#maxRecordBytes);
    if (tornTail !== undefined) {
      ftruncateSync(fd, validEnd);
      fsyncSync(fd);
      this.#logger.warn(
        { file: this.#path, offset: validEnd, bytes: contents.length - validEnd, reason: tornTail },
        'durable log: cut off a torn tail left by a crash (records never acknowledged as durable)',
      );
    }
    this.#endOffset = validEnd;
    this.#logger.info({ file: this.#path, records: records.length, bytes: validEnd }, 'durable log loaded');
    return records;
  }

  /**
   * Creates the log holding only the header, atomically: written and fsynced as `<path>.tmp`,
   * renamed into place (replacing an empty file, if any), and the directory fsynced so that the
   * new name survives a power loss.
   */
  #create(): LoadedRecord[] {
    const tmp = fileLogTmpPath(this.#path);
    // 'wx': the .tmp was just removed, so finding one means another process is creating this log.
    const fd = openSync(tmp, 'wx', 0o644);
    try {
      writeFully(fd, fileLogMagic, 0);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.#path);
    fsyncDir(dirname(this.#path));
    this.#endOffset = fileLogMagic.length;
    this.#logger.info({ file: this.#path }, 'durable log created');
    return [];
  }

  async #flush(): Promise<void> {
    let callbacks: SyncCallback[];
    const release = await this.#writeMutex.acquire();
    try {
      // The batch is taken only now that the previous flush has finished, so that everything
      // appended and every sync issued while it was in flight share this one write.
      this.#flushScheduled = false;
      callbacks = this.#waiting;
      this.#waiting = [];
      const frames = this.#frames;
      this.#frames = [];
      this.#frameBytes = 0;
      if (this.#failure === undefined && frames.length > 0) {
        try {
          await this.#writeDurably(frames);
        } catch (err) {
          this.#failure = err instanceof Error ? err : new Error(String(err));
          this.#logger.error(
            { file: this.#path, offset: this.#endOffset, err: this.#failure },
            'durable log write failed; the log is unusable and the node must stop',
          );
        }
      }
    } finally {
      release();
    }
    // No await from release() to the callbacks: a later flush cannot finish in between, so
    // callbacks run in sync-call order. #flushesUnfinished drops only after them, so that a sync
    // issued from inside a callback queues behind the rest of this batch instead of overtaking it.
    try {
      for (const done of callbacks) done(this.#failure);
    } finally {
      this.#flushesUnfinished--;
    }
  }

  /**
   * Writes the frames as batches, each durable before the next is written, so that only the
   * last batch in the file can ever be torn (the premise of recovery). Almost always one batch.
   */
  async #writeDurably(frames: readonly Uint8Array[]): Promise<void> {
    this.#file ??= await this.#openForWrite(this.#path);
    const file = this.#file;
    for (const group of groupIntoBatches(frames)) {
      const batch = encodeBatch(group);
      for (let written = 0; written < batch.length; ) {
        const { bytesWritten } = await file.write(batch, written, batch.length - written, this.#endOffset + written);
        if (bytesWritten <= 0) throw new Error(`write to ${this.#path} made no progress`);
        written += bytesWritten;
      }
      await file.datasync();
      this.#endOffset += batch.length;
    }
  }

  #refusal(operation: string): Error {
    switch (this.#phase) {
      case 'new':
        return new Error(`FileLog ${this.#path}: ${operation}() before load(); call load() exactly once first`);
      case 'loading':
        return new Error(`FileLog ${this.#path}: ${operation}() after load() failed`);
      case 'open':
      case 'closed':
        return new Error(`FileLog ${this.#path}: ${operation}() after close()`);
    }
  }
}

/** Splits a flush's frames into runs of at most `batchTargetBytes` (or one frame, if larger). */
function groupIntoBatches(frames: readonly Uint8Array[]): Uint8Array[][] {
  const groups: Uint8Array[][] = [];
  let current: Uint8Array[] = [];
  let bytes = 0;
  for (const frame of frames) {
    if (current.length > 0 && bytes + frame.length > batchTargetBytes) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(frame);
    bytes += frame.length;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

/** One batch as it goes to the file: the header, then the frames. */
function encodeBatch(frames: readonly Uint8Array[]): Buffer {
  let payloadBytes = 0;
  for (const frame of frames) payloadBytes += frame.length;
  const batch = Buffer.allocUnsafe(batchHeaderBytes + payloadBytes);
  let payloadCrc = 0;
  let at = batchHeaderBytes;
  for (const frame of frames) {
    batch.set(frame, at);
    payloadCrc = crc32(frame, payloadCrc);
    at += frame.length;
  }
  batch.writeUInt32LE(payloadBytes, 0);
  batch.writeUInt32LE(crc32(batch.subarray(0, 4)), 4);
  batch.writeUInt32LE(payloadCrc, 8);
  return batch;
}

interface ScanResult {
  readonly records: LoadedRecord[];
  /** End of the last valid batch: the file's length, or where a torn tail begins. */
  readonly validEnd: number;
  /** Why the bytes from `validEnd` on are a torn tail; undefined when there are none. */
  readonly tornTail: string | undefined;
}

/**
 * Parses a whole log file. Returns the valid records and where a torn tail begins, or throws
 * `CorruptLogError` for damage before the end (see the format comment at the top).
 */
function scanLog(path: string, contents: Buffer, maxRecordBytes: number): ScanResult {
  checkMagic(path, contents);
  const records: LoadedRecord[] = [];
  let offset = fileLogMagic.length;
  const torn = (reason: string): ScanResult => ({ records, validEnd: offset, tornTail: reason });
  while (offset < contents.length) {
    if (contents.length - offset < batchHeaderBytes) {
      // Nothing can follow a header cut short: it is the end of the file, so a torn write.
      return torn(isZeroFrom(contents, offset) ? 'zero-filled tail' : 'batch header cut short');
    }
    if (!headerHolds(contents, offset)) {
      // The length cannot be trusted, so neither can where this batch ends. Durable data after
      // it would be a valid batch; without one, this is the torn last write.
      if (isZeroFrom(contents, offset)) return torn('zero-filled tail');
      const next = findValidBatch(contents, offset + 1);
      if (next === undefined) return torn('damaged batch header, and no valid batch after it');
      throw new CorruptLogError(path, offset, 'damaged batch header');
    }
    const length = contents.readUInt32LE(offset);
    const end = offset + batchHeaderBytes + length;
    if (end > contents.length) return torn(`batch cut short (${length} bytes announced)`);
    if (!payloadHolds(contents, offset, end)) {
      if (isZeroFrom(contents, end)) return torn('batch checksum mismatch in the last batch');
      throw new CorruptLogError(path, offset, 'batch checksum mismatch');
    }
    if (length === 0) throw new CorruptLogError(path, offset, 'empty batch (this code never writes one)');
    readRecords(path, contents, offset + batchHeaderBytes, end, maxRecordBytes, records);
    offset = end;
  }
  return { records, validEnd: offset, tornTail: undefined };
}

/**
 * Splits the payload of a batch whose checksum holds into its records. Its bytes are what was
 * written, so a record that does not fit is not damage but a log this build cannot read.
 */
function readRecords(
  path: string,
  contents: Buffer,
  start: number,
  end: number,
  maxRecordBytes: number,
  into: LoadedRecord[],
): void {
  for (let offset = start; offset < end; ) {
    if (end - offset < recordHeaderBytes) {
      throw new CorruptLogError(path, offset, 'record header cut short inside a batch whose checksum holds');
    }
    const length = contents.readUInt32LE(offset);
    if (length > maxRecordBytes) {
      // A log from a run with a larger maxRecordBytes. Refused rather than trusted.
      throw new CorruptLogError(path, offset, `record length ${length} exceeds maxRecordBytes ${maxRecordBytes}`);
    }
    const recordEnd = offset + recordHeaderBytes + length;
    if (recordEnd > end) {
      throw new CorruptLogError(path, offset, `record of ${length} bytes runs past the end of its batch`);
    }
    // A copy, independent of the file buffer.
    into.push({ offset, data: new Uint8Array(contents.subarray(offset + recordHeaderBytes, recordEnd)) });
    offset = recordEnd;
  }
}

/** Whether a batch header at `offset` (12 bytes, all inside `contents`) passes its checksum. */
function headerHolds(contents: Buffer, offset: number): boolean {
  return contents.readUInt32LE(offset + 4) === crc32(contents.subarray(offset, offset + 4));
}

/** Whether the payload of the batch at `offset`, ending at `end`, passes its checksum. */
function payloadHolds(contents: Buffer, offset: number, end: number): boolean {
  return contents.readUInt32LE(offset + 8) === crc32(contents.subarray(offset + batchHeaderBytes, end));
}

/**
 * The first offset at or after `from` where a whole valid batch starts (header and payload
 * checksums holding, inside the file), or undefined. Used only after a damaged header, to tell
 * a torn last write (nothing valid after it) from damage followed by durable batches.
 */
function findValidBatch(contents: Buffer, from: number): number | undefined {
  for (let offset = from; offset + batchHeaderBytes <= contents.length; offset++) {
    if (!headerHolds(contents, offset)) continue;
    const end = offset + batchHeaderBytes + contents.readUInt32LE(offset);
    if (end <= contents.length && payloadHolds(contents, offset, end)) return offset;
  }
  return undefined;
}

/** Throws `CorruptLogError` at offset 0 unless `contents` starts with this version's magic. */
function checkMagic(path: string, contents: Buffer): void {
  const magic = contents.subarray(0, fileLogMagic.length);
  if (magic.equals(fileLogMagic)) return;
  const expected = Buffer.from(fileLogMagic).toString('latin1');
  if (magic.length === fileLogMagic.length && magic.subarray(0, fileLogMagicFamily.length).equals(fileLogMagicFamily)) {
    const found = magic.toString('latin1');
    throw new CorruptLogError(
      path,
      0,
      `the file starts with ${JSON.stringify(found)}: format version ${JSON.stringify(found.slice(-1))} ` +
        `is not supported (this build reads only ${expected}, and no migration exists)`,
    );
  }
  throw new CorruptLogError(path, 0, `the file does not start with the ${expected} header (not a synod log)`);
}

function isZeroFrom(bytes: Uint8Array, start: number): boolean {
  for (let i = start; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

function readWholeFile(fd: number): Buffer {
  const size = fstatSync(fd).size;
  const contents = Buffer.alloc(size);
  for (let read = 0; read < size; ) {
    const n = readSync(fd, contents, read, size - read, read);
    if (n === 0) return contents.subarray(0, read); // the file shrank meanwhile: parse what was there
    read += n;
  }
  return contents;
}

function writeFully(fd: number, data: Uint8Array, position: number): void {
  for (let written = 0; written < data.length; ) {
    written += writeSync(fd, data, written, data.length - written, position + written);
  }
}
