import { invariant } from '../env/errors.js';
import type { CheckOptions, CheckResult, History, Model, Operation } from './types.js';

/**
 * The linearizability checker: a Wing & Gong search as refined by Lowe (and by porcupine), over
 * one part of a history at a time.
 *
 * The operations of a part are laid out as a doubly linked list of call and return events in
 * time order. The search linearizes one operation at a time: a candidate is any operation whose
 * call comes before the first return event still in the list (so no unlinearized operation
 * completed before it was invoked). Linearizing it steps the model and lifts its two events out
 * of the list; when a return event is reached with its operation still unplaced, the search
 * backtracks (an explicit stack: no recursion, however long the history). Every (set of
 * linearized operations, model state) pair is entered once: a Zobrist hash of the set and the
 * state's key index a table of the sets seen, compared exactly.
 *
 * Operations with unknown outcome have no return event (they never block others: ret = +∞); the
 * search may place them anywhere after their call, and succeeds once every operation with a known
 * outcome is placed, so an unknown one left over never took effect. One whose step leaves the
 * state as it was (an unknown read) is never placed: that changes nothing and would only double
 * the search.
 *
 * Ties: an operation that returned at the same instant another was invoked is taken as
 * concurrent with it (calls sort before returns at equal times), so a tie never yields a
 * violation.
 */

/** Time budget of a check unless `CheckOptions.timeBudgetMs` says otherwise. */
export const defaultTimeBudgetMs = 30_000;
/** The search looks at the clock once per this many steps. */
const clockCheckEverySteps = 1024;
/** At most this many further candidates that could not be placed are named in an explanation. */
const maxOthersExplained = 4;

interface Entry {
  /** Index of the operation in its part. */
  readonly op: number;
  /** The return event of a call event; null for a return event and for an unknown outcome's call. */
  readonly match: Entry | null;
  readonly isCall: boolean;
  prev: Entry | null;
  next: Entry | null;
}

type PartResult =
  | { readonly verdict: 'ok' }
  | { readonly verdict: 'unknown' }
  | { readonly verdict: 'violation'; readonly longestPrefix: readonly number[]; readonly failedOp: number; readonly explanation: string };

/**
 * Checks that `history` is linearizable with respect to `model`: part by part (`model.partition`),
 * within a time budget for the whole history. Violation: the first part (in partition order) that
 * has no linearization, with the longest linearizable prefix the search found there and an
 * operation that could not be placed after it. Unknown: the budget ran out before a verdict.
 */
export function checkLinearizable<S, I, O>(history: History<I, O>, model: Model<S, I, O>, options?: CheckOptions): CheckResult {
  const started = performance.now();
  const budgetMs = options?.timeBudgetMs ?? defaultTimeBudgetMs;
  invariant(budgetMs >= 0, `lincheck: timeBudgetMs must be >= 0, got ${budgetMs}`);
  validate(history);
  const deadline = started + budgetMs;
  const parts = model.partition ? model.partition(history) : [history];
  const base = { operations: history.length, parts: parts.length };
  for (const [index, part] of parts.entries()) {
    const r = checkPart(part, model, deadline);
    const elapsedMs = performance.now() - started;
    if (r.verdict === 'unknown') {
      return { verdict: 'unknown', ...base, elapsedMs, reason: `time budget of ${budgetMs} ms ran out in part ${index + 1} of ${parts.length} (${part.length} operations)` };
    }
    if (r.verdict === 'violation') {
      return { verdict: 'violation', ...base, elapsedMs, part: index, longestPrefix: r.longestPrefix, failedOp: r.failedOp, explanation: r.explanation };
    }
  }
  return { verdict: 'ok', ...base, elapsedMs: performance.now() - started };
}

function validate<I, O>(history: History<I, O>): void {
  const ids = new Set<number>();
  for (const op of history) {
    invariant(!ids.has(op.id), `lincheck: operation id ${op.id} appears twice in the history`);
    ids.add(op.id);
    invariant(Number.isFinite(op.call), `lincheck: operation ${op.id} has no finite call time`);
    if (op.output !== undefined) {
      invariant(op.ret !== undefined && Number.isFinite(op.ret), `lincheck: operation ${op.id} has an output but no finite return time`);
      invariant(op.ret >= op.call, `lincheck: operation ${op.id} returned (${op.ret}) before it was called (${op.call})`);
    }
  }
}

