import type { Members, NodeId } from '../../../src/env/types.js';
import { describeChange } from '../../../src/config/view-manager.js';
import type { Simulation } from '../simulation.js';

/**
 * Safety checkers of the config layer, fed by every node's committed views:
 * - every node commits the same member list as view i (on top of the Paxos checker's agreement);
 * - each view differs from the one before by exactly one member: a joiner appended at the end,
 *   or one member removed with the others' order kept.
 */
export class ConfigChecker {
  readonly #sim: Simulation;
  readonly #views = new Map<number, string>();

  constructor(sim: Simulation, first: NodeId) {
    this.#sim = sim;
    this.#views.set(1, first);
  }

  /** `node` committed view `vid` with `members`; `previous` is its view vid - 1. */
  committed(node: NodeId, vid: number, members: Members, previous: Members | undefined): void {
    const key = members.join(',');
    const known = this.#views.get(vid);
    if (known === undefined) this.#views.set(vid, key);
    else if (known !== key) this.#sim.fail(`view agreement: ${node} committed view ${vid} = [${key}], others [${known}]`);
    if (previous !== undefined && !oneStep(previous, members)) {
      this.#sim.fail(`view step: view ${vid} = [${key}] is not one member away from view ${vid - 1} = ` +
        `[${previous.join(',')}] (${describeChange(previous, members)})`);
    }
  }

  get latest(): { vid: number; members: Members } {
    const vid = Math.max(...this.#views.keys());
    return { vid, members: this.#views.get(vid)!.split(',') };
  }
}

/**
 * `after` is `before` plus one member at the end, minus one member in the same order, or `before`
 * itself (a refresh after a restart, which only a node stack with durable state proposes).
 */
export function oneStep(before: Members, after: Members): boolean {
  if (after.length === before.length && before.every((m, i) => after[i] === m)) return true;
  if (after.length === before.length + 1) {
    return !before.includes(after.at(-1)!) && before.every((m, i) => after[i] === m);
  }
  if (after.length === before.length - 1) {
    const removed = before.filter((m) => !after.includes(m));
    return removed.length === 1 && before.filter((m) => m !== removed[0]).every((m, i) => after[i] === m);
  }
  return false;
}
