import { invariant } from '../../src/env/errors.js';
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
 * outcome is placed, so an unknown one left over never took effect. Their call events are kept in
 * a list of their own, and at each step they are tried only after every known candidate: an
 * operation that timed out is placed where the known ones need it, first. One whose step leaves
 * the state as it was (an unknown read) is never placed: that changes nothing and would only
 * double the search.
 *
 * Unknown operations that do the same (`Model.unknownEffect`: equal names) are interchangeable:
 * any linearization that places a later-called one before (or instead of) an earlier-called one
 * of the same effect stays valid with the two swapped. So the search places them in call order
 * only, each once the earlier ones of its effect are placed: k alike timed-out appends that never
 * took effect cost k + 1 choices per position instead of 2^k subsets.
 *
 * Two passes. An operation that timed out mostly took effect soon after its call, or never; but
 * the full search tries every unknown operation never placed yet at every position of every dead
 * end it backs out of, and with many of them that multiplies its work beyond any budget. So a
 * first pass lets an unknown operation take effect only before its client's next call (nothing
 * called after that is placed before it; the alike ones go in call order among those whose time
 * has not passed, a reduction that may lose linearizations there). A linearization it finds is
 * one: verdict ok. If it finds none, the second pass searches without those restrictions, for
 * the verdict and the report.
 *
 * Ties: an operation that returned at the same instant another was invoked is taken as
 * concurrent with it (calls sort before returns at equal times), so a tie never yields a
 * violation.
 */

/** Time budget of a check unless `CheckOptions.timeBudgetMs` says otherwise. */
export const defaultTimeBudgetMs = 30_000;
/**
 * Memory budget of the memo of one part unless `CheckOptions.memoryBudgetBytes` says otherwise:
 * 512 MiB. A hard part (many concurrent unknown outcomes) can fill gigabytes within the time
 * budget; past this the verdict is unknown rather than the process running out of memory.
 */
export const defaultMemoryBudgetBytes = 512 * 1024 * 1024;
/** What the memo counts per entry beyond its bit set's words (map slot, array header, key share). */
const memoEntryOverheadBytes = 96;
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

/** Why a search gave up. */
type Exhaustion = 'time' | 'memory';

type PartResult =
  | { readonly verdict: 'ok' }
  | { readonly verdict: 'unknown'; readonly why: Exhaustion }
  | { readonly verdict: 'violation'; readonly longestPrefix: readonly number[]; readonly failedOp: number; readonly explanation: string };

/**
 * Checks that `history` is linearizable with respect to `model`: part by part (`model.partition`),
 * within a time budget for the whole history. Violation: the first part (in partition order) that
 * has no linearization, with the longest linearizable prefix the search found there (longest by
 * its operations of known outcome; an unknown one is in it only if the known ones needed it) and
 * an operation that could not be placed after it. Unknown: the budget ran out before a verdict.
 */
