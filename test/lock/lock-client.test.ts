import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallResult } from '../../src/client/client-core.js';
import { AppRejectedError } from '../../src/client/errors.js';
import type { CallOptions } from '../../src/client/rsm-client.js';
import type { Clock, TimerHandle } from '../../src/env/clock.js';
import type { Random } from '../../src/env/random.js';
import type { CallbackSubscriber, CallbackSubscription } from '../../src/apps/lock/callbacks.js';
import type { CallbackSubscribe } from '../../src/rsm/callbacks-wire.js';
import { lockApp } from '../../src/apps/lock/lock-app.js';
import { LockClient, type LockLostEvent, type LockRpc } from '../../src/apps/lock/lock-client.js';
import { LockClientClosedError, LockLostError, LockUsageError } from '../../src/apps/lock/lock-errors.js';
import { defaultLockClientOptions } from '../../src/options.js';
import { AppError, type HandlerContext, type Json, appProcedure } from '../../src/rsm/app.js';
import { Prng } from '../../tools/sim/prng.js';
import { forever } from './lock-core-driver.js';

// The LockClient shell (design §6) against a fake lock server: the real lock app's handlers and
// callbacks run in memory, replies and callbacks travel with independent random delays (so
// callbacks overtake replies and the other way round), and time is a fake clock moved by the test.

/** A clock whose time moves only when the test advances it; due timers fire in time order. */
class FakeClock implements Clock {
  #now = 0;
  #nextId = 0;
  readonly #timers = new Map<number, { at: number; id: number; fire: () => void }>();

  now(): number {
    return this.#now;
  }

  setTimer(delayMs: number, fire: () => void): TimerHandle {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + delayMs, id, fire });
    return { cancel: () => void this.#timers.delete(id) };
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way, in (time, arming) order. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let next: { at: number; id: number; fire: () => void } | undefined;
      for (const t of this.#timers.values()) if (t.at <= end && (next === undefined || t.at < next.at || (t.at === next.at && t.id < next.id))) next = t;
      if (next === undefined) break;
      this.#timers.delete(next.id);
      this.#now = Math.max(this.#now, next.at);
      next.fire();
    }
    this.#now = end;
  }
}

/** Lets every settled promise's continuations run (they are microtasks; the fake clock is not). */
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const sleep = (clock: Clock, ms: number): Promise<void> => new Promise((resolve) => clock.setTimer(ms, resolve));

interface ServerLinks {
  /** Largest delay of a request on its way to the server, of a reply, and of a callback (ms). */
  readonly maxDelayMs: number;
  /** Chance that a callback is delivered twice. */
  readonly duplicateChance: number;
}

/**
 * The lock app in memory, as a primary would run it: executes calls one at a time on arrival,
 * sends the callbacks each call causes, and on every new subscription the owner's outstanding ones.
 */
class FakeLockServer implements CallbackSubscriber {
  readonly state = lockApp.initialState();
  /** Every executed call, in order: `owner proc lock → reply`. */
  readonly log: string[] = [];
  readonly #subs = new Map<string, { onMessage: (m: Json) => void; onEnd: (reason: string) => void; open: boolean }>();
  /** Per owner, the time its stream delivers its last queued callback (streams are FIFO). */
  readonly #streamFreeAt = new Map<string, number>();
  /** When false, a new subscription gets no outstanding callbacks (a hub that forgot them). */
  resendOnSubscribe = true;

  constructor(
    readonly clock: FakeClock,
    readonly random: Random,
    readonly links: ServerLinks,
  ) {}

