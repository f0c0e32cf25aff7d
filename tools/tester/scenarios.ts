/**
 * The scenarios of the real-process tester (issue 6): the classic seventeen (0–16), four new
 * ones (17–20), and the durability scenarios of issue 13 (21 onwards: whole-cluster restarts, a member on a wiped data directory,
 * the complete holders removed and one coming back), the lease scenario of issue 14 (27: a primary cut off from its peers only), and the KV store's watches of issue 16 (28–30, on `synod node --app kv`). Each starts a fresh cluster of `synod lock-server` processes, grows it one node at
 * a time (views [n1], [n1,n2], … so the history is known), injects its faults, and checks the
 * content of the views on every node — exact member lists in order, the same history everywhere,
 * the primary — plus, where it runs load, the lock tester's verdict and the background load's.
 *
 * This file is the numbered list; the scenarios live by theme in scenarios/ (membership, crash
 * breakpoints, load, partitions, restarts, holders-removed, lease) and share the steps in steps.ts.
 *
 * Naming: n1 is the first node (lowest port) and the first primary; `G` is the growth history.
 */
import { invariant } from '../../src/env/errors.js';
import type { TesterCluster } from './cluster.js';
import { ScenarioFailure } from './report.js';
import { breakpointScenarios } from './scenarios/breakpoints.js';
import { holdersRemovedScenarios } from './scenarios/holders-removed.js';
import { kvWatchScenarios } from './scenarios/kv-watches.js';
import { leaseScenarios } from './scenarios/lease.js';
import { loadScenarios } from './scenarios/load.js';
import { membershipScenarios } from './scenarios/membership.js';
import { partitionScenarios } from './scenarios/partitions.js';
import { restartScenarios } from './scenarios/restarts.js';

export interface Scenario {
  readonly number: number;
  readonly name: string;
  /** How many nodes the scenario's cluster has. */
  readonly nodes: number;
  /** Extra arguments for every start of every node of the scenario (`TesterClusterOptions.nodeArgs`); default none. */
  readonly nodeArgs?: readonly string[];
  /** The built-in app the nodes run (`synod node --app APP`); default the lock service (`synod lock-server`). */
  readonly app?: string;
  run(c: TesterCluster): Promise<void>;
}

/** Every scenario, by number; invariant: the numbers are 0, 1, 2 … with no gap. */
export const scenarios: readonly Scenario[] = [...membershipScenarios, ...breakpointScenarios, ...loadScenarios, ...partitionScenarios, ...restartScenarios,
  ...holdersRemovedScenarios, ...leaseScenarios, ...kvWatchScenarios]
  .sort((a, b) => a.number - b.number);
scenarios.forEach((s, i) => invariant(s.number === i, `tester scenarios: expected number ${i}, found ${s.number} (${s.name})`));

export function scenario(n: number): Scenario {
  const s = scenarios.find((x) => x.number === n);
  if (s === undefined) throw new ScenarioFailure(`no scenario ${n}; there are 0 to ${scenarios.length - 1}`);
  return s;
}
