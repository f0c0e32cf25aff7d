/**
 * What the FileLog test files share: temp directories, logs written one batch per record,
 * byte-level damage to a file, a logger that keeps its lines, and assertions on loaded records.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DurableLog, LoadedRecord } from '../../src/env/durable-log.js';
import { silentLogger, type Logger } from '../../src/env/logger.js';
import { FileLog } from '../../src/runtime/file-log.js';
import { batchHeaderBytes } from '../../src/runtime/file-log-format.js';

export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly fields: Readonly<Record<string, unknown>>;
  readonly msg: string;
}

/** A Logger that keeps every line, with the fields bound by `child` merged in. */
export function capturingLogger(lines: LogLine[], bindings: object = {}): Logger {
  const at = (level: LogLine['level']) => (fields: object, msg: string): void => {
    lines.push({ level, fields: { ...bindings, ...fields }, msg });
  };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => capturingLogger(lines, { ...bindings, ...more }),
  };
}

export async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'synod-file-log-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Writes `records` to a new log at `path`, one flush (so one batch) each, closes it, and returns
 * them as loaded (with offsets). Each record is thus the first of its batch: see `batchOf`.
 */
export async function writeLog(path: string, records: readonly Uint8Array[]): Promise<LoadedRecord[]> {
  const log = new FileLog(path, { logger: silentLogger });
  log.load();
  for (const record of records) {
    log.append(record);
    await syncOnce(log);
  }
  await log.close();
  const reader = new FileLog(path, { logger: silentLogger });
  const loaded = reader.load();
  await reader.close();
  assertRecords(loaded, records);
  return loaded;
}

/** The offset of the batch that `record` opens (every record `writeLog` wrote opens its batch). */
export function batchOf(record: LoadedRecord): number {
  return record.offset - batchHeaderBytes;
}

export function syncOnce(log: DurableLog): Promise<void> {
  return new Promise((resolve, reject) => log.sync((err) => (err === undefined ? resolve() : reject(err))));
}

export async function flipByte(path: string, offset: number, mask = 0xff): Promise<void> {
  const contents = await readFile(path);
  assert.ok(offset < contents.length, `offset ${offset} is inside the file`);
  contents[offset] = contents[offset]! ^ mask;
  await writeFile(path, contents);
}

/** Overwrites the bytes [from, to) with zeros, as a page that never reached the disk reads back. */
export async function zeroRange(path: string, from: number, to: number): Promise<void> {
  const contents = await readFile(path);
  assert.ok(from < to && to <= contents.length, `[${from}, ${to}) is inside the file`);
  contents.fill(0, from, to);
  await writeFile(path, contents);
}

export function assertRecords(actual: readonly LoadedRecord[], expected: readonly Uint8Array[]): void {
  assert.deepEqual(
    actual.map((record) => Buffer.from(record.data).toString('hex')),
    expected.map((record) => Buffer.from(record).toString('hex')),
  );
}

export function text(value: string): Uint8Array {
  return new TextEncoder().encode(value);
}

export function patterned(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 17 + 1) & 0xff;
  return out;
}
