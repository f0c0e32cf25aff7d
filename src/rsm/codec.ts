import { InvalidMessageError } from '../env/errors.js';
import type { ServiceCodec, WireCodec } from '../env/transport.js';
import { type Fields, bool, members, nodeId, object, uint } from '../env/validate.js';
import { limits } from '../options.js';
import type { Json } from './app.js';
import { type Outcome, isReservedProc } from './client-table.js';
import { type JsonBounds, argsBounds, jsonTextDepth, replyBounds, utf8Bytes } from './json-text.js';
import { type ClientAnswer, type ClientCall, type ExecutedRequest, type ReplicaMessage, type Request, type SyncAction, internalClientIdPrefix, isInternalClientId, syncActions } from './messages.js';
import { requestBytes } from './request-bytes.js';
import type { Viewstamp } from './viewstamp.js';

/** Longest app error code / message, and BUSY reason, carried in an answer. */
const maxErrorTextLength = limits.maxErrorTextLength;
/** Largest state chunk accepted on the wire (a sender uses `RsmOptions.stateChunkBytes`). */
const maxChunkBytes = 16 * 1024 * 1024;

function text(v: unknown, path: string, max: number, allowEmpty = false): string {
  const s = v === undefined ? '' : v;
  if (typeof s !== 'string') throw new InvalidMessageError(path, 'not a string');
  if (!allowEmpty && s.length === 0) throw new InvalidMessageError(path, 'empty');
  if (s.length > max) throw new InvalidMessageError(path, `longer than ${max} characters`);
  return s;
}

function vid(v: unknown, path: string): number {
  return uint(v, path, 1, limits.maxInstance);
}

function viewstamp(v: unknown, path: string): Viewstamp {
  const o = object(v, path);
  // (0, 0) names the state a brand-new cluster starts from.
  return { vid: uint(o['vid'], `${path}.vid`, 0, limits.maxInstance), seqno: uint(o['seqno'], `${path}.seqno`, 0, Number.MAX_SAFE_INTEGER) };
}

/** The viewstamp of a stamped request: seqnos start at 1 in every view (view 0 stamps nothing). */
function stampedViewstamp(v: unknown, path: string): Viewstamp {
  const o = object(v, path);
  return { vid: vid(o['vid'], `${path}.vid`), seqno: uint(o['seqno'], `${path}.seqno`, 1, Number.MAX_SAFE_INTEGER) };
}

/** A view id where 0 or absence means none (proto3 has no absent integers). */
function optionalVid(v: unknown, path: string): number | null {
  return v === undefined || v === null || v === 0 ? null : vid(v, path);
}

function optionalViewstamp(v: unknown, path: string): Viewstamp | null {
  return v === undefined || v === null ? null : viewstamp(v, path);
}

const limitName = (bounds: JsonBounds): string => (bounds === argsBounds ? 'limits.maxRequestBytes' : 'limits.maxReplyBytes');

/**
 * JSON text within `bounds`, and its value: the size (UTF-8 bytes) and the nesting are checked
 * on the text, by loops, before it is parsed; the refusal names the limit it broke.
 */
function jsonText(v: unknown, path: string, bounds: JsonBounds): { readonly text: string; readonly value: Json } {
  const s = text(v, path, Number.MAX_SAFE_INTEGER);
  // More UTF-16 units than bytes allowed is more UTF-8 bytes too (every unit takes at least one).
  if (s.length > bounds.maxBytes || (s.length * 3 > bounds.maxBytes && utf8Bytes(s) > bounds.maxBytes)) {
    throw new InvalidMessageError(path, `more than ${bounds.maxBytes} bytes of JSON (${limitName(bounds)})`);
  }
  if (jsonTextDepth(s, bounds.maxDepth) > bounds.maxDepth) {
    throw new InvalidMessageError(path, `JSON nested deeper than ${bounds.maxDepth} levels (limits.maxJsonDepth)`);
  }
  try {
    return { text: s, value: JSON.parse(s) as Json };
  } catch {
    throw new InvalidMessageError(path, 'not valid JSON');
  }
}

