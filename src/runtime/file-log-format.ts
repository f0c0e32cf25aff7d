/**
 * The on-disk format of `FileLog`, apart from any I/O: the header, how the records of one flush
 * are encoded as a batch with its checksums, and the scan that reads a whole file's bytes back
 * and decides where the valid batches end, whether what follows them is a torn tail or damage
 * before the end. Every function here works on byte arrays; `file-log.ts` does the reading,
 * writing, syncing and cutting.
 *
 * Layout (every integer little-endian):
 *
 *   offset 0   8 bytes   magic "SYNODLG3": the format's name and version 3
 *   offset 8   batches, back to back. A batch holds the records of one flush (group commit),
 *              goes to the file in one write, and is durable (fdatasync returned) before the
 *              next batch is written. (A flush of more than `batchTargetBytes` is split into
 *              several batches, written one after the other in that way.)
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
 * Versions 1 and 2 ("SYNODLG1", "SYNODLG2": a checksum per record, no batches) are refused as
 * damage at offset 0; no deployed logs used them, so there is no migration.
 *
 * The scan (`scanLog`). Every batch but the last one written was durable before the next was
 * written, so only the last batch in the file can be torn: that unfinished write of the crashed
 * run was never acknowledged. So a torn tail may be cut; anything else that is not a valid batch
 * is damage before the end, which must never be cut because durable records follow it.
 * At each batch:
 * - fewer than 12 bytes left: a header cut short, which only a torn write leaves → torn tail;
 * - the header checksum fails: the length is unknown, so where the batch ends is unknown too.
 *   The torn page of a crash may be the one holding the header (zeros, or partly zeros, with
 *   later pages of the same write persisted). So: if a valid batch (both checksums holding)
 *   starts anywhere after this offset, durable data follows → damage, 'damaged batch header';
 *   if none does, everything from here on is the torn last write → torn tail. (A zero-filled
 *   tail is the simplest case. Damage confined to the very last batch is, like a bad checksum
 *   in it, indistinguishable from a tear and is cut as one.) The search runs only on this
 *   recovery path and looks at each later offset once;
 * - the batch extends past the end of the file: a write cut short → torn tail;
 * - the payload checksum fails: if the batch ends exactly at the end of the file, or only zeros
 *   follow it → torn tail; otherwise → damage, 'batch checksum mismatch';
 * - the payload, whose checksum holds, does not split into records of at most `maxRecordBytes`
 *   that fill it exactly → damage at the offending record (a log written with a larger
 *   `maxRecordBytes`, or not by this code).
 */
import type { LoadedRecord } from '../env/durable-log.js';
import { crc32 } from './crc32.js';
import { bytesEqual, latin1 } from './bytes.js';

/** The first bytes of every log file; a file that starts differently is not loaded. */
export const fileLogMagic: Uint8Array = new TextEncoder().encode('SYNODLG3');

/** The magic without its last byte, the version: shared by every version of the format. */
const fileLogMagicFamily: Uint8Array = fileLogMagic.subarray(0, fileLogMagic.length - 1);

/** Size of a batch's header: the u32 length, the u32 header checksum, the u32 payload checksum. */
export const batchHeaderBytes = 12;

/** Size of a record's header inside a batch: the u32 length. */
export const recordHeaderBytes = 4;

/** The largest record a batch can hold: its length field is a u32 and covers the record's header too. */
export const maxEncodableRecordBytes = 0xffff_ffff - recordHeaderBytes;

/**
 * A flush whose records add up to more than this is written as several batches, each written
 * and fdatasynced before the next, so that a single write stays of a sane size. A batch always
 * holds at least one record, so a single larger record still travels alone. 64 MiB: far above
 * what one group commit of protocol records carries.
 */
export const batchTargetBytes = 64 * 1024 * 1024;

/** What a scan makes of a whole log file. */
export type LogScan =
  /** Every byte after the header belongs to a valid batch. */
  | { readonly kind: 'intact'; readonly records: LoadedRecord[]; readonly validEnd: number }
  /**
   * The batches up to `validEnd` are valid; the bytes from there on are the torn last write of
   * a crashed run (never acknowledged), to be cut off. `reason` says what the tail looked like.
   */
  | { readonly kind: 'torn-tail'; readonly records: LoadedRecord[]; readonly validEnd: number; readonly reason: string }
  /** Damage before the end, at `offset`: loading must be refused and nothing cut. */
  | LogDamage;

/** The variant of `LogScan` that refuses the log. */
export interface LogDamage {
  readonly kind: 'damaged';
  readonly offset: number;
  readonly reason: string;
}

/** A record as it travels inside a batch: its u32 length, then a copy of its bytes. */
export function frameRecord(data: Uint8Array): Uint8Array {
  const frame = new Uint8Array(recordHeaderBytes + data.length);
  writeU32(frame, 0, data.length);
  frame.set(data, recordHeaderBytes);
  return frame;
}

/**
 * Splits a flush's frames into runs of at most `targetBytes` (or one frame, if larger), in
 * order; each run becomes one batch.
 */
