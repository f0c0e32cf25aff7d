// The callback hub follows the primary lease (fake replica view whose lease the test sets, manual
// clock): keepalives leave only while the lease is held, a lapse ends every stream naming why,
// a view change that keeps the primary keeps its streams silent, and subscriptions are refused by
// lease state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Executor } from '../../src/env/executor.js';
import type { Logger } from '../../src/env/logger.js';
import type { ServerStream, ServerStreamEnd, StreamEnd } from '../../src/env/streams.js';
import type { NodeId } from '../../src/env/types.js';
import { CallbackHub, type PrimaryView } from '../../src/node/callback-hub.js';
import { callbackOptions } from '../../src/options.js';
import type { Callback } from '../../src/rsm/app.js';
import type { CallbackStreamMessage, CallbackSubscribe } from '../../src/rsm/callbacks-wire.js';
import type { LeaseStatus } from '../../src/rsm/lease.js';
import type { ReplicaStatus } from '../../src/rsm/replica.js';
import { ManualClock } from '../support/manual-clock.js';

const options = callbackOptions({ checkIntervalMs: 100, keepaliveIntervalMs: 1000, sessionTimeoutMs: 5000 });
const maxClockDriftPpm = 10_000;

class FakeReplica implements PrimaryView {
  isPrimary = true;
  status: ReplicaStatus = 'normal';
  lease: LeaseStatus = { state: 'held', remainingMs: 480 };
  primary: NodeId | null = 'n1';
  outstanding: Callback[] = [];
  primaryOf(): NodeId | null {
    return this.primary;
  }
  outstandingCallbacks(): readonly Callback[] {
    return this.outstanding;
  }
}

class FakeStream implements ServerStream<CallbackStreamMessage> {
  readonly peer = 'client';
  readonly sent: CallbackStreamMessage[] = [];
  accepted = false;
  ended: ServerStreamEnd | null = null;
  #listener: ((end: StreamEnd) => void) | null = null;
  get open(): boolean {
    return this.ended === null;
  }
  accept(): void {
    if (this.open) this.accepted = true;
  }
  send(message: CallbackStreamMessage): boolean {
    if (!this.open) return false;
    this.accepted = true;
    this.sent.push(message);
    return true;
  }
  end(reason: ServerStreamEnd): void {
    if (!this.open) return;
    this.ended = reason;
    const listener = this.#listener;
    queueMicrotask(() => listener?.(reason));
  }
  onEnded(listener: (end: StreamEnd) => void): void {
    this.#listener = listener;
  }
  keepalives(): Array<Extract<CallbackStreamMessage, { kind: 'keepalive' }>> {
    return this.sent.filter((m) => m.kind === 'keepalive');
  }
  callbacks(): unknown[] {
    return this.sent.flatMap((m) => (m.kind === 'callback' ? [m.message] : []));
  }
}

function recordingLogger(): Logger & { readonly warnings: string[] } {
  const warnings: string[] = [];
  const log: Logger & { readonly warnings: string[] } = {
    warnings, debug() {}, info() {}, error() {},
    warn: (_fields, msg) => void warnings.push(msg),
    child: () => log,
  };
  return log;
}

function setup() {
  const clock = new ManualClock();
  const replica = new FakeReplica();
  const logger = recordingLogger();
  let accept: ((request: CallbackSubscribe, stream: ServerStream<CallbackStreamMessage>) => void) | null = null;
  const hub = CallbackHub.serve({
    self: 'n1',
    transport: { serveStream: (_codec, a) => void (accept = a as typeof accept) },
    replica,
    executor: new Executor((err) => { throw err; }),
    clock,
    logger,
    options,
    maxClockDriftPpm,
  });
  hub.start();
  const subscribe = (owner: string, clientId = `c-${owner}`): FakeStream => {
    const stream = new FakeStream();
    accept!({ owner, clientId }, stream);
    return stream;
  };
  return { clock, replica, logger, hub, subscribe };
}

test('keepalives go out at accept and every keepaliveIntervalMs while the lease is held, with the time since accepting on the hub clock', () => {
  const { clock, replica, hub, subscribe } = setup();
  clock.advance(250);
  const a = subscribe('a');
  assert.ok(a.accepted);
  assert.deepEqual(a.keepalives(), [{ kind: 'keepalive', sinceAcceptMs: 0, leaseRemainingMs: 480, sessionTimeoutMs: 5000, maxDriftPpm: maxClockDriftPpm, intervalMs: 1000 }]);
  assert.equal(hub.confirmedAt('a'), 250);
  clock.advance(750); // the keepalive tick at 1000
  assert.deepEqual(a.keepalives().map((k) => k.sinceAcceptMs), [0, 750]);
  assert.equal(hub.confirmedAt('a'), 1000);
  replica.lease = { state: 'held', remainingMs: Infinity }; // a view of one: clamped to uint32 on the wire
  clock.advance(1000);
  assert.deepEqual(a.keepalives().map((k) => [k.sinceAcceptMs, k.leaseRemainingMs]), [[0, 480], [750, 480], [1750, 0xffff_ffff]]);
  replica.lease = { state: 'none' };
  clock.advance(3000);
  assert.equal(a.keepalives().length, 3, 'no keepalive without a held lease');
  assert.equal(a.ended, null, 'a primary without a lease (view change) keeps its streams');
  assert.equal(hub.confirmedAt('a'), 2000);
});