  #delay(): number {
    return Math.floor(this.random.next() * (this.links.maxDelayMs + 1));
  }

  /** A lock client's RSM client, under client id `client-<owner>` (the id `execute` gives an owner's calls by default). */
  rpc(owner: string): LockRpc & { closed: boolean; close(): void } {
    const server = this;
    const clientId = `client-${owner}`;
    return {
      clientId,
      closed: false,
      submit(proc: string, args: Json, _options: CallOptions, done: (r: CallResult) => void): void {
        server.clock.setTimer(server.#delay(), () => {
          const result = server.execute(proc, args, { clientId, internal: false });
          server.clock.setTimer(server.#delay(), () => done(result));
        });
      },
      close() {
        this.closed = true;
      },
    };
  }

  /** Executes a call as the primary would, by default as a call of the named owner's own client (`client-<owner>`). */
  execute(proc: string, args: Json, context?: HandlerContext): CallResult {
    const owner = (args as { owner?: string }).owner;
    let result: CallResult;
    try {
      result = { ok: true, value: appProcedure(lockApp, proc)!(this.state, args, context ?? { clientId: `client-${owner}`, internal: false }) };
    } catch (err) {
      assert.ok(err instanceof AppError);
      result = { ok: false, error: new AppRejectedError(err.code, err.message) };
    }
    const a = args as { owner: string; lock: string };
    this.log.push(`${a.owner} ${proc} ${a.lock} → ${result.ok ? JSON.stringify(result.value) : (result.error as AppRejectedError).code}`);
    for (const cb of lockApp.callbacks!(this.state, { proc, args })) this.#push(cb.clientId, cb.message);
    return result;
  }

  subscribe({ owner }: CallbackSubscribe, onMessage: (m: Json) => void, onEnd: (reason: string) => void,
    onConfirmed?: (validUntilMs: number) => void): CallbackSubscription {
    const sub = { onMessage, onEnd, open: true };
    this.#subs.set(owner, sub);
    // This server never expires a session by itself (only a test's sabotage does): confirmed for good.
    onConfirmed?.(forever);
    if (this.resendOnSubscribe) {
      for (const cb of lockApp.callbacks!(this.state)) if (cb.clientId === owner) this.#push(owner, cb.message);
    }
    return { close: () => void (sub.open = false) };
  }

  /** Ends `owner`'s subscription (the stream broke). */
  end(owner: string, reason = 'stream broke'): void {
    const sub = this.#subs.get(owner);
    if (sub === undefined || !sub.open) return;
    sub.open = false;
    sub.onEnd(reason);
  }

  isOpen(owner: string): boolean {
    return this.#subs.get(owner)?.open ?? false;
  }

  /** Sends `message` down `owner`'s stream, if one is open now; lost otherwise (as over a broken stream). */
  #push(owner: string, message: Json): void {
    const sub = this.#subs.get(owner);
    if (sub === undefined || !sub.open) return;
    const copies = this.random.next() < this.links.duplicateChance ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const at = Math.max(this.clock.now() + this.#delay(), this.#streamFreeAt.get(owner) ?? 0);
      this.#streamFreeAt.set(owner, at);
      this.clock.setTimer(at - this.clock.now(), () => {
        if (sub.open) sub.onMessage(message);
      });
    }
  }
}

/** Advances the fake clock 1 ms at a time, letting promise continuations run, until `done()` or `limitMs`. */
async function runUntil(clock: FakeClock, done: () => boolean, limitMs: number): Promise<void> {
  for (let t = 0; t < limitMs && !done(); t++) {
    clock.advance(1);
    await flush();
  }
  await flush();
}

/** Advances the fake clock until `promise` settles (at most `limitMs`), then returns it. */
async function settle<T>(clock: FakeClock, promise: Promise<T>, limitMs = 1000): Promise<T> {
  let settled = false;
  promise.then(() => (settled = true), () => (settled = true));
  await runUntil(clock, () => settled, limitMs);
  assert.ok(settled, `settled within ${limitMs} ms`);
  return promise;
}

interface ContentionRun {
  /** What went wrong: a mutual-exclusion or fencing violation, or a user that failed. */
  readonly violations: string[];
  readonly grants: ReadonlyArray<{ owner: string; user: string; token: number }>;
  /** Grants where the holder's owner differs from the previous holder's. */
  readonly switches: number;
  readonly finished: number;
  readonly endMs: number;
  readonly serverLog: readonly string[];
}

/**
 * Two lock clients (owners A and B), two local users each, every user acquiring `x`, holding it a
 * random while, and releasing it, `rounds` times. Checks, as it goes, that nobody is granted `x`
 * while someone holds it, and that tokens never go back for an owner and strictly increase when
 * the lock moves to the other owner. `sabotage(server)` runs once, when A first holds the lock.
 */
