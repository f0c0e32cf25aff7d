import type { RunResult } from '../../tools/sim/run-result.js';

/**
 * Runs seeds 1, 2, … until one fails with a message whose category (the text before the first
 * colon, after the time stamp) starts with `category`; at most `limit` seeds. For the tests that
 * prove a checker bites.
 */
export function firstCaught(category: string, limit: number, run: (seed: number) => RunResult): { seed: number; failure: string } | undefined {
  for (let seed = 1; seed <= limit; seed++) {
    const failure = run(seed).failures.find((f) => f.replace(/^t=[\d.]+ms /, '').startsWith(category));
    if (failure !== undefined) return { seed, failure };
  }
  return undefined;
}

/**
 * What the lease-related faults did over a suite's runs: runs whose primary was cut from its
 * peers (`cut-primary-from-peers`), how many cuts (one-way among them), and runs whose clocks
 * drifted. `check` asserts that a suite of 20 runs or more exercised each.
 */
export class LeaseFaultTally {
  runs = 0;
  cutRuns = 0;
  cuts = 0;
  oneWay = 0;
  drifting = 0;

  add(r: RunResult): void {
    this.runs++;
    const cuts = r.stats['primaryCuts'] ?? 0;
    this.cutRuns += cuts > 0 ? 1 : 0;
    this.cuts += cuts;
    this.oneWay += r.stats['primaryCutsOneWay'] ?? 0;
    this.drifting += (r.stats['driftPpm'] ?? 0) > 0 ? 1 : 0;
  }

  describe(): string {
    return `${this.cutRuns} of ${this.runs} runs cut their primary from its peers (${this.cuts} cuts, ${this.oneWay} one-way), ` +
      `${this.drifting} ran on drifting clocks`;
  }

  check(): void {
    if (this.runs < 20) return;
    if (this.cutRuns === 0 || this.oneWay === 0 || this.drifting === 0) throw new Error(`lease faults not exercised: ${this.describe()}`);
  }
}
