import { InvalidMessageError } from '../env/errors.js';
import { object, uint } from '../env/validate.js';
import { limits } from '../options.js';
import { decodeStampedRequest, encodeStampedRequest } from './codec.js';
import type { Request } from './messages.js';
import type { Viewstamp } from './viewstamp.js';

/**
 * What a replica keeps on its disk (design §4, durability): enough to rebuild, after any restart,
 * the replicated state it held and whether that state was some view's state. A restart replays
 * the newest snapshot, then the log behind it (`RsmStore`).
 *
 * Log records, in the order they happened:
 * - `genesis`: this replica holds the app's initial state at (0, 0), the state of view 1 (the
 *   first node of a brand-new cluster, in its first life);
 * - `executed`: the request stamped `vs` was executed here (a new request, a retry answered from
 *   the client table, a table refusal, a sweep: every call that changes the state or the table).
 *   Handlers are deterministic, so executing it again on replay rebuilds the same state and table;
 * - `stamped`: the serving primary stamped the request at `vs` and sent it to its backups. It is
 *   written as the invoke leaves, so that its fsync overlaps the backups' (the invoke does not
 *   wait for it: `Outbox.sendAhead`), and the primary appends nothing more when the request
 *   executes: its reply waits for this record like any later message. On replay a `stamped`
 *   record is executed like an `executed` one. So the disk of a primary may be ahead of what it
 *   executed, and of its backups, by requests that no backup acknowledged yet; that is a state
 *   of the view's own history (only its primary stamps in it), and the primary's memory catches
 *   up with its disk before anything rests on the difference (it executes what it stamped when
 *   it leaves the view: `Pipeline.abandon`). Such a state is like a backup's that executed
 *   invokes the next view never adopted: the next view's sync picks the most advanced complete
 *   state, and a state off the adopted history is replaced whole, never extended;
 * - `normal`: the state held became view `vid`'s state (the replica turned normal in `vid`).
 *   Persisted before the replica acknowledges or serves anything in `vid`, so that the
 *   complete-state rule (`ReplicatedState.completeIn`) survives restarts;
 *
 * And `snapshot`, which the store writes to its snapshot file instead of the log: the whole state
 * (`snapshot-format.ts`), either `installed` (a copy pulled from another replica replaced the
 * state held) or a `compaction` (the log behind it may go).
 *
 * Invariant (what makes "durable before acknowledged" hold): a record is appended in the same
 * handler run that changes the state it describes, before any message that rests on it is sent
 * (the outbox's persist → send order), so nothing leaves a replica that its disk could forget.
 */
export type RsmRecord =
  | { readonly kind: 'genesis' }
  | { readonly kind: 'executed'; readonly vs: Viewstamp; readonly request: Request }
  | { readonly kind: 'stamped'; readonly vs: Viewstamp; readonly request: Request }
  | { readonly kind: 'normal'; readonly vid: number }
  | RsmSnapshotRecord;

export interface RsmSnapshotRecord {
  readonly kind: 'snapshot';
  readonly why: 'installed' | 'compaction';
  /** The state as the `snapshot-format.ts` stream (it names its own viewstamp). */
  readonly state: Uint8Array;
  /** The last view whose state this was (`ReplicatedState`'s synced view), or null. */
  readonly syncedVid: number | null;
}

/** The records that go to the log (everything but snapshots). */
export type RsmLogRecord = Exclude<RsmRecord, RsmSnapshotRecord>;

/** A snapshot as read back at start. */
export interface StoredSnapshot {
  readonly state: Uint8Array;
  readonly syncedVid: number | null;
}

