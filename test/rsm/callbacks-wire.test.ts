// The callback stream's messages: a callback or a keepalive, and bad keepalives refused by field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidMessageError } from '../../src/env/errors.js';
import { type CallbackStreamMessage, callbacksCodec } from '../../src/rsm/callbacks-wire.js';

test('a callback and a keepalive survive encoding; the keepalive carries durations only', () => {
  const messages: CallbackStreamMessage[] = [
    { kind: 'callback', message: { kind: 'revoke', lock: 'a', token: 3 } },
    { kind: 'keepalive', sinceAcceptMs: 1234, leaseRemainingMs: 480, sessionTimeoutMs: 5000, maxDriftPpm: 10_000, intervalMs: 1000 },
  ];
  for (const m of messages) assert.deepEqual(callbacksCodec.decodeMessage(callbacksCodec.encodeMessage(m)), m);
  // proto3 leaves zeros out: a keepalive right at acceptance has no since_accept_ms.
  assert.deepEqual(callbacksCodec.decodeMessage({ keepalive: { session_timeout_ms: 5000, max_drift_ppm: 1 } }),
    { kind: 'keepalive', sinceAcceptMs: 0, leaseRemainingMs: 0, sessionTimeoutMs: 5000, maxDriftPpm: 1, intervalMs: 0 });
});

test('a keepalive with a field out of range is refused naming the field', () => {
  const bad: [Record<string, unknown>, string][] = [
    [{ since_accept_ms: -1, session_timeout_ms: 5000 }, 'keepalive.since_accept_ms'],
    [{ since_accept_ms: 1.5, session_timeout_ms: 5000 }, 'keepalive.since_accept_ms'],
    [{ session_timeout_ms: 0 }, 'keepalive.session_timeout_ms'],
    [{ session_timeout_ms: 5000, max_drift_ppm: 100_000 }, 'keepalive.max_drift_ppm'],
    [{ session_timeout_ms: '5000' }, 'keepalive.session_timeout_ms'],
  ];
  for (const [keepalive, field] of bad) {
    assert.throws(() => callbacksCodec.decodeMessage({ keepalive }), (e: unknown) => e instanceof InvalidMessageError && e.message.includes(field), field);
  }
  assert.throws(() => callbacksCodec.decodeMessage({ keepalive: 7 }), InvalidMessageError);
});
