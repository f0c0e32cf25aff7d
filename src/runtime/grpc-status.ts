import * as grpc from '@grpc/grpc-js';
import type { StreamEnd } from '../env/streams.js';
import type { CallFailure } from '../env/transport.js';

/**
 * gRPC status codes and what they mean to synod, in one place: which codes are the network's
 * normal losses, how a failed client call maps to a `CallFailure`, how a stream's end travels
 * (`StreamEnd` to a status and back), and how a server tells a client of another cluster its own
 * cluster's name.
 */

/** Codes that mean "the network or the peer is not there (yet)": expected, logged at debug. */
export const networkCodes: ReadonlySet<grpc.status> = new Set([
  grpc.status.UNAVAILABLE,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.CANCELLED,
  // The peer runs but does not serve this service yet (it is starting up).
  grpc.status.UNIMPLEMENTED,
]);

/** `UNAVAILABLE` for `grpc.status.UNAVAILABLE`, and so on. */
export function statusName(code: grpc.status): string {
  return grpc.status[code] ?? `STATUS_${code}`;
}

/**
 * The trailing metadata key under which a server that refuses a message, call or stream of
 * another cluster (FAILED_PRECONDITION) names its own cluster, so that a client can report it
 * (`CallFailure` `wrong-cluster`) without reading the human text of the details.
 */
export const clusterMetadataKey = 'synod-cluster';

/** The status code a server refuses another cluster's traffic with; its metadata is `clusterMetadata(ours)`. */
export const wrongClusterCode = grpc.status.FAILED_PRECONDITION;

/** The trailing metadata key under which such a refusal names the refusing node's cluster id, when it knows one. */
export const clusterIdMetadataKey = 'synod-cluster-id';

/** The trailing metadata of a refusal of another cluster's traffic by a server of cluster `ours` (and id `ourId`). */
export function clusterMetadata(ours: string, ourId?: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set(clusterMetadataKey, ours);
  if (ourId !== undefined) metadata.set(clusterIdMetadataKey, ourId);
  return metadata;
}

/** The cluster a refusal names in its trailing metadata, if any. */
export function clusterNamedBy(metadata: grpc.Metadata | undefined): string | undefined {
  const value = metadata?.get(clusterMetadataKey)[0];
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/**
 * The trailing metadata key under which a server that refuses a call for load
 * (RESOURCE_EXHAUSTED: too many calls or call bytes waiting) says how many milliseconds the
 * client should wait before it asks again (`CallFailure` `overloaded`, `retryAfterMs`).
 */
export const retryAfterMetadataKey = 'synod-retry-after-ms';

/** The trailing metadata of a refusal for load that asks the client to wait `ms` before retrying. */
export function retryAfterMetadata(ms: number): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set(retryAfterMetadataKey, String(Math.round(ms)));
  return metadata;
}

/** Longest retry hint a client believes (an hour); a larger or malformed value is ignored. */
const maxRetryAfterMs = 3_600_000;

/** The retry hint a refusal carries in its trailing metadata, if any (a whole number of ms, at most an hour). */
export function retryAfterOf(metadata: grpc.Metadata | undefined): number | undefined {
  const value = metadata?.get(retryAfterMetadataKey)[0];
  const ms = typeof value === 'string' && /^\d{1,7}$/.test(value) ? Number(value) : NaN;
  return Number.isInteger(ms) && ms <= maxRetryAfterMs ? ms : undefined;
}

/** How grpc-js words this end's refusal to send a message over its limit: the call never left. */
const sendTooLarge = /Attempted to send message with a size larger than/;
/** How grpc-js words a refusal to receive one, by either end: "(size vs the receiver's limit)". */
const receivedTooLarge = /Received message larger than max \((\d+) vs (\d+)\)/;

/**
 * What a client call that ended with `err` means (see `CallFailure`). `expected` is the cluster
 * the client named in the call. A FAILED_PRECONDITION without a cluster in its metadata is not a
 * refusal synod makes of calls: reported as `internal`.
 */
