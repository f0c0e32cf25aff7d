import { InvalidMessageError } from '../env/errors.js';
import { limits } from '../options.js';
import { ClientTable, type Outcome, type Slot, type TableEntry, type TableLimits, checkLimits } from './client-table.js';
import type { Json } from './app.js';
import { jsonTextDepth } from './json-text.js';
import type { Viewstamp } from './viewstamp.js';

/**
 * The replicated state as a byte stream, for state transfer (design §4) and the checkers'
 * comparisons. Nothing here ever holds the whole stream, or the whole table as text: the encoder
 * writes it a line at a time as chunks are asked for, the reader rebuilds the table a line at a
 * time as chunks arrive. Only the app's state is one buffer: `App.marshalState` returns one.
 *
 * Layout (UTF-8 text lines, then raw bytes):
 *   {"synod":"replicated-state","version":2,"last":{vid,seqno},"clockMs":…,"limits":{…},"clients":N,"appBytes":M}\n
 *   N client table entries, least recently active first, each a line and then one line per slot
 *   (in increasing number), so that no line holds more than one outcome:
 *     ["client id",floor,activeMs,expired,slots]\n      (expired: 0 or 1; slots: how many lines follow)
 *     [seq,"digest",outcome]\n                           (× slots)
 *   M bytes of the app's marshalled state.
 * Version 1 (before many calls per client; still read, never written) had one line per entry,
 * ["client id",seq,"digest",activeMs,outcome]: the client's last request, read as an entry whose
 * floor is that number and whose one slot is its outcome (what version 1 meant).
 * JSON text never holds a raw newline, so lines split at 0x0A. The encoding is deterministic
 * (equal states give equal bytes): the checkers compare replicas by it.
 */

const format = 'replicated-state';
const version = 2;
/** The versions a reader accepts. */
const readableVersions: readonly number[] = [1, 2];
const newline = 0x0a;

/** Longest line a reader accepts: an entry keeps one reply (`limits.maxReplyBytes`) plus escaped ids, codes and messages. */
export const maxLineBytes = limits.maxReplyBytes + 64 * 1024;
/** An entry line's nesting above its outcome's value: the row, the outcome object. */
const maxLineDepth = limits.maxJsonDepth + 2;

interface Header {
  /** The stream's version (`readableVersions`); an encoder writes `version`. */
  readonly version: number;
  readonly last: Viewstamp;
  readonly clockMs: number | null;
  readonly limits: TableLimits;
  readonly clients: number;
  readonly appBytes: number;
}

const encoder = new TextEncoder();

/**
 * Writes the stream of one state, chunk by chunk (`read`). The table must not change while an
 * encoder reads it: the replica drops its encoders whenever its state changes.
 */
export class SnapshotEncoder {
  readonly #header: Header;
  readonly #rows: Iterator<Uint8Array>;
  readonly #app: Uint8Array;
  #stage: 'header' | 'rows' | 'app' | 'done' = 'header';
  /** What is left of the line being written. */
  #pending: Uint8Array = new Uint8Array(0);
  #appOffset = 0;
  #position = 0;

  constructor(last: Viewstamp, table: ClientTable, app: Uint8Array) {
    this.#header = { version, last, clockMs: table.clockMs, limits: table.limits, clients: table.size, appBytes: app.length };
    this.#rows = tableLines(table);
    this.#app = app;
  }

  /** Bytes written so far. */
  get position(): number {
    return this.#position;
  }

  get done(): boolean {
    return this.#stage === 'done' && this.#pending.length === 0;
  }

