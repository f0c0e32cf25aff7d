import { createHash } from 'node:crypto';
import type { NodeId } from '../env/types.js';
import { limits } from '../options.js';
import type { Json } from './app.js';
import type { Outcome } from './client-table.js';
import { argsBounds, toJsonText } from './json-text.js';
import type { Viewstamp } from './viewstamp.js';

/**
 * One client request, as replicated: who sent it (at-most-once key) and what to run. The
 * arguments travel as JSON text (`proto/rsm.proto`); `argsText` is that text as the client sent
 * it, and `args` the value parsed from it. Replicas pass the text on unchanged and compute the
 * request's digest from it (`requestDigest`), so nothing is ever serialised again on the way.
 */
export interface Request {
  readonly clientId: string;
  readonly seq: number;
  readonly proc: string;
  readonly args: Json;
  /** The JSON text of `args`, as received (at most `limits.maxRequestBytes`, nested at most `limits.maxJsonDepth`). */
  readonly argsText: string;
  /**
   * The client says it is new: the client table may run this request although it holds no
   * entry for the client. Unmarked, such a request is refused (`ClientExpiredError`), since it
   * may retry a call that ran before the client's entry expired (see `ClientTable`).
   */
  readonly first: boolean;
  /**
   * The client had every one of its numbers below this answered (or gave the call up): the client
   * table may drop their outcomes, and treats a copy of one as late (see `ClientTable`). At most
   * `seq` (this request is not answered yet). Absent or 0: the request says nothing (a node's own
   * requests, and records written before it existed).
   */
  readonly answeredBelow?: number;
  /**
   * Present (true) only on a request a node made itself (`RsmLayer.submitInternal`), whose
   * `clientId` is then in the node's namespace (`internalClientIdPrefix`). Replicated with the
   * request (the handler's `HandlerContext.internal`); the client service never reads it.
   */
  readonly internal?: true;
}

/**
 * Client ids that start with this belong to nodes: the requests a node submits itself (a
 * session's expiry) run under such an id. The client edge refuses a client's request that names
 * one (`clientServiceCodec`), so no client can disturb those requests' numbering in the client
 * table or pass for a node.
 */
export const internalClientIdPrefix = 'synod:';

/** Whether `clientId` is in the nodes' namespace (`internalClientIdPrefix`). */
export function isInternalClientId(clientId: string): boolean {
  return clientId.startsWith(internalClientIdPrefix);
}

/**
 * The client id a node's own requests of one `role` go under: `synod:<role>@<self>`, with the node
 * id hashed when that would pass `limits.maxClientIdLength`.
 */
export function internalClientId(role: string, self: NodeId): string {
  const id = `${internalClientIdPrefix}${role}@${self}`;
  if (id.length <= limits.maxClientIdLength) return id;
  return `${internalClientIdPrefix}${role}@${createHash('sha256').update(self).digest('hex')}`;
}

/**
 * A request made inside a process (a client, a node's own sessions), with `args` written as JSON
 * text here. `args` must be JSON within the limits (`limits.maxJsonDepth`,
 * `limits.maxRequestBytes`); a `RangeError` says which is broken. (A client checks its callers'
 * arguments itself, with a typed error: `ClientCore.submit`.) Marked `first` unless told
 * otherwise: a node's own requests are never sent again under the same number, so the mark cannot
 * make one run twice.
 */
export function newRequest(clientId: string, seq: number, proc: string, args: Json, first = true): Request {
  const text = toJsonText(args, argsBounds);
  if (!text.ok) throw new RangeError(`arguments of ${proc}: ${text.detail}`);
  return { clientId, seq, proc, args: JSON.parse(text.text) as Json, argsText: text.text, first };
}

/**
 * A node's own request (a session's expiry, a lock-delay's end, a client-table sweep): `newRequest`
 * saying every lower number of its client id is settled (`answeredBelow` = `seq`), which is true:
 * a node never sends one of its requests again under the same number, so the client table keeps
 * one outcome per such id.
 */
export function newInternalRequest(clientId: string, seq: number, proc: string, args: Json): Request {
  return { ...newRequest(clientId, seq, proc, args), answeredBelow: seq };
}

/**
 * Messages between replicas (the internal replica service).
 *
 * Normal operation: the primary sends its stamped requests to every backup of the view in
 * `invoke` batches (a run of consecutive seqnos, see `Pipeline`); a backup executes them in seqno
 * order and answers one `invoke-ack` per batch for the highest seqno it has executed, once its
 * records are durable, or `invoke-reject` when it is not serving that view (another view, or
 * still syncing). Acknowledgements are cumulative: an `invoke-ack` of seqno s says the sender
 * executed, durably, every request of that view up to s (a backup executes in order with no gaps,
 * so what it executed is always a prefix).
 *
 * State transfer after a view change (see `Replica` for the whole protocol): each backup sends
 * `sync-status` (where its state stands) to the primary until the primary answers `sync-reply`;
 * a replica that must copy another's state asks for it with `sync-pull` and gets `sync-chunk`s
 * (or `sync-unavailable` when that state is gone). The state travels as the byte stream of
 * `snapshot-format.ts`, whose length nobody knows before its end: each chunk says whether it is
 * the `last`.
 *
 * The primary lease (src/rsm/lease.ts): the serving primary sends `lease-ask` every
 * `leaseRenewMs` (and for a query's confirm round); a backup serving the view answers `lease-grant`.
 */
