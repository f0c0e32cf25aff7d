// Feeds on the simulator: watchers on the client machines subscribe to the test app's feed of its
// items (from position 0 or later, filtered or not), resubscribe from their own position, start
// over after compactions, and ride out every fault; every watcher's events are checked against the
// feed's history (no gap, duplicate, reorder, or event that did not happen) and every watcher
// catches up once the cluster is quiet. Two hub mutations are caught: a subscription resumed one
// position too late (a watch skipping an event after a failover), and events published before the
// step that made them is durable (taken back by a power cut).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runFeedSimulation } from '../../tools/sim/feed-run.js';
import { firstCaught } from './support.js';

test('feed watchers under every fault: seeds 1-30 pass every checker, and the watchers really watched', () => {
  let events = 0;
  let resumptions = 0;
  let compacted = 0;
  for (let seed = 1; seed <= 30; seed++) {
    const r = runFeedSimulation({ seed });
    assert.ok(r.ok, `seed ${seed}: ${r.failures.join('\n')}`);
    events += r.stats['watchedEvents'] ?? 0;
    resumptions += r.stats['resumptions'] ?? 0;
    compacted += r.stats['compacted'] ?? 0;
  }
  console.log(`events checked ${events}, subscriptions resumed ${resumptions}, started over after compaction ${compacted}`);
  assert.ok(events > 500 && resumptions > 100 && compacted > 0, 'watchers received events, resumed, and met compactions');
});

test('skip-feed-event-on-resume (a resumed subscription starts one position late) is caught', () => {
  const caught = firstCaught('feed:', 10, (seed) => runFeedSimulation({ seed, mutations: { skipFeedEventOnResume: true } }));
  assert.ok(caught !== undefined, 'no seed in 10 caught it');
  console.log(`seed ${caught.seed}: ${caught.failure}`);
});

// The mutation bites only where a primary without a backup that holds its steps dies with events
// published (a view of one, a power cut): rare, so a seed where it does is named (found by
// `npm run sim -- --layer feed --seeds 1000 --mutate publish-feed-before-durable`: 1 of 1000).
test('publish-feed-before-durable (events sent before their step is durable) is caught at seed 527, which passes without it', () => {
  const bad = runFeedSimulation({ seed: 527, mutations: { publishFeedBeforeDurable: true } });
  assert.ok(!bad.ok && bad.failures.some((f) => /feed: watcher .* got .* where the feed has/.test(f)), bad.failures.join('\n'));
  console.log(bad.failures.find((f) => f.startsWith('feed:')));
  const clean = runFeedSimulation({ seed: 527 });
  assert.ok(clean.ok, clean.failures.join('\n'));
});