async function contention(seed: number, sabotage?: (server: FakeLockServer) => void): Promise<ContentionRun> {
  const clock = new FakeClock();
  const random = new Prng(seed);
  const server = new FakeLockServer(clock, random, { maxDelayMs: 6, duplicateChance: 0.2 });
  const clients = ['A', 'B'].map((owner) => new LockClient({ owner, rsm: server.rpc(owner), subscriptions: server, clock }));
  let holder: string | null = null;
  const grants: Array<{ owner: string; user: string; token: number }> = [];
  const violations: string[] = [];
  const rounds = 10;
  let finished = 0;
  let ended = 0;
  let sabotaged = sabotage === undefined;

  const user = async (client: LockClient, name: string): Promise<void> => {
    for (let i = 0; i < rounds; i++) {
      const { token } = await client.acquire('x', name);
      const me = `${client.owner}/${name}`;
      if (holder !== null) violations.push(`${me} granted x (token ${token}) while ${holder} holds it`);
      const prev = grants.at(-1);
      if (prev !== undefined && prev.owner !== client.owner && token <= prev.token) violations.push(`${me} got token ${token} after ${prev.owner} had ${prev.token}`);
      if (prev !== undefined && prev.owner === client.owner && token < prev.token) violations.push(`${me}: token went back from ${prev.token} to ${token}`);
      holder = me;
      grants.push({ owner: client.owner, user: name, token });
      let holdMs = Math.floor(random.next() * 13); // often longer than a round trip, so a wrong release would show
      if (!sabotaged && client.owner === 'A') {
        sabotaged = true;
        sabotage!(server);
        holdMs = 50;
      }
      await sleep(clock, holdMs);
      if (holder === me) holder = null;
      await client.release('x', name);
      await sleep(clock, Math.floor(random.next() * 3));
    }
    finished++;
  };
  const users = clients.flatMap((c) => ['u1', 'u2'].map((u) => user(c, u).catch((err: unknown) => void violations.push(String(err))).finally(() => ended++)));
  await runUntil(clock, () => ended === users.length, 60_000);
  for (const c of clients) c.close(); // ends waits that never finished, so that every user's promise settles
  await Promise.all(users);
  let switches = 0;
  for (let i = 1; i < grants.length; i++) if (grants[i - 1]!.owner !== grants[i]!.owner) switches++;
  return { violations, grants, switches, finished, endMs: clock.now(), serverLog: server.log };
}

const seeds = (n: number): number[] => (process.env['SEED'] !== undefined ? [Number(process.env['SEED'])] : Array.from({ length: n }, (_, i) => i + 1));

test('two lock clients contending for one lock get it alternately, never both at once, and tokens increase strictly between owners', async () => {
  // Proves mutual exclusion and fencing across caching clients, with replies and callbacks racing (random delays, duplicates).
  for (const seed of seeds(20)) {
    const run = await contention(seed);
    assert.deepEqual(run.violations, [], `seed ${seed}`);
    assert.equal(run.finished, 4, `seed ${seed}: every user finished its rounds by ${run.endMs} ms (${run.grants.length} grants; server: ${run.serverLog.slice(-4).join('; ')})`);
    assert.equal(run.grants.length, 40);
    assert.ok(run.switches >= 3, `seed ${seed}: the lock went back and forth between the owners (${run.switches} switches)`);
  }
});

test('the contention check bites: a grant the server takes back behind its holder (session expiry) shows as two holders', async () => {
  // Proves the mutual-exclusion check is not vacuous: expiring A while its user holds x lets B in, and the check says so.
  // (This is also what fencing tokens are for: B's token is higher, so a fenced service would refuse A's late writes.)
  // The node ends x's lock-delay at once here: what this proves is the check, not the delay.
  const node = { clientId: 'synod:sessions@n1', internal: true };
  const run = await contention(1, (server) => {
    server.execute('expire', { owner: 'A' }, node);
    server.execute('endDelay', { lock: 'x' }, node);
  });
  assert.ok(run.violations.some((v) => /^B\/u\d granted x \(token \d+\) while A\/u\d holds it$/.test(v)), run.violations.join('\n'));
  assert.ok(run.serverLog.some((l) => /^A release x → not-held$/.test(l)), 'A\'s release after the expiry is answered not-held');
  assert.equal(run.finished, 4, 'and the clients carry on: not-held is treated as released');
});

test('a revoke is acted on in a later task: the release never goes out inside the subscriber\'s callback', async () => {
  // Proves the background release: onMessage returns before any release is sent.
  const clock = new FakeClock();
  let onMessage: ((m: Json) => void) | null = null;
  const subscriber: CallbackSubscriber = {
    subscribe: (_owner, m, _end, confirmed) => {
      onMessage = m;
      confirmed?.(forever);
      return { close() {} };
    },
  };
  const sent: string[] = [];
  const rpc: LockRpc = {
    clientId: 'client-A',
    submit: (proc, _args, _options, done) => {
      sent.push(proc);
      done({ ok: true, value: proc === 'acquire' ? { granted: true, token: 5 } : { released: true } });
    },
  };
  const client = new LockClient({ owner: 'A', rsm: rpc, subscriptions: subscriber, clock });
  assert.equal((await client.acquire('x', 'u')).token, 5);
  await client.release('x', 'u');
  assert.deepEqual(sent, ['acquire']);
  onMessage!({ kind: 'revoke', lock: 'x', token: 5 });
  assert.deepEqual(sent, ['acquire'], 'nothing sent inside the callback');
  assert.equal(client.core.status('x'), 'releasing');
  clock.advance(0);
  assert.deepEqual(sent, ['acquire', 'release'], 'the background step sent it');
  await flush();
  assert.equal(client.core.status('x'), 'none');
  client.close();
});

