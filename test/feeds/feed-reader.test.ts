// FeedReader without a network: callers of next() are served in order (several may wait at once),
// its buffer pauses the subscription past maxBufferedEvents and resumes it once half is taken, and
// an ending error reaches every waiting caller after the batches received before it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FeedCompactedError, FeedReader } from '../../src/index.js';
import type { FeedHandlers, FeedSubscription } from '../../src/index.js';

/** A subscription the test drives by hand: it hands the reader's handlers out, and counts pauses. */
function fakeSubscription(): { make: (h: FeedHandlers) => FeedSubscription; handlers: () => FeedHandlers; paused: () => boolean } {
  let handlers: FeedHandlers | null = null;
  let paused = false;
  const sub = {
    start: () => {},
    pause: () => void (paused = true),
    resume: () => void (paused = false),
    close: () => handlers?.ended(new (class extends Error {})() as never),
    position: 0,
    stats: { streams: 1, evictions: 0 },
  };
  return {
    make: (h) => {
      handlers = h;
      return sub as unknown as FeedSubscription;
    },
    handlers: () => handlers!,
    paused: () => paused,
  };
}

const batch = (p: number) => ({ events: [{ position: p, event: `e${p}` }], through: p });

test('two callers waiting at once each get the next batch, in the order they called', async () => {
  const f = fakeSubscription();
  const reader = new FeedReader(f.make);
  const first = reader.next();
  const second = reader.next();
  f.handlers().events(batch(1).events, 1);
  f.handlers().events(batch(2).events, 2);
  assert.deepEqual((await first).value, batch(1));
  assert.deepEqual((await second).value, batch(2));
});

test('past maxBufferedEvents the subscription pauses; taking half resumes it', async () => {
  const f = fakeSubscription();
  const reader = new FeedReader(f.make, { maxBufferedEvents: 4 });
  for (let p = 1; p <= 5; p++) f.handlers().events(batch(p).events, p);
  assert.equal(f.paused(), true, 'five events held against a bound of four');
  await reader.next();
  await reader.next();
  assert.equal(f.paused(), true, 'three still held');
  await reader.next();
  assert.equal(f.paused(), false, 'two held: half the bound');
});

test('past maxBufferedBytes the subscription pauses too, however few the events', async () => {
  const f = fakeSubscription();
  const reader = new FeedReader(f.make, { maxBufferedBytes: 1000 });
  const big = (p: number) => [{ position: p, event: 'x'.repeat(400) }];
  f.handlers().events(big(1), 1);
  f.handlers().events(big(2), 2);
  assert.equal(f.paused(), false, 'about 804 bytes held');
  f.handlers().events(big(3), 3);
  assert.equal(f.paused(), true, 'about 1206 bytes held against 1000');
  await reader.next();
  assert.equal(f.paused(), true, 'about 804 held: not yet half');
  await reader.next();
  assert.equal(f.paused(), false, 'about 402 held: resumed');
});

test('an ending error comes after the batches before it, to every waiting caller', async () => {
  const f = fakeSubscription();
  const reader = new FeedReader(f.make);
  f.handlers().events(batch(1).events, 1);
  f.handlers().ended(new FeedCompactedError('watch', 1, 7));
  assert.deepEqual((await reader.next()).value, batch(1));
  await assert.rejects(reader.next(), FeedCompactedError);
  const f2 = fakeSubscription();
  const waiting = new FeedReader(f2.make);
  const a = waiting.next();
  const b = waiting.next();
  f2.handlers().ended(new FeedCompactedError('watch', 0, 3));
  await assert.rejects(a, FeedCompactedError);
  await assert.rejects(b, FeedCompactedError);
});
