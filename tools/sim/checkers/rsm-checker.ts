import type { NodeId } from '../../../src/env/types.js';
import type { Outcome } from '../../../src/rsm/client-table.js';
import type { Request } from '../../../src/rsm/messages.js';
import { type Viewstamp, compareViewstamps, formatViewstamp } from '../../../src/rsm/viewstamp.js';
import type { Simulation } from '../simulation.js';

/** One client call as the client saw it. */
export interface CallRecord {
  readonly clientId: string;
  readonly item: string;
  readonly invokedMs: number;
  completedMs: number | null;
  /** ok: executed, with the index the app returned; unknown: deadline passed; failed: refused (not executed). */
  result: { readonly kind: 'ok'; readonly index: number } | { readonly kind: 'unknown' } | { readonly kind: 'failed'; readonly error: string } | null;
}

/**
 * Safety checkers of the RSM layer; the first three hold for any app, the rest are about the test
 * app's append-only list:
 * - same request at every viewstamp: every replica that executed viewstamp v executed the same
 *   request there (checked as it happens);
 * - same outcome at every viewstamp: and got the same outcome for it (the reply, or the error's
 *   code and message), so an app that answers differently on different replicas (a clock, a
 *   random number, a global counter in a handler) is caught even where the states agree;
 * - equal state: every member of a quiet view holds the same state (app state and client table);
 * - no acknowledged request lost: every item a client was told is at index i is at index i of the
 *   final list;
 * - no request executed twice: no item appears twice in the final list;
 * - refused calls did not execute: an item whose call was refused is not in the list;
 * - real-time order: an append acknowledged before another was invoked has the lower index.
 * The client history (invocation and completion times, outcomes) is kept for these and for
 * linearizability checking.
 */
export class RsmChecker {
  readonly #sim: Simulation;
  /** What was executed at each viewstamp, with what outcome, and by which replicas (whose durable state still holds it). */
  readonly #atViewstamp = new Map<string, { readonly node: NodeId; readonly request: string; readonly outcome: string; readonly by: Set<NodeId> }>();
  /** The viewstamps each replica executed, in order (to forget what a crash took back: `restored`). */
  readonly #byNode = new Map<NodeId, Viewstamp[]>();
  readonly calls: CallRecord[] = [];
  executions = 0;

  constructor(sim: Simulation) {
    this.#sim = sim;
  }

  executed(node: NodeId, vs: Viewstamp, request: Request, outcome: Outcome): void {
    this.executions++;
    const key = formatViewstamp(vs);
    const what = `${request.clientId}#${request.seq}:${request.proc}:${request.argsText}`;
    const got = JSON.stringify(outcome);
    const known = this.#atViewstamp.get(key);
    let mine = this.#byNode.get(node);
    if (mine === undefined) this.#byNode.set(node, (mine = []));
    mine.push(vs);
    if (known === undefined) {
      this.#atViewstamp.set(key, { node, request: what, outcome: got, by: new Set([node]) });
      return;
    }
    known.by.add(node);
    const other = [...known.by].find((n) => n !== node) ?? known.node;
    if (known.request !== what) this.#sim.fail(`same request at viewstamp: ${node} executed ${what} at ${key}, ${other} ${known.request}`);
    else if (known.outcome !== got) {
      this.#sim.fail(`same outcome at viewstamp: ${node} got ${got} for ${what} at ${key}, ${other} ${known.outcome}. ` +
        'Either the app is not deterministic (a handler reads a clock, randomness, I/O or a global) or the replicas executed from different states');
    }
  }

  /**
   * `node` restarted holding the durable state it had at `last` (null: none): what it executed
   * after `last` in its earlier life never became durable and no message rested on it, so it may
   * execute something else there now. Other replicas' executions still count.
   */
  restored(node: NodeId, last: Viewstamp | null): void {
    const mine = this.#byNode.get(node) ?? [];
    const kept = mine.filter((vs) => last !== null && compareViewstamps(vs, last) <= 0);
    for (const vs of mine) {
      if (last !== null && compareViewstamps(vs, last) <= 0) continue;
      const key = formatViewstamp(vs);
      const known = this.#atViewstamp.get(key);
      known?.by.delete(node);
      if (known?.by.size === 0) this.#atViewstamp.delete(key);
    }
    this.#byNode.set(node, kept);
  }

  invoked(clientId: string, item: string): CallRecord {
    const record: CallRecord = { clientId, item, invokedMs: this.#sim.now, completedMs: null, result: null };
    this.calls.push(record);
    return record;
  }

  /**
   * Real time: an append acknowledged before another append was invoked must have the lower
   * index (for this app, what linearizability asks of acknowledged calls).
   */
  #checkRealTime(): void {
    const acked = this.calls.filter((c) => c.result?.kind === 'ok' && c.completedMs !== null);
    const byCompletion = [...acked].sort((x, y) => x.completedMs! - y.completedMs!);
    const byInvocation = [...acked].sort((x, y) => x.invokedMs - y.invokedMs);
    const index = (c: CallRecord): number => (c.result as { index: number }).index;
    let k = 0;
    let highest: CallRecord | null = null; // of the calls completed so far, the one with the highest index
    for (const c of byInvocation) {
      while (k < byCompletion.length && byCompletion[k]!.completedMs! < c.invokedMs) {
        const d = byCompletion[k++]!;
        if (highest === null || index(d) > index(highest)) highest = d;
      }
      if (highest !== null && index(highest) >= index(c)) {
        this.#sim.fail(`real-time order: ${highest.item} (index ${index(highest)}) was acknowledged at ` +
          `${highest.completedMs!.toFixed(1)} ms, before ${c.item} was invoked at ${c.invokedMs.toFixed(1)} ms, ` +
          `yet ${c.item} got the lower index ${index(c)}`);
        return;
      }
    }
  }

  /**
   * Equal state: every member of a quiet view holds the same snapshot (app state and client
   * table). `sizes` describes each member's state for the failure message (e.g. `3 items`).
   */
  checkEqualState(snapshots: ReadonlyMap<NodeId, string>, sizes: ReadonlyMap<NodeId, string>): void {
    const distinct = new Set(snapshots.values());
    if (distinct.size > 1) {
      const desc = [...sizes].map(([n, size]) => `${n}:${size}`).join(' ');
      this.#sim.fail(`equal state: the members of the final view hold ${distinct.size} different states (${desc})`);
    }
  }

  /** Final checks on the members of a quiet view: their lists and snapshots. */
  checkFinal(lists: ReadonlyMap<NodeId, readonly string[]>, snapshots: ReadonlyMap<NodeId, string>): void {
    this.checkEqualState(snapshots, new Map([...lists].map(([n, l]) => [n, `${l.length} items`])));
    const list = lists.values().next().value;
    if (list === undefined) return;
    const seen = new Set<string>();
    for (const item of list) {
      if (seen.has(item)) this.#sim.fail(`executed twice: ${item} appears more than once in the final list`);
      seen.add(item);
    }
    const at = new Map(list.map((item, i) => [item, i]));
    for (const c of this.calls) {
      if (c.result?.kind === 'failed' && at.has(c.item)) {
        this.#sim.fail(`failed call executed: ${c.item} was refused to its client (${c.result.error}) yet is at ${at.get(c.item)}`);
      }
    }
    this.#checkRealTime();
    for (const c of this.calls) {
      if (c.result?.kind !== 'ok') continue;
      if (list[c.result.index] !== c.item) {
        const at = list.indexOf(c.item);
        this.#sim.fail(`acknowledged request lost: ${c.item} was acknowledged at index ${c.result.index}, ` +
          `the final list has ${at < 0 ? 'it nowhere' : `it at ${at}`} (${list[c.result.index] ?? 'nothing'} at ${c.result.index})`);
      }
    }
  }
}