/** What a replica finds on its disk at start: the newest snapshot, and the log records after it. */
export interface DurableReplicaState {
  readonly snapshot: StoredSnapshot | null;
  readonly records: readonly RsmLogRecord[];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * One log record as bytes (UTF-8 JSON): an executed request as `{"invoke": {vs, request}}`, a
 * stamped one as `{"stamped": {"invoke": {vs, request}}}` (`encodeStampedRequest`; the format of
 * the wire's single-request invoke before invokes went in batches, kept so that logs stay readable).
 */
export function encodeRsmRecord(r: RsmLogRecord): Uint8Array {
  switch (r.kind) {
    case 'genesis':
      return encoder.encode('{"genesis":{}}');
    case 'normal':
      return encoder.encode(JSON.stringify({ normal: { vid: r.vid } }));
    case 'executed':
      return encoder.encode(JSON.stringify({ invoke: encodeStampedRequest(r.vs, r.request) }));
    case 'stamped':
      return encoder.encode(JSON.stringify({ stamped: { invoke: encodeStampedRequest(r.vs, r.request) } }));
  }
}

/** Reads one log record back; throws `InvalidMessageError` naming what is wrong (the caller reports it as corruption). */
export function decodeRsmRecord(bytes: Uint8Array): RsmLogRecord {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch {
    throw new InvalidMessageError('record', 'not UTF-8 JSON');
  }
  const o = object(value, 'record');
  if (o['genesis'] !== undefined) return { kind: 'genesis' };
  if (o['normal'] !== undefined) return { kind: 'normal', vid: uint(object(o['normal'], 'normal')['vid'], 'normal.vid', 1, limits.maxInstance) };
  if (o['invoke'] !== undefined) return { kind: 'executed', ...decodeStampedRequest(o['invoke'], 'invoke') };
  if (o['stamped'] !== undefined) return { kind: 'stamped', ...decodeStampedRequest(object(o['stamped'], 'stamped')['invoke'], 'stamped.invoke') };
  throw new InvalidMessageError('record', 'not a genesis, normal, executed or stamped record');
}

/** The first line of a snapshot file, before the state stream: what the store needs to find the log behind it. */
export interface SnapshotHeader {
  /** The log generation that follows this snapshot (`rsm-<gen>`). */
  readonly gen: number;
  readonly syncedVid: number | null;
}

const snapshotFormat = 'rsm-snapshot';
const snapshotVersion = 1;

/** A snapshot file's contents: its header line, then the state stream. */
export function encodeSnapshotFile(header: SnapshotHeader, state: Uint8Array): Uint8Array {
  const line = encoder.encode(`${JSON.stringify({ synod: snapshotFormat, version: snapshotVersion, gen: header.gen, syncedVid: header.syncedVid})}\n`);
  const out = new Uint8Array(line.length + state.length);
  out.set(line, 0);
  out.set(state, line.length);
  return out;
}

/** Longest header line of a snapshot file: its few fields take under 100 bytes; a bound so that a damaged file is refused at once. */
const maxSnapshotHeaderBytes = 4096;

/** Splits a snapshot file into its header and state stream; throws `InvalidMessageError` if it is not one. */
export function decodeSnapshotFile(bytes: Uint8Array): { readonly header: SnapshotHeader; readonly state: Uint8Array } {
  const end = bytes.indexOf(0x0a);
  if (end < 0 || end > maxSnapshotHeaderBytes) throw new InvalidMessageError('snapshot', 'no header line');
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes.subarray(0, end)));
  } catch {
    throw new InvalidMessageError('snapshot.header', 'not UTF-8 JSON');
  }
  const o = object(value, 'snapshot.header');
  if (o['synod'] !== snapshotFormat || o['version'] !== snapshotVersion) {
    throw new InvalidMessageError('snapshot.header', `not a ${snapshotFormat} file of version ${snapshotVersion}`);
  }
  const gen = uint(o['gen'], 'snapshot.header.gen', 0, Number.MAX_SAFE_INTEGER);
  const syncedVid = o['syncedVid'] === null ? null : uint(o['syncedVid'], 'snapshot.header.syncedVid', 1, limits.maxInstance);
  return { header: { gen, syncedVid }, state: bytes.subarray(end + 1) };
}
