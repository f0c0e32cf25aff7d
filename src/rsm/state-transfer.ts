import { InvalidMessageError, invariant } from '../env/errors.js';
import { limits } from '../options.js';
import type { NodeId } from '../env/types.js';
import { ClientTable, type Outcome } from './client-table.js';
import { jsonTextDepth } from './json-text.js';
import type { ReplicaMessage } from './messages.js';
import { type Viewstamp, formatViewstamp, sameViewstamp } from './viewstamp.js';

/**
 * A replica's whole state as one byte string: what state transfer ships.
 * Layout: [u32 LE header length][header: JSON { last, table }][the app's marshalled state].
 */
export function encodeSnapshot(last: Viewstamp, table: ClientTable, app: Uint8Array): Uint8Array {
  const header = new TextEncoder().encode(JSON.stringify({ last, table: table.toJson() }));
  const out = new Uint8Array(4 + header.length + app.length);
  new DataView(out.buffer).setUint32(0, header.length, true);
  out.set(header, 4);
  out.set(app, 4 + header.length);
  return out;
}

/** The header's own nesting (object, table, row, outcome) above the outcomes' values. */
const maxHeaderDepth = limits.maxJsonDepth + 4;

/**
 * A snapshot's parts. The bytes come from another replica: anything malformed throws an
 * `InvalidMessageError` (the state is then not installed), never an invariant violation. The
 * header's nesting is bounded (outcomes in the client table are at most `limits.maxJsonDepth`
 * deep), so that writing the table out again later cannot overflow the stack.
 */
export function decodeSnapshot(bytes: Uint8Array): { last: Viewstamp; table: ClientTable; app: Uint8Array } {
  if (bytes.length < 4) throw new InvalidMessageError('snapshot', 'shorter than its header length');
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
  if (4 + headerLength > bytes.length) throw new InvalidMessageError('snapshot', 'header runs past its end');
  const text = new TextDecoder().decode(bytes.subarray(4, 4 + headerLength));
  if (jsonTextDepth(text, maxHeaderDepth) > maxHeaderDepth) throw new InvalidMessageError('snapshot', `header nested deeper than ${maxHeaderDepth} levels`);
  const header = JSON.parse(text) as {
    last: Viewstamp;
    table: Array<[string, number, string, Outcome]>;
  };
  return { last: header.last, table: ClientTable.fromJson(header.table), app: bytes.slice(4 + headerLength) };
}

/**
 * One pull of another replica's state (a snapshot at viewstamp `target`), chunk by chunk.
 * The source serves chunks of the snapshot of the state it holds at `target`; its state does not
 * change while the view is being synced, so every chunk comes from the same snapshot.
 */
export class StateTransfer {
  readonly source: NodeId;
  readonly target: Viewstamp;
  readonly vid: number;
  readonly #chunks: Uint8Array[] = [];
  #offset = 0;
  #total: number | null = null;

  constructor(vid: number, source: NodeId, target: Viewstamp) {
    this.vid = vid;
    this.source = source;
    this.target = target;
  }

  /** The request for the next chunk (sent at start, after each chunk, and again on a timeout). */
  nextRequest(): ReplicaMessage {
    return { kind: 'sync-pull', vid: this.vid, target: this.target, offset: this.#offset };
  }

  /** Takes a chunk; returns whether the snapshot is complete. Chunks out of place are ignored. */
  accept(from: NodeId, m: Extract<ReplicaMessage, { kind: 'sync-chunk' }>): 'more' | 'complete' | 'ignored' {
    if (from !== this.source || m.vid !== this.vid || !sameViewstamp(m.target, this.target) || m.offset !== this.#offset ||
      m.offset + m.data.length > m.total || (this.#total !== null && m.total !== this.#total)) {
      return 'ignored';
    }
    this.#chunks.push(m.data);
    this.#offset += m.data.length;
    this.#total = m.total;
    if (this.#offset < m.total) return m.data.length === 0 ? 'ignored' : 'more';
    return 'complete';
  }

  /** The whole snapshot, once `accept` said complete. */
  result(): Uint8Array {
    invariant(this.#total !== null && this.#offset === this.#total, 'state transfer not complete');
    const out = new Uint8Array(this.#total);
    let at = 0;
    for (const c of this.#chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }

  get received(): number {
    return this.#offset;
  }

  describe(): string {
    return `${formatViewstamp(this.target)} from ${this.source} (${this.#offset}${this.#total === null ? '' : `/${this.#total}`} bytes)`;
  }
}

/** The chunk of `snapshot` at `offset`, as an answer to a `sync-pull`. */
export function chunkOf(vid: number, target: Viewstamp, snapshot: Uint8Array, offset: number, chunkBytes: number): ReplicaMessage {
  const start = Math.min(offset, snapshot.length);
  return {
    kind: 'sync-chunk',
    vid,
    target,
    offset: start,
    total: snapshot.length,
    data: snapshot.slice(start, Math.min(snapshot.length, start + chunkBytes)),
  };
}