/** Whether `op`'s outcome is unknown (it has no output; its return time, if any, does not bound it). */
const isUnknown = <I, O>(op: Operation<I, O>): boolean => op.output === undefined;

/** The event list of a part: a head sentinel followed by call and return events in time order. */
function eventList<I, O>(ops: ReadonlyArray<Operation<I, O>>): Entry {
  const events: Array<{ time: number; isCall: boolean; op: number }> = [];
  for (const [i, op] of ops.entries()) {
    events.push({ time: op.call, isCall: true, op: i });
    if (!isUnknown(op)) events.push({ time: op.ret!, isCall: false, op: i });
  }
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? 0 : a.isCall ? -1 : 1) || a.op - b.op);
  const returns = new Map<number, Entry>();
  const head: Entry = { op: -1, match: null, isCall: false, prev: null, next: null };
  let last = head;
  // Built back to front, so that a call event can point at its return event.
  const built: Entry[] = new Array<Entry>(events.length);
  for (let k = events.length - 1; k >= 0; k--) {
    const e = events[k]!;
    const entry: Entry = { op: e.op, isCall: e.isCall, match: e.isCall ? returns.get(e.op) ?? null : null, prev: null, next: null };
    if (!e.isCall) returns.set(e.op, entry);
    built[k] = entry;
  }
  for (const entry of built) {
    entry.prev = last;
    last.next = entry;
    last = entry;
  }
  return head;
}

/** Takes a call event and its return event out of the list. */
function lift(call: Entry): void {
  call.prev!.next = call.next;
  if (call.next !== null) call.next.prev = call.prev;
  const ret = call.match;
  if (ret !== null) {
    ret.prev!.next = ret.next;
    if (ret.next !== null) ret.next.prev = ret.prev;
  }
}

/** Puts back what `lift(call)` took out (the last lift undone first). */
function unlift(call: Entry): void {
  const ret = call.match;
  if (ret !== null) {
    ret.prev!.next = ret;
    if (ret.next !== null) ret.next.prev = ret;
  }
  call.prev!.next = call;
  if (call.next !== null) call.next.prev = call;
}

/** Two 32-bit Zobrist values per operation (splitmix32), so a set's hash updates in O(1). */
function zobrist(n: number): Uint32Array {
  const z = new Uint32Array(2 * n);
  let s = 0x5eed1234;
  for (let i = 0; i < z.length; i++) {
    s = (s + 0x9e3779b9) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
    x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
    z[i] = (x ^ (x >>> 16)) >>> 0;
  }
  return z;
}

/** The (linearized set, state) pairs seen: hash and state key index exact copies of the sets. */
class Memo {
  readonly #seen = new Map<string, Uint32Array[]>();

  /** Records the pair; false if it was seen before. */
  add(h1: number, h2: number, stateKey: string, bits: Uint32Array): boolean {
    const key = `${h1.toString(36)}.${h2.toString(36)}|${stateKey}`;
    const sets = this.#seen.get(key);
    if (sets === undefined) {
      this.#seen.set(key, [bits.slice()]);
      return true;
    }
    if (sets.some((s) => sameBits(s, bits))) return false;
    sets.push(bits.slice());
    return true;
  }
}