/**
 * A request as a replica relays it (`invoke`): the `internal` flag of a node's own request
 * travels with it, so every replica gives its handler the same context.
 */
function replicatedRequest(v: unknown, path: string): Request {
  const r = request(v, path);
  const internal = object(v, path)['internal'];
  if (internal === undefined || internal === false) return r;
  if (internal !== true) throw new InvalidMessageError(`${path}.internal`, 'not a boolean');
  if (!isInternalClientId(r.clientId)) throw new InvalidMessageError(`${path}.internal`, `set on a request of client ${r.clientId}, outside the nodes' namespace`);
  return { ...r, internal: true };
}

/**
 * A request as a client sends it (the client edge): never internal, whatever the message holds,
 * never under a client id of the nodes' namespace (`internalClientIdPrefix`), and never naming a
 * procedure of synod itself (`isReservedProc`, e.g. the client table's sweep).
 */
function clientRequest(v: unknown, path: string): Request {
  const r = request(v, path);
  if (isInternalClientId(r.clientId)) {
    throw new InvalidMessageError(`${path}.client_id`, `client ids starting with ${JSON.stringify(internalClientIdPrefix)} are reserved for the nodes' own requests`);
  }
  if (isReservedProc(r.proc)) throw new InvalidMessageError(`${path}.proc`, `${JSON.stringify(r.proc)} is reserved for synod itself`);
  return r;
}

function request(v: unknown, path: string): Request {
  const o = object(v, path);
  const args = jsonText(o['args'], `${path}.args`, argsBounds);
  const seq = uint(o['seq'], `${path}.seq`, 1, Number.MAX_SAFE_INTEGER);
  const r: Request = {
    clientId: text(o['client_id'], `${path}.client_id`, limits.maxClientIdLength),
    seq,
    proc: text(o['proc'], `${path}.proc`, limits.maxProcNameLength),
    args: args.value,
    argsText: args.text,
    first: bool(o['first'], `${path}.first`),
  };
  // Absent and 0 mean the same; 0 is left out so that a request decodes to what was encoded.
  const answeredBelow = o['answered_below'] === undefined || o['answered_below'] === null ? 0 : uint(o['answered_below'], `${path}.answered_below`, 0, seq);
  return answeredBelow === 0 ? r : { ...r, answeredBelow };
}

/** A request on the wire: its arguments as the text received (or written once by the client), never serialised again. */
function wireRequest(r: Request): Fields {
  const wire: Fields = { client_id: r.clientId, seq: r.seq, proc: r.proc, args: r.argsText };
  if (r.first) wire['first'] = true;
  if (r.answeredBelow !== undefined && r.answeredBelow > 0) wire['answered_below'] = r.answeredBelow;
  if (r.internal === true) wire['internal'] = true;
  return wire;
}

function bodyOf(wire: Fields, kinds: readonly string[]): [string, Fields] {
  const named = wire['body'];
  const kind = typeof named === 'string' ? named : kinds.find((k) => wire[k] !== undefined && wire[k] !== null);
  if (kind === undefined || !kinds.includes(kind)) throw new InvalidMessageError('body', 'no known message in the envelope');
  return [kind, object(wire[kind], kind)];
}

const replicaKinds = ['invoke_batch', 'invoke_ack', 'invoke_reject', 'sync_status', 'sync_reply', 'sync_pull', 'sync_chunk', 'sync_unavailable', 'sync_suffix', 'lease_ask', 'lease_grant'] as const;

/** Largest lease round accepted (one every `leaseRenewMs` or per query batch: never near it). */
const maxLeaseRound = Number.MAX_SAFE_INTEGER;
/** Longest lease a primary may ask to have covered: ten minutes (a promise that long stalls failovers that long). */
const maxAskedLeaseMs = 600_000;
/** Largest lease wait a sync status may report: an hour, far above any `leaseWaitMs`. */
export const maxReportedLeaseWaitMs = 3_600_000;

