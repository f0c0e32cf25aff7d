/**
 * The production `SnapshotFile`: one file, always replaced whole, checksummed.
 *
 * Layout (every integer little-endian):
 *
 *   offset 0    8 bytes   magic "SYNODSN1": the format's name and version 1
 *   offset 8    u32       payload length in bytes
 *   offset 12   u32       payload checksum: CRC-32 (IEEE, as zlib) of the payload
 *   offset 16   ...       the payload, exactly `length` bytes, and nothing after it
 *
 * The length needs no checksum of its own (unlike a log batch's): the file holds one payload
 * and ends with it, so the length must equal the file's size minus the header, and a damaged
 * length fails that check or, failing that, the payload checksum.
 *
 * Writing (`write`). The new contents go to `<path>.tmp` (created or truncated), which is
 * fsynced and closed, renamed over `<path>`, and the directory is fsynced so that the rename
 * survives a power loss; only then is `done` called. A crash before the rename leaves the
 * previous `<path>` untouched, and at worst a `.tmp` that nothing ever reads (`read` removes
 * it, the next write truncates it); a crash after it leaves the new file, whole. Writes are
 * asynchronous (fs.promises, never blocking the event loop on I/O; the checksum is computed in
 * slices, yielding between them) and run one at a time, in the order of the calls
 * (an async-mutex, never held across a callback).
 *
 * Failure. A write that fails (open, write, fsync, rename or directory fsync throws) is
 * reported to its `done` and logged with the file and the error. Failing at any step before
 * the rename leaves the previous file as it was; failing at the directory fsync, after the
 * rename, leaves the new contents in place, whole but not proven durable, so after a power loss
 * either the previous or the new file may be there. Either way the disk failed and the node
 * must stop: from the first failure on, every later write reports that same error without
 * touching the disk (as `FileLog` does), so what the file holds no longer changes. The `.tmp`
 * of a failed write is left where it is (see above).
 *
 * Size. No limit is enforced beyond what the format can express (a payload below 4 GiB): the
 * caller bounds what it writes (the state it snapshots is itself bounded). `read` holds the
 * whole file in memory once, at startup.
 *
 * Reading (`read`). Synchronous, once, before the first write (it runs at startup). No file →
 * null. Otherwise the contents must pass every check (magic and version, the length against
 * the file's size, the checksum), or `read` throws `CorruptSnapshotError` naming the file and
 * what failed: an empty file (this code never leaves one, since `<path>` only ever appears by a
 * rename of a complete, fsynced file), bad magic, an unsupported version, a file truncated or
 * with bytes after the payload, a checksum mismatch.
 */
import { closeSync, fstatSync, openSync, readSync, statSync, unlinkSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Mutex } from 'async-mutex';
import type { Logger } from '../env/logger.js';
import { CorruptSnapshotError, type SnapshotFile } from '../env/snapshot-file.js';
import { crc32 } from './crc32.js';
import { bytesEqual, latin1 } from './bytes.js';

/** The first bytes of every snapshot file: the format's name and version. */
export const snapshotMagic: Uint8Array = new TextEncoder().encode('SYNODSN1');

/** The magic without its last byte, the version: shared by every version of the format. */
const snapshotMagicFamily: Uint8Array = snapshotMagic.subarray(0, snapshotMagic.length - 1);

/** Size of the header: the magic, the u32 payload length, the u32 payload checksum. */
export const snapshotHeaderBytes = snapshotMagic.length + 8;

/** The largest payload the u32 length field can describe. */
export const maxSnapshotPayloadBytes = 0xffff_ffff;

/**
 * The checksum of a write is computed this many bytes at a time, yielding to the event loop in
 * between, so that a large snapshot does not stall heartbeats (CRC-32 here runs at about
 * 400 MB/s: 1 MiB is a few milliseconds).
 */
const checksumSliceBytes = 1024 * 1024;

/** Where a write puts the new contents before it renames them into place. */
export function snapshotTmpPath(path: string): string {
  return `${path}.tmp`;
}

/**
 * The part of `fs.promises.FileHandle` a write uses on the `.tmp` file. A `FileHandle` is one;
 * tests pass a wrapper (see `SnapshotFs`).
 */
