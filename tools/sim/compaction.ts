import type { PaxosOptions } from '../../src/options.js';
import { Prng } from './prng.js';

/**
 * Paxos log compaction settings for one run, drawn from the seed by a generator of its own (so
 * the run's other draws, and the digests of runs that keep the defaults, do not change): about
 * half the runs keep the defaults (no compaction in a run this short), the others keep 1–4 views
 * and compact every 1–6, so that snapshots, generation changes, crashes in the middle of them,
 * and catch-up from peers that forgot the views a node lacks all happen many times per run.
 */
export function drawCompaction(seed: number): Partial<PaxosOptions> | undefined {
  const rng = new Prng((seed ^ 0x1f3d5b79) >>> 0);
  if (rng.chance(0.5)) return undefined;
  return { retainedViews: rng.between(1, 4), compactAfterViews: rng.between(1, 6) };
}