/** Most requests one `sync-suffix` carries (a sender also keeps to `stateChunkBytes`). */
export const maxSuffixRequests = 10_000;

/**
 * A request at its viewstamp, as a `sync-suffix` lists it and the RSM log records it
 * (`durable-records.ts`): `{vs, request}`.
 */
export function encodeStampedRequest(vs: Viewstamp, request: Request): Fields {
  return { vs, request: wireRequest(request) };
}

export function decodeStampedRequest(v: unknown, path: string): ExecutedRequest {
  const o = object(v, path);
  return { vs: stampedViewstamp(o['vs'], `${path}.vs`), request: replicatedRequest(o['request'], `${path}.request`) };
}

/**
 * An `invoke` batch: never empty, at most `limits.maxInvokeBatchRequests` requests and
 * `limits.maxMessageBytes` request bytes (a sender keeps to its smaller `RsmOptions` bounds), its
 * seqnos from `first_seqno` ≥ 1 all exact in a JS number.
 */
function invokeBatch(b: Fields, p: (f: string) => string): Extract<ReplicaMessage, { kind: 'invoke' }> {
  const list = b['requests'];
  const max = limits.maxInvokeBatchRequests;
  if (!Array.isArray(list) || list.length === 0 || list.length > max) throw new InvalidMessageError(p('requests'), `not a list of 1 to ${max} requests`);
  const firstSeqno = uint(b['first_seqno'], p('first_seqno'), 1, Number.MAX_SAFE_INTEGER - list.length + 1);
  let bytes = 0;
  const requests = list.map((r, i) => {
    const request = replicatedRequest(r, `${p('requests')}[${i}]`);
    bytes += requestBytes(request);
    return request;
  });
  if (bytes > limits.maxMessageBytes) throw new InvalidMessageError(p('requests'), `more than ${limits.maxMessageBytes} request bytes (limits.maxMessageBytes)`);
  return { kind: 'invoke', vid: vid(b['vid'], p('vid')), firstSeqno, requests };
}

export function decodeReplicaMessage(wire: Fields): ReplicaMessage {
  const [kind, b] = bodyOf(wire, replicaKinds);
  const p = (f: string): string => `${kind}.${f}`;
  switch (kind) {
    case 'invoke_batch':
      return invokeBatch(b, p);
    case 'invoke_ack':
      return { kind: 'invoke-ack', vs: stampedViewstamp(b['vs'], p('vs')) };
    case 'invoke_reject':
      return { kind: 'invoke-reject', vs: stampedViewstamp(b['vs'], p('vs')), vid: uint(b['vid'], p('vid'), 0, limits.maxInstance) };
    case 'sync_status':
      return {
        kind: 'sync-status',
        vid: vid(b['vid'], p('vid')),
        last: optionalViewstamp(b['last'], p('last')),
        complete: bool(b['complete'], p('complete')),
        syncedVid: optionalVid(b['synced_vid'], p('synced_vid')),
        leaseWaitMs: b['lease_wait_ms'] === undefined ? 0 : uint(b['lease_wait_ms'], p('lease_wait_ms'), 0, maxReportedLeaseWaitMs),
      };
    case 'sync_reply': {
      const action = b['action'];
      if (typeof action !== 'string' || !(syncActions as readonly string[]).includes(action)) {
        throw new InvalidMessageError(p('action'), `must be one of ${syncActions.join(', ')}`);
      }
      return { kind: 'sync-reply', vid: vid(b['vid'], p('vid')), action: action as SyncAction, target: optionalViewstamp(b['target'], p('target')) };
    }
    case 'sync_pull':
      return {
        kind: 'sync-pull',
        vid: vid(b['vid'], p('vid')),
        target: viewstamp(b['target'], p('target')),
        offset: uint(b['offset'], p('offset'), 0, Number.MAX_SAFE_INTEGER),
      };
    case 'sync_chunk': {
      const data = b['data'] === undefined ? new Uint8Array(0) : b['data'];
      if (!(data instanceof Uint8Array)) throw new InvalidMessageError(p('data'), 'not bytes');
      if (data.length > maxChunkBytes) throw new InvalidMessageError(p('data'), `more than ${maxChunkBytes} bytes`);
      // How much a puller collects in all is its own bound (`RsmOptions.maxStateTransferBytes`).
      const offset = uint(b['offset'], p('offset'), 0, Number.MAX_SAFE_INTEGER - data.length);
      return {
        kind: 'sync-chunk', vid: vid(b['vid'], p('vid')), target: viewstamp(b['target'], p('target')), offset, data: new Uint8Array(data), last: bool(b['last'], p('last')),
      };
    }
    case 'sync_suffix': {
      const list = b['executed'] === undefined || b['executed'] === null ? [] : b['executed'];
      if (!Array.isArray(list) || list.length > maxSuffixRequests) throw new InvalidMessageError(p('executed'), `not a list of at most ${maxSuffixRequests} requests`);
      return {
        kind: 'sync-suffix',
        vid: vid(b['vid'], p('vid')),
        after: viewstamp(b['after'], p('after')),
        executed: list.map((e, i) => decodeStampedRequest(e, `${p('executed')}[${i}]`)),
      };
    }
    case 'sync_unavailable':
      return { kind: 'sync-unavailable', vid: vid(b['vid'], p('vid')), target: viewstamp(b['target'], p('target')) };
    case 'lease_ask':
      return {
        kind: 'lease-ask', vid: vid(b['vid'], p('vid')), round: uint(b['round'], p('round'), 1, maxLeaseRound),
        leaseMs: uint(b['lease_ms'], p('lease_ms'), 1, maxAskedLeaseMs), maxDriftPpm: uint(b['max_drift_ppm'], p('max_drift_ppm'), 0, 99_999),
      };
    case 'lease_grant':
      return { kind: 'lease-grant', vid: vid(b['vid'], p('vid')), round: uint(b['round'], p('round'), 1, maxLeaseRound) };
  }
  throw new InvalidMessageError('body', `unhandled ${kind}`);
}

