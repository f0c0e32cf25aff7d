/**
 * The production `DurableLog`: one append-only file, written with group commit.
 *
 * On-disk format (every integer little-endian):
 *
 *   offset 0   8 bytes   magic "SYNODLG2": the format's name and version 2
 *   offset 8   records, back to back, each one a frame:
 *                u32     payload length in bytes, at most `maxRecordBytes`
 *                u32     header checksum: CRC-32 (IEEE, as zlib) of the 4 length bytes
 *                u32     payload checksum: CRC-32 of the payload
 *                ...     the payload
 *
 * The length has its own checksum so that a damaged length is recognised as damage before it is
 * used: trusting it could make a record in the middle look like a payload cut short at the end
 * of the file, and cutting there would drop every durable record after it. An all-zero header is
 * never valid (crc32(00 00 00 00) = 0x2144df1c, not 0), so a zero-filled tail, which some file
 * systems leave behind after a crash, is never mistaken for a run of empty records.
 *
 * Version 1 ("SYNODLG1", one checksum over length and payload) is refused with `CorruptLogError`
 * at offset 0; no deployed logs used it, so there is no migration.
 *
 * Recovery (`load`) reads the file front to back, one frame at a time. A torn tail is the
 * unfinished last write of the crashed run: none of its records was acknowledged as durable,
 * because a sync completes only after its whole write reached the disk. It is cut off
 * (ftruncate + fsync) and reported with a warning. Anything else that is not a valid frame is
 * damage before the end: `CorruptLogError` naming the file and the frame's offset, with the file
 * left untouched, because cutting there would drop durable records. At each frame:
 * - fewer than 12 bytes left: a header cut short, which only a torn write leaves → torn tail;
 * - the header checksum fails: if every byte from here to the end of the file is zero, a
 *   zero-filled torn tail → torn tail; otherwise → `CorruptLogError` 'damaged record header'
 *   (never cut data that may be followed by durable records);
 * - the length exceeds `maxRecordBytes` → `CorruptLogError` (a log written with a larger limit);
 * - the payload extends past the end of the file: a write cut short → torn tail;
 * - the payload checksum fails: if the frame ends exactly at the end of the file → torn tail;
 *   otherwise → `CorruptLogError` 'payload checksum mismatch'.
 */
import { closeSync, constants, fstatSync, fsyncSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Mutex } from 'async-mutex';
import { CorruptLogError, type DurableLog, type LoadedRecord } from '../env/durable-log.js';
import type { Logger } from '../env/logger.js';
import { limits } from '../options.js';
import { crc32 } from './crc32.js';

/** The first bytes of every log file; a file that starts differently is not loaded. */
export const fileLogMagic: Uint8Array = new TextEncoder().encode('SYNODLG2');

/** The magic without its last byte, the version: shared by every version of the format. */
const fileLogMagicFamily: Uint8Array = fileLogMagic.subarray(0, fileLogMagic.length - 1);

/** Size of a frame's header: the u32 length, the u32 header checksum, the u32 payload checksum. */
export const frameHeaderBytes = 12;

/** The length field is a u32, so no option may allow more than this. */
const maxEncodableRecordBytes = 0xffff_ffff;

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
 * Group commit: `append` only buffers a frame in memory. A `sync` that finds nothing buffered
 * and nothing being written calls back at once. Otherwise it waits for the next flush, which
 * takes everything appended and every sync issued up to the moment it starts, writes those
 * frames with a single positional write, fdatasyncs, and then calls those syncs back in order.
 * Flushes run one at a time (an async-mutex); syncs issued while one is in flight share the next.
 */
