// The feed service's codec at the edge: a subscription's filter past a limit is refused naming
// the limit (issue 12), as a client call's arguments are. Found by the KV fuzzer: the filter's
// size refusal said only "more than 1048576 bytes".
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidMessageError } from '../../src/env/errors.js';
import { limits } from '../../src/options.js';
import { FeedFragments, feedsCodec, maxFeedEventBytes } from '../../src/rsm/feeds-wire.js';

function refusal(wire: Record<string, unknown>): string {
  try {
    feedsCodec.decodeRequest(wire);
  } catch (err) {
    assert.ok(err instanceof InvalidMessageError, String(err));
    return err.message;
  }
  assert.fail(`taken: ${JSON.stringify(wire).slice(0, 80)}`);
}

test('a filter over limits.maxRequestBytes is refused naming the limit; one at it is read', () => {
  const sized = (bytes: number): string => JSON.stringify({ key: 'f'.repeat(bytes - '{"key":""}'.length) });
  assert.match(refusal({ feed: 'watch', filter: sized(limits.maxRequestBytes + 1) }), /filter: more than 1048576 bytes \(limits\.maxRequestBytes\)/);
  assert.equal(feedsCodec.decodeRequest({ feed: 'watch', filter: sized(limits.maxRequestBytes) }).feed, 'watch');
});

test('a filter nested past limits.maxJsonDepth is refused naming it; text that is not JSON is refused', () => {
  assert.match(refusal({ feed: 'watch', filter: `${'['.repeat(limits.maxJsonDepth + 1)}${']'.repeat(limits.maxJsonDepth + 1)}` }), /limits\.maxJsonDepth/);
  assert.match(refusal({ feed: 'watch', filter: '{"key":' }), /filter: not JSON/);
});

test('an event over limits.maxMessageBytes in a stream message is refused naming the limit', () => {
  const event = JSON.stringify('e'.repeat(limits.maxMessageBytes));
  assert.throws(() => feedsCodec.decodeMessage({ events: { events: [{ position: 1, event }], through: 1 } }), /more than \d+ bytes \(limits\.maxMessageBytes\)/);
});

test('an event in parts: the codec carries a part, FeedFragments joins the parts of one position, refuses interleaved ones and an event past maxFeedEventBytes', () => {
  const part = (position: number, text: string, last: boolean) => ({ kind: 'fragment' as const, position, text, last });
  assert.deepEqual(feedsCodec.decodeMessage(feedsCodec.encodeMessage(part(7, '{"a":', false))), part(7, '{"a":', false));
  assert.throws(() => feedsCodec.decodeMessage({ fragment: { position: 7, text: '' } }), /fragment\.text: missing or empty/);
  const parts = new FeedFragments();
  assert.equal(parts.add(part(7, '{"a":"👍', false)), null);
  assert.deepEqual(parts.add(part(7, '"}', true)), { position: 7, event: { a: '👍' } });
  assert.equal(parts.add(part(9, '[1,', false)), null);
  assert.throws(() => parts.add(part(10, '2]', true)), /a part of 10 before the last part of 9/);
  assert.deepEqual(parts.add(part(10, '[2]', true)), { position: 10, event: [2] }, 'after a refusal it starts afresh');
  const mib = 'x'.repeat(1024 * 1024);
  for (let i = 0; i < maxFeedEventBytes / mib.length; i++) parts.add(part(11, mib, false));
  assert.throws(() => parts.add(part(11, 'x', false)), /maxFeedEventBytes/);
});