export function encodeReplicaMessage(m: ReplicaMessage): Fields {
  switch (m.kind) {
    case 'invoke':
      return { invoke_batch: { vid: m.vid, first_seqno: m.firstSeqno, requests: m.requests.map(wireRequest) } };
    case 'invoke-ack':
      return { invoke_ack: { vs: m.vs } };
    case 'invoke-reject':
      return { invoke_reject: { vs: m.vs, vid: m.vid } };
    case 'sync-status':
      return { sync_status: { vid: m.vid, complete: m.complete, ...(m.last === null ? {} : { last: m.last }), ...(m.syncedVid === null ? {} : { synced_vid: m.syncedVid }), ...(m.leaseWaitMs === 0 ? {} : { lease_wait_ms: m.leaseWaitMs }) } };
    case 'sync-reply':
      return { sync_reply: { vid: m.vid, action: m.action, ...(m.target === null ? {} : { target: m.target }) } };
    case 'sync-pull':
      return { sync_pull: { vid: m.vid, target: m.target, offset: m.offset } };
    case 'sync-chunk':
      return { sync_chunk: { vid: m.vid, target: m.target, offset: m.offset, data: m.data, ...(m.last ? { last: true } : {}) } };
    case 'sync-unavailable':
      return { sync_unavailable: { vid: m.vid, target: m.target } };
    case 'sync-suffix':
      return { sync_suffix: { vid: m.vid, after: m.after, executed: m.executed.map((e) => encodeStampedRequest(e.vs, e.request)) } };
    case 'lease-ask':
      return { lease_ask: { vid: m.vid, round: m.round, lease_ms: m.leaseMs, max_drift_ppm: m.maxDriftPpm } };
    case 'lease-grant':
      return { lease_grant: { vid: m.vid, round: m.round } };
  }
}

export const replicaCodec: WireCodec<ReplicaMessage> = {
  service: 'synod.rsm.Replica',
  encode: encodeReplicaMessage,
  decode: decodeReplicaMessage,
};

// ---- client service --------------------------------------------------------------------------

