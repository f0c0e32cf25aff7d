import { FeedCompactedError } from '../../src/client/feed-errors.js';
import { FeedSubscription } from '../../src/client/feed-subscription.js';
import type { RsmClient } from '../../src/client/rsm-client.js';
import type { AppendInput, AppendOutput } from '../lincheck/models.js';
import { WatcherLog, checkWatchers, listReference } from './checkers/feed-checker.js';
import { type FeedLogState, feedLogApp } from './feed-log-app.js';
import type { Prng } from './prng.js';
import { type StackRunOptions, type Workload, type WorkloadRun, appendWorkload, runStackSimulation } from './rsm-run.js';
import type { ClientMachine } from './stack-workload.js';
import type { RunResult } from './run-result.js';

/** The watchers' choices (shares of 1) and pauses (virtual ms). */
export const feedRunBounds = {
  /** Share of clients whose machine also runs a watcher. */
  watcherShare: 0.7,
  /** Share of watchers that ask for one client's items only (a prefix filter); the rest take every item. */
  filteredShare: 0.4,
  /** Share of watchers that start somewhere after position 0 (up to `startAfterMax`). */
  startLaterShare: 0.3,
  startAfterMax: 20,
  /** A watcher closes its subscription and opens another after its own position this often. */
  resubscribeMs: [300, 3000] as const,
  /** A compaction (`trim`) of the feed through a drawn share of what a client has seen comes this often. */
  trimMs: [500, 4000] as const,
};

/** Figures of one feed run. */
interface FeedCounts {
  watchers: number;
  resubscribes: number;
  compacted: number;
  trims: number;
  resumptions: number;
  watchedEvents: number;
  stretches: number;
}

/**
 * The feed workload: the append workload (its clients, history and final checks) on the test app
 * with a feed of its items (`feedLogApp`), plus watchers on the client machines that subscribe to
 * the feed (`FeedSubscription` on the simulated transport, following their client's primary guess)
 * from position 0 or later, with or without a filter, close and resubscribe from their own
 * position now and then, and start over after a compaction (`trim`) took the positions they
 * needed. At the end, every watcher's every stretch is checked against the feed's history (the
 * final state keeps every item): no gap, duplicate, reorder or event that did not happen
 * (`checkWatchers`), and every open watcher has caught up with every acknowledged append.
 */
function feedWorkload(): Workload<FeedLogState, number, AppendInput, AppendOutput> {
  const base = appendWorkload(feedLogApp);
  const watchers: { log: WatcherLog; sub: FeedSubscription | null }[] = [];
  const counts: FeedCounts = { watchers: 0, resubscribes: 0, compacted: 0, trims: 0, resumptions: 0, watchedEvents: 0, stretches: 0 };
  /** The highest position an acknowledged append reached (its index + 1). */
  let ackedHead = 0;
  const watch = (w: { log: WatcherLog; sub: FeedSubscription | null }, rsm: RsmClient, run: WorkloadRun, machine: ClientMachine, after: number): void => {
    w.log.subscribed(after);
    const sub = new FeedSubscription({
      transport: machine.transport, members: run.servers, primary: () => rsm.core.primary, acceptedBy: (server) => rsm.core.heardFromPrimary(server), clock: machine.world.clock, logger: machine.world.logger,
    }, { feed: 'items', filter: w.log.filter === null ? null : { prefix: w.log.filter }, after }, {
      events: (events, through) => w.log.events(events, through),
      progress: (through) => w.log.progress(through),
      resumed: () => void counts.resumptions++,
      ended: (error) => {
        if (w.sub !== sub) return; // closed for a resubscription
        w.log.ended(error.name);
        w.sub = null;
        if (error instanceof FeedCompactedError) {
          counts.compacted++;
          watch(w, rsm, run, machine, error.compactedThrough);
        } else {
          run.sim.fail(`feed: watcher ${w.log.name} ended: ${error.message}`);
        }
      },
    });
    w.sub = sub;
    sub.start();
  };
  return {
    ...base,
    name: 'feed',
    startClient(client, run, machine) {
      // The base loop resolves appends; wrap the client's submit to learn the acknowledged head.
      const submit = client.submit.bind(client);
      client.submit = (proc, args, options, done) => submit(proc, args, options, (r) => {
        if (proc === 'append' && r.ok && typeof r.value === 'number') ackedHead = Math.max(ackedHead, r.value + 1);
        done(r);
      });
      base.startClient(client, run, machine);
      const rng = run.sim.rng;
      if (!rng.chance(feedRunBounds.watcherShare)) return;
      const prefix = rng.chance(feedRunBounds.filteredShare) ? `c${rng.between(1, 3)}:` : null;
      const w = { log: new WatcherLog(`${client.clientId}/watch`, prefix, run.sim), sub: null as FeedSubscription | null };
      watchers.push(w);
      counts.watchers++;
      watch(w, client, run, machine, rng.chance(feedRunBounds.startLaterShare) ? rng.between(1, feedRunBounds.startAfterMax) : 0);
      const resubscribe = (): void => {
        if (!run.issuing()) return;
        if (w.sub !== null) {
          const old = w.sub;
          w.sub = null;
          old.close();
          counts.resubscribes++;
          watch(w, client, run, machine, w.log.position);
        }
        run.sim.schedule(rng.uniform(...feedRunBounds.resubscribeMs), resubscribe);
      };
      run.sim.schedule(rng.uniform(...feedRunBounds.resubscribeMs), resubscribe);
      trims(client, run, rng, counts, () => ackedHead);
    },
    unrecordedRunning: () => watchers.filter((w) => w.sub !== null && w.log.position < ackedHead).length,
    checkFinal(states, snapshots, run) {
      base.checkFinal(states, snapshots, run);
      const state = [...states.values()][0];
      if (state === undefined) return;
      const { events, stretches } = checkWatchers(run.sim, watchers.map((w) => w.log), listReference(state.list));
      counts.watchedEvents = events;
      counts.stretches = stretches;
      for (const w of watchers) {
        if (w.sub !== null && w.log.position < ackedHead) {
          run.sim.fail(`feed: liveness: watcher ${w.log.name} is at position ${w.log.position} once the cluster is quiet, behind the acknowledged head ${ackedHead}`);
        }
        const sub = w.sub;
        w.sub = null;
        sub?.close();
      }
    },
    stats: (run) => ({ ...base.stats(run), ...counts }),
  };
}

/** Now and then the client compacts the feed through a drawn share of the acknowledged head (not recorded: it leaves the list as it is). */
function trims(client: RsmClient, run: WorkloadRun, rng: Prng, counts: FeedCounts, head: () => number): void {
  const next = (): void => {
    if (!run.issuing()) return;
    counts.trims++;
    client.submit('trim', { through: Math.floor(head() * rng.uniform(0.2, 0.9)) }, { deadlineMs: 4000 }, () => {});
    run.sim.schedule(rng.uniform(...feedRunBounds.trimMs), next);
  };
  run.sim.schedule(rng.uniform(...feedRunBounds.trimMs), next);
}

/**
 * One randomized whole-stack run (every fault of `runRsmSimulation`) of the feed workload: the
 * append workload's checks, plus every watcher's events against the feed's history.
 */
export function runFeedSimulation(opts: StackRunOptions<AppendInput, AppendOutput>): RunResult {
  return runStackSimulation(feedWorkload(), opts);
}
