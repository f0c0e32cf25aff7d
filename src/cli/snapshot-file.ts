/**
 * The file `synod snapshot save` writes and `synod snapshot restore` reads: one cluster's
 * replicated state at one viewstamp, with what it belongs to.
 *
 * Layout:
 *   {"synod":"snapshot-backup","version":1,"clusterId":…,"app":{name,version},"vs":{vid,seqno},
 *    "node":…,"source":"primary"|"data-dir","savedAt":…,"stateBytes":N}\n
 *   N bytes: the state as `src/rsm/snapshot-format.ts` streams it (client table, app state)
 *   {"crc32":"xxxxxxxx"}\n    the CRC-32 of everything before this line
 * The trailer comes last because the state is written as it arrives; a file cut short has
 * none (or a wrong length), and a changed byte anywhere fails the checksum.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { type AppIdentity, appNameProblem, appVersionProblem } from '../config/app-identity.js';
import { limits } from '../options.js';
import { crc32 } from '../runtime/crc32.js';
import { fsyncDir } from '../runtime/durable-fs.js';
import type { Viewstamp } from '../rsm/viewstamp.js';

const format = 'snapshot-backup';
const version = 1;
/** Longest header line a reader accepts (the fields above take a few hundred bytes). */
export const maxHeaderBytes = 64 * 1024;

/** What a backup file says about its state. */
export interface BackupHeader {
  readonly clusterId: string;
  readonly app: AppIdentity;
  /** The last request the state holds, in the cluster it came from. */
  readonly vs: Viewstamp;
  /** The node that held it. */
  readonly node: string;
  /** `primary`: taken from the serving primary; `data-dir`: read from a stopped node's data directory (force recovery). */
  readonly source: 'primary' | 'data-dir';
  /** ISO 8601, when the file was written. */
  readonly savedAt: string;
  readonly stateBytes: number;
}

/** A backup file is damaged, of another format, or not there: `message` names the file and what is wrong. */
export class BackupFileError extends Error {
  override readonly name = 'BackupFileError';
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
  }
}

const encoder = new TextEncoder();

function headerLine(h: BackupHeader): Uint8Array {
  return encoder.encode(`${JSON.stringify({
    synod: format, version, clusterId: h.clusterId, app: { name: h.app.name, version: h.app.version },
    vs: { vid: h.vs.vid, seqno: h.vs.seqno }, node: h.node, source: h.source, savedAt: h.savedAt, stateBytes: h.stateBytes,
  })}\n`);
}

function trailerLine(checksum: number): Uint8Array {
  return encoder.encode(`${JSON.stringify({ crc32: checksum.toString(16).padStart(8, '0') })}\n`);
}

/**
 * Writes a backup file as its state arrives: into `<file>.tmp-<pid>` beside it, then, once
 * `finish` is called, the trailer, fsync, rename over `file`, fsync of the directory. Until then
 * `file` is untouched; `abandon` removes the temporary file.
 */
export class BackupWriter {
  readonly file: string;
  readonly #tmp: string;
  readonly #header: BackupHeader;
  #fd: number | null;
  #crc: number;
  #written = 0;

  constructor(file: string, header: BackupHeader) {
    this.file = file;
    this.#header = header;
    this.#tmp = join(dirname(resolve(file)), `.${basename(file)}.tmp-${process.pid}`);
    this.#fd = openSync(this.#tmp, 'w', 0o600);
    const line = headerLine(header);
    this.#crc = crc32(line);
    this.#write(line);
  }

  get header(): BackupHeader {
    return this.#header;
  }

  /** State bytes written so far. */
  get written(): number {
    return this.#written;
  }

  append(data: Uint8Array): void {
    if (this.#written + data.length > this.#header.stateBytes) {
      throw new Error(`the node sent more than the ${this.#header.stateBytes} state bytes it announced`);
    }
    this.#crc = crc32(data, this.#crc);
    this.#write(data);
    this.#written += data.length;
  }