export class FileLog implements DurableLog {
  readonly #path: string;
  readonly #logger: Logger;
  readonly #maxRecordBytes: number;
  readonly #openForWrite: (path: string) => Promise<LogFile>;
  /** Held for one flush's write + datasync, so that flushes never overlap. Never held across a callback. */
  readonly #writeMutex = new Mutex();
  #phase: Phase = 'new';
  /** Frames appended since the last flush took its batch. */
  #frames: Uint8Array[] = [];
  #frameBytes = 0;
  /** Syncs issued since the last flush took its batch; the next flush calls them back. */
  #waiting: SyncCallback[] = [];
  /** A flush is scheduled that has not taken its batch yet (it may be waiting for the mutex). */
  #flushScheduled = false;
  /** Flushes scheduled whose callbacks have not all run yet. While above 0, `sync` must queue. */
  #flushesUnfinished = 0;
  /** Where the next write goes: the end of the last record known to be in the file. */
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
    const fd = openSync(this.#path, constants.O_RDWR | constants.O_CREAT, 0o644);
    let records: LoadedRecord[];
    try {
      records = this.#recover(fd);
    } finally {
      closeSync(fd);
    }
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
    const frame = new Uint8Array(frameHeaderBytes + data.length);
    const view = new DataView(frame.buffer);
    view.setUint32(0, data.length, true);
    view.setUint32(4, crc32(frame.subarray(0, 4)), true);
    view.setUint32(8, crc32(data), true);
    frame.set(data, frameHeaderBytes);
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

  /** Validates the file, cuts a torn tail, or initializes a fresh log; returns the records. */
  #recover(fd: number): LoadedRecord[] {
    const contents = readWholeFile(fd);
    if (contents.length === 0) {
      this.#initialize(fd);
      return [];
    }
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

  /** A missing or empty file: write the header, and make both it and the directory entry durable. */
  #initialize(fd: number): void {
    writeFully(fd, fileLogMagic, 0);
    fsyncSync(fd);
    // The file may have just been created; without this a crash could lose the directory entry.
    const dirFd = openSync(dirname(this.#path), 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    this.#endOffset = fileLogMagic.length;
    this.#logger.info({ file: this.#path }, 'durable log created');
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
      const bytes = this.#frameBytes;
      this.#frames = [];
      this.#frameBytes = 0;
      if (this.#failure === undefined && bytes > 0) {
        try {
          await this.#writeDurably(frames, bytes);
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

  async #writeDurably(frames: Uint8Array[], bytes: number): Promise<void> {
    this.#file ??= await this.#openForWrite(this.#path);
    const file = this.#file;
    const data = frames.length === 1 && frames[0] !== undefined ? frames[0] : Buffer.concat(frames, bytes);
    for (let written = 0; written < bytes; ) {
      const { bytesWritten } = await file.write(data, written, bytes - written, this.#endOffset + written);
      if (bytesWritten <= 0) throw new Error(`write to ${this.#path} made no progress`);
      written += bytesWritten;
    }
    await file.datasync();
    this.#endOffset += bytes;
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

interface ScanResult {
  readonly records: LoadedRecord[];
  /** End of the last valid record: the file's length, or where a torn tail begins. */
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
    if (contents.length - offset < frameHeaderBytes) {
      // Nothing can follow a header cut short: it is the end of the file, so a torn write.
      return torn(isZeroFrom(contents, offset) ? 'zero-filled tail' : 'frame header cut short');
    }
    if (contents.readUInt32LE(offset + 4) !== crc32(contents.subarray(offset, offset + 4))) {
      // The length cannot be trusted, so neither can where this frame ends. Only zeros up to the
      // end of the file are certainly a torn tail; any other byte may belong to durable records.
      // (Checked only here, once, so the scan stays linear.)
      if (isZeroFrom(contents, offset)) return torn('zero-filled tail');
      throw new CorruptLogError(path, offset, 'damaged record header');
    }
    const length = contents.readUInt32LE(offset);
    if (length > maxRecordBytes) {
      // The header checksum holds, so this is what was written: a log from a run with a larger
      // maxRecordBytes. Refused rather than trusted.
      throw new CorruptLogError(path, offset, `record length ${length} exceeds maxRecordBytes ${maxRecordBytes}`);
    }
    const end = offset + frameHeaderBytes + length;
    if (end > contents.length) return torn(`payload cut short (${length} bytes announced)`);
    const payload = contents.subarray(offset + frameHeaderBytes, end);
    if (contents.readUInt32LE(offset + 8) !== crc32(payload)) {
      if (end === contents.length) return torn('payload checksum mismatch in the last record');
      throw new CorruptLogError(path, offset, 'payload checksum mismatch');
    }
    records.push({ offset, data: new Uint8Array(payload) }); // a copy, independent of the file buffer
    offset = end;
  }
  return { records, validEnd: offset, tornTail: undefined };
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
