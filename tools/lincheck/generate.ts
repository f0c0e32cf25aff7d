import { invariant } from '../../src/env/errors.js';
import { lockApp, type LockState } from '../../src/apps/lock/lock-app.js';
import { type App, AppError, type Json, appProcedure } from '../../src/rsm/app.js';
import { testApp } from '../../src/apps/test-app.js';
import { Prng } from '../sim/prng.js';
import type { AppendInput, AppendOutput, CounterInput, CounterOutput, LockInput, LockOutput } from './models.js';
import type { History, Operation } from './types.js';

/**
 * Linearizable histories made to order, for the checker's randomised tests and its benchmark.
 *
 * A history is made by running the true object — the real app's handlers (src/apps/test-app.ts,
 * src/apps/lock/lock-app.ts) on one state — under concurrent clients in simulated time, seeded with
 * `Prng` (a seed replays a history exactly). Each client runs one operation at a time: it calls,
 * the operation takes effect at one instant after the call (its linearization point: the true
 * object executes it there, in the order of those instants), and it returns a little later; then
 * the client waits a little and calls again. A call with unknown outcome (`unknownRate`) takes
 * effect at such an instant or never (even odds); the client gives up on it after
 * `unknownTimeoutMs` and records no output; with `lateRate`, some of those that take effect do so
 * only after the client has moved on (a request stuck in the system that is executed later).
 * Every call and return interval encloses its linearization point, so every history made here is
 * linearizable by construction.
 *
 * `tamper*` then breaks one output of such a history so that no order can explain it (a value,
 * index or token the object can never produce), for tests that must see the checker fail.
 */

export interface GenerateOptions {
  readonly seed: number;
  /** Operations in the history (calls started, known and unknown outcomes alike). */
  readonly operations: number;
  /** Concurrent clients (`c0`, `c1`, …; for the lock service also the owners). */
  readonly clients: number;
  /** Fraction of calls whose outcome is unknown; default 0. */
  readonly unknownRate?: number;
  /**
   * Fraction of the unknown outcomes that take effect which do so late: after their client's next
   * call, at most `lateMaxMs` after their own call; default 0.
   */
  readonly lateRate?: number;
  /** Latest a late effect happens after its call (ms); default `defaultLateMaxMs`. */
  readonly lateMaxMs?: number;
}

/** Longest time from a call to its linearization point, and from there to its return (ms). */
export const maxLatencyMs = 5;
/** Longest pause of a client between a return and its next call (ms). */
export const maxThinkMs = 2;
/** How long a client waits for an outcome that never comes before it calls again (ms). */
export const unknownTimeoutMs = 2 * maxLatencyMs;
/** Latest a late effect happens after its call, unless `lateMaxMs` says otherwise (ms). */
export const defaultLateMaxMs = 10 * unknownTimeoutMs;

/** One kind of object as the generator drives it. */
interface Simulated<I, O> {
  /** The next call of `client`; may look at the true state (any input is a legal call). */
  nextInput(client: string, prng: Prng): I;
  /** Executes `input` on the true object, at its linearization point. */
  execute(input: I): O;
}

type ClientPhase = 'call' | 'effect' | 'return';

interface Pending<I, O> {
  readonly id: number;
  readonly input: I;
  readonly call: number;
  readonly unknown: boolean;
  readonly takesEffect: boolean;
  output: O | undefined;
}

interface Client<I, O> {
  readonly name: string;
  phase: ClientPhase;
  /** When the client's next event (its phase) happens; +∞ once it is done. */
  time: number;
  pending: Pending<I, O> | null;
}

const clientName = (i: number): string => `c${i}`;

/** Runs `object` under `options.clients` concurrent clients until `options.operations` calls were made and ended. */
function simulate<I, O>(options: GenerateOptions, object: Simulated<I, O>, prng: Prng): Array<Operation<I, O>> {
  invariant(options.clients >= 1 && options.operations >= 0, `lincheck generate: bad options ${JSON.stringify(options)}`);
  return new Simulation(options, object, prng).run();
}

/** The event loop of `simulate`: the client (or late effect) whose event comes first goes next. */
class Simulation<I, O> {
  readonly #object: Simulated<I, O>;
  readonly #prng: Prng;
  readonly #operations: number;
  readonly #unknownRate: number;
  readonly #lateRate: number;
  readonly #lateMaxMs: number;
  readonly #clients: Array<Client<I, O>>;
  /** Late effects still to happen, each at its time. */
  readonly #strays: Array<{ time: number; input: I }> = [];
  readonly #ops: Array<Operation<I, O>> = [];
  #started = 0;