  /** The next at most `maxBytes` bytes (empty once `done`). */
  read(maxBytes: number): Uint8Array {
    const parts: Uint8Array[] = [];
    let size = 0;
    while (size < maxBytes) {
      if (this.#pending.length === 0 && !this.#nextLine()) {
        if (this.#stage !== 'app') break;
        const take = this.#app.subarray(this.#appOffset, this.#appOffset + (maxBytes - size));
        this.#appOffset += take.length;
        if (this.#appOffset === this.#app.length) this.#stage = 'done';
        parts.push(take);
        size += take.length;
        continue;
      }
      const take = this.#pending.subarray(0, maxBytes - size);
      this.#pending = this.#pending.subarray(take.length);
      parts.push(take);
      size += take.length;
    }
    this.#position += size;
    return concat(parts, size);
  }

  /** Moves the next line into `#pending`; false when no line is left (the app's bytes or the end). */
  #nextLine(): boolean {
    if (this.#stage === 'header') {
      const h = this.#header;
      this.#pending = line({ synod: format, version, last: h.last, clockMs: h.clockMs, limits: h.limits, clients: h.clients, appBytes: h.appBytes });
      this.#stage = 'rows';
      return true;
    }
    if (this.#stage !== 'rows') return false;
    const next = this.#rows.next();
    if (next.done === true) {
      this.#stage = this.#app.length === 0 ? 'done' : 'app';
      return false;
    }
    this.#pending = next.value;
    return true;
  }
}

/** The table's lines (version 2), entry by entry, each followed by its slots. */
function* tableLines(table: ClientTable): Iterator<Uint8Array> {
  for (const [id, e] of table.entries()) {
    yield line([id, e.floor, e.activeMs, e.expired ? 1 : 0, e.slots.size]);
    for (const [seq, slot] of e.slots) yield line([seq, slot.digest, slot.outcome]);
  }
}

/** The whole stream of a state as one buffer: for checkers and tests only, never for a transfer. */
export function encodeWhole(last: Viewstamp, table: ClientTable, app: Uint8Array): Uint8Array {
  const e = new SnapshotEncoder(last, table, app);
  const parts: Uint8Array[] = [];
  let size = 0;
  while (!e.done) {
    const part = e.read(1024 * 1024);
    parts.push(part);
    size += part.length;
  }
  return concat(parts, size);
}

/** A state read back from its stream. */
export interface DecodedState {
  readonly last: Viewstamp;
  readonly table: ClientTable;
  readonly app: Uint8Array;
}

/**
 * Reads a stream another replica sends, chunk by chunk (`push`), rebuilding the client table as
 * lines complete. Everything is checked as it arrives: a malformed header or entry, a line longer
 * than `maxLineBytes`, more than `maxBytes` in all, or bytes beyond the announced end throw an
 * `InvalidMessageError` (the transfer is then abandoned, and nothing is installed).
 */
export class SnapshotReader {
  readonly #maxBytes: number;
  #received = 0;
  #header: Header | null = null;
  #table: ClientTable | null = null;
  #rows = 0;
  /** The entry whose slot lines are being read (version 2), and how many are still to come. */
  #entry: { readonly id: string; readonly entry: TableEntry; readonly slots: Map<number, Slot>; left: number; lastSeq: number } | null = null;
  /** The line being read, in pieces. */
  readonly #line: Uint8Array[] = [];
  #lineBytes = 0;
  readonly #app: Uint8Array[] = [];
  #appReceived = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  get received(): number {
    return this.#received;
  }

  /** Every byte the header announced has arrived. */
  get complete(): boolean {
    const h = this.#header;
    return h !== null && this.#rows === h.clients && this.#entry === null && this.#appReceived === h.appBytes;
  }

  push(data: Uint8Array): void {
    if (this.#received + data.length > this.#maxBytes) {
      throw new InvalidMessageError('state', `more than ${this.#maxBytes} bytes (RsmOptions.maxStateTransferBytes)`);
    }
    this.#received += data.length;
    let at = 0;
    while (at < data.length) {
      if (this.complete) throw new InvalidMessageError('state', 'bytes after the announced end');
      if (this.#header !== null && this.#rows === this.#header.clients && this.#entry === null) {
        const take = data.subarray(at, at + (this.#header.appBytes - this.#appReceived));
        this.#app.push(take.slice());
        this.#appReceived += take.length;
        at += take.length;
        continue;
      }
      const end = data.indexOf(newline, at);
      const piece = data.subarray(at, end < 0 ? data.length : end);
      this.#lineBytes += piece.length;
      if (this.#lineBytes > maxLineBytes) throw new InvalidMessageError('state', `a line longer than ${maxLineBytes} bytes`);
      this.#line.push(piece.slice());
      if (end < 0) return;
      at = end + 1;
      this.#takeLine(utf8(concat(this.#line.splice(0), this.#lineBytes)));
      this.#lineBytes = 0;
    }
  }

  /** The state read, once `complete`. */
  result(): DecodedState {
    if (!this.complete) throw new InvalidMessageError('state', 'incomplete');
    return { last: this.#header!.last, table: this.#table!, app: concat(this.#app, this.#appReceived) };
  }

  #takeLine(text: string): void {
    const value = parseLine(text);
    if (this.#header === null) {
      this.#header = header(value, this.#maxBytes);
      this.#table = new ClientTable(this.#header.limits, this.#header.clockMs);
      return;
    }
    const open = this.#entry;
    if (open !== null) {
      const [seq, slot] = slotRow(value, `state.entry[${this.#rows}].slot`);
      if (seq <= open.lastSeq) throw new InvalidMessageError(`state.entry[${this.#rows}].slot`, 'slots out of order');
      open.slots.set(seq, slot);
      open.lastSeq = seq;
      if (--open.left === 0) this.#restore(open.id, open.entry);
      return;
    }
    if (this.#header.version === 1) {
      const [id, entry] = rowV1(value, this.#rows);
      this.#restore(id, entry);
      return;
    }
    const [id, entry, slots] = row(value, this.#rows);
    if (slots === 0) this.#restore(id, entry);
    else this.#entry = { id, entry, slots: entry.slots as Map<number, Slot>, left: slots, lastSeq: -1 };
  }

  #restore(id: string, entry: TableEntry): void {
    this.#entry = null;
    try {
      this.#table!.restore(id, entry);
    } catch (err) {
      throw new InvalidMessageError(`state.entry[${this.#rows}]`, (err as Error).message);
    }
    this.#rows++;
  }
}

function utf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new InvalidMessageError('state', 'a line is not UTF-8');
  }
}

function parseLine(text: string): unknown {
  if (jsonTextDepth(text, maxLineDepth) > maxLineDepth) throw new InvalidMessageError('state', `a line nested deeper than ${maxLineDepth} levels`);
  try {
    return JSON.parse(text);
  } catch {
    throw new InvalidMessageError('state', 'a line is not JSON');
  }
}

function header(v: unknown, maxBytes: number): Header {
  const o = (typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {}) as Record<string, unknown>;
  const got = o['version'];
  if (o['synod'] !== format || typeof got !== 'number' || !readableVersions.includes(got)) {
    throw new InvalidMessageError('state.header', `not a ${format} stream of version ${readableVersions.join(' or ')}`);
  }
  const last = o['last'] as Record<string, unknown> | null;
  const vid = count(last?.['vid'], 'state.header.last.vid');
  const seqno = count(last?.['seqno'], 'state.header.last.seqno');
  const clockMs = o['clockMs'] === null ? null : count(o['clockMs'], 'state.header.clockMs');
  let tableLimits: TableLimits;
  try {
    tableLimits = checkLimits(o['limits'] as TableLimits);
  } catch (err) {
    throw new InvalidMessageError('state.header.limits', (err as Error).message);
  }
  const appBytes = count(o['appBytes'], 'state.header.appBytes');
  if (appBytes > maxBytes) throw new InvalidMessageError('state.header.appBytes', `more than ${maxBytes} bytes (RsmOptions.maxStateTransferBytes)`);
  return { version: got, last: { vid, seqno }, clockMs, limits: tableLimits, clients: count(o['clients'], 'state.header.clients'), appBytes };
}

/** An entry line (version 2): the entry with its slots still empty, and how many slot lines follow. */
function row(v: unknown, index: number): [string, TableEntry, number] {
  const path = `state.entry[${index}]`;
  if (!Array.isArray(v) || v.length !== 5) throw new InvalidMessageError(path, 'not a list of five fields');
  const [id, floor, activeMs, expired, slots] = v as unknown[];
  if (expired !== 0 && expired !== 1) throw new InvalidMessageError(`${path}.expired`, 'not 0 or 1');
  const n = count(slots, `${path}.slots`);
  if (n > limits.maxClientWindow) throw new InvalidMessageError(`${path}.slots`, `more than ${limits.maxClientWindow} (limits.maxClientWindow)`);
  const entry: TableEntry = {
    floor: count(floor, `${path}.floor`),
    slots: new Map(),
    expired: expired === 1,
    activeMs: activeMs === null ? null : count(activeMs, `${path}.activeMs`),
  };
  return [clientIdOf(id, path), entry, n];
}

/** A slot line (version 2). */
function slotRow(v: unknown, path: string): [number, Slot] {
  if (!Array.isArray(v) || v.length !== 3) throw new InvalidMessageError(path, 'not a list of three fields');
  const [seq, digest, outcome] = v as unknown[];
  return [count(seq, `${path}.seq`), { digest: digestOf(digest, path), outcome: outcomeOf(outcome, `${path}.outcome`) }];
}

/** An entry line of version 1: the client's last request, which is the entry's floor and its one slot. */
function rowV1(v: unknown, index: number): [string, TableEntry] {
  const path = `state.entry[${index}]`;
  if (!Array.isArray(v) || v.length !== 5) throw new InvalidMessageError(path, 'not a list of five fields');
  const [id, seq, digest, activeMs, outcome] = v as unknown[];
  const last = count(seq, `${path}.seq`);
  const slot: Slot = { digest: digestOf(digest, path), outcome: outcomeOf(outcome, `${path}.outcome`) };
  return [clientIdOf(id, path), { floor: last, slots: new Map([[last, slot]]), expired: false, activeMs: activeMs === null ? null : count(activeMs, `${path}.activeMs`) }];
}

function clientIdOf(id: unknown, path: string): string {
  if (typeof id !== 'string' || id.length === 0 || id.length > limits.maxClientIdLength) throw new InvalidMessageError(`${path}.client`, 'not a client id');
  return id;
}

function digestOf(digest: unknown, path: string): string {
  if (typeof digest !== 'string' || digest.length > 64) throw new InvalidMessageError(`${path}.digest`, 'not a digest');
  return digest;
}

function outcomeOf(v: unknown, path: string): Outcome {
  const o = (typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {}) as Record<string, unknown>;
  if (o['ok'] === true && Object.hasOwn(o, 'value')) return { ok: true, value: o['value'] as Json };
  const { code, message } = o;
  if (o['ok'] !== false || typeof code !== 'string' || typeof message !== 'string') throw new InvalidMessageError(path, 'not an outcome');
  return { ok: false, code, message };
}

function count(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new InvalidMessageError(path, 'not a whole number from 0 to 2^53');
  return v;
}

function line(value: unknown): Uint8Array {
  return encoder.encode(`${JSON.stringify(value)}\n`);
}

function concat(parts: readonly Uint8Array[], size: number): Uint8Array {
  if (parts.length === 1 && parts[0]!.length === size) return parts[0]!;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