export interface SnapshotTmpFile {
  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The file-system calls a write makes, in this order: `openForWrite(<path>.tmp)`, writes,
 * `sync`, `close`, `rename(<path>.tmp, <path>)`, `syncDir(<directory>)`. Test-only seam:
 * production leaves `FileSnapshotOptions.fs` unset and gets `fs.promises`; tests wrap it to
 * inject a disk error or to have the process die at a chosen step.
 */
export interface SnapshotFs {
  /** Opens `path` for writing, created or truncated. */
  openForWrite(path: string): Promise<SnapshotTmpFile>;
  rename(from: string, to: string): Promise<void>;
  /** Fsyncs the directory `dir`, making the rename in it durable. */
  syncDir(dir: string): Promise<void>;
}

export const nodeSnapshotFs: SnapshotFs = {
  openForWrite: (path) => open(path, 'w', 0o644),
  rename,
  async syncDir(dir) {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
};

export interface FileSnapshotOptions {
  readonly logger: Logger;
  /** Test-only seam (see `SnapshotFs`). Default `nodeSnapshotFs`. */
  readonly fs?: SnapshotFs;
  /** Hears each successful write: its bytes and the seconds it took (metrics). Must not throw. */
  readonly onWritten?: (bytes: number, seconds: number) => void;
}

/** What a `read` of the file's bytes makes of them: the payload, or why the file is damaged. */
export type SnapshotCheck = { readonly ok: true; readonly payload: Uint8Array } | { readonly ok: false; readonly reason: string };

/**
 * - `new`: constructed; `read` and `write` are allowed.
 * - `used`: `read` was called (whatever it returned) or a write issued; only writes are allowed.
 */
type Phase = 'new' | 'used';

/** A snapshot file at `path` (see the top of this file). */
export class FileSnapshot implements SnapshotFile {
  readonly #path: string;
  readonly #logger: Logger;
  readonly #onWritten: ((bytes: number, seconds: number) => void) | undefined;
  readonly #fs: SnapshotFs;
  /** Held for one write's I/O, so that writes never overlap. Never held across a callback. */
  readonly #writeMutex = new Mutex();
  #phase: Phase = 'new';
  /** The first write error. Once set, every later write reports it and touches nothing. */
  #failure: Error | undefined;

  constructor(path: string, options: FileSnapshotOptions) {
    this.#path = path;
    this.#logger = options.logger;
    this.#fs = options.fs ?? nodeSnapshotFs;
    this.#onWritten = options.onWritten;
  }

  read(): Uint8Array | null {
    if (this.#phase !== 'new') {
      throw new Error(`FileSnapshot ${this.#path}: read() after read() or write(); it may be called once, before any write`);
    }
    this.#phase = 'used';
    this.#removeStaleTmp();
    const contents = readWholeFile(this.#path);
    if (contents === null) return null;
    const check = checkSnapshot(contents);
    if (!check.ok) throw new CorruptSnapshotError(this.#path, check.reason);
    this.#logger.info({ file: this.#path, bytes: check.payload.length }, 'snapshot loaded');
    return check.payload;
  }

  write(data: Uint8Array, done: (err?: Error) => void): void {
    this.#phase = 'used';
    // #write never rejects unless `done` throws, which is a bug: that rejection is left
    // unhandled on purpose, so that Node stops the process.
    void this.#write(data, done);
  }

  async #write(data: Uint8Array, done: (err?: Error) => void): Promise<void> {
    const release = await this.#writeMutex.acquire();
    try {
      if (this.#failure === undefined) {
        try {
          const startedMs = performance.now();
          await this.#replace(data);
          this.#onWritten?.(data.length, (performance.now() - startedMs) / 1000);
        } catch (err) {
          this.#failure = err instanceof Error ? err : new Error(String(err));
          this.#logger.error(
            { file: this.#path, bytes: data.length, err: this.#failure },
            'snapshot write failed; the disk failed and the node must stop',
          );
        }
      }
    } finally {
      release();
    }
    // No await from release() to the callback: the next write resumes only after it, so
    // callbacks run in the order of the write calls.
    done(this.#failure);
  }

  /** Writes, syncs and renames the `.tmp`, then syncs the directory (see the top of this file). */
  async #replace(data: Uint8Array): Promise<void> {
    if (data.length > maxSnapshotPayloadBytes) {
      throw new RangeError(`a snapshot of ${data.length} bytes does not fit the format (at most ${maxSnapshotPayloadBytes})`);
    }
    const header = snapshotHeader(data.length, await checksumYielding(data));
    const tmp = snapshotTmpPath(this.#path);
    const file = await this.#fs.openForWrite(tmp);
    try {
      await writeFully(file, header, 0, tmp);
      await writeFully(file, data, header.length, tmp);
      await file.sync();
    } catch (err) {
      // The error that matters is this one, not a failure to close after it.
      await file.close().catch(() => undefined);
      throw err;
    }
    await file.close();
    await this.#fs.rename(tmp, this.#path);
    await this.#fs.syncDir(dirname(resolve(this.#path)));
  }

  /** A `.tmp` is what a write interrupted by a crash left: never renamed, so never acknowledged. */
  #removeStaleTmp(): void {
    const tmp = snapshotTmpPath(this.#path);
    try {
      const bytes = statSync(tmp).size;
      unlinkSync(tmp);
      this.#logger.warn({ file: tmp, bytes }, 'snapshot: removed the file of a write interrupted by a crash (never acknowledged)');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      // Harmless to keep: nothing reads it, and the next write truncates it (or reports the error).
      this.#logger.warn({ file: tmp, err }, 'snapshot: could not remove the file of an interrupted write; it is ignored');
    }
  }
}

/** The 16 bytes that precede a payload of `length` bytes whose CRC-32 is `checksum`. */
export function snapshotHeader(length: number, checksum: number): Uint8Array {
  const header = new Uint8Array(snapshotHeaderBytes);
  header.set(snapshotMagic, 0);
  const view = new DataView(header.buffer);
  view.setUint32(snapshotMagic.length, length, true);
  view.setUint32(snapshotMagic.length + 4, checksum, true);
  return header;
}

/**
 * Checks a whole snapshot file's bytes (see the layout at the top). The payload returned is a
 * view into `contents`.
 */
export function checkSnapshot(contents: Uint8Array): SnapshotCheck {
  if (contents.length === 0) return damaged('empty file (no complete snapshot was ever renamed into place)');
  const badMagic = checkMagic(contents);
  if (badMagic !== undefined) return damaged(badMagic);
  if (contents.length < snapshotHeaderBytes) {
    return damaged(`truncated: ${contents.length} bytes, shorter than the ${snapshotHeaderBytes}-byte header`);
  }
  const view = new DataView(contents.buffer, contents.byteOffset, contents.byteLength);
  const length = view.getUint32(snapshotMagic.length, true);
  const expectedCrc = view.getUint32(snapshotMagic.length + 4, true);
  const held = contents.length - snapshotHeaderBytes;
  if (held < length) return damaged(`truncated: the header announces ${length} payload bytes, the file holds ${held}`);
  if (held > length) return damaged(`${held - length} bytes after the ${length}-byte payload the header announces`);
  const payload = contents.subarray(snapshotHeaderBytes);
  const actualCrc = crc32(payload);
  if (actualCrc !== expectedCrc) {
    return damaged(`checksum mismatch: the payload's CRC-32 is ${hex(actualCrc)}, the header says ${hex(expectedCrc)}`);
  }
  return { ok: true, payload };
}

/** Why `contents` (not empty) does not start with this version's magic, or undefined when it does. */
function checkMagic(contents: Uint8Array): string | undefined {
  const expected = latin1(snapshotMagic);
  const found = contents.subarray(0, snapshotMagic.length);
  if (bytesEqual(found, snapshotMagic.subarray(0, found.length))) return undefined; // whole, or a prefix of it
  if (found.length === snapshotMagic.length && bytesEqual(found.subarray(0, snapshotMagicFamily.length), snapshotMagicFamily)) {
    const version = latin1(found.subarray(snapshotMagicFamily.length));
    return `bad magic: format version ${JSON.stringify(version)} is not supported (this build reads only ${expected})`;
  }
  return `bad magic: the file does not start with ${expected} (not a synod snapshot)`;
}

function damaged(reason: string): SnapshotCheck {
  return { ok: false, reason };
}

/** The CRC-32 of `data`, a slice at a time, yielding to the event loop between slices. */
async function checksumYielding(data: Uint8Array): Promise<number> {
  let crc = crc32(data.subarray(0, checksumSliceBytes));
  for (let at = checksumSliceBytes; at < data.length; at += checksumSliceBytes) {
    await new Promise<void>((resume) => setImmediate(resume));
    crc = crc32(data.subarray(at, at + checksumSliceBytes), crc);
  }
  return crc;
}

async function writeFully(file: SnapshotTmpFile, data: Uint8Array, position: number, path: string): Promise<void> {
  for (let written = 0; written < data.length; ) {
    const { bytesWritten } = await file.write(data, written, data.length - written, position + written);
    if (bytesWritten <= 0) throw new Error(`write to ${path} made no progress`);
    written += bytesWritten;
  }
}

/** The whole file at `path` in a buffer of its own, or null when there is no file. */
function readWholeFile(path: string): Uint8Array | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const size = fstatSync(fd).size;
    const contents = new Uint8Array(size);
    for (let read = 0; read < size; ) {
      const n = readSync(fd, contents, read, size - read, read);
      if (n === 0) return contents.subarray(0, read); // the file shrank meanwhile: check what was there
      read += n;
    }
    return contents;
  } finally {
    closeSync(fd);
  }
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}
