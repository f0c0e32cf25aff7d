// Proves that the KV watch check (tools/tester/kv-watch-check.ts) catches what it is there for: a
// gap, a repeat, a reorder, an event that did not happen, a watcher's stream that differs from the
// reference, a final range that differs from the history, and an acknowledged write missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type KvRecord, type WatchEvent, checkWatchers, expectedEvents } from '../../tools/tester/kv-watch-check.js';

const kv = (key: string, value: string, createRevision: number, modRevision: number, version: number): KvRecord =>
  ({ key, value, createRevision, modRevision, version, lease: 0 });
const a2 = kv('a/1', 'x', 2, 2, 1);
const k3 = kv('k', 'y', 3, 3, 1);
const a4 = kv('a/1', 'z', 2, 4, 2);
/** A good history: put a/1, put k, put a/1 again, delete k. */
const reference: WatchEvent[] = [
  { revision: 2, events: [{ type: 'put', kv: a2 }] },
  { revision: 3, events: [{ type: 'put', kv: k3 }] },
  { revision: 4, events: [{ type: 'put', kv: a4, prevKv: a2 }] },
  { revision: 5, events: [{ type: 'delete', kv: { key: 'k', modRevision: 5 }, prevKv: k3 }] },
];
const acked = [{ revision: 4, puts: [['a/1', 'z']] as [string, string][], deletes: [] }, { revision: 5, puts: [], deletes: ['k'] }];
const byPrefix = { name: 'a/', filter: { key: 'a/', prefix: true }, after: 0, events: expectedEvents(reference, { key: 'a/', prefix: true }, 0) };
const good = { reference, watchers: [byPrefix], finalKvs: [a4], head: 5, acked };

test('a consistent history passes, and a filtered watcher gets the reference events its filter keeps, without prevKv unless asked', () => {
  assert.deepEqual(checkWatchers(good), []);
  assert.deepEqual(byPrefix.events, [{ revision: 2, events: [{ type: 'put', kv: a2 }] }, { revision: 4, events: [{ type: 'put', kv: a4 }] }]);
});

test('a gap, a repeat, a reorder and an event that did not happen in the reference are each reported', () => {
  const problems = (ref: WatchEvent[]): string[] => checkWatchers({ ...good, reference: ref, watchers: [] });
  assert.match(problems([reference[0]!, reference[2]!, reference[3]!]).join('\n'), /revision 4 where 3 was due \(a gap\)/);
  assert.match(problems([reference[0]!, reference[1]!, reference[1]!, reference[2]!, reference[3]!]).join('\n'), /revision 3 where 4 was due \(a repeat or reorder\)/);
  assert.match(problems([reference[1]!, reference[0]!, reference[2]!, reference[3]!]).join('\n'), /revision 3 where 2 was due/);
  const invented: WatchEvent = { revision: 4, events: [{ type: 'put', kv: kv('a/1', 'z', 2, 4, 3), prevKv: a2 }] };
  assert.match(problems([reference[0]!, reference[1]!, invented, reference[3]!]).join('\n'), /put of "a\/1" has version 3.*gives 2, 2/);
});

test('a watcher that missed or repeated an event, a final range that differs, and a lost acknowledged write are reported', () => {
  const missed = { ...byPrefix, events: byPrefix.events.slice(1) };
  assert.match(checkWatchers({ ...good, watchers: [missed] }).join('\n'), /watcher a\/ .*event 1 of 2/);
  const repeated = { ...byPrefix, events: [byPrefix.events[0]!, ...byPrefix.events] };
  assert.match(checkWatchers({ ...good, watchers: [repeated] }).join('\n'), /watcher a\/ .*event 2 of 2/);
  assert.match(checkWatchers({ ...good, finalKvs: [a4, k3] }).join('\n'), /gives 1 live keys, the final range 2/);
  assert.match(checkWatchers({ ...good, acked: [...acked, { revision: 3, puts: [['k', 'other']], deletes: [] }] }).join('\n'), /acknowledged put "k"="other"/);
  assert.match(checkWatchers({ ...good, head: 6 }).join('\n'), /its last revision is 5, the store's is 6/);
});
