/**
 * A viewstamp `(vid, seqno)`: the position of one request in the replicated history. Ordered
 * lexicographically; `seqno` restarts at 1 in every view. `(vid, 0)` names the state a view
 * started from, before any request of that view.
 */
export interface Viewstamp {
  readonly vid: number;
  readonly seqno: number;
}

export function compareViewstamps(a: Viewstamp, b: Viewstamp): number {
  if (a.vid !== b.vid) return a.vid < b.vid ? -1 : 1;
  return a.seqno === b.seqno ? 0 : a.seqno < b.seqno ? -1 : 1;
}

/**
 * Like `compareViewstamps`, with `null` (a replica that holds no state at all: a joiner, or a
 * process that restarted) below every viewstamp.
 */
export function compareHeld(a: Viewstamp | null, b: Viewstamp | null): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? -1 : 1;
  return compareViewstamps(a, b);
}

export function sameViewstamp(a: Viewstamp | null, b: Viewstamp | null): boolean {
  return compareHeld(a, b) === 0;
}

export function formatViewstamp(v: Viewstamp | null): string {
  return v === null ? 'none' : `${v.vid}.${v.seqno}`;
}

/**
 * Whether a request at `vs` is the one executed right after the state at `last`: the next seqno
 * in the same view, or the first of a later view (a primary numbers each view from 1).
 */
export function followsDirectly(last: Viewstamp, vs: Viewstamp): boolean {
  return vs.vid === last.vid ? vs.seqno === last.seqno + 1 : vs.vid > last.vid && vs.seqno === 1;
}