test('a lapsed lease ends every stream unavailable naming why, logged once at warn; new subscriptions are refused naming why', async () => {
  const { clock, replica, logger, subscribe } = setup();
  const a = subscribe('a');
  const b = subscribe('b');
  const why = 'n1 lost its primary lease of view 3: no recent grant from n2 (612 ms ago), n3 (612 ms ago); it may have been replaced';
  replica.lease = { state: 'lapsed', why };
  clock.advance(1000); // a keepalive tick and ten checks
  await Promise.resolve();
  for (const s of [a, b]) {
    assert.deepEqual(s.ended, { kind: 'unavailable', detail: why });
    assert.equal(s.keepalives().length, 1, 'only the one at accept');
  }
  assert.equal(logger.warnings.length, 1, 'the lapse is logged once');
  const c = subscribe('c');
  assert.equal(c.accepted, false);
  assert.equal(c.ended?.kind, 'unavailable');
  assert.equal(c.ended!.detail, why);
  // The same lapse goes on; its text names later times at every check: still logged once.
  replica.lease = { state: 'lapsed', why: why.replaceAll('612 ms', '1612 ms') };
  clock.advance(1000);
  await Promise.resolve();
  assert.equal(logger.warnings.length, 1, 'one lapse, one warning, however its text changes');
});

test('subscriptions are refused by lease state: none while primary is not-serving-yet, none as a backup is not-primary', () => {
  const { replica, subscribe } = setup();
  replica.lease = { state: 'none' };
  const a = subscribe('a');
  assert.equal(a.ended?.kind, 'not-serving-yet');
  assert.deepEqual(a.sent, []);
  replica.isPrimary = false;
  replica.primary = 'n2';
  const b = subscribe('b');
  assert.deepEqual(b.ended, { kind: 'not-primary', primary: 'n2', detail: 'not primary; primary is n2' });
  assert.deepEqual(b.sent, []);
});

test('a view change that keeps the primary keeps its streams, sends nothing, and re-sends every outstanding callback once the lease is held again', () => {
  const { clock, replica, hub, subscribe } = setup();
  const revoke = { kind: 'revoke', lock: 'L', token: 1 };
  const a = subscribe('a');
  const b = subscribe('b');
  replica.lease = { state: 'none' };
  replica.status = 'syncing';
  replica.outstanding = [{ clientId: 'a', message: revoke }];
  hub.deliver(replica.outstanding); // the replica's re-send, before its new lease
  clock.advance(1500);
  assert.deepEqual(a.sent.length, 1, 'nothing but the keepalive at accept');
  assert.equal(a.ended, null);
  assert.equal(b.ended, null);
  replica.status = 'normal';
  replica.lease = { state: 'held', remainingMs: 500 };
  clock.advance(100); // the next check
  assert.deepEqual(a.callbacks(), [revoke], 'the dropped callback re-sent');
  assert.deepEqual(b.callbacks(), []);
  clock.advance(1000);
  assert.equal(a.keepalives().length, 2, 'keepalives resume');
  hub.deliver([{ clientId: 'b', message: { kind: 'retry', lock: 'M' } }]);
  assert.deepEqual(b.callbacks(), [{ kind: 'retry', lock: 'M' }], 'delivered at once with the lease held');
});

test('a lapse shorter than a check drops callbacks but re-sends them when the lease is held again', () => {
  const { clock, replica, hub, subscribe } = setup();
  const a = subscribe('a');
  replica.lease = { state: 'lapsed', why: 'no grant from n2 for 510 ms' };
  replica.outstanding = [{ clientId: 'a', message: { kind: 'retry', lock: 'L' } }];
  hub.deliver(replica.outstanding);
  assert.deepEqual(a.callbacks(), [], 'dropped without a lease');
  replica.lease = { state: 'held', remainingMs: 400 };
  clock.advance(100);
  assert.equal(a.ended, null);
  assert.deepEqual(a.callbacks(), [{ kind: 'retry', lock: 'L' }]);
});
