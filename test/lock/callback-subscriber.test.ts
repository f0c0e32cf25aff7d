// The transport-agnostic callback subscriber (StreamCallbackSubscriber) against a scripted
// transport: it acts on every end a stream can have while it is being established (follow the
// primary named, move on from a node that knows none, retry one that is not serving yet, give up
// on what retrying cannot cure), reports the end of an accepted stream once, gives up when no
// stream is accepted in time, and follows the primary guess.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientStream, StreamCodec, StreamEnd, StreamHandlers } from '../../src/env/streams.js';
import type { Channel, ClientTransport } from '../../src/env/transport.js';
import type { NodeId } from '../../src/env/types.js';
import type { Json } from '../../src/rsm/app.js';
import type { CallbackStreamMessage } from '../../src/rsm/callbacks-wire.js';
import { StreamCallbackSubscriber } from '../../src/apps/lock/callback-subscriber.js';
import { confirmedUntil, reactionTo } from '../../src/apps/lock/callback-subscription.js';
import { ManualClock } from '../support/manual-clock.js';

/** Time that moves only when the test says; due timers fire in (time, arming) order. */

/** A stream the subscriber opened, which the test accepts, feeds and ends. */
interface Opened {
  readonly server: NodeId;
  readonly owner: string;
  readonly clientId: string;
  readonly handlers: StreamHandlers<CallbackStreamMessage>;
  closed: boolean;
}

class ScriptedTransport implements ClientTransport {
  readonly opened: Opened[] = [];

  connect(): Channel<never> {
    throw new Error('the subscriber makes no calls');
  }

  openStream<Req, Msg>(_codec: StreamCodec<Req, Msg>, server: NodeId, request: Req, handlers: StreamHandlers<Msg>): ClientStream {
    const { owner, clientId } = request as { owner: string; clientId: string };
    const o: Opened = { server, owner, clientId, handlers: handlers as unknown as StreamHandlers<CallbackStreamMessage>, closed: false };
    this.opened.push(o);
    return { close: () => void (o.closed = true) };
  }

  async close(): Promise<void> {}

  /** The stream opened last: it must still be open. */
  get last(): Opened {
    const o = this.opened.at(-1);
    assert.ok(o !== undefined && !o.closed, 'an open stream');
    return o;
  }

  targets(): NodeId[] {
    return this.opened.map((o) => o.server);
  }
}

const retryPauseMs = 50;
const establishTimeoutMs = 1000;

/** A keepalive as a serving primary sends it (defaults: 5 s sessions, 1 % drift). */
function keepalive(sinceAcceptMs: number, sessionTimeoutMs = 5000, maxDriftPpm = 10_000, intervalMs = 1000): CallbackStreamMessage {
  return { kind: 'keepalive', sinceAcceptMs, leaseRemainingMs: 400, sessionTimeoutMs, maxDriftPpm, intervalMs };
}

function setUp(guess: NodeId | null = 'm1', keepaliveSilenceMs = 60_000): {
  transport: ScriptedTransport; clock: ManualClock; messages: Json[]; ends: string[]; confirmed: number[]; setGuess: (g: NodeId | null) => void; close: () => void;
} {
  const transport = new ScriptedTransport();
  const clock = new ManualClock();
  let primary = guess;
  const subscriber = new StreamCallbackSubscriber({
    transport, clock, members: ['m1', 'm2', 'm3'], primary: () => primary,
    options: { retryPauseMs, establishTimeoutMs, primaryCheckIntervalMs: 100, keepaliveSilenceMs },
  });
  const messages: Json[] = [];
  const ends: string[] = [];
  const confirmed: number[] = [];
  const sub = subscriber.subscribe({ owner: 'owner-x', clientId: 'client-x' }, (m) => messages.push(m), (reason) => ends.push(reason), (t) => confirmed.push(t));
  return { transport, clock, messages, ends, confirmed, setGuess: (g) => void (primary = g), close: () => sub.close() };
}

const end = (e: StreamEnd): StreamEnd => e;

test('every end kind heard while establishing has its reaction', () => {
  assert.deepEqual(reactionTo(end({ kind: 'not-primary', primary: 'p', detail: '' }), 's'), { act: 'go', to: 'p' });
  assert.deepEqual(reactionTo(end({ kind: 'not-primary', primary: null, detail: '' }), 's'), { act: 'retry-elsewhere', avoid: 's' });
  assert.deepEqual(reactionTo(end({ kind: 'not-primary', primary: 's', detail: '' }), 's'), { act: 'retry-elsewhere', avoid: 's' });
  assert.deepEqual(reactionTo(end({ kind: 'not-serving-yet', detail: '' }), 's'), { act: 'retry-same' });
  assert.deepEqual(reactionTo(end({ kind: 'overloaded', detail: '' }), 's'), { act: 'retry-same' });
  assert.deepEqual(reactionTo(end({ kind: 'unavailable', detail: '' }), 's'), { act: 'retry-elsewhere', avoid: 's' });
  assert.deepEqual(reactionTo(end({ kind: 'unreachable', detail: '' }), 's'), { act: 'retry-elsewhere', avoid: 's' });
  for (const kind of ['replaced', 'owner-taken', 'invalid-request', 'internal', 'cancelled'] as const) {
    assert.deepEqual(reactionTo(end({ kind, detail: '' }), 's'), { act: 'give-up' }, kind);
  }
  assert.deepEqual(reactionTo(end({ kind: 'wrong-cluster', expected: 'a', actual: 'b', detail: '' }), 's'), { act: 'give-up' });
});