export type ReplicaMessage =
  /**
   * A batch: `requests[i]` was stamped at viewstamp (`vid`, `firstSeqno` + i). Never empty; at most
   * `RsmOptions.maxInvokeBatchRequests` requests and `maxInvokeBatchBytes` request bytes (one
   * request alone may be larger), and never more than `limits.maxInvokeBatchRequests` on the wire.
   */
  | { readonly kind: 'invoke'; readonly vid: number; readonly firstSeqno: number; readonly requests: readonly Request[] }
  /** Cumulative: the sender executed, durably, every request of `vs.vid` up to `vs.seqno`. */
  | { readonly kind: 'invoke-ack'; readonly vs: Viewstamp }
  /** The batch starting at `vs` was refused: the sender serves view `vid` (0: none), not `vs.vid`, or not as a backup. */
  | { readonly kind: 'invoke-reject'; readonly vs: Viewstamp; readonly vid: number }
  /**
   * `last`: the viewstamp of the state the sender holds (null: none). `complete`: that state
   * holds every request acknowledged so far (see `Replica.stateComplete`), so it may be the view's
   * source.
   */
  | {
      readonly kind: 'sync-status';
      readonly vid: number;
      readonly last: Viewstamp | null;
      readonly complete: boolean;
      /** The last view whose state the sender's state was (it turned normal there); null: none. See `PrimarySync`. */
      readonly syncedVid: number | null;
      /**
       * How long the sender's promise to another primary still runs, on its clock (it granted that
       * primary a lease, or restarted not knowing what it granted: `LeasePromise`); 0: none. The
       * view's primary does not count the sender up to date before it is 0.
       */
      readonly leaseWaitMs: number;
    }
  | { readonly kind: 'sync-reply'; readonly vid: number; readonly action: SyncAction; readonly target: Viewstamp | null }
  | { readonly kind: 'sync-pull'; readonly vid: number; readonly target: Viewstamp; readonly offset: number }
  | {
      readonly kind: 'sync-chunk';
      readonly vid: number;
      readonly target: Viewstamp;
      readonly offset: number;
      readonly data: Uint8Array;
      /** The stream ends with this chunk. */
      readonly last: boolean;
    }
  | { readonly kind: 'sync-unavailable'; readonly vid: number; readonly target: Viewstamp }
  /**
   * The requests the primary executed after `after` (the backup's reported state), in order, at
   * most `stateChunkBytes` of them: the backup executes them instead of copying the whole state.
   */
  | { readonly kind: 'sync-suffix'; readonly vid: number; readonly after: Viewstamp; readonly executed: readonly ExecutedRequest[] }
  /**
   * The serving primary of `vid` asks for its lease (round `round`, numbered from 1 in each view),
   * saying how long it will use it (`leaseMs`, with its drift bound `maxDriftPpm`): a backup
   * configured otherwise promises at least what covers the primary's lease.
   */
  | { readonly kind: 'lease-ask'; readonly vid: number; readonly round: number; readonly leaseMs: number; readonly maxDriftPpm: number }
  /** A backup of `vid` granted the lease asked in `round`: it helps no other primary until its promise ran out. */
  | { readonly kind: 'lease-grant'; readonly vid: number; readonly round: number };

/** A request at the viewstamp it was executed at. */
export interface ExecutedRequest {
  readonly vs: Viewstamp;
  readonly request: Request;
}

/**
 * The primary's answer to a backup's `sync-status`:
 * - up-to-date: the backup holds the view's authoritative state; it serves the view;
 * - pull: copy the primary's state, which stands at `target`;
 * - wait: the primary is still collecting statuses or copying state itself; ask again;
 * - no-state: no member of the view holds any state: the view cannot serve (ask again later).
 */
export type SyncAction = 'up-to-date' | 'pull' | 'wait' | 'no-state';
export const syncActions: readonly SyncAction[] = ['up-to-date', 'pull', 'wait', 'no-state'];

/** What a client asks a replica (the client service). */
export type ClientCall =
  | { readonly kind: 'invoke'; readonly request: Request }
  /** Who is in the current view, and who is primary. */
  | { readonly kind: 'members' };

/** What a replica answers a client. */
export type ClientAnswer =
  /**
   * The request was executed (now, or before: a retry answered from the client table), or the
   * client table refused it without running it: then the outcome's code is one of `tableCodes`.
   */
  | { readonly kind: 'executed'; readonly clientId: string; readonly seq: number; readonly outcome: Outcome }
  /** This replica is not the primary of its current view; `primary` is (null: unknown). */
  | { readonly kind: 'not-primary'; readonly clientId: string; readonly seq: number; readonly primary: NodeId | null; readonly vid: number }
  /** The primary cannot serve now (a view change or state transfer is under way); retry later. */
  | { readonly kind: 'busy'; readonly clientId: string; readonly seq: number; readonly retryAfterMs: number; readonly reason: string }
  /** The request was refused and not executed: bad input. */
  | { readonly kind: 'invalid'; readonly clientId: string; readonly seq: number; readonly field: string; readonly reason: string }
  /** An older request of this client arrived after a newer one was executed: a late duplicate. */
  | { readonly kind: 'stale'; readonly clientId: string; readonly seq: number }
  | { readonly kind: 'members'; readonly vid: number; readonly members: readonly NodeId[]; readonly primary: NodeId | null };
