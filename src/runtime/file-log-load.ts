/**
 * The startup of a `FileLog`: finding its file in whatever state the previous run left it and
 * making it ready for appends. Synchronous: it runs once, before the node serves anything.
 *
 * Creation. A new log is written as `<path>.tmp` (header, fsync), renamed to `<path>`, and the
 * directory is fsynced; so `<path>` always holds a whole header, and a crash during creation
 * leaves only the `.tmp` file, which the next load removes before it creates the log afresh.
 * An empty file at `<path>` (which this code never leaves) is replaced the same way.
 *
 * Recovery reads the whole file and scans it (`scanLog`, in `file-log-format.ts`). A torn tail,
 * the unfinished last write of a crashed run (never acknowledged: a sync calls back only after
 * its whole write reached the disk), is cut off (ftruncate + fsync) and reported with a warning
 * naming the file, the offset and the number of bytes cut. Damage before the end is
 * `CorruptLogError` naming the file and the offset, with the file left untouched, because
 * cutting there would drop durable records.
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
import { dirname } from 'node:path';
import { CorruptLogError, type LoadedRecord } from '../env/durable-log.js';
import type { Logger } from '../env/logger.js';
import { fsyncDir } from './durable-fs.js';
import { fileLogMagic, scanLog } from './file-log-format.js';

/** A log file ready for appends. */
export interface LoadedLogFile {
  /** What survived the previous run, in append order. */
  readonly records: LoadedRecord[];
  /** Where the next batch goes: the end of the last valid batch (or of the header). */
  readonly endOffset: number;
}

/** Where a new log is written before it is renamed into place. */
export function fileLogTmpPath(path: string): string {
  return `${path}.tmp`;
}

/**
 * Loads the log at `path`, creating it when there is none (no file, or an empty one), after
 * removing what an interrupted creation left. Throws `CorruptLogError` on damage before the end,
 * which includes a record longer than `maxRecordBytes` (see `FileLogOptions.maxRecordBytes`).
 */
export function loadLogFile(path: string, logger: Logger, maxRecordBytes: number): LoadedLogFile {
  removeInterruptedCreation(path, logger);
  return loadExisting(path, logger, maxRecordBytes) ?? create(path, logger);
}

/**
 * A `.tmp` file is what a crash during `create` leaves: the log was never renamed into place,
 * so nothing in it was ever acknowledged. Removed before anything else, so that it cannot
 * stand in the way of creating the log again.
 */
function removeInterruptedCreation(path: string, logger: Logger): void {
  const tmp = fileLogTmpPath(path);
  let bytes: number;
  try {
    bytes = statSync(tmp).size;
    unlinkSync(tmp);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  logger.warn(
    { file: tmp, bytes },
    'durable log: removed the file of a log creation interrupted by a crash (it never held records)',
  );
}

/** Loads the log at `path`; undefined when there is none yet (no file, or an empty one). */
function loadExisting(path: string, logger: Logger, maxRecordBytes: number): LoadedLogFile | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDWR);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const contents = readWholeFile(fd);
    if (contents.length === 0) return undefined;
    return recover(path, fd, contents, logger, maxRecordBytes);
  } finally {
    closeSync(fd);
  }
}

/** Validates the contents, and cuts a torn tail; returns the records. */
function recover(path: string, fd: number, contents: Uint8Array, logger: Logger, maxRecordBytes: number): LoadedLogFile {
  const scan = scanLog(contents, maxRecordBytes);
  if (scan.kind === 'damaged') throw new CorruptLogError(path, scan.offset, scan.reason);
  const { records, validEnd } = scan;
  if (scan.kind === 'torn-tail') {
    ftruncateSync(fd, validEnd);
    fsyncSync(fd);
    logger.warn(
      { file: path, offset: validEnd, bytes: contents.length - validEnd, reason: scan.reason },
      'durable log: cut off a torn tail left by a crash (records never acknowledged as durable)',
    );
  }
  logger.info({ file: path, records: records.length, bytes: validEnd }, 'durable log loaded');
  return { records, endOffset: validEnd };
}

/**
 * Creates the log holding only the header, atomically: written and fsynced as `<path>.tmp`,
 * renamed into place (replacing an empty file, if any), and the directory fsynced so that the
 * new name survives a power loss.
 */
function create(path: string, logger: Logger): LoadedLogFile {
  const tmp = fileLogTmpPath(path);
  // 'wx': the .tmp was just removed, so finding one means another process is creating this log.
  const fd = openSync(tmp, 'wx', 0o644);
  try {
    writeFully(fd, fileLogMagic, 0);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  fsyncDir(dirname(path));
  logger.info({ file: path }, 'durable log created');
  return { records: [], endOffset: fileLogMagic.length };
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