export function callFailureOf(err: grpc.ServiceError, expected: string, ownMaxMessageBytes?: number): CallFailure {
  const detail = `${statusName(err.code)}: ${err.details || err.message}`;
  switch (err.code) {
    case grpc.status.UNAVAILABLE:
    case grpc.status.CANCELLED:
      return { kind: 'unreachable', detail };
    case grpc.status.DEADLINE_EXCEEDED:
      return { kind: 'timeout', detail };
    case wrongClusterCode: {
      const actual = clusterNamedBy(err.metadata);
      return actual === undefined ? { kind: 'internal', detail } : { kind: 'wrong-cluster', expected, actual, detail };
    }
    case grpc.status.INVALID_ARGUMENT:
      return { kind: 'invalid-request', detail };
    case grpc.status.RESOURCE_EXHAUSTED: {
      const retryAfterMs = retryAfterOf(err.metadata);
      if (retryAfterMs !== undefined) return { kind: 'overloaded', detail, retryAfterMs };
      // gRPC's own message-size refusals: the same message is refused on every retry, so they
      // are not load to wait out. A request this end could not send, or the server could not
      // receive (its limit, not ours, in the detail), never ran: a bad request. An answer this
      // end could not receive (our own limit in the detail; a request over it is refused at
      // send) may come from a call that ran: an answer this client cannot read, outcome unknown.
      if (sendTooLarge.test(detail)) return { kind: 'invalid-request', detail: `the request is larger than this client sends (transport.maxMessageBytes): ${detail}` };
      const received = receivedTooLarge.exec(detail);
      if (received !== null) {
        return Number(received[2]) === ownMaxMessageBytes
          ? { kind: 'invalid-answer', detail: `the answer is larger than this client accepts (transport.maxMessageBytes); the call may have run: ${detail}` }
          : { kind: 'invalid-request', detail: `the request is larger than the node accepts (its transport.maxMessageBytes): ${detail}` };
      }
      return { kind: 'overloaded', detail };
    }
    case grpc.status.UNIMPLEMENTED:
      return { kind: 'unimplemented', detail };
    default:
      return { kind: 'internal', detail };
  }
}

/**
 * The trailing metadata key under which a server names the `StreamEnd` kind a stream ended with,
 * so that a client reads the reason exactly instead of guessing it from the status code (an
 * UNAVAILABLE the server chose means `unavailable`; one without the key is the connection's).
 */
export const streamEndMetadataKey = 'synod-stream-end';
/** The trailing metadata key of a `not-primary` end naming the primary. */
export const primaryMetadataKey = 'synod-primary';

/** The gRPC status each `StreamEnd` kind a server (or its transport) gives travels as. */
const streamEndCodes: Record<StreamEnd['kind'], grpc.status> = {
  'not-primary': grpc.status.FAILED_PRECONDITION,
  'not-serving-yet': grpc.status.UNAVAILABLE,
  unavailable: grpc.status.UNAVAILABLE,
  replaced: grpc.status.ABORTED,
  'owner-taken': grpc.status.PERMISSION_DENIED,
  overloaded: grpc.status.RESOURCE_EXHAUSTED,
  'invalid-request': grpc.status.INVALID_ARGUMENT,
  'wrong-cluster': wrongClusterCode,
  unreachable: grpc.status.UNAVAILABLE,
  cancelled: grpc.status.CANCELLED,
  internal: grpc.status.INTERNAL,
};

/**
 * The status a server ends a stream with for `end`: the kind's code, `detail` as the details, and
 * the kind (with the primary, or this server's cluster for `wrong-cluster`) in trailing metadata.
 */