export function checkLinearizable<S, I, O>(history: History<I, O>, model: Model<S, I, O>, options?: CheckOptions): CheckResult {
  const started = performance.now();
  const budgetMs = options?.timeBudgetMs ?? defaultTimeBudgetMs;
  invariant(budgetMs >= 0, `lincheck: timeBudgetMs must be >= 0, got ${budgetMs}`);
  const memoryBytes = options?.memoryBudgetBytes ?? defaultMemoryBudgetBytes;
  invariant(memoryBytes > 0, `lincheck: memoryBudgetBytes must be > 0, got ${memoryBytes}`);
  validate(history);
  const deadline = started + budgetMs;
  const parts = model.partition ? model.partition(history) : [history];
  const base = { operations: history.length, parts: parts.length };
  for (const [index, part] of parts.entries()) {
    const r = checkPart(part, model, { deadline, memoryBytes });
    const elapsedMs = performance.now() - started;
    if (r.verdict === 'unknown') {
      const budget = r.why === 'time' ? `time budget of ${budgetMs} ms` : `memory budget of ${Math.round(memoryBytes / 2 ** 20)} MiB`;
      return { verdict: 'unknown', ...base, elapsedMs, reason: `${budget} ran out in part ${index + 1} of ${parts.length} (${part.length} operations)` };
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

/**
 * The event lists of a part, each behind a head sentinel: `known` holds the call and return events
 * of the operations with known outcome in time order; `unknown` the call events of the others, in
 * call order (`ops` is sorted by call).
 */
interface EventLists {
  readonly known: Entry;
  readonly unknown: Entry;
}

function eventLists<I, O>(ops: ReadonlyArray<Operation<I, O>>): EventLists {
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
  /** An estimate of the memory the entries take. */
  bytes = 0;

  /** Records the pair; false if it was seen before. */
  add(h1: number, h2: number, stateKey: string, bits: Uint32Array): boolean {
    const key = `${h1.toString(36)}.${h2.toString(36)}|${stateKey}`;
    const sets = this.#seen.get(key);
    if (sets !== undefined && sets.some((s) => sameBits(s, bits))) return false;
    if (sets === undefined) this.#seen.set(key, [bits.slice()]);
    else sets.push(bits.slice());
    this.bytes += 4 * bits.length + key.length + memoEntryOverheadBytes;
    return true;
  }
}

function sameBits(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** What a search may spend: until `deadline` (performance.now() time), `memoryBytes` of memo. */
interface Budget {
  readonly deadline: number;
  readonly memoryBytes: number;
}

function checkPart<S, I, O>(part: History<I, O>, model: Model<S, I, O>, budget: Budget): PartResult {
  const ops = [...part].sort((a, b) => a.call - b.call || a.id - b.id);
  const byNextCall = nextCallOfClient(ops);
  if (byNextCall.some((t, i) => Number.isFinite(t) && isUnknown(ops[i]!))) {
    const first = search(ops, model, budget, byNextCall);
    if (first.verdict !== 'exhausted') return first;
  }
  const full = search(ops, model, budget, null);
  if (full.verdict !== 'exhausted') return full;
  return violation(ops, model, full.best, full.bestState);
}

/** For each operation (sorted by call), when its client next called; +∞ for its last one. */
function nextCallOfClient<I, O>(ops: ReadonlyArray<Operation<I, O>>): Float64Array {
  const next = new Float64Array(ops.length).fill(Number.POSITIVE_INFINITY);
  const later = new Map<string, number>();
  for (let i = ops.length - 1; i >= 0; i--) {
    const op = ops[i]!;
    const t = later.get(op.client);
    if (t !== undefined) next[i] = t;
    later.set(op.client, op.call);
  }
  return next;
}

type SearchOutcome<S> =
  | { readonly verdict: 'ok' }
  | { readonly verdict: 'unknown'; readonly why: Exhaustion }
  | { readonly verdict: 'exhausted'; readonly best: readonly number[]; readonly bestState: S };

/**
 * One depth-first search over the part (`ops`, sorted by call). With `takesEffectBy`, an unknown
 * operation may only be placed while nothing called after its time there is placed.
 */
function search<S, I, O>(ops: ReadonlyArray<Operation<I, O>>, model: Model<S, I, O>, budget: Budget, takesEffectBy: Float64Array | null): SearchOutcome<S> {
  const dfs = new Search(ops, model, takesEffectBy);
  const lists = eventLists(ops);
  let steps = 0;
  // The cursor: the next candidate, in the known phase (known calls up to the first return event)
  // or in the unknown phase (unknown calls no later than `limit`, the first return event's time).
  let entry = lists.known.next;
  let inUnknown = false;
  let limit = Number.POSITIVE_INFINITY;
  for (;;) {
    if (dfs.knownLeft === 0) return { verdict: 'ok' };
    if (++steps % clockCheckEverySteps === 0) {
      if (performance.now() > budget.deadline) return { verdict: 'unknown', why: 'time' };
      if (dfs.memoBytes > budget.memoryBytes) return { verdict: 'unknown', why: 'memory' };
    }
    if (!inUnknown && (entry === null || !entry.isCall)) {
      // No known candidate left here: try the unknown operations called by now.
      limit = entry === null ? Number.POSITIVE_INFINITY : ops[entry.op]!.ret!;
      inUnknown = true;
      entry = lists.unknown.next;
      continue;
    }
    if (entry !== null && (!inUnknown || ops[entry.op]!.call <= limit)) {
      if (dfs.place(entry, limit)) {
        entry = lists.known.next;
        inUnknown = false;
      } else {
        entry = entry.next;
      }
      continue;
    }
    // Every candidate tried: a return event was reached with its operation unplaced (or the
    // known operations left cannot be placed). Undo the last choice and try the next after it.
    const undone = dfs.undo();
    if (undone === null) break;
    ({ entry, limit } = undone);
    inUnknown = isUnknown(ops[entry.op]!);
    entry = entry.next;
  }
  return { verdict: 'exhausted', best: dfs.best, bestState: dfs.bestState };
}

/**
 * The state of the search over one part: the linearized set (a bit set with its Zobrist hash),
 * the model state, the stack of choices, the memo, and the longest prefix found.
 */
class Search<S, I, O> {
  readonly #ops: ReadonlyArray<Operation<I, O>>;
  readonly #model: Model<S, I, O>;
  readonly #z: Uint32Array;
  readonly #bits: Uint32Array;
  readonly #memo = new Memo();
  /** For each operation, an earlier-called unknown one that does the same (goes first), or -1. */
  readonly #earlierAlike: Int32Array;
  /** If set, an unknown operation is placed only while no operation called after its time here is. */
  readonly #takesEffectBy: Float64Array | null;
  /** The latest call among the operations placed (stacked in `#maxCalls`). */
  #maxCall = Number.NEGATIVE_INFINITY;
  #h1 = 0;
  #h2 = 0;
  knownLeft: number;

  /** An estimate of the memory the memo takes. */
  get memoBytes(): number {
    return this.#memo.bytes;
  }
  #state: S;
  #stateKey: string;
  // The stack: what was linearized, the state and key before it, the limit it was chosen under.
  readonly #entries: Entry[] = [];
  readonly #states: S[] = [];
  readonly #keys: string[] = [];
  readonly #limits: number[] = [];
  readonly #maxCalls: number[] = [];
  readonly #knownTotal: number;
  /**
   * The longest prefix so far, by the operations of known outcome in it (the first reached with
   * that many: an unknown one in it is one the known ones needed); `best[0, dirtyFrom)` still
   * equals the stack there.
   */
  readonly best: number[] = [];
  #bestKnown = 0;
  bestState: S;
  #dirtyFrom = 0;

  constructor(ops: ReadonlyArray<Operation<I, O>>, model: Model<S, I, O>, takesEffectBy: Float64Array | null) {
    this.#ops = ops;
    this.#model = model;
    this.#takesEffectBy = takesEffectBy;
    this.#z = zobrist(ops.length);
    this.#bits = new Uint32Array(Math.ceil(ops.length / 32));
    this.#earlierAlike = earlierAlikeUnknown(ops, model);
    this.#knownTotal = ops.filter((op) => !isUnknown(op)).length;
    this.knownLeft = this.#knownTotal;
    this.#state = model.init();
    this.#stateKey = model.key(this.#state);
    this.bestState = this.#state;
  }

  /** Linearizes the operation of call event `entry` next, if that is allowed and new; whether it was. */
  place(entry: Entry, limit: number): boolean {
    const i = entry.op;
    const op = this.#ops[i]!;
    if (isUnknown(op) && (this.#expired(i) || this.#preceded(i))) return false;
    const next = this.#model.step(this.#state, op.input, op.output);
    if (next === undefined) return false;
    const nextKey = this.#model.key(next);
    if (isUnknown(op) && nextKey === this.#stateKey) return false; // no effect: placing it changes nothing
    this.#toggle(i);
    if (!this.#memo.add(this.#h1, this.#h2, nextKey, this.#bits)) {
      this.#toggle(i);
      return false;
    }
    this.#entries.push(entry);
    this.#states.push(this.#state);
    this.#keys.push(this.#stateKey);
    this.#limits.push(limit);
    this.#maxCalls.push(this.#maxCall);
    this.#maxCall = Math.max(this.#maxCall, op.call);
    this.#state = next;
    this.#stateKey = nextKey;
    lift(entry);
    if (!isUnknown(op)) this.knownLeft--;
    this.#noteBest();
    return true;
  }

  /** Takes back the last placement: its call event and the limit it was chosen under; null at the bottom. */
  undo(): { entry: Entry; limit: number } | null {
    const entry = this.#entries.pop();
    if (entry === undefined) return null;
    this.#state = this.#states.pop()!;
    this.#stateKey = this.#keys.pop()!;
    this.#maxCall = this.#maxCalls.pop()!;
    unlift(entry);
    this.#toggle(entry.op);
    if (!isUnknown(this.#ops[entry.op]!)) this.knownLeft++;
    this.#dirtyFrom = Math.min(this.#dirtyFrom, this.#entries.length);
    return { entry, limit: this.#limits.pop()! };
  }

  #noteBest(): void {
    const known = this.#knownTotal - this.knownLeft;
    if (known <= this.#bestKnown) return;
    const depth = this.#entries.length;
    for (let k = this.#dirtyFrom; k < depth; k++) this.best[k] = this.#entries[k]!.op;
    this.best.length = depth;
    this.#dirtyFrom = depth;
    this.#bestKnown = known;
    this.bestState = this.#state;
  }

  /** Whether unknown operation `i` may no longer take effect (first pass: its time has passed). */
  #expired(i: number): boolean {
    return this.#takesEffectBy !== null && this.#maxCall > this.#takesEffectBy[i]!;
  }

  /** Whether an earlier-called unknown operation that does the same as `i` must go first. */
  #preceded(i: number): boolean {
    const alike = this.#earlierAlike[i]!;
    return alike >= 0 && !this.#has(alike) && !this.#expired(alike);
  }

  #has(i: number): boolean {
    return (this.#bits[i >>> 5]! & (1 << (i & 31))) !== 0;
  }

  #toggle(i: number): void {
    this.#bits[i >>> 5]! ^= 1 << (i & 31);
    this.#h1 ^= this.#z[2 * i]!;
    this.#h2 ^= this.#z[2 * i + 1]!;
  }
}

/**
 * For each operation (sorted by call) with unknown outcome, the index of the last one called
 * before it with the same `unknownEffect`; -1 if none (and for every known operation).
 */
function earlierAlikeUnknown<S, I, O>(ops: ReadonlyArray<Operation<I, O>>, model: Model<S, I, O>): Int32Array {
  const earlier = new Int32Array(ops.length).fill(-1);
  const effectOf = model.unknownEffect?.bind(model);
  if (effectOf === undefined) return earlier;
  const last = new Map<string, number>();
  for (const [i, op] of ops.entries()) {
    if (!isUnknown(op)) continue;
    const effect = effectOf.call(model, op.input);
    if (effect === undefined) continue;
    earlier[i] = last.get(effect) ?? -1;
    last.set(effect, i);
  }
  return earlier;
}

/** What to report once the search is exhausted: the longest prefix and what could not follow it. */
function violation<S, I, O>(ops: ReadonlyArray<Operation<I, O>>, model: Model<S, I, O>, best: readonly number[], state: S): PartResult {
  const placed = new Set(best);
  const rest = ops.map((_, i) => i).filter((i) => !placed.has(i));
  const retOf = (i: number): number => (isUnknown(ops[i]!) ? Number.POSITIVE_INFINITY : ops[i]!.ret!);
  const minRet = rest.reduce((m, i) => Math.min(m, retOf(i)), Number.POSITIVE_INFINITY);
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
