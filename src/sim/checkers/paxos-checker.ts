import type { NodeId } from '../../env/types.js';
import type { PaxosValue } from '../../paxos/messages.js';
import type { Simulation } from '../simulation.js';

function key(value: PaxosValue): string {
  return value.join(',');
}

/**
 * Safety checkers of the Paxos layer, fed by every node's upcalls:
 * - agreement: no two nodes (or two lives of one node) deliver different values for an instance;
 * - validity: a delivered value was proposed for that instance (or is view 1, `[first]`);
 * - durability: a node that delivered an instance still has it, with the same value, after a
 *   restart (it was durable before the upcall).
 * Liveness is checked by the run itself (`paxos-run.ts`).
 */
export class PaxosChecker {
  readonly #sim: Simulation;
  readonly #chosen = new Map<number, string>();
  readonly #proposed = new Map<number, Set<string>>();
  /** Per node, every instance it delivered in any of its lives. */
  readonly #delivered = new Map<NodeId, Map<number, string>>();
  maxDecided = 1;

  constructor(sim: Simulation, first: NodeId) {
    this.#sim = sim;
    this.#chosen.set(1, first);
    this.#proposed.set(1, new Set([first]));
  }

  proposed(instance: number, value: PaxosValue): void {
    let set = this.#proposed.get(instance);
    if (set === undefined) {
      set = new Set();
      this.#proposed.set(instance, set);
    }
    set.add(key(value));
  }

  delivered(node: NodeId, instance: number, value: PaxosValue): void {
    const k = key(value);
    this.#sim.log(`decided ${node} i=${instance} [${k}]`);
    const chosen = this.#chosen.get(instance);
    if (chosen === undefined) {
      this.#chosen.set(instance, k);
      if (instance > this.maxDecided) this.maxDecided = instance;
    } else if (chosen !== k) {
      this.#sim.fail(`agreement: ${node} decided [${k}] in instance ${instance}, another node decided [${chosen}]`);
    }
    if (this.#proposed.get(instance)?.has(k) !== true) {
      this.#sim.fail(`validity: ${node} decided [${k}] in instance ${instance}, which nobody proposed there`);
    }
    let mine = this.#delivered.get(node);
    if (mine === undefined) {
      mine = new Map();
      this.#delivered.set(node, mine);
    }
    mine.set(instance, k);
  }

  /** `node` restarted; `replayed(i)` is what its log gave back for instance i. */
  restarted(node: NodeId, replayed: (instance: number) => PaxosValue | undefined): void {
    for (const [instance, k] of this.#delivered.get(node) ?? []) {
      const value = replayed(instance);
      if (value === undefined || key(value) !== k) {
        this.#sim.fail(
          `durability: ${node} delivered [${k}] in instance ${instance} before a crash, ` +
          `and replays ${value === undefined ? 'nothing' : `[${key(value)}]`} after it`);
      }
    }
  }

  /** Instances decided so far (the highest one known to any node's upcall). */
  get decidedCount(): number {
    return this.#chosen.size;
  }
}
