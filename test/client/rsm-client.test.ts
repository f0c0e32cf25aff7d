import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Clock, TimerHandle } from '../../src/env/clock.js';
import type { CallFailure, Channel, ClientTransport, ServiceCodec } from '../../src/env/transport.js';
import type { ClientStream } from '../../src/env/streams.js';
import type { NodeId } from '../../src/env/types.js';
import type { CallResult } from '../../src/client/client-core.js';
import {
  AppRejectedError,
  BusyError,
  DeadlineExceededError,
  InvalidArgumentError,
  RsmClientError,
} from '../../src/client/errors.js';
import { ClientClosedError } from '../../src/client/errors.js';
import { RsmClient } from '../../src/client/rsm-client.js';
import type { Json } from '../../src/rsm/app.js';
import type { ClientAnswer, ClientCall, Request } from '../../src/rsm/messages.js';
import { Prng } from '../../tools/sim/prng.js';

// RsmClient (design §5) over a fake ClientTransport and a fake clock advanced by hand: no real
// timers, no sockets. The test plays the servers.

/** A clock whose time moves only when the test advances it; due timers fire in time order. */
class FakeClock implements Clock {
  #now = 0;
  #nextId = 0;
  readonly #timers = new Map<number, { at: number; fire: () => void }>();

  now(): number {
    return this.#now;
  }

  setTimer(delayMs: number, fire: () => void): TimerHandle {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + delayMs, fire });
    return { cancel: () => void this.#timers.delete(id) };
  }

  /** Timers armed and not yet fired or cancelled. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way, in order. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let next: [number, { at: number; fire: () => void }] | undefined;
      for (const entry of this.#timers) if (entry[1].at <= end && (next === undefined || entry[1].at < next[1].at)) next = entry;
      if (next === undefined) break;
      this.#timers.delete(next[0]);
      this.#now = Math.max(this.#now, next[1].at);
      next[1].fire();
    }
    this.#now = end;
  }
}

/** A request the client sent, waiting for the test to answer it (or not). */
interface Sent {
  readonly to: NodeId;
  readonly call: ClientCall;
}

/**
 * A ClientTransport that holds every request until the test answers it. Requests and answers
 * pass through the codec's encode/decode (as the simulator's transport checks them), and answers
 * are delivered when the test says, never inside `send`.
 */
class FakeTransport implements ClientTransport {
  readonly sent: Sent[] = [];
  /** Replicas asked for the members of their view (the client's first call asks; these tests never answer). */
  readonly asked: NodeId[] = [];
  #codec: ServiceCodec<ClientCall, ClientAnswer> | undefined;
  #receive: ((server: NodeId, answer: ClientAnswer) => void) | undefined;
  #failed: ((server: NodeId, failure: CallFailure, request: ClientCall) => void) | undefined;
  closed = false;
  /** The last invoke sent to each server (what a failure report names). */
  readonly #lastTo = new Map<NodeId, ClientCall>();

