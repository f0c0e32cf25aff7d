/**
 * Append-only durable storage for one node's protocol records.
 *
 * Failure semantics:
 * - `append` only buffers. A record is durable once a `sync` issued after its `append` has
 *   called back without an error. A crash loses any suffix of the records that were not yet
 *   durable (and nothing that was).
 * - `sync` callbacks run in the order of the `sync` calls. A callback may run synchronously
 *   inside `sync` only when nothing appended is waiting to be made durable AND no earlier
 *   `sync` is still waiting for its callback (else FIFO order would break).
 * - `append` copies its input; `append` and `sync` before `load` or after `close` are errors.
 * - A sync that fails (the disk reported an error) is reported to its callback; afterwards the
 *   log is unusable and the node must stop (its durable state is no longer known).
 * - `load` returns what survived the previous run, in append order, and is called exactly once,
 *   before the first append. Implementations cut off a torn final record (reporting it) and
 *   refuse to start on corruption before the end (`CorruptLogError`, naming file and offset).
 */
export interface DurableLog {
  load(): LoadedRecord[];
  append(data: Uint8Array): void;
  sync(done: (err?: Error) => void): void;
  /** Makes what was appended durable, then releases the file. Idempotent; rejects if that flush fails. */
  close(): Promise<void>;
}

export interface LoadedRecord {
  /** Where the record sits in the log, for error messages: a byte offset in files, an index in the simulator. */
  readonly offset: number;
  readonly data: Uint8Array;
}

/** Where a layer's shell appends its records and waits for them to be durable (`DurableLog`'s ordering and failure rules). */
export interface RecordSink<R> {
  append(record: R): void;
  sync(done: (err?: Error) => void): void;
}

/** A durable log whose records are structured values, encoded as UTF-8 JSON. */
export class RecordLog<R> implements RecordSink<R> {
  readonly #log: DurableLog;
  readonly #decode: (value: unknown) => R;
  readonly #name: string;

  /**
   * @param decode checks one decoded JSON value and returns the record, or throws; a record
   *   that passes its checksum but not `decode` is reported as corruption at its offset.
   * @param name names the log in errors (a file path in production).
   */
  constructor(log: DurableLog, decode: (value: unknown) => R, name: string) {
    this.#log = log;
    this.#decode = decode;
    this.#name = name;
  }

  load(): R[] {
    return this.#log.load().map(({ offset, data }) => {
      try {
        return this.#decode(JSON.parse(textDecoder.decode(data)));
      } catch (err) {
        throw new CorruptLogError(this.#name, offset, `undecodable record: ${(err as Error).message}`);
      }
    });
  }

  append(record: R): void {
    this.#log.append(textEncoder.encode(JSON.stringify(record)));
  }

  sync(done: (err?: Error) => void): void {
    this.#log.sync(done);
  }

  close(): Promise<void> {
    return this.#log.close();
  }
}

/** The log holds a damaged record before its end: start refused, nothing dropped silently. */
export class CorruptLogError extends Error {
  override readonly name = 'CorruptLogError';
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`corrupt log ${file} at offset ${offset}: ${reason}. ` +
      'The node refuses to start rather than lose durable protocol state; ' +
      'restore the file from a backup, or remove the node from the cluster and wipe its data directory.');
  }
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });
