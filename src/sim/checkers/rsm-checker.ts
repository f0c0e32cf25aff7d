import type { NodeId } from '../../env/types.js';
import type { Outcome } from '../../rsm/client-table.js';
import type { Request } from '../../rsm/messages.js';
import { type Viewstamp, formatViewstamp } from '../../rsm/viewstamp.js';
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
 * Safety checkers of the RSM layer over the test app's append-only list:
 * - same request at every viewstamp: every replica that executed viewstamp v executed the same
 *   request there (checked as it happens);
 * - equal state: every member of a quiet view holds the same state (app state and client table);
 * - no acknowledged request lost: every item a client was told is at index i is at index i of the
 *   final list;
 * - no request executed twice: no item appears twice in the final list.
 * The client history (invocation and completion times, outcomes) is kept for these and for
 * linearizability checking.
 */
export class RsmChecker {
  readonly #sim: Simulation;
  readonly #atViewstamp = new Map<string, string>();
  readonly calls: CallRecord[] = [];
  executions = 0;

  constructor(sim: Simulation) {
    this.#sim = sim;
  }

  executed(node: NodeId, vs: Viewstamp, request: Request, _outcome: Outcome): void {
    this.executions++;
    const key = formatViewstamp(vs);
    const what = `${request.clientId}#${request.seq}:${request.proc}`;
    const known = this.#atViewstamp.get(key);
    if (known === undefined) this.#atViewstamp.set(key, what);
    else if (known !== what) this.#sim.fail(`same request at viewstamp: ${node} executed ${what} at ${key}, another replica ${known}`);
  }

  invoked(clientId: string, item: string): CallRecord {
    const record: CallRecord = { clientId, item, invokedMs: this.#sim.now, completedMs: null, result: null };
    this.calls.push(record);
    return record;
  }

  /** Final checks on the members of a quiet view: their lists and snapshots. */
  checkFinal(lists: ReadonlyMap<NodeId, readonly string[]>, snapshots: ReadonlyMap<NodeId, string>): void {
    const distinct = new Set(snapshots.values());
    if (distinct.size > 1) {
      const desc = [...lists].map(([n, l]) => `${n}:${l.length} items`).join(' ');
      this.#sim.fail(`equal state: the members of the final view hold ${distinct.size} different states (${desc})`);
    }
    const list = lists.values().next().value;
    if (list === undefined) return;
    const seen = new Set<string>();
    for (const item of list) {
      if (seen.has(item)) this.#sim.fail(`executed twice: ${item} appears more than once in the final list`);
      seen.add(item);
    }
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