  constructor(options: GenerateOptions, object: Simulated<I, O>, prng: Prng) {
    this.#object = object;
    this.#prng = prng;
    this.#operations = options.operations;
    this.#unknownRate = options.unknownRate ?? 0;
    this.#lateRate = options.lateRate ?? 0;
    this.#lateMaxMs = options.lateMaxMs ?? defaultLateMaxMs;
    invariant(this.#lateMaxMs >= unknownTimeoutMs, `lincheck generate: lateMaxMs must be at least ${unknownTimeoutMs}`);
    this.#clients = Array.from({ length: options.clients }, (_, i) => ({ name: clientName(i), phase: 'call', time: prng.uniform(0, maxThinkMs), pending: null }));
  }

  run(): Array<Operation<I, O>> {
    for (;;) {
      const c = earliest(this.#clients);
      const stray = this.#strays.length === 0 ? undefined : earliest(this.#strays);
      if (stray !== undefined && stray.time <= c.time) {
        this.#object.execute(stray.input);
        this.#strays.splice(this.#strays.indexOf(stray), 1);
      } else if (c.time === Number.POSITIVE_INFINITY) {
        return this.#ops; // every client done, no late effect left
      } else if (c.phase === 'call') {
        this.#call(c);
      } else if (c.phase === 'effect') {
        this.#effect(c, c.pending!);
      } else {
        this.#return(c, c.pending!);
      }
    }
  }

  /** The client calls (or, all calls made, is done); the call takes effect a little later. */
  #call(c: Client<I, O>): void {
    if (this.#started === this.#operations) {
      c.time = Number.POSITIVE_INFINITY;
      return;
    }
    const r = this.#prng;
    const unknown = r.chance(this.#unknownRate);
    c.pending = { id: this.#started++, input: this.#object.nextInput(c.name, r), call: c.time, unknown, takesEffect: !unknown || r.chance(0.5), output: undefined };
    c.phase = 'effect';
    c.time += r.uniform(0, maxLatencyMs);
  }

  /** The linearization point: the true object executes the call (or a late effect is put off, or nothing happens). */
  #effect(c: Client<I, O>, p: Pending<I, O>): void {
    const r = this.#prng;
    if (p.unknown && p.takesEffect && r.chance(this.#lateRate)) {
      this.#strays.push({ time: p.call + r.uniform(unknownTimeoutMs, this.#lateMaxMs), input: p.input });
    } else if (p.takesEffect) {
      p.output = this.#object.execute(p.input);
    }
    c.phase = 'return';
    c.time = p.unknown ? p.call + unknownTimeoutMs : c.time + r.uniform(0, maxLatencyMs);
  }

  /** The call returns (or the client gives up on it); the client thinks a little before its next call. */
  #return(c: Client<I, O>, p: Pending<I, O>): void {
    this.#ops[p.id] = { id: p.id, client: c.name, input: p.input, output: p.unknown ? undefined : p.output, call: p.call, ret: p.unknown ? undefined : c.time };
    c.pending = null;
    c.phase = 'call';
    c.time += this.#prng.uniform(0, maxThinkMs);
  }
}

/** The client whose next event comes first (the lowest index on a tie). */
function earliest<C extends { time: number }>(clients: readonly C[]): C {
  let best = clients[0]!;
  for (const c of clients) if (c.time < best.time) best = c;
  return best;
}

/** Runs procedure `proc` of `app` (a handler or a query) as a call of client `clientId` (the lock service: each client is its own owner, under its own id). */
function run<S>(app: App<S>, state: S, proc: string, args: Json, clientId = 'generator'): Json {
  const fn = appProcedure(app, proc);
  invariant(fn !== undefined, () => `lincheck generate: ${app.name} has no procedure ${proc}`);
  return fn(state, args, { clientId, internal: false });
}

// ---------------------------------------------------------------------------------------------

/** Adds (by 1 to 5) and gets, about half each, on keys `k0`…: the test app's counters (`counterModel`). */
export function generateCounterHistory(options: GenerateOptions & { readonly keys: number }): History<CounterInput, CounterOutput> {
  const prng = new Prng(options.seed);
  const state = testApp.initialState();
  const keys = Array.from({ length: options.keys }, (_, i) => `k${i}`);
  return simulate<CounterInput, CounterOutput>(options, {
    nextInput: (_client, r) => (r.chance(0.5) ? { proc: 'add', key: r.pick(keys), by: r.between(1, 5) } : { proc: 'get', key: r.pick(keys) }),
    execute: (input) => ({ value: run(testApp, state, input.proc, input as unknown as Json) as number }),
  }, prng);
}

/** Appends (about 3 in 4, each item naming its client and call) and lengths: the test app's list (`appendModel`). */
export function generateAppendHistory(options: GenerateOptions): History<AppendInput, AppendOutput> {
  const prng = new Prng(options.seed);
  const state = testApp.initialState();
  let items = 0;
  return simulate<AppendInput, AppendOutput>(options, {
    nextInput: (client, r) => (r.chance(0.75) ? { proc: 'append', item: `${client}-${items++}` } : { proc: 'length' }),
    execute: (input) => (input.proc === 'append'
      ? { index: run(testApp, state, 'append', { item: input.item }) as number }
      : { length: run(testApp, state, 'length', null) as number }),
  }, prng);
}

/**
 * The lock service (`lockModel`) on locks `l0`…, each client an owner (under its own client id).
 * A client that holds a lock mostly releases it with its token, sometimes asks again or looks
 * (stat); one that waits in a queue asks again; otherwise it asks for a random lock, and now and
 * then looks at one, releases one it does not hold, or releases with a stale token (both refused
 * with `not-held`).
 */
export function generateLockHistory(options: GenerateOptions & { readonly locks: number }): History<LockInput, LockOutput> {
  const prng = new Prng(options.seed);
  const state: LockState = lockApp.initialState();
  const locks = Array.from({ length: options.locks }, (_, i) => `l${i}`);
  return simulate<LockInput, LockOutput>(options, {
    nextInput: (client, r) => nextLockInput(state, locks, client, r),
    execute: (input) => {
      try {
        return run(lockApp, state, input.proc, input as unknown as Json, 'owner' in input ? input.owner : undefined) as unknown as LockOutput;
      } catch (err) {
        if (err instanceof AppError) return { error: err.code };
        throw err;
      }
    },
  }, prng);
}

function nextLockInput(state: LockState, locks: readonly string[], owner: string, r: Prng): LockInput {
  const entries = [...state.locks];
  const held = entries.filter(([, e]) => e.holder === owner);
  const waiting = entries.filter(([, e]) => e.waiters.includes(owner));
  const roll = r.next();
  if (held.length > 0 && roll < 0.75) {
    const [lock, e] = r.pick(held);
    if (roll < 0.55) return { proc: 'release', lock, owner, token: e.token };
    if (roll < 0.65) return { proc: 'acquire', lock, owner };
    if (roll < 0.7) return { proc: 'release', lock, owner, token: e.token > 1 ? e.token - 1 : e.token + 1 }; // another grant than its own: refused
    return { proc: 'stat', lock };
  }
  if (waiting.length > 0 && roll < 0.85) return { proc: 'acquire', lock: r.pick(waiting)[0], owner };
  if (roll < 0.9) return { proc: 'stat', lock: r.pick(locks) };
  if (roll < 0.95) return { proc: 'release', lock: r.pick(locks), owner, token: Math.max(1, state.lastToken) };
  return { proc: 'acquire', lock: r.pick(locks), owner };
}

// ---------------------------------------------------------------------------------------------

/** A history with one output replaced, and the id of the operation that was changed. */
export interface Tampered<I, O> {
  readonly history: History<I, O>;
  readonly opId: number;
}

/**
 * Replaces the output of one operation, chosen at random (seeded) among those `impossible`
 * offers a replacement for, by that replacement. Throws if no operation qualifies.
 */
function tamper<I, O>(history: History<I, O>, seed: number, impossible: (op: Operation<I, O>) => O | undefined): Tampered<I, O> {
  const eligible = history.filter((op) => op.output !== undefined && impossible(op) !== undefined);
  invariant(eligible.length > 0, 'lincheck tamper: no operation of the history can be tampered with');
  const victim = new Prng(seed).pick(eligible);
  const changed = { ...victim, output: impossible(victim) };
  return { history: history.map((op) => (op === victim ? changed : op)), opId: victim.id };
}

/** A counter's value can never be negative (every add adds 1 to 5): one add or get now says -1. */
export function tamperCounterHistory(history: History<CounterInput, CounterOutput>, seed: number): Tampered<CounterInput, CounterOutput> {
  return tamper(history, seed, () => ({ value: -1 }));
}

/** An index or a length can never be negative: one append or length now says -1. */
export function tamperAppendHistory(history: History<AppendInput, AppendOutput>, seed: number): Tampered<AppendInput, AppendOutput> {
  return tamper(history, seed, (op) => (op.input.proc === 'append' ? { index: -1 } : { length: -1 }));
}

/** A grant's token is at least 1, a stat's at least 0: one grant now carries token 0, or one stat token -1. */
export function tamperLockHistory(history: History<LockInput, LockOutput>, seed: number): Tampered<LockInput, LockOutput> {
  return tamper(history, seed, (op) => {
    const out = op.output as Record<string, unknown>;
    if (op.input.proc === 'acquire' && out['granted'] === true) return { granted: true, token: 0 };
    if (op.input.proc === 'stat') return { ...(out as { holder: string | null; waiters: string[] }), token: -1 };
    return undefined;
  });
}
