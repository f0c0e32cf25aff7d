/**
 * One durable file that is always replaced whole: where a layer keeps a snapshot of its state
 * (the RSM's `marshalState` and client table), next to the append-only logs (`DurableLog`).
 *
 * Failure semantics:
 * - `read` returns the contents of the newest `write` that completed without an error (in this
 *   process or an earlier one), or null when none ever did. It is called at most once, before the
 *   first `write`. A file that exists but fails its checksum is never returned as if it were
 *   whole: `read` throws `CorruptSnapshotError` naming the file.
 * - `write` replaces the contents atomically and durably: a crash at any moment leaves either the
 *   previous contents or the new ones, whole, and once `done` was called without an error the new
 *   ones survive any crash. `write` copies nothing: the caller must not change `data` until `done`.
 * - `done` callbacks run in the order of the `write` calls, never synchronously inside `write`.
 * - A write that fails is reported to its `done`; the previous contents are then still there
 *   (the node must stop all the same: the disk failed).
 */
export interface SnapshotFile {
  read(): Uint8Array | null;
  write(data: Uint8Array, done: (err?: Error) => void): void;
}

/** A snapshot file exists but is damaged: the node refuses to start rather than serve a state it cannot prove. */
export class CorruptSnapshotError extends Error {
  override readonly name = 'CorruptSnapshotError';
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`corrupt snapshot ${file}: ${reason}. The node refuses to start rather than serve a state it cannot prove; ` +
      'restore the file from a backup (`synod snapshot restore`), or remove the node from the cluster and wipe its data directory.');
  }
}