function outcome(v: unknown, path: string): Outcome {
  const o = object(v, path);
  if (bool(o['ok'], `${path}.ok`)) return { ok: true, value: jsonText(o['value'], `${path}.value`, replyBounds).value };
  return {
    ok: false,
    code: text(o['code'], `${path}.code`, maxErrorTextLength),
    message: text(o['message'], `${path}.message`, maxErrorTextLength, true),
  };
}

function wireOutcome(o: Outcome): Fields {
  return o.ok ? { ok: true, value: JSON.stringify(o.value) } : { ok: false, code: o.code, message: o.message };
}

function optionalNode(v: unknown, path: string): string | null {
  return v === undefined || v === '' ? null : nodeId(v, path);
}

export const clientServiceCodec: ServiceCodec<ClientCall, ClientAnswer> = {
  service: 'synod.rsm.Client',
  encodeRequest(call: ClientCall): Fields {
    return call.kind === 'invoke' ? { invoke: { request: wireRequest(call.request) } } : { members: {} };
  },
  decodeRequest(wire: Fields): ClientCall {
    const [kind, b] = bodyOf(wire, ['invoke', 'members']);
    if (kind === 'members') return { kind: 'members' };
    return { kind: 'invoke', request: clientRequest(b['request'], 'invoke.request') };
  },
  encodeAnswer(a: ClientAnswer): Fields {
    switch (a.kind) {
      case 'executed':
        return { executed: { client_id: a.clientId, seq: a.seq, outcome: wireOutcome(a.outcome) } };
      case 'not-primary':
        return { not_primary: { client_id: a.clientId, seq: a.seq, primary: a.primary ?? '', vid: a.vid } };
      case 'busy':
        return { busy: { client_id: a.clientId, seq: a.seq, retry_after_ms: a.retryAfterMs, reason: a.reason } };
      case 'invalid':
        return { invalid: { client_id: a.clientId, seq: a.seq, field: a.field, reason: a.reason } };
      case 'stale':
        return { stale: { client_id: a.clientId, seq: a.seq } };
      case 'members':
        return { members: { vid: a.vid, members: [...a.members], primary: a.primary ?? '' } };
    }
  },
  decodeAnswer(wire: Fields): ClientAnswer {
    const [kind, b] = bodyOf(wire, ['executed', 'not_primary', 'busy', 'invalid', 'stale', 'members']);
    const id = (): { clientId: string; seq: number } => ({
      clientId: text(b['client_id'], `${kind}.client_id`, limits.maxClientIdLength),
      seq: uint(b['seq'], `${kind}.seq`, 1, Number.MAX_SAFE_INTEGER),
    });
    switch (kind) {
      case 'executed':
        return { kind: 'executed', ...id(), outcome: outcome(b['outcome'], 'executed.outcome') };
      case 'not_primary':
        return { kind: 'not-primary', ...id(), primary: optionalNode(b['primary'], 'not_primary.primary'), vid: uint(b['vid'], 'not_primary.vid', 0, limits.maxInstance) };
      case 'busy':
        return { kind: 'busy', ...id(), retryAfterMs: uint(b['retry_after_ms'], 'busy.retry_after_ms', 0, 3_600_000), reason: text(b['reason'], 'busy.reason', maxErrorTextLength, true) };
      case 'invalid':
        return { kind: 'invalid', ...id(), field: text(b['field'], 'invalid.field', maxErrorTextLength, true), reason: text(b['reason'], 'invalid.reason', maxErrorTextLength, true) };
      case 'stale':
        return { kind: 'stale', ...id() };
      case 'members': {
        const list = b['members'] === undefined || (Array.isArray(b['members']) && b['members'].length === 0) ? [] : members(b['members'], 'members.members');
        return { kind: 'members', vid: uint(b['vid'], 'members.vid', 0, limits.maxInstance), members: list, primary: optionalNode(b['primary'], 'members.primary') };
      }
    }
    throw new InvalidMessageError('body', `unhandled ${kind}`);
  },
};