  /** Completes the file (see the class comment); throws if fewer bytes came than announced. */
  finish(): void {
    if (this.#written !== this.#header.stateBytes) {
      throw new Error(`the stream ended after ${this.#written} of the ${this.#header.stateBytes} state bytes announced`);
    }
    this.#write(trailerLine(this.#crc));
    const fd = this.#fd!;
    fsyncSync(fd);
    closeSync(fd);
    this.#fd = null;
    renameSync(this.#tmp, this.file);
    fsyncDir(dirname(resolve(this.file)));
  }

  abandon(): void {
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = null;
    rmSync(this.#tmp, { force: true });
  }

  #write(bytes: Uint8Array): void {
    for (let at = 0; at < bytes.length;) at += writeSync(this.#fd!, bytes, at, bytes.length - at);
  }
}

/** Writes a whole backup file at once (force recovery, tests), atomically and durably. */
export function writeBackupFile(file: string, header: Omit<BackupHeader, 'stateBytes'>, state: Uint8Array): void {
  const w = new BackupWriter(file, { ...header, stateBytes: state.length });
  try {
    w.append(state);
    w.finish();
  } catch (err) {
    w.abandon();
    throw err;
  }
}

/** Reads and checks a backup file whole; throws `BackupFileError` naming what is wrong. */
export function readBackupFile(file: string): { readonly header: BackupHeader; readonly state: Uint8Array } {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new BackupFileError(file, `cannot read it: ${(err as Error).message}`);
  }
  const bad = (reason: string): never => {
    throw new BackupFileError(file, `${reason}; it is not a whole snapshot written by synod snapshot save (take another, or use an intact copy)`);
  };
  const end = bytes.indexOf(0x0a);
  if (end < 0 || end > maxHeaderBytes) bad('no header line: not a synod snapshot file, or cut short');
  let o: Record<string, unknown> = {};
  try {
    const v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, end))) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) o = v as Record<string, unknown>;
  } catch {
    bad('the header line is not JSON (a damaged byte?)');
  }
  if (o['synod'] !== format || o['version'] !== version) bad(`not a ${format} file of version ${version}`);
  const header = headerOf(o, bad);
  const stateStart = end + 1;
  const stateEnd = stateStart + header.stateBytes;
  if (bytes.length <= stateEnd) bad(`truncated: the header announces ${header.stateBytes} state bytes and a checksum after them, the file holds ${bytes.length - stateStart} bytes after the header`);
  let expected: unknown;
  try {
    expected = (JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(stateEnd))) as Record<string, unknown>)['crc32'];
  } catch {
    bad(`truncated or damaged: no checksum line after the ${header.stateBytes} state bytes`);
  }
  const actual = crc32(bytes.subarray(0, stateEnd)).toString(16).padStart(8, '0');
  if (expected !== actual) bad(`checksum mismatch: the contents' CRC-32 is ${actual}, the file says ${String(expected)} (a damaged byte)`);
  return { header, state: bytes.subarray(stateStart, stateEnd) };
}

function headerOf(o: Record<string, unknown>, bad: (reason: string) => never): BackupHeader {
  const app = (typeof o['app'] === 'object' && o['app'] !== null ? o['app'] : {}) as Record<string, unknown>;
  const appProblem = appNameProblem(app['name']) ?? appVersionProblem(app['version']);
  if (appProblem !== null) bad(`the header's app is not a name and a version (${appProblem})`);
  const clusterId = o['clusterId'];
  if (typeof clusterId !== 'string' || clusterId.length === 0 || clusterId.length > limits.maxClusterIdLength) bad('the header has no cluster id');
  const vs = (typeof o['vs'] === 'object' && o['vs'] !== null ? o['vs'] : {}) as Record<string, unknown>;
  const whole = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (!whole(vs['vid']) || !whole(vs['seqno'])) bad('the header has no viewstamp');
  if (!whole(o['stateBytes'])) bad('the header has no state length');
  const source = o['source'];
  if (source !== 'primary' && source !== 'data-dir') bad('the header names no source');
  return {
    clusterId: clusterId as string,
    app: { name: app['name'] as string, version: app['version'] as string },
    vs: { vid: vs['vid'] as number, seqno: vs['seqno'] as number },
    node: String(o['node'] ?? ''),
    source: source as BackupHeader['source'],
    savedAt: String(o['savedAt'] ?? ''),
    stateBytes: o['stateBytes'] as number,
  };
}
