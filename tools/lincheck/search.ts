/**
 * One depth-first linearizability search over one part of a history (see check.ts for the whole
 * checker): the loop that picks the next candidate and backtracks, and `Search`, the state it
 * works on (model state, linearized set, stack of choices, memo, longest prefix found). Separate
 * from check.ts, which decides which searches to run and turns their outcomes into verdicts.
 *
 * The search linearizes one operation at a time: a candidate is any operation whose call comes
 * before the first return event still in the event list (so no unlinearized operation completed
 * before it was invoked). Linearizing it steps the model and lifts its two events out of the
 * list; when a return event is reached with its operation still unplaced, the search backtracks
 * (an explicit stack: no recursion, however long the history). Every (set of linearized
 * operations, model state) pair is entered once (memo.ts).
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
 */
import { type Entry, eventLists, isUnknown, lift, unlift } from './events.js';
import { LinearizedSet, Memo } from './memo.js';
import type { Model, Operation } from './types.js';

/** The search looks at the clock once per this many steps. */
const clockCheckEverySteps = 1024;

/** Why a search gave up. */
export type Exhaustion = 'time' | 'memory';

/** What a search may spend: until `deadline` (performance.now() time), `memoryBytes` of memo. */
export interface Budget {
  readonly deadline: number;
  readonly memoryBytes: number;
}

/** `exhausted`: every choice was tried and none linearizes the part; `best` is the longest prefix found. */
export type SearchOutcome<S> =
  | { readonly verdict: 'ok' }
  | { readonly verdict: 'unknown'; readonly why: Exhaustion }
  | { readonly verdict: 'exhausted'; readonly best: readonly number[]; readonly bestState: S };

/**
 * One depth-first search over the part (`ops`, sorted by call). With `takesEffectBy`, an unknown
 * operation may only be placed while nothing called after its time there is placed.
 */
export function search<S, I, O>(ops: ReadonlyArray<Operation<I, O>>, model: Model<S, I, O>, budget: Budget, takesEffectBy: Float64Array | null): SearchOutcome<S> {
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
 * The state of the search over one part: the linearized set, the model state, the stack of
 * choices, the memo, and the longest prefix found.
 */
class Search<S, I, O> {
  readonly #ops: ReadonlyArray<Operation<I, O>>;
  readonly #model: Model<S, I, O>;
  readonly #set: LinearizedSet;
  readonly #memo = new Memo();
  /** For each operation, an earlier-called unknown one that does the same (goes first), or -1. */
  readonly #earlierAlike: Int32Array;
  /** If set, an unknown operation is placed only while no operation called after its time here is. */
  readonly #takesEffectBy: Float64Array | null;
  /** The latest call among the operations placed (stacked in `#maxCalls`). */
  #maxCall = Number.NEGATIVE_INFINITY;
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
    this.#set = new LinearizedSet(ops.length);
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
    this.#set.toggle(i);
    if (!this.#memo.add(this.#set, nextKey)) {
      this.#set.toggle(i);
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
    this.#set.toggle(entry.op);
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
    return alike >= 0 && !this.#set.has(alike) && !this.#expired(alike);
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
