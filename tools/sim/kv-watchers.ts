import { FeedCompactedError } from '../../src/client/feed-errors.js';
import { FeedSubscription } from '../../src/client/feed-subscription.js';
import type { RsmClient } from '../../src/client/rsm-client.js';
import { WatcherLog } from './checkers/feed-checker.js';
import { kvRunBounds } from './kv-sim-client.js';
import type { KvReference, KvWatchFilter } from './kv-reference.js';
import type { Prng } from './prng.js';
import type { ClientMachine, WorkloadRun } from './stack-workload.js';

/** The watchers' choices (shares of 1) and pauses (virtual ms). */
export const kvWatchBounds = {
  /** Share of client machines that also run watchers, and how many each runs. */
  watcherShare: 0.8,
  watchersPerMachine: [1, 2] as const,
  /** Shares of watchers on one key and on a key range (the rest on a prefix, `''` included: every key). */
  keyShare: 0.35,
  rangeShare: 0.15,
  prevKvShare: 0.5,
  /** Shares of watchers that leave out puts, and deletes (not both). */
  noPutShare: 0.1,
  noDeleteShare: 0.1,
  /** A later start may be this far past the reference's head (a watch from a future revision waits for it). */
  futureStartMax: 5,
  /** Share of watchers that start from revision 1 (after 0); the rest start after a drawn revision up to the reference's head. */
  fromStartShare: 0.5,
  /** A watcher closes its subscription and opens another after its own position this often. */
  resubscribeMs: [300, 3000] as const,
};

/** One watcher: its record for the checker and its current subscription. */
export interface KvWatcher {
  readonly log: WatcherLog<KvWatchFilter>;
  sub: FeedSubscription | null;
}

/**
 * Starts the watchers of one client machine on the KV app's `watch` feed (`FeedSubscription` on
 * the simulated transport, following the machine's client's primary guess): each on a key, a
 * range or a prefix, with or without prevKv, some without puts or deletes, from revision 1 or
 * later (up to a few revisions past the head); now and then it closes its
 * subscription and resubscribes from its own position; after a compaction took the revisions it
 * needed it starts over from the compaction revision (a Clone subscriber would take a snapshot
 * there). Every event is recorded for `checkWatchers`.
 */
export function startKvWatchers(client: RsmClient, run: WorkloadRun, machine: ClientMachine, reference: KvReference, counts: Record<string, number>): KvWatcher[] {
  const rng = run.sim.rng;
  if (!rng.chance(kvWatchBounds.watcherShare)) return [];
  const watchers: KvWatcher[] = [];
  const howMany = rng.between(...kvWatchBounds.watchersPerMachine);
  for (let k = 1; k <= howMany; k++) {
    const filter = drawFilter(rng);
    const w: KvWatcher = { log: new WatcherLog(`${client.clientId}/watch${k} ${JSON.stringify(filter)}`, filter, run.sim), sub: null };
    watchers.push(w);
    counts['watchers']!++;
    const fromStart = rng.chance(kvWatchBounds.fromStartShare);
    // A later start is drawn when the watcher starts, from what the reference holds by then.
    run.sim.schedule(rng.uniform(0, 1500), () => {
      if (run.issuing()) subscribe(w, client, run, machine, counts, fromStart ? 0 : rng.between(0, reference.head + kvWatchBounds.futureStartMax));
    });
    const resubscribe = (): void => {
      if (!run.issuing()) return;
      if (w.sub !== null) {
        const old = w.sub;
        w.sub = null;
        old.close();
        counts['resubscribes']!++;
        subscribe(w, client, run, machine, counts, w.log.position);
      }
      run.sim.schedule(rng.uniform(...kvWatchBounds.resubscribeMs), resubscribe);
    };
    run.sim.schedule(rng.uniform(...kvWatchBounds.resubscribeMs), resubscribe);
  }
  return watchers;
}

function drawFilter(rng: Prng): KvWatchFilter {
  const roll = rng.next();
  const noPut = rng.chance(kvWatchBounds.noPutShare);
  const flags = { prevKv: rng.chance(kvWatchBounds.prevKvShare), noPut, noDelete: !noPut && rng.chance(kvWatchBounds.noDeleteShare) };
  if (roll < kvWatchBounds.keyShare) return { key: rng.pick(kvRunBounds.keys), prefix: false, ...flags };
  if (roll < kvWatchBounds.keyShare + kvWatchBounds.rangeShare) {
    const [a, b] = [rng.pick(kvRunBounds.keys), rng.pick(kvRunBounds.keys)].sort();
    return { key: a!, rangeEnd: a === b ? `${b!}\u0000` : b!, prefix: false, ...flags };
  }
  return { key: rng.pick(kvRunBounds.prefixes), prefix: true, ...flags };
}

function subscribe(w: KvWatcher, rsm: RsmClient, run: WorkloadRun, machine: ClientMachine, counts: Record<string, number>, after: number): void {
  w.log.subscribed(after);
  const { key, prefix, rangeEnd, prevKv, noPut, noDelete } = w.log.filter;
  const sub = new FeedSubscription({
    transport: machine.transport, members: run.servers, primary: () => rsm.core.primary, acceptedBy: (server) => rsm.core.heardFromPrimary(server), clock: machine.world.clock, logger: machine.world.logger,
  }, {
    feed: 'watch',
    filter: { key, ...(prefix ? { prefix: true } : {}), ...(rangeEnd === undefined ? {} : { rangeEnd }), ...(prevKv ? { prevKv: true } : {}), ...(noPut ? { noPut: true } : {}), ...(noDelete ? { noDelete: true } : {}) },
    after,
  }, {
    events: (events, through) => w.log.events(events, through),
    progress: (through) => w.log.progress(through),
    resumed: () => void counts['resumptions']!++,
    ended: (error) => {
      if (w.sub !== sub) return; // closed for a resubscription
      w.log.ended(error.name);
      w.sub = null;
      if (error instanceof FeedCompactedError) {
        counts['compacted']!++;
        subscribe(w, rsm, run, machine, counts, error.compactedThrough);
      } else {
        run.sim.fail(`kv watch: watcher ${w.log.name} ended: ${error.message}`);
      }
    },
  });
  w.sub = sub;
  sub.start();
}