test('the subscription is re-opened after it ends, with a growing backoff, and a retry lost meanwhile is recovered', async () => {
  // Proves re-subscription (named backoff options) and that a waiter whose retry was lost still gets the lock.
  const clock = new FakeClock();
  const server = new FakeLockServer(clock, new Prng(3), { maxDelayMs: 0, duplicateChance: 0 });
  server.resendOnSubscribe = false; // the worst case: nothing outstanding is re-sent on subscribe
  const a = new LockClient({ owner: 'A', rsm: server.rpc('A'), subscriptions: server, clock });
  const b = new LockClient({ owner: 'B', rsm: server.rpc('B'), subscriptions: server, clock });
  await runUntil(clock, () => false, 2);
  await settle(clock, a.acquire('x', 'u'));
  let bGot: number | null = null;
  void b.acquire('x', 'u').then(({ token }) => (bGot = token));
  await runUntil(clock, () => server.log.length >= 2, 100);
  assert.deepEqual(server.log, ['A acquire x → {"granted":true,"token":1}', 'B acquire x → {"granted":false}']);

  const { resubscribeBaseMs } = defaultLockClientOptions;
  server.end('B');
  const tEnd = clock.now();
  assert.equal(server.isOpen('B'), false);
  await settle(clock, a.release('x', 'u')); // A is revoked: the release (and the retry to B) happen while B is unsubscribed
  await runUntil(clock, () => server.log.length >= 3, 20);
  assert.equal(server.log[2], 'A release x → {"released":true}');
  await runUntil(clock, () => false, 5);
  assert.equal(bGot, null, 'the retry to B was lost');
  assert.equal(server.isOpen('B'), false);
  await runUntil(clock, () => bGot !== null, 200);
  assert.equal(bGot, 2, 'B asked again after re-subscribing and got the lock');
  assert.ok(server.isOpen('B'));
  assert.ok(clock.now() - tEnd >= resubscribeBaseMs, 're-subscribed only after resubscribeBaseMs');

  // A second end in a row waits twice as long.
  server.end('B');
  const t0 = clock.now();
  await runUntil(clock, () => server.isOpen('B'), 1000);
  assert.equal(clock.now() - t0, 2 * resubscribeBaseMs);
  a.close();
  b.close();
});

test('release without a user releases for the local holder; misuse and closing reject with typed errors', async () => {
  // Proves the shell's API edges: anonymous users, usage errors, close.
  const clock = new FakeClock();
  const server = new FakeLockServer(clock, new Prng(5), { maxDelayMs: 0, duplicateChance: 0 });
  const rsm = server.rpc('A');
  const client = new LockClient({ owner: 'A', rsm: () => rsm, subscriptions: server, clock });
  const p = client.acquire('x');
  await runUntil(clock, () => client.core.status('x') === 'locked', 10);
  assert.equal((await p).token, 1);
  await assert.rejects(client.acquire('', 'u'), (e: unknown) => e instanceof Error && e.name === 'InvalidArgumentError');
  await assert.rejects(client.release('x', 'someone'), LockUsageError);
  await client.release('x');
  await assert.rejects(client.release('x'), LockUsageError);
  assert.equal(client.core.status('x'), 'free', 'still cached');

  // Another owner holds y: a local acquire waits, and close ends it.
  server.execute('acquire', { lock: 'y', owner: 'B' });
  const waiting = client.acquire('y', 'u');
  await runUntil(clock, () => server.log.length >= 3, 10);
  client.close();
  await assert.rejects(waiting, LockClientClosedError);
  await assert.rejects(client.acquire('x', 'u'), LockClientClosedError);
  assert.equal(rsm.closed, true, 'the RSM client made by the factory is closed with the lock client');
  assert.equal(server.isOpen('A'), false, 'the subscription is closed');
});

