import { formatResult } from '../sim/run-result.js';
import { simulateApp } from './simulate.js';
import { type SimulateAppOptions, type SimulationResult, TestkitUsageError } from './types.js';

/** At most this many progress lines for a batch of seeds (besides one per failing seed and the summary). */
const progressLines = 10;

/** `simulateApp`'s options for many seeds: the same, without `seed`. */
export interface SimulateSeedsOptions<S, M = Uint8Array> extends Omit<SimulateAppOptions<S, M>, 'seed' | 'keepTrace'> {
  /** The seeds: a count `n` (seeds 1…n) or a list. */
  readonly seeds: number | readonly number[];
  /** Where progress lines go; default: standard output. */
  readonly log?: (line: string) => void;
}

/** What `simulateSeeds` found. */
export interface SeedsReport {
  readonly runs: number;
  readonly passed: number;
  /** The runs that failed, in seed order, with their failures. */
  readonly failed: readonly SimulationResult[];
  readonly failingSeeds: readonly number[];
  /** Operations checked for linearizability, over every run. */
  readonly operations: number;
  /** Runs whose history check ran out of its time budget (not failures). */
  readonly lincheckUnknown: number;
  readonly ok: boolean;
}

function seedList(seeds: number | readonly number[]): readonly number[] {
  if (typeof seeds !== 'number') return seeds;
  if (!Number.isInteger(seeds) || seeds < 1) throw new TestkitUsageError(`simulateSeeds: seeds must be a count >= 1 or a list, got ${seeds}`);
  return Array.from({ length: seeds }, (_, k) => k + 1);
}

/**
 * Runs `simulateApp` for many seeds, one after another, and reports as it goes: a progress line
 * now and then (at most `progressLines`), each failing seed at once with its failures and how to
 * replay it, and a last line with the counts and the failing seeds.
 */
export function simulateSeeds<S, M = Uint8Array>(options: SimulateSeedsOptions<S, M>): SeedsReport {
  const { seeds: given, log = (line: string) => process.stdout.write(`${line}\n`), ...run } = options;
  const seeds = seedList(given);
  const every = Math.max(1, Math.ceil(seeds.length / progressLines));
  const started = Date.now();
  const failed: SimulationResult[] = [];
  let operations = 0;
  let lincheckUnknown = 0;
  for (const [k, seed] of seeds.entries()) {
    const r = simulateApp<S, M>({ ...run, seed });
    operations += r.operations;
    if (r.lincheck === 'unknown') lincheckUnknown++;
    if (!r.ok) {
      failed.push(r);
      log(formatResult(r));
      for (const f of r.failures) log(`  ${f}`);
      log(`  replay: simulateApp({ …, seed: ${seed} })`);
    }
    if ((k + 1) % every === 0 || k + 1 === seeds.length) {
      log(`testkit: ${k + 1}/${seeds.length} seeds, ${k + 1 - failed.length} passed, ${failed.length} failed (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    }
  }
  const failingSeeds = failed.map((r) => r.seed);
  log(`testkit: ${seeds.length - failed.length} passed, ${failed.length} failed; ${operations} operations checked` +
    `${lincheckUnknown > 0 ? `, ${lincheckUnknown} histories past the check's time budget` : ''}` +
    `${failingSeeds.length > 0 ? `; failing seeds: ${failingSeeds.join(' ')}` : ''}`);
  return { runs: seeds.length, passed: seeds.length - failed.length, failed, failingSeeds, operations, lincheckUnknown, ok: failed.length === 0 };
}