test('a subscription follows the ends to the serving primary: none known moves on, a named primary is followed at once, not serving yet is retried', () => {
  const { transport, clock, messages, ends } = setUp('m1');
  assert.deepEqual(transport.targets(), ['m1'], 'the first attempt goes to the primary guess');
  assert.equal(transport.last.owner, 'owner-x');
  assert.equal(transport.last.clientId, 'client-x', 'the subscription names the client the owner is bound to');
  transport.last.handlers.ended({ kind: 'not-primary', primary: null, detail: 'no primary known' });
  assert.deepEqual(transport.targets(), ['m1'], 'no new attempt before the pause');
  clock.advance(retryPauseMs);
  assert.deepEqual(transport.targets(), ['m1', 'm2'], 'a node that knows no primary is not asked again at once');
  transport.last.handlers.ended({ kind: 'not-primary', primary: 'm3', detail: '' });
  assert.deepEqual(transport.targets(), ['m1', 'm2', 'm3'], 'the primary named is asked at once');
  transport.last.handlers.ended({ kind: 'not-serving-yet', detail: '' });
  clock.advance(retryPauseMs);
  assert.deepEqual(transport.targets(), ['m1', 'm2', 'm3', 'm3'], 'a primary not serving yet is asked again');
  transport.last.handlers.accepted();
  transport.last.handlers.message({ kind: 'callback', message: { kind: 'revoke', lock: 'a', token: 3 } });
  assert.deepEqual(messages, [{ kind: 'revoke', lock: 'a', token: 3 }]);
  clock.advance(5 * establishTimeoutMs);
  assert.deepEqual(ends, [], 'an accepted stream lasts past the establishing deadline');
  transport.last.handlers.ended({ kind: 'unreachable', detail: 'reset' });
  assert.deepEqual(ends, ['callback stream ended: m3: unreachable: reset']);
  clock.advance(5 * establishTimeoutMs);
  assert.equal(transport.opened.length, 4, 'an ended subscription opens nothing more');
  assert.equal(ends.length, 1, 'onEnd runs once');
});

test('a subscription gives up at once on what retrying cannot cure, and after establishTimeoutMs without an accepted stream', () => {
  const refused = setUp('m2');
  refused.transport.last.handlers.ended({ kind: 'wrong-cluster', expected: 'ours', actual: 'theirs', detail: 'another cluster' });
  assert.deepEqual(refused.ends, ['callback subscription refused: m2: wrong-cluster: another cluster']);
  refused.clock.advance(establishTimeoutMs);
  assert.equal(refused.transport.opened.length, 1);

  const taken = setUp('m1');
  taken.transport.last.handlers.ended({ kind: 'owner-taken', detail: 'owner owner-x is not this client\'s' });
  assert.deepEqual(taken.ends, ['callback subscription refused: m1: owner-taken: owner owner-x is not this client\'s']);
  taken.clock.advance(establishTimeoutMs);
  assert.equal(taken.transport.opened.length, 1, 'another client\'s owner is not asked for again');

  const unanswered = setUp(null);
  assert.deepEqual(unanswered.transport.targets(), ['m1'], 'without a guess, the members in turn');
  for (let t = 0; t < establishTimeoutMs; t += retryPauseMs) {
    unanswered.transport.last.handlers.ended({ kind: 'unavailable', detail: 'isolated' });
    unanswered.clock.advance(retryPauseMs);
    if (unanswered.ends.length > 0) break;
  }
  assert.equal(unanswered.ends.length, 1);
  assert.match(unanswered.ends[0]!, /^no callback stream accepted within 1000 ms \(last: m\d: unavailable: isolated\)$/);
  const opened = unanswered.transport.opened.length;
  unanswered.clock.advance(establishTimeoutMs);
  assert.equal(unanswered.transport.opened.length, opened, 'a subscription that gave up opens nothing more');
});

test('a change of the primary guess ends an open stream, and redirects one being established', () => {
  const s = setUp('m1');
  s.setGuess('m2');
  s.clock.advance(100);
  assert.deepEqual(s.transport.targets(), ['m1', 'm2'], 'establishing: the attempt moves to the new guess');
  assert.ok(s.transport.opened[0]!.closed, 'the attempt at m1 is dropped');
  s.transport.last.handlers.accepted();
  s.setGuess('m3');
  s.clock.advance(100);
  assert.deepEqual(s.ends, ['the primary moved from m2 to m3']);
  assert.ok(s.transport.opened[1]!.closed);
});

