import { InvalidMessageError, invariant } from '../env/errors.js';
import { limits } from '../options.js';
import type { NodeId } from '../env/types.js';
import type { ClientTable } from './client-table.js';
import type { ReplicaMessage } from './messages.js';
import { type DecodedState, SnapshotEncoder, SnapshotReader } from './snapshot-format.js';
import { type Viewstamp, formatViewstamp, sameViewstamp } from './viewstamp.js';

type SyncChunk = Extract<ReplicaMessage, { kind: 'sync-chunk' }>;

/** What a chunk did to a pull. */
export type PullProgress = 'more' | 'complete' | 'ignored' | { readonly invalid: string };

/**
 * One pull of another replica's state (the state it holds at viewstamp `target`), chunk by chunk,
 * read as it arrives (`SnapshotReader`): the client table is rebuilt entry by entry, and nothing
 * beyond `maxBytes` is ever collected. The source's state does not change while the view is
 * being synced, so every chunk comes from the same state.
 */
export class StateTransfer {
  readonly source: NodeId;
  readonly target: Viewstamp;
  readonly vid: number;
  readonly #reader: SnapshotReader;
  #offset = 0;
  #ended = false;

  constructor(vid: number, source: NodeId, target: Viewstamp, maxBytes: number) {
    this.vid = vid;
    this.source = source;
    this.target = target;
    this.#reader = new SnapshotReader(maxBytes);
  }

  /** The request for the next chunk (sent at start, after each chunk, and again on a timeout). */
  nextRequest(): ReplicaMessage {
    return { kind: 'sync-pull', vid: this.vid, target: this.target, offset: this.#offset };
  }

  /**
   * Takes a chunk. Chunks from elsewhere or out of place are ignored (the pull asks again);
   * a chunk that breaks the stream (see `SnapshotReader`), or an end before everything the
   * stream announced, makes the pull `invalid`: it cannot complete, and the caller abandons it.
   */
  accept(from: NodeId, m: SyncChunk): PullProgress {
    if (this.#ended || from !== this.source || m.vid !== this.vid || !sameViewstamp(m.target, this.target) || m.offset !== this.#offset) return 'ignored';
    if (m.data.length === 0 && !m.last) return 'ignored';
    try {
      this.#reader.push(m.data);
    } catch (err) {
      if (!(err instanceof InvalidMessageError)) throw err;
      this.#ended = true;
      return { invalid: err.message };
    }
    this.#offset += m.data.length;
    if (!m.last) return 'more';
    this.#ended = true;
    return this.#reader.complete ? 'complete' : { invalid: `the source ended the state after ${this.#offset} bytes, before all it announced` };
  }

  /** The state pulled, once `accept` said complete. */
  result(): DecodedState {
    invariant(this.#ended && this.#reader.complete, 'state transfer not complete');
    return this.#reader.result();
  }

  get received(): number {
    return this.#offset;
  }

  describe(): string {
    return `${formatViewstamp(this.target)} from ${this.source} (${this.#offset} bytes so far)`;
  }
}

/** A puller's place in the stream: its encoder, and the last chunk served (resent if asked again). */
interface Cursor {
  readonly encoder: SnapshotEncoder;
  last: SyncChunk | null;
}

/** Largest step when an encoder skips forward to an offset asked for (bytes written and dropped). */
const skipStepBytes = 1024 * 1024;

/**
 * The serving side of state transfer: chunks of the state held at `last`, for every replica that
 * pulls it. Each puller has a cursor that writes the stream as it goes (`SnapshotEncoder`), so
 * serving a state never builds it whole; the next chunk is written when asked for, and the last
 * one is kept to be sent again if its answer was lost. A pull from elsewhere in the stream
 * starts that puller's cursor over (and skips forward), which only a lost or duplicated request
 * causes. At most `limits.maxMembers` cursors are kept (the least recently used one goes).
 *
 * The state must not change while a source serves it: the replica makes a new source whenever
 * its state changed (`ReplicatedState`).
 */
export class SnapshotSource {
  readonly last: Viewstamp;
  readonly #table: ClientTable;
  readonly #app: Uint8Array;
  readonly #cursors = new Map<NodeId, Cursor>();

  constructor(last: Viewstamp, table: ClientTable, app: Uint8Array) {
    this.last = last;
    this.#table = table;
    this.#app = app;
  }

  /** The chunk at `offset` for `puller`, at most `chunkBytes` long; null if the stream ends before `offset`. */
  chunk(vid: number, puller: NodeId, offset: number, chunkBytes: number): SyncChunk | null {
    let cursor = this.#cursors.get(puller);
    this.#cursors.delete(puller);
    if (cursor?.last?.offset === offset && cursor.last.vid === vid) {
      this.#cursors.set(puller, cursor);
      return cursor.last;
    }
    if (cursor === undefined || offset < cursor.encoder.position) cursor = { encoder: new SnapshotEncoder(this.last, this.#table, this.#app), last: null };
    const { encoder } = cursor;
    while (encoder.position < offset && !encoder.done) encoder.read(Math.min(skipStepBytes, offset - encoder.position));
    if (encoder.position !== offset) return null;
    const data = encoder.read(chunkBytes);
    cursor.last = { kind: 'sync-chunk', vid, target: this.last, offset, data, last: encoder.done };
    this.#cursors.set(puller, cursor);
    if (this.#cursors.size > limits.maxMembers) this.#cursors.delete(this.#cursors.keys().next().value!);
    return cursor.last;
  }
}