export function groupIntoBatches(frames: readonly Uint8Array[], targetBytes = batchTargetBytes): Uint8Array[][] {
  const groups: Uint8Array[][] = [];
  let current: Uint8Array[] = [];
  let bytes = 0;
  for (const frame of frames) {
    if (current.length > 0 && bytes + frame.length > targetBytes) {
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

/** One batch as it goes to the file: the header with both checksums, then the frames. */
export function encodeBatch(frames: readonly Uint8Array[]): Uint8Array {
  let payloadBytes = 0;
  for (const frame of frames) payloadBytes += frame.length;
  // Not zero-filled: every byte of it is written below.
  const batch = Buffer.allocUnsafe(batchHeaderBytes + payloadBytes);
  let payloadCrc = 0;
  let at = batchHeaderBytes;
  for (const frame of frames) {
    batch.set(frame, at);
    payloadCrc = crc32(frame, payloadCrc);
    at += frame.length;
  }
  writeU32(batch, 0, payloadBytes);
  writeU32(batch, 4, crc32(batch.subarray(0, 4)));
  writeU32(batch, 8, payloadCrc);
  return batch;
}

/**
 * Reads a whole log file: its records, where the valid batches end, and whether the rest is a
 * torn tail or damage before the end (see the rules at the top). The records are copies,
 * independent of `contents`. An empty file is a log not created yet; the caller handles it
 * before scanning (scanned, it is damage at offset 0, like any file without the header).
 */
export function scanLog(contents: Uint8Array, maxRecordBytes: number): LogScan {
  const badHeader = checkMagic(contents);
  if (badHeader !== undefined) return damage(0, badHeader);
  const records: LoadedRecord[] = [];
  let offset = fileLogMagic.length;
  const torn = (reason: string): LogScan => ({ kind: 'torn-tail', records, validEnd: offset, reason });
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
      return damage(offset, 'damaged batch header');
    }
    const length = readU32(contents, offset);
    const end = offset + batchHeaderBytes + length;
    if (end > contents.length) return torn(`batch cut short (${length} bytes announced)`);
    if (!payloadHolds(contents, offset, end)) {
      if (isZeroFrom(contents, end)) return torn('batch checksum mismatch in the last batch');
      return damage(offset, 'batch checksum mismatch');
    }
    if (length === 0) return damage(offset, 'empty batch (this code never writes one)');
    const unreadable = readRecords(contents, offset + batchHeaderBytes, end, maxRecordBytes, records);
    if (unreadable !== undefined) return unreadable;
    offset = end;
  }
  return { kind: 'intact', records, validEnd: offset };
}

/**
 * Splits the payload of a batch whose checksum holds into its records, appending them to
 * `into`. Its bytes are what was written, so a record that does not fit is not a tear but a log
 * this build cannot read: returned as damage at that record.
 */
function readRecords(
  contents: Uint8Array,
  start: number,
  end: number,
  maxRecordBytes: number,
  into: LoadedRecord[],
): LogDamage | undefined {
  for (let offset = start; offset < end; ) {
    if (end - offset < recordHeaderBytes) {
      return damage(offset, 'record header cut short inside a batch whose checksum holds');
    }
    const length = readU32(contents, offset);
    if (length > maxRecordBytes) {
      // A log from a run with a larger maxRecordBytes. Refused rather than trusted.
      return damage(offset, `record length ${length} exceeds maxRecordBytes ${maxRecordBytes}`);
    }
    const recordEnd = offset + recordHeaderBytes + length;
    if (recordEnd > end) return damage(offset, `record of ${length} bytes runs past the end of its batch`);
    into.push({ offset, data: new Uint8Array(contents.subarray(offset + recordHeaderBytes, recordEnd)) });
    offset = recordEnd;
  }
  return undefined;
}

/** Whether a batch header at `offset` (12 bytes, all inside `contents`) passes its checksum. */
function headerHolds(contents: Uint8Array, offset: number): boolean {
  return readU32(contents, offset + 4) === crc32(contents.subarray(offset, offset + 4));
}

/** Whether the payload of the batch at `offset`, ending at `end`, passes its checksum. */
function payloadHolds(contents: Uint8Array, offset: number, end: number): boolean {
  return readU32(contents, offset + 8) === crc32(contents.subarray(offset + batchHeaderBytes, end));
}

/**
 * The first offset at or after `from` where a whole valid batch starts (header and payload
 * checksums holding, inside the file), or undefined. Used only after a damaged header, to tell
 * a torn last write (nothing valid after it) from damage followed by durable batches.
 */
function findValidBatch(contents: Uint8Array, from: number): number | undefined {
  for (let offset = from; offset + batchHeaderBytes <= contents.length; offset++) {
    if (!headerHolds(contents, offset)) continue;
    const end = offset + batchHeaderBytes + readU32(contents, offset);
    if (end <= contents.length && payloadHolds(contents, offset, end)) return offset;
  }
  return undefined;
}

/** Why `contents` does not start with this version's magic, or undefined when it does. */
function checkMagic(contents: Uint8Array): string | undefined {
  const magic = contents.subarray(0, fileLogMagic.length);
  if (bytesEqual(magic, fileLogMagic)) return undefined;
  const expected = latin1(fileLogMagic);
  if (magic.length === fileLogMagic.length && bytesEqual(magic.subarray(0, fileLogMagicFamily.length), fileLogMagicFamily)) {
    const found = latin1(magic);
    return (
      `the file starts with ${JSON.stringify(found)}: format version ${JSON.stringify(found.slice(-1))} ` +
      `is not supported (this build reads only ${expected}, and no migration exists)`
    );
  }
  return `the file does not start with the ${expected} header (not a synod log)`;
}

function damage(offset: number, reason: string): LogDamage {
  return { kind: 'damaged', offset, reason };
}

function isZeroFrom(bytes: Uint8Array, start: number): boolean {
  for (let i = start; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** The little-endian u32 at `offset`; the caller has checked that its 4 bytes are inside `bytes`. */
function readU32(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>> 0;
}

function writeU32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value & 0xff;
  bytes[offset + 1] = (value >>> 8) & 0xff;
  bytes[offset + 2] = (value >>> 16) & 0xff;
  bytes[offset + 3] = (value >>> 24) & 0xff;
}
