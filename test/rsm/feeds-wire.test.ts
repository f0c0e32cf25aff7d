// The feed service's codec at the edge: a subscription's filter past a limit is refused naming
// the limit (issue 12), as a client call's arguments are. Found by the KV fuzzer: the filter's
// size refusal said only "more than 1048576 bytes".
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidMessageError } from '../../src/env/errors.js';
import { limits } from '../../src/options.js';
import { feedsCodec } from '../../src/rsm/feeds-wire.js';

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
