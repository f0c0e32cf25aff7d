// How the callback hub ends (or refuses) a stream, and what it says: one place for the details a
// client's operator reads (`StreamEnd.detail`).
import type { ServerStreamEnd } from '../env/streams.js';
import type { NodeId } from '../env/types.js';

export function ownerTaken(owner: string, why: string): ServerStreamEnd {
  return { kind: 'owner-taken', detail: `owner ${owner} is not this client's: ${why}` };
}

export function notPrimary(primary: NodeId | null): ServerStreamEnd {
  return { kind: 'not-primary', primary, detail: primary === null ? 'not primary; no primary known' : `not primary; primary is ${primary}` };
}

/**
 * The end of every stream of a primary whose lease lapsed (`LeaseStatus.why` names the backups
 * that did not renew it): it may have been replaced, so its clients must look for the primary.
 */
export function leaseLost(self: NodeId, why: string): ServerStreamEnd {
  return { kind: 'unavailable', detail: `${self} lost its primary lease (${why}); it may have been replaced` };
}

/** The refusal of a primary that serves its view but holds no lease yet (a view change that kept it, before the grants). */
export function noLeaseYet(self: NodeId): ServerStreamEnd {
  return { kind: 'not-serving-yet', detail: `${self} is the primary but holds no lease yet (view change in progress); retry` };
}

/** Largest duration a keepalive carries (uint32 on the wire); a lease of a view of one runs for ever (Infinity). */
const maxWireMs = 0xffff_ffff;

/**
 * A duration as a keepalive carries it: rounded down (a shorter duration is the conservative
 * side for both the client's anchor and its session) and clamped to uint32.
 */
export function wireMs(ms: number): number {
  return Math.max(0, Math.min(maxWireMs, Math.floor(ms)));
}