test('the callback form answers on a later clock task, never inside the call, and after close with LockClientClosedError', () => {
  // Proves submitAcquire/submitRelease, what the simulator's local users call (no promises).
  const clock = new FakeClock();
  const server = new FakeLockServer(clock, new Prng(7), { maxDelayMs: 0, duplicateChance: 0 });
  const client = new LockClient({ owner: 'A', rsm: server.rpc('A'), subscriptions: server, clock });
  const heard: string[] = [];
  client.submitAcquire('x', 'u1', (r) => heard.push(r.ok ? `u1 got x@${r.token}` : `u1 failed: ${r.error.name}`));
  client.submitAcquire('x', 'u2', (r) => heard.push(r.ok ? `u2 got x@${r.token}` : `u2 failed: ${r.error.name}`));
  assert.equal(heard.length, 0, 'nothing answered inside the call');
  clock.advance(1);
  assert.deepEqual(heard, ['u1 got x@1']);
  client.submitRelease('x', 'u1', (r) => heard.push(r.ok ? 'u1 released x' : `u1 release failed: ${r.error.name}`));
  assert.equal(heard.length, 1);
  clock.advance(1);
  assert.deepEqual(heard, ['u1 got x@1', 'u2 got x@1', 'u1 released x'], 'handed over locally, same token');
  client.submitRelease('x', 'nobody', (r) => heard.push(r.ok ? 'released' : `nobody: ${r.error.name}`));
  client.close();
  client.submitAcquire('y', 'u3', (r) => heard.push(r.ok ? 'u3 got y' : `u3: ${r.error.name}`));
  clock.advance(1);
  assert.deepEqual(heard.slice(3), ['nobody: LockUsageError', 'u3: LockClientClosedError']);
});

test('close() aborts the signal of a grant still held with LockClientClosedError', async () => {
  // Proves a holder hears that nothing protects its grant once its client is closed.
  const clock = new FakeClock();
  const subscriber: CallbackSubscriber = {
    subscribe: (_owner, _m, _end, confirmed) => {
      confirmed?.(forever);
      return { close() {} };
    },
  };
  const rpc: LockRpc = {
    clientId: 'client-A',
    submit: (proc, _args, _options, done) => done({ ok: true, value: proc === 'acquire' ? { granted: true, token: 7 } : { released: true } }),
  };
  const client = new LockClient({ owner: 'A', rsm: rpc, subscriptions: subscriber, clock });
  const grant = await client.acquire('x', 'u');
  assert.equal(grant.signal.aborted, false);
  client.close();
  assert.ok(grant.signal.aborted && grant.signal.reason instanceof LockClientClosedError);
});

test('a held grant whose session lapses is lost: its signal aborts with LockLostError, the client emits lost, check throws and release rejects', async () => {
  // Proves the shell's side of a lost grant: every way a holder can learn it.
  const clock = new FakeClock();
  let confirm: ((untilMs: number) => void) | undefined;
  const subscriber: CallbackSubscriber = {
    subscribe: (_owner, _m, _end, confirmed) => {
      confirm = confirmed;
      return { close() {} };
    },
  };
  const sent: string[] = [];
  const rpc: LockRpc = {
    clientId: 'client-A',
    submit: (proc, _args, _options, done) => {
      sent.push(proc);
      clock.setTimer(1, () => done({ ok: true, value: proc === 'acquire' ? { granted: true, token: 4 } : { released: true } }));
    },
  };
  const client = new LockClient({ owner: 'A', rsm: rpc, subscriptions: subscriber, clock });
  const lost: LockLostError[] = [];
  client.addEventListener('lost', (e) => lost.push((e as LockLostEvent).error));
  const pending = client.acquire('x', 'u');
  await runUntil(clock, () => false, 20);
  assert.deepEqual(sent, ['acquire', 'release'], 'a grant got before the session is confirmed is given back');
  confirm!(clock.now() + 100);
  const grant = await settle(clock, pending);
  assert.equal(grant.token, 4);
  assert.equal(client.check('x', 'u'), 4);
  assert.equal(grant.signal.aborted, false);
  await runUntil(clock, () => grant.signal.aborted, 200);
  assert.ok(grant.signal.reason instanceof LockLostError);
  assert.deepEqual([grant.signal.reason.lock, grant.signal.reason.user, grant.signal.reason.token, grant.signal.reason.reason], ['x', 'u', 4, 'session']);
  assert.deepEqual(lost, [grant.signal.reason], 'one lost event, with the same error');
  assert.throws(() => client.check('x', 'u'), LockLostError);
  assert.throws(() => client.check('x'), LockLostError, 'without a user, the lost grant\'s user');
  await assert.rejects(client.release('x'), LockLostError);
  assert.throws(() => client.check('x', 'u'), LockUsageError, 'released: nothing held');
  await runUntil(clock, () => sent.length >= 4, 20);
  assert.deepEqual(sent, ['acquire', 'release', 'acquire', 'release'], 'the lost grant is given back');
  client.close();
});
