import { appendModel, lockModel } from '../lincheck/models.js';
import { kvModel } from '../lincheck/kv-model.js';
import { writeViolationPicture } from '../lincheck/render.js';
import type { CheckResult, History, Model } from '../lincheck/types.js';
import { runConfigSimulation } from './config-run.js';
import { runFeedSimulation } from './feed-run.js';
import { runLockCacheSimulation } from './lock-cache-run.js';
import { runLockSimulation } from './lock-run.js';
import { runKvSimulation } from './kv-run.js';
import { runPaxosSimulation } from './paxos-run.js';
import { type StackRunOptions, runRsmSimulation } from './rsm-run.js';
import type { RunResult } from './run-result.js';

/** Options every layer's randomized run understands. */
export interface RunOptions {
  readonly seed: number;
  readonly keepTrace?: boolean;
  readonly traceLogs?: boolean;
  /** Names of test-only mutations to switch on (see `mutationNames`). */
  readonly mutations?: readonly string[];
  /**
   * Where to draw the client history of a run whose history is not linearizable (an HTML file
   * named after the seed; its path is added to the run's failures). Default: no picture.
   */
  readonly pictureDir?: string;
  /** rsm, lock, lock-cache: every clock drifts up to K·ρ (`StackRunOptions.clockDriftX`); default drawn per run. */
  readonly clockDriftX?: number;
  /** rsm, kv: calls each client keeps in flight at once (`StackRunOptions.callsPerClient`); default 1. */
  readonly callsPerClient?: number;
  /** rsm, lock, lock-cache: the `power-cut-backups` fault (`StackRunOptions.powerCutBackups`); default off. */
  readonly powerCutBackups?: boolean;
}

type Runner = (opts: RunOptions) => RunResult;

/** The RSM's test-only mutations (rsm and lock runs: the same stack under another app). */
const rsmMutationNames = ['reply-before-all-acks', 'execute-out-of-order', 'no-client-table', 'wrong-window-slot', 'no-expired-refusal', 'strict-completeness', 'send-before-durable',
  'ack-before-durable', 'ack-batch-before-fsync', 'snapshot-without-fsync', 'wipe-keeps-member-id', 'stamp-not-durable', 'serve-without-lease', 'new-primary-without-waiting'];

/** Test-only mutations by name, per layer: each breaks the protocol on purpose. */
export const mutationNames: Record<string, readonly string[]> = {
  paxos: ['skip-promise-persist', 'send-before-durable', 'forge-value', 'no-catch-up', 'lying-disk'],
  config: ['skip-promise-persist', 'send-before-durable', 'joiner-first', 'skip-view-rule', 'wipe-keeps-member-id'],
  rsm: rsmMutationNames,
  feed: [...rsmMutationNames, 'skip-feed-event-on-resume', 'publish-feed-before-durable'],
  lock: [...rsmMutationNames, 'skip-owner-check'],
  kv: [...rsmMutationNames, 'skip-feed-event-on-resume', 'publish-feed-before-durable', 'expire-on-replica-clock', 'lease-clock-ignores-renewals'],
  'lock-cache': [...rsmMutationNames, 'hand-out-while-releasing', 'cache-past-session'],
};

function paxosMutations(names: readonly string[] | undefined) {
  return {
    skipPromisePersist: names?.includes('skip-promise-persist') === true,
    sendBeforeDurable: names?.includes('send-before-durable') === true,
    forgeOwnValue: names?.includes('forge-value') === true,
    noCatchUp: names?.includes('no-catch-up') === true,
    skipValueRule: names?.includes('skip-view-rule') === true,
  };
}