  connect<Req, Ans>(codec: ServiceCodec<Req, Ans>, receive: (server: NodeId, answer: Ans) => void, failed?: (server: NodeId, failure: CallFailure, request: Req) => void): Channel<Req> {
    assert.equal(this.#codec, undefined, 'one client, one connection');
    this.#codec = codec as unknown as ServiceCodec<ClientCall, ClientAnswer>;
    this.#receive = receive as unknown as (server: NodeId, answer: ClientAnswer) => void;
    this.#failed = failed as unknown as ((server: NodeId, failure: CallFailure, request: ClientCall) => void) | undefined;
    return {
      send: (to: NodeId, msg: Req): void => {
        const c = this.#codec!;
        const call = c.decodeRequest(c.encodeRequest(msg as unknown as ClientCall));
        // Members requests go apart: these tests play the servers of invokes only.
        if (call.kind === 'members') this.asked.push(to);
        else {
          this.sent.push({ to, call });
          this.#lastTo.set(to, call);
        }
      },
    };
  }

  openStream(): ClientStream {
    throw new Error('the RSM client opens no stream');
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Takes every request sent since the last take. */
  take(): Sent[] {
    return this.sent.splice(0);
  }

  /** Takes the one request sent since the last take. */
  takeOne(): Sent & { request: Request } {
    const s = this.take();
    assert.equal(s.length, 1, `exactly one request expected, got ${JSON.stringify(s)}`);
    const call = s[0]!.call;
    assert.equal(call.kind, 'invoke');
    return { ...s[0]!, request: (call as Extract<ClientCall, { kind: 'invoke' }>).request };
  }

  answer(server: NodeId, answer: ClientAnswer): void {
    const c = this.#codec!;
    this.#receive!(server, c.decodeAnswer(c.encodeAnswer(answer)));
  }

  /** The transport reports that the last invoke sent to `server` failed. */
  fail(server: NodeId, failure: CallFailure): void {
    const last = this.#lastTo.get(server);
    assert.ok(last !== undefined, `an invoke was sent to ${server}`);
    this.#failed!(server, failure, last);
  }
}

/**
 * Fake servers: `primary` executes (answering a retry from its own client table); the others
 * answer NOT_PRIMARY naming it; `busyLeft` BUSY answers come first from the primary; nodes in
 * `down` are unreachable.
 */
class FakeCluster {
  primary: NodeId;
  busyLeft = 0;
  readonly down = new Set<NodeId>();
  readonly executed: Request[] = [];
  /** Answers by `clientId#seq`: each request runs once, a retry gets its own answer. */
  readonly #table = new Map<string, ClientAnswer>();

  constructor(
    readonly net: FakeTransport,
    primary: NodeId,
    readonly handler: (proc: string, args: Json) => { ok: true; value: Json } | { ok: false; code: string; message: string },
  ) {
    this.primary = primary;
  }

  /** Answers every request in flight (and those the answers cause) until none is left. */
  serve(limit = 100): void {
    for (let n = 0; n < limit; n++) {
      const s = this.net.sent.shift();
      if (s === undefined) return;
      if (this.down.has(s.to)) {
        this.net.fail(s.to, { kind: 'unreachable', detail: 'UNAVAILABLE: connection refused' });
        continue;
      }
      if (s.call.kind === 'members') continue;
      const r = s.call.request;
      if (s.to !== this.primary) {
        this.net.answer(s.to, { kind: 'not-primary', clientId: r.clientId, seq: r.seq, primary: this.primary, vid: 2 });
      } else if (this.busyLeft > 0) {
        this.busyLeft--;
        this.net.answer(s.to, { kind: 'busy', clientId: r.clientId, seq: r.seq, retryAfterMs: 30, reason: 'view change in progress' });
      } else {
        const key = `${r.clientId}#${r.seq}`;
        if (!this.#table.has(key)) {
          this.executed.push(r);
          const outcome = this.handler(r.proc, r.args);
          this.#table.set(key, { kind: 'executed', clientId: r.clientId, seq: r.seq, outcome });
        }
        this.net.answer(s.to, this.#table.get(key)!);
      }
    }
  }
}

const members = ['a:1', 'b:1', 'c:1'];

function setup(opts: { deadlineMs?: number } = {}) {
  const net = new FakeTransport();
  const clock = new FakeClock();
  const client = new RsmClient({ members, transport: net, clock, clientId: 'client-1', firstSeq: 0, random: new Prng(11), options: { defaultDeadlineMs: opts.deadlineMs ?? 2000 } });
  const cluster = new FakeCluster(net, 'c:1', (proc, args) =>
    proc === 'echo' ? { ok: true, value: args } : { ok: false, code: 'NO_SUCH_OP', message: `no ${proc}` },
  );
  return { net, clock, client, cluster };
}

/** Lets promise callbacks (resolve / reject) run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('invoke() resolves with the reply, following NOT_PRIMARY to the primary', async () => {
  // The client finds the primary by itself and returns what the app replied.
  const { net, client, cluster } = setup();
  const reply = client.invoke('echo', { hello: ['world', 1, null] });
  cluster.serve();
  assert.deepEqual(await reply, { hello: ['world', 1, null] });
  assert.equal(cluster.executed.length, 1);
  assert.equal(client.core.primary, 'c:1');
  assert.equal(net.sent.length, 0);
  client.close();
});

test('invoke() calls run at once, get seq 1, 2, 3 in submission order, and each resolves with its own reply', async () => {
  // Several invokes at once are all in flight together, each saying the lowest number still in flight.
  const { net, client, cluster } = setup();
  const replies = [client.invoke('echo', 1), client.invoke('echo', 2), client.invoke('echo', 3)];
  await settle();
  const invokes = net.sent.flatMap((s) => (s.call.kind === 'invoke' ? [s.call.request] : []));
  assert.deepEqual(invokes.map((r) => [r.seq, r.answeredBelow]), [[1, 1], [2, 1], [3, 1]], 'three in flight before any answer');
  cluster.serve();
  assert.deepEqual(await Promise.all(replies), [1, 2, 3]);
  assert.deepEqual(cluster.executed.map((r) => [r.seq, r.args]).sort(), [[1, 1], [2, 2], [3, 3]], 'each ran once (in whatever order they reached the primary)');
  client.close();
});

test('invoke() rejects with AppRejectedError when the app refuses, and the request is not retried', async () => {
  // An executed app error is final and typed.
  const { net, client, cluster } = setup();
  const reply = client.invoke('nope', null);
  cluster.serve();
  await assert.rejects(reply, (err: unknown) => err instanceof AppRejectedError && err.code === 'NO_SUCH_OP' && err.detail === 'no nope');
  assert.equal(cluster.executed.length, 1);
  assert.equal(net.sent.length, 0);
  client.close();
});

test('invoke() rejects with InvalidArgumentError for an invalid answer and for a non-positive deadline', async () => {
  // Bad input is reported as such, not retried until the deadline.
  const { net, client } = setup();
  const reply = client.invoke('echo', null);
  const s = net.takeOne();
  net.answer(s.to, { kind: 'invalid', clientId: s.request.clientId, seq: s.request.seq, field: 'proc', reason: 'unknown procedure' });
  await assert.rejects(reply, (err: unknown) => err instanceof InvalidArgumentError && err.field === 'proc');
  await assert.rejects(client.invoke('echo', null, { deadlineMs: 0 }), InvalidArgumentError);
  const refused = client.invoke('echo', null);
  net.fail(net.takeOne().to, { kind: 'invalid-request', detail: 'INVALID_ARGUMENT: invalid message: invoke.request.args: not valid JSON' });
  await assert.rejects(refused, InvalidArgumentError);
  client.close();
});

test('BUSY answers are retried on the clock: no resend before the backoff elapses, then the call succeeds', async () => {
  // The retry waits for the fake clock, at least the retryAfterMs the server asked for.
  const { net, clock, client, cluster } = setup();
  cluster.busyLeft = 2;
  let value: Json | undefined;
  const reply = client.invoke('echo', 'x').then((v) => (value = v));
  cluster.serve();
  assert.equal(net.sent.length, 0, 'nothing resent at once after BUSY');
  clock.advance(29);
  assert.equal(net.sent.length, 0, 'nothing resent before retryAfterMs');
  for (let i = 0; i < 20 && value === undefined; i++) {
    clock.advance(10);
    cluster.serve();
    await settle();
  }
  await reply;
  assert.equal(value, 'x');
  assert.equal(cluster.executed.length, 1);
  client.close();
});

test('an unreachable replica is skipped and the call still reaches the primary', async () => {
  // A failure report (onFailed) moves on to another replica without waiting for the attempt timeout.
  const { clock, client, cluster } = setup();
  cluster.down.add('a:1');
  cluster.down.add('b:1');
  const reply = client.invoke('echo', 'through');
  for (let i = 0; i < 10; i++) {
    cluster.serve();
    clock.advance(20); // backoffs, if every replica was tried
  }
  assert.equal(await reply, 'through');
  client.close();
});

test('invoke() rejects with DeadlineExceededError carrying the last error when the deadline passes on the clock', async () => {
  // With the primary BUSY throughout, the call gives up at its deadline, saying why.
  const { clock, client, cluster } = setup();
  cluster.busyLeft = 1_000_000;
  const seen: { error?: unknown } = {};
  const caught = (): unknown => seen.error; // read through a call: the assertion below must not narrow it
  const reply = client.invoke('echo', 1, { deadlineMs: 700 }).catch((err: unknown) => (seen.error = err));
  for (let t = 0; t < 699; t += 1) {
    cluster.serve();
    clock.advance(1);
  }
  await settle();
  assert.equal(caught(), undefined, 'still trying before the deadline');
  cluster.serve();
  clock.advance(1);
  await reply;
  const err = caught();
  assert.ok(err instanceof DeadlineExceededError, String(err));
  assert.equal(err.deadlineMs, 700);
  assert.ok(err.attempts > 1);
  assert.ok(err.lastError instanceof BusyError);
  assert.equal(cluster.executed.length, 0);
  client.close();
});

test('a call to replicas that never answer times out at its deadline with an RsmClientError', async () => {
  // Attempt timeouts move through the replicas; the deadline ends the call.
  const { net, clock, client } = setup();
  const reply = client.invoke('echo', 1, { deadlineMs: 1600 });
  clock.advance(1600);
  await assert.rejects(reply, (err: unknown) => err instanceof DeadlineExceededError && err instanceof RsmClientError && err.attempts >= 3);
  const targets = new Set(net.take().map((s) => s.to));
  assert.ok(targets.size >= 3, `every replica tried: ${[...targets].join(', ')}`);
  client.close();
});

test('submit() calls back with the result', async () => {
  // The callback form used by the simulator delivers the same results as invoke().
  const { client, cluster } = setup();
  const results: CallResult[] = [];
  const echoed: CallResult[] = [];
  client.submit('echo', [true], {}, (r) => echoed.push(r));
  client.submit('nope', null, {}, (r) => results.push(r));
  await settle();
  cluster.serve();
  await settle();
  assert.deepEqual(echoed, [{ ok: true, value: [true] }]);
  assert.equal(results.length, 1);
  assert.ok(!results[0]!.ok && results[0]!.error instanceof AppRejectedError);
  client.close();
});

test('close() stops every timer and ends the call in progress with ClientClosedError', async () => {
  // After close the clock can run on with no effect; the pending call is told, new calls are refused the same way.
  const { net, clock, client } = setup();
  const pending = client.invoke('echo', 1);
  net.take();
  assert.ok(clock.pending > 0, 'the call armed its timers');
  client.close();
  assert.equal(clock.pending, 0, 'every timer cancelled');
  await assert.rejects(pending, ClientClosedError);
  clock.advance(60_000);
  await settle();
  assert.equal(net.sent.length, 0);
  await assert.rejects(client.invoke('echo', 1), ClientClosedError);
});

test('by default a client starts its sequence numbers from the wall clock, so a restart under the same id continues above', async () => {
  // A restarted client that reuses its id must not collide with the numbers its earlier life used.
  const clock = new FakeClock();
  let wall = 1_000;
  const net1 = new FakeTransport();
  const first = new RsmClient({ members, transport: net1, clock, clientId: 'same', wallClockMs: () => wall });
  first.invoke('echo', 1).catch(() => {});
  const s1 = net1.takeOne().request.seq;
  first.close();
  wall += 1;
  const net2 = new FakeTransport();
  const second = new RsmClient({ members, transport: net2, clock, clientId: 'same', wallClockMs: () => wall });
  second.invoke('echo', 1).catch(() => {});
  const s2 = net2.takeOne().request.seq;
  second.close();
  assert.equal(s1, 1_000 * 1000 + 1);
  assert.ok(s2 > s1, `${s2} > ${s1}`);
});

test('answers arriving after close() are ignored', async () => {
  // A late answer cannot resurrect a closed client: the call stays ended with ClientClosedError.
  const { net, clock, client } = setup();
  let result: string | null = null;
  void client.invoke('echo', 1).then(() => (result = 'resolved'), (e: unknown) => (result = (e as Error).name));
  const s = net.takeOne();
  client.close();
  net.answer(s.to, { kind: 'busy', clientId: s.request.clientId, seq: s.request.seq, retryAfterMs: 5, reason: '' });
  net.answer(s.to, { kind: 'executed', clientId: s.request.clientId, seq: s.request.seq, outcome: { ok: true, value: 1 } });
  await settle();
  assert.equal(result, 'ClientClosedError');
  assert.equal(clock.pending, 0);
  assert.equal(net.sent.length, 0);
});

test('a submit() callback that throws does not wedge the client: later calls still complete', async () => {
  // The callback is the caller's code; its exception must not stop the client's task queue and
  // leave every later invoke() pending forever with no error.
  const { client, cluster } = setup();
  client.submit('echo', 1, {}, () => {
    throw new Error('bug in the caller');
  });
  cluster.serve();
  await settle();
  const later = client.invoke('echo', 2);
  cluster.serve();
  await settle();
  const state = await Promise.race([later.then(() => 'resolved', () => 'rejected'), settle().then(() => 'pending')]);
  assert.notEqual(state, 'pending', 'the next call neither resolved nor rejected');
  assert.equal(await later, 2);
  client.close();
});