test('a closed subscription hears nothing more and closes its stream', () => {
  const s = setUp('m1');
  const first = s.transport.last;
  first.handlers.accepted();
  s.close();
  assert.ok(first.closed);
  first.handlers.message({ kind: 'callback', message: { kind: 'retry', lock: 'a' } });
  first.handlers.ended({ kind: 'unreachable', detail: '' });
  s.clock.advance(5 * establishTimeoutMs);
  assert.deepEqual([s.messages, s.ends, s.transport.opened.length], [[], [], 1]);
});

test('keepalives confirm the session from the subscribe time, never from their arrival, and the bound only rises; apps never see them', () => {
  // Proves the client-side session bound: anchor = subscribe time + sinceAccept·(1−ρ)/(1+ρ), plus S·(1−ρ)/(1+ρ).
  const s = setUp('m1');
  s.clock.advance(600);
  s.transport.last.handlers.ended({ kind: 'not-primary', primary: 'm2', detail: '' });
  const stream = s.transport.last; // its subscribe left at 600 (the first attempt's at 0 does not count)
  assert.equal(stream.server, 'm2');
  stream.handlers.accepted();
  s.clock.advance(4000); // arrives 4 s later: a late push must not count from its arrival
  stream.handlers.message(keepalive(100));
  const shrink = (1 - 0.01) / (1 + 0.01);
  assert.equal(s.confirmed.length, 1);
  assert.ok(Math.abs(s.confirmed[0]! - (600 + (100 + 5000) * shrink)) < 1e-9, `confirmed until ${s.confirmed[0]}`);
  assert.ok(s.confirmed[0]! < 600 + 100 + 5000, 'the drift bound shortens it');
  stream.handlers.message(keepalive(50)); // an older one, delivered out of order: no lower bound
  assert.equal(s.confirmed.length, 1, 'the bound never falls');
  stream.handlers.message(keepalive(1100, 2000, 0)); // a smaller S and no drift: below the bound held
  assert.equal(s.confirmed.length, 1);
  stream.handlers.message(keepalive(1100));
  assert.equal(s.confirmed.length, 2);
  assert.equal(s.confirmed[1], confirmedUntil(600, { sinceAcceptMs: 1100, leaseRemainingMs: 0, sessionTimeoutMs: 5000, maxDriftPpm: 10_000, intervalMs: 1000 }));
  assert.deepEqual(s.messages, [], 'keepalives are the subscription\'s own');
});

test('a keepalive on a stream not accepted yet confirms nothing', () => {
  const s = setUp('m1');
  s.transport.last.handlers.message(keepalive(10));
  assert.deepEqual(s.confirmed, []);
});

test('a server that says it sends keepalives less often gets two and a half of its own intervals before its stream is silent', () => {
  const s = setUp('m1', 2500);
  const stream = s.transport.last;
  stream.handlers.accepted();
  stream.handlers.message(keepalive(0, 60_000, 10_000, 10_000)); // a 60 s session, a keepalive every 10 s
  s.clock.advance(24_999);
  assert.deepEqual(s.ends, [], 'not silent yet');
  s.clock.advance(1);
  assert.deepEqual(s.ends, ['callback stream ended: m1: unavailable: no keepalive for 25000 ms (keepaliveSilenceMs)']);
});

test('an open stream without a keepalive for keepaliveSilenceMs ends; each keepalive restarts the count', () => {
  // Proves a stream to a node that stopped confirming (lease lapsed, or cut off unaware) is left in time.
  const s = setUp('m1', 2500);
  const stream = s.transport.last;
  stream.handlers.accepted();
  s.clock.advance(2000);
  stream.handlers.message(keepalive(2000));
  s.clock.advance(2000);
  stream.handlers.message(keepalive(4000));
  s.clock.advance(2499);
  assert.deepEqual(s.ends, [], 'kept alive');
  s.clock.advance(1);
  assert.deepEqual(s.ends, ['callback stream ended: m1: unavailable: no keepalive for 2500 ms (keepaliveSilenceMs)']);
  assert.ok(stream.closed, 'the silent stream is closed');
  const confirmed = s.confirmed.length;
  stream.handlers.message(keepalive(9000));
  assert.equal(s.confirmed.length, confirmed, 'nothing is confirmed after the end');
});

test('a primary guess that turns null ends an open stream (no primary known), and leaves one being established alone', () => {
  // Proves the "no primary known" fix: the RSM client dropping the stream's node moves the subscription.
  const s = setUp('m1');
  s.transport.last.handlers.accepted();
  s.setGuess(null);
  s.clock.advance(100);
  assert.deepEqual(s.ends, ['no primary known: the RSM client dropped m1 as primary']);
  assert.ok(s.transport.opened[0]!.closed);

  const e = setUp('m1');
  e.setGuess(null);
  e.clock.advance(100);
  assert.deepEqual(e.ends, []);
  assert.deepEqual(e.transport.targets(), ['m1'], 'the attempt under way goes on');
  e.transport.last.handlers.accepted();
  e.clock.advance(500);
  assert.deepEqual(e.ends, [], 'a guess that was already null when the stream opened does not end it');
});
