/**
 * The production `DurableLog`: one append-only file, written with group commit.
 *
 * Three files make it up: `file-log-format.ts`, the bytes (header, batches, checksums) and the
 * scan that tells valid batches, a torn tail and damage apart, with no I/O; `file-log-load.ts`,
 * the startup (create the file atomically, or read it back, cut a torn tail, refuse damage with
 * `CorruptLogError`); and this file, the log itself: appends, group commit, close.
 *
 * Every batch is durable (fdatasync returned) before the next one is written, so only the last
 * batch in the file can ever be torn: the premise of the scan at the next startup.
 */
import { open } from 'node:fs/promises';
import { Mutex } from 'async-mutex';
import type { DurableLog, LoadedRecord } from '../env/durable-log.js';
import type { Logger } from '../env/logger.js';
import { limits } from '../options.js';
import { encodeBatch, frameRecord, groupIntoBatches, maxEncodableRecordBytes } from './file-log-format.js';
import { loadLogFile } from './file-log-load.js';

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
  /** Hears the seconds each successful flush (writes and fdatasync) took (metrics). Must not throw. */
  readonly onFlushed?: (seconds: number) => void;
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
 * back in order (beyond `batchTargetBytes`, 64 MiB: several batches, each written and
 * fdatasynced in turn). Flushes run one at a time (an async-mutex); syncs issued while one is in
 * flight share the next, but for a sync with nothing appended since that flush took its batch:
 * it is called back with that flush (`#riders`).
 */
export class FileLog implements DurableLog {
  readonly #path: string;
  readonly #logger: Logger;
  readonly #onFlushed: ((seconds: number) => void) | undefined;
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
  /**
   * Syncs issued while a flush was writing, with nothing appended since it took its batch and no
   * other flush scheduled: that flush covers them, so it calls them back after its own (they were
   * issued after its own, and before any sync of the next flush, so the order holds).
   */
  #riders: SyncCallback[] = [];
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
    this.#onFlushed = options.onFlushed;
  }

  load(): LoadedRecord[] {
    if (this.#phase !== 'new') {
      throw new Error(`FileLog ${this.#path}: load() was already called; it must be called exactly once`);
    }
    this.#phase = 'loading';
    const { records, endOffset } = loadLogFile(this.#path, this.#logger, this.#maxRecordBytes);
    this.#endOffset = endOffset;
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
    const frame = frameRecord(data);
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
    if (this.#frameBytes === 0 && !this.#flushScheduled) {
      // A flush is writing and everything appended is in it: no need to wait for another one
      // (a message sent ahead of a batch's records, say, leaves once the records before it are durable).
      this.#riders.push(done);
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
          const startedMs = performance.now();
          await this.#writeDurably(frames);
          this.#onFlushed?.((performance.now() - startedMs) / 1000);
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
      // Riders of this flush, including any a callback above issued (read until none is left).
      for (let done = this.#riders.shift(); done !== undefined; done = this.#riders.shift()) done(this.#failure);
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
