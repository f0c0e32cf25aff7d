import { runPaxosSimulation } from './paxos-run.js';
import type { RunResult } from './run-result.js';

/** Options every layer's randomized run understands. */
export interface RunOptions {
  readonly seed: number;
  readonly keepTrace?: boolean;
  readonly traceLogs?: boolean;
  /** Names of test-only mutations to switch on (see `mutationNames`). */
  readonly mutations?: readonly string[];
}

type Runner = (opts: RunOptions) => RunResult;

/** Test-only mutations by name, per layer: each breaks the protocol on purpose. */
export const mutationNames: Record<string, readonly string[]> = {
  paxos: ['skip-promise-persist', 'send-before-durable'],
};

export const layerRunners: Record<string, Runner> = {
  paxos: (o) =>
    runPaxosSimulation({
      seed: o.seed,
      ...(o.keepTrace === undefined ? {} : { keepTrace: o.keepTrace }),
      ...(o.traceLogs === undefined ? {} : { traceLogs: o.traceLogs }),
      mutations: {
        skipPromisePersist: o.mutations?.includes('skip-promise-persist') === true,
        sendBeforeDurable: o.mutations?.includes('send-before-durable') === true,
      },
    }),
};