export function streamEndStatus(end: StreamEnd): { code: grpc.status; details: string; metadata: grpc.Metadata } {
  const metadata = end.kind === 'wrong-cluster' ? clusterMetadata(end.actual) : new grpc.Metadata();
  metadata.set(streamEndMetadataKey, end.kind);
  if (end.kind === 'not-primary' && end.primary !== null) metadata.set(primaryMetadataKey, end.primary);
  return { code: streamEndCodes[end.kind], details: end.detail, metadata };
}

/**
 * What a stream that ended with status `err` means to its client (see `StreamEnd`). A status the
 * server named a kind for (`streamEndStatus`) is read back exactly; any other is mapped by its
 * code: UNAVAILABLE, CANCELLED and DEADLINE_EXCEEDED are the connection's (`unreachable`),
 * UNIMPLEMENTED a server that does not serve the service yet (`unavailable`), and so on as for
 * calls (`callFailureOf`). `expected` is the cluster the client named.
 */
export function streamEndOf(err: { code: grpc.status; details?: string; metadata?: grpc.Metadata }, expected: string, ownMaxMessageBytes?: number): StreamEnd {
  const detail = `${statusName(err.code)}: ${err.details ?? ''}`;
  const named = err.metadata?.get(streamEndMetadataKey)[0];
  switch (typeof named === 'string' && named in streamEndCodes ? (named as StreamEnd['kind']) : undefined) {
    case 'not-primary': {
      const primary = err.metadata?.get(primaryMetadataKey)[0];
      return { kind: 'not-primary', primary: typeof primary === 'string' && primary.length > 0 ? primary : null, detail };
    }
    case 'not-serving-yet': return { kind: 'not-serving-yet', detail };
    case 'unavailable': return { kind: 'unavailable', detail };
    case 'replaced': return { kind: 'replaced', detail };
    case 'owner-taken': return { kind: 'owner-taken', detail };
    case 'overloaded': return { kind: 'overloaded', detail };
    case 'invalid-request': return { kind: 'invalid-request', detail };
    case 'internal': return { kind: 'internal', detail };
    default: break; // not named by a server: read the code
  }
  switch (err.code) {
    case grpc.status.UNAVAILABLE:
    case grpc.status.CANCELLED:
    case grpc.status.DEADLINE_EXCEEDED:
      return { kind: 'unreachable', detail };
    case grpc.status.UNIMPLEMENTED:
      return { kind: 'unavailable', detail };
    case wrongClusterCode: {
      const actual = clusterNamedBy(err.metadata);
      return actual === undefined ? { kind: 'internal', detail } : { kind: 'wrong-cluster', expected, actual, detail };
    }
    case grpc.status.INVALID_ARGUMENT:
      return { kind: 'invalid-request', detail };
    case grpc.status.RESOURCE_EXHAUSTED:
      return messageTooLarge(detail, ownMaxMessageBytes) ?? { kind: 'overloaded', detail };
    default:
      return { kind: 'internal', detail };
  }
}

/**
 * gRPC's own message-size refusals of a stream, which are not load (the same subscription is
 * refused again on every retry, so `overloaded` would have its client retry forever): a request
 * this end could not send, or the server would not receive (its limit, not ours, in the detail),
 * is a bad request; a message of the stream over this end's own limit is a configuration error
 * (`internal`: give up). Null: not a size refusal.
 */
function messageTooLarge(detail: string, ownMaxMessageBytes: number | undefined): StreamEnd | null {
  if (sendTooLarge.test(detail)) return { kind: 'invalid-request', detail: `the subscription is larger than this client sends (transport.maxMessageBytes): ${detail}` };
  const received = receivedTooLarge.exec(detail);
  if (received === null) return null;
  return Number(received[2]) === ownMaxMessageBytes
    ? { kind: 'internal', detail: `a message of the stream is larger than this client accepts (transport.maxMessageBytes): ${detail}` }
    : { kind: 'invalid-request', detail: `the subscription is larger than the node accepts (its transport.maxMessageBytes): ${detail}` };
}
