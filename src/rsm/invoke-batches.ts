import type { RsmOptions } from '../options.js';

/** The bounds of one `invoke` batch (`RsmOptions.maxInvokeBatchRequests`, `maxInvokeBatchBytes`). */
export type InvokeBatchBounds = Pick<RsmOptions, 'maxInvokeBatchRequests' | 'maxInvokeBatchBytes'>;

/** What a batch is made of: a request at its seqno, with its `requestBytes`. */
export interface Batchable {
  readonly seqno: number;
  readonly bytes: number;
}

/**
 * Splits `entries` (in seqno order) into the runs that go as one `invoke` batch each: consecutive
 * seqnos only (a gap starts a new batch, since a batch names its first seqno and counts up), at
 * most `maxInvokeBatchRequests` entries and `maxInvokeBatchBytes` bytes per batch, and at least
 * one entry, however large (a request larger than the byte bound goes alone).
 */
export function* invokeBatches<E extends Batchable>(entries: Iterable<E>, bounds: InvokeBatchBounds): Generator<E[]> {
  let batch: E[] = [];
  let bytes = 0;
  for (const e of entries) {
    const last = batch.at(-1);
    const fits = last !== undefined && e.seqno === last.seqno + 1 && batch.length < bounds.maxInvokeBatchRequests
      && bytes + e.bytes <= bounds.maxInvokeBatchBytes;
    if (!fits && batch.length > 0) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(e);
    bytes += e.bytes;
  }
  if (batch.length > 0) yield batch;
}