export const layerRunners: Record<string, Runner> = {
  paxos: (o) =>
    runPaxosSimulation({
      seed: o.seed,
      keepTrace: o.keepTrace,
      traceLogs: o.traceLogs,
      mutations: paxosMutations(o.mutations),
      lyingDisk: o.mutations?.includes('lying-disk') === true,
    }),
  config: (o) =>
    runConfigSimulation({
      seed: o.seed,
      keepTrace: o.keepTrace,
      traceLogs: o.traceLogs,
      mutations: {
        ...paxosMutations(o.mutations),
        joinerFirst: o.mutations?.includes('joiner-first') === true,
        wipeKeepsMemberId: o.mutations?.includes('wipe-keeps-member-id') === true,
      },
    }),
  rsm: (o) => runStack('rsm', o, appendModel, runRsmSimulation),
  feed: (o) => runStack('feed', o, appendModel, runFeedSimulation),
  kv: (o) => runStack('kv', o, kvModel, (opts) => runKvSimulation({ ...opts, expireOnReplicaClock: o.mutations?.includes('expire-on-replica-clock') === true })),
  lock: (o) => runStack('lock', o, lockModel, (opts) => runLockSimulation({
    ...opts,
    ...(o.mutations?.includes('skip-owner-check') === true ? { lockAppMutations: { skipOwnerCheck: true } } : {}),
  })),
  'lock-cache': (o) => runStack('lock-cache', o, lockModel, (opts) => runLockCacheSimulation({
    ...opts,
    lockClientMutations: {
      handOutWhileReleasing: o.mutations?.includes('hand-out-while-releasing') === true,
      cachePastSession: o.mutations?.includes('cache-past-session') === true,
    },
  })),
};

/**
 * A whole-stack run of `layer` (rsm, lock) with the RSM mutations named in `o`; with
 * `o.pictureDir`, a client history that is not linearizable is drawn there.
 */
function runStack<S, I, O>(layer: string, o: RunOptions, model: Model<S, I, O>, run: (opts: StackRunOptions<I, O>) => RunResult): RunResult {
  let picture: string | null = null;
  const result = run({
    seed: o.seed,
    ...(o.pictureDir === undefined ? {} : {
      onViolation: (history: History<I, O>, verdict: Extract<CheckResult, { verdict: 'violation' }>) => {
        picture = writeViolationPicture(o.pictureDir!, history, model, verdict, {
          name: `${layer}-seed-${o.seed}`, title: `npm run sim -- --layer ${layer} --seed ${o.seed}`,
        });
      },
    }),
    keepTrace: o.keepTrace,
    traceLogs: o.traceLogs,
    ...(o.clockDriftX === undefined ? {} : { clockDriftX: o.clockDriftX }),
    ...(o.callsPerClient === undefined ? {} : { callsPerClient: o.callsPerClient }),
    ...(o.powerCutBackups === true ? { powerCutBackups: true } : {}),
    mutations: {
      ...paxosMutations(o.mutations),
      replyBeforeAllAcks: o.mutations?.includes('reply-before-all-acks') === true,
      executeOutOfOrder: o.mutations?.includes('execute-out-of-order') === true,
      noClientTable: o.mutations?.includes('no-client-table') === true,
      wrongWindowSlot: o.mutations?.includes('wrong-window-slot') === true,
      noExpiredRefusal: o.mutations?.includes('no-expired-refusal') === true,
      strictCompleteness: o.mutations?.includes('strict-completeness') === true,
      ackBeforeDurable: o.mutations?.includes('ack-before-durable') === true,
      ackBatchBeforeFsync: o.mutations?.includes('ack-batch-before-fsync') === true,
      snapshotWithoutFsync: o.mutations?.includes('snapshot-without-fsync') === true,
      wipeKeepsMemberId: o.mutations?.includes('wipe-keeps-member-id') === true,
      stampNotDurable: o.mutations?.includes('stamp-not-durable') === true,
      serveWithoutLease: o.mutations?.includes('serve-without-lease') === true,
      newPrimaryWithoutWaiting: o.mutations?.includes('new-primary-without-waiting') === true,
      skipFeedEventOnResume: o.mutations?.includes('skip-feed-event-on-resume') === true,
      publishFeedBeforeDurable: o.mutations?.includes('publish-feed-before-durable') === true,
      leaseClockIgnoresRenewals: o.mutations?.includes('lease-clock-ignores-renewals') === true,
    },
  });
  return picture === null ? result : { ...result, failures: [...result.failures, `picture of the client history: ${picture as string}`] };
}