function sameBits(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function checkPart<S, I, O>(part: History<I, O>, model: Model<S, I, O>, deadline: number): PartResult {
  const ops = [...part].sort((a, b) => a.call - b.call || a.id - b.id);
  const n = ops.length;
  const head = eventList(ops);
  const z = zobrist(n);
  const bits = new Uint32Array(Math.ceil(n / 32));
  const memo = new Memo();
  let h1 = 0;
  let h2 = 0;
  let knownLeft = ops.filter((op) => !isUnknown(op)).length;

  let state = model.init();
  let stateKey = model.key(state);
  // The search stack: what was linearized, and the state and key before it.
  const stackEntries: Entry[] = [];
  const stackStates: S[] = [];
  const stackKeys: string[] = [];
  // The longest prefix so far: `best[0, dirtyFrom)` still equals the stack there.
  const best: number[] = [];
  let bestState = state;
  let dirtyFrom = 0;

  const toggle = (i: number): void => {
    bits[i >>> 5]! ^= 1 << (i & 31);
    h1 ^= z[2 * i]!;
    h2 ^= z[2 * i + 1]!;
  };

  let steps = 0;
  let entry = head.next;
  for (;;) {
    if (knownLeft === 0) return { verdict: 'ok' };
    if (++steps % clockCheckEverySteps === 0 && performance.now() > deadline) return { verdict: 'unknown' };
    if (entry !== null && entry.isCall) {
      const op = ops[entry.op]!;
      const next = model.step(state, op.input, op.output);
      if (next === undefined) {
        entry = entry.next;
        continue;
      }
      const nextKey = model.key(next);
      if (isUnknown(op) && nextKey === stateKey) {
        entry = entry.next; // no effect: placing it changes nothing
        continue;
      }
      toggle(entry.op);
      if (!memo.add(h1, h2, nextKey, bits)) {
        toggle(entry.op);
        entry = entry.next;
        continue;
      }
      stackEntries.push(entry);
      stackStates.push(state);
      stackKeys.push(stateKey);
      state = next;
      stateKey = nextKey;
      lift(entry);
      if (!isUnknown(op)) knownLeft--;
      const depth = stackEntries.length;
      if (depth > best.length) {
        for (let k = dirtyFrom; k < depth; k++) best[k] = stackEntries[k]!.op;
        dirtyFrom = depth;
        bestState = state;
      }
      entry = head.next;
      continue;
    }
    // A return event (or the end of the list): its operation had to be placed before anything
    // called later. Undo the last choice and try the next candidate after it.
    const top = stackEntries.pop();
    if (top === undefined) break;
    state = stackStates.pop()!;
    stateKey = stackKeys.pop()!;
    unlift(top);
    toggle(top.op);
    if (!isUnknown(ops[top.op]!)) knownLeft++;
    dirtyFrom = Math.min(dirtyFrom, stackEntries.length);
    entry = top.next;
  }
  return violation(ops, model, best, bestState);
}

/** What to report once the search is exhausted: the longest prefix and what could not follow it. */
function violation<S, I, O>(ops: ReadonlyArray<Operation<I, O>>, model: Model<S, I, O>, best: readonly number[], state: S): PartResult {
  const placed = new Set(best);
  const rest = ops.map((_, i) => i).filter((i) => !placed.has(i));
  const retOf = (i: number): number => (isUnknown(ops[i]!) ? Number.POSITIVE_INFINITY : ops[i]!.ret!);
  const minRet = Math.min(...rest.map(retOf));
  // The candidates after the prefix; the one that returned first had to come soonest.
  const candidates = rest.filter((i) => ops[i]!.call <= minRet && !isUnknown(ops[i]!));
  const failing = candidates.filter((i) => model.step(state, ops[i]!.input, ops[i]!.output) === undefined);
  const pool = failing.length > 0 ? failing : candidates;
  const failed = pool.reduce((a, b) => (retOf(b) < retOf(a) ? b : a));
  const describe = (i: number): string => describeOp(model, ops[i]!);
  const others = pool.filter((i) => i !== failed);
  const after = best.length === 0 ? 'from the initial state' : `after the longest linearizable prefix (${best.length} of ${ops.length} operations of this part)`;
  const stateText = model.describeState ? model.describeState(state) : `the state is ${model.key(state)}`;
  let explanation = `${after}, ${stateText}: ${describe(failed)} cannot take effect there`;
  if (others.length > 0) {
    const named = others.slice(0, maxOthersExplained).map(describe).join('; ');
    explanation += `, and neither can any other candidate (${named}${others.length > maxOthersExplained ? `; ${others.length - maxOthersExplained} more` : ''})`;
  }
  return { verdict: 'violation', longestPrefix: best.map((i) => ops[i]!.id), failedOp: ops[failed]!.id, explanation };
}

/** `model.describe(op)`, or a generic description, always naming the client and the id. */
export function describeOp<S, I, O>(model: Model<S, I, O>, op: Operation<I, O>): string {
  const what = model.describe ? model.describe(op) : `${JSON.stringify(op.input)} → ${op.output === undefined ? '?' : JSON.stringify(op.output)}`;
  return `${what} [op ${op.id}, ${op.client}]`;
}
