/**
 * The event lists the linearizability search walks (Lowe's refinement of Wing & Gong): the call
 * and return events of one part's operations as doubly linked lists, and the O(1) lift/unlift
 * that takes an operation's events out when it is linearized and puts them back on backtrack.
 * Separate from the search because it is pure list surgery with its own invariant: `unlift`
 * exactly undoes the last `lift`, so the lists are always the original minus the placed calls.
 */
import type { Operation } from './types.js';

/** One event in a list: a call, or the return of a call with known outcome. */
export interface Entry {
  /** Index of the operation in its part. */
  readonly op: number;
  /** The return event of a call event; null for a return event and for an unknown outcome's call. */
  readonly match: Entry | null;
  readonly isCall: boolean;
  prev: Entry | null;
  next: Entry | null;
}

/** Whether `op`'s outcome is unknown (it has no output; its return time, if any, does not bound it). */
export const isUnknown = <I, O>(op: Operation<I, O>): boolean => op.output === undefined;

/**
 * The event lists of a part, each behind a head sentinel: `known` holds the call and return events
 * of the operations with known outcome in time order; `unknown` the call events of the others, in
 * call order (`ops` is sorted by call).
 */
export interface EventLists {
  readonly known: Entry;
  readonly unknown: Entry;
}

/**
 * Builds the lists of `ops` (sorted by call). At equal times calls sort before returns, so an
 * operation that returned at the instant another was invoked counts as concurrent with it.
 */
export function eventLists<I, O>(ops: ReadonlyArray<Operation<I, O>>): EventLists {
  const events: Array<{ time: number; isCall: boolean; op: number }> = [];
  const unknown: Entry[] = [];
  for (const [i, op] of ops.entries()) {
    if (isUnknown(op)) {
      unknown.push({ op: i, isCall: true, match: null, prev: null, next: null });
      continue;
    }
    events.push({ time: op.call, isCall: true, op: i }, { time: op.ret!, isCall: false, op: i });
  }
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? 0 : a.isCall ? -1 : 1) || a.op - b.op);
  const returns = new Map<number, Entry>();
  // Built back to front, so that a call event can point at its return event.
  const known: Entry[] = new Array<Entry>(events.length);
  for (let k = events.length - 1; k >= 0; k--) {
    const e = events[k]!;
    const entry: Entry = { op: e.op, isCall: e.isCall, match: e.isCall ? returns.get(e.op) ?? null : null, prev: null, next: null };
    if (!e.isCall) returns.set(e.op, entry);
    known[k] = entry;
  }
  return { known: linked(known), unknown: linked(unknown) };
}

/** Links `entries` in order behind a new head sentinel. */
function linked(entries: readonly Entry[]): Entry {
  const head: Entry = { op: -1, match: null, isCall: false, prev: null, next: null };
  let last = head;
  for (const entry of entries) {
    entry.prev = last;
    last.next = entry;
    last = entry;
  }
  return head;
}

/** Takes a call event and its return event out of the list. */
export function lift(call: Entry): void {
  call.prev!.next = call.next;
  if (call.next !== null) call.next.prev = call.prev;
  const ret = call.match;
  if (ret !== null) {
    ret.prev!.next = ret.next;
    if (ret.next !== null) ret.next.prev = ret.prev;
  }
}

/** Puts back what `lift(call)` took out (the last lift undone first). */
export function unlift(call: Entry): void {
  const ret = call.match;
  if (ret !== null) {
    ret.prev!.next = ret;
    if (ret.next !== null) ret.next.prev = ret;
  }
  call.prev!.next = call;
  if (call.next !== null) call.next.prev = call;
}
