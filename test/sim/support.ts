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
