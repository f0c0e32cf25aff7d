/**
 * The well-behaved clients of a fuzz batch: ordinary `RsmClient`s doing ordinary work beside the
 * fuzzer, their calls recorded for the linearizability checker. Whatever the fuzzer sends, they
 * must still be served, and what they saw must be explainable by one copy of the app
 * (tools/lincheck's models). Their names (client ids, lock names, items) contain `§`, which no
 * fuzz generator writes, so no fuzz case ever touches their locks, owners or client ids (client
 * ids are not authenticated: one client impersonating another is not what this oracle is about).
 *
 * Written against a scheduler and `RsmClient.submit`, so one loop runs in the simulator's
 * virtual time and against real processes alike.
 */
import { AppRejectedError } from '../../src/client/errors.js';
import type { CallResult } from '../../src/client/client-core.js';
import type { RsmClient } from '../../src/client/rsm-client.js';
import type { Json } from '../../src/rsm/app.js';
import { lockCalls } from '../lincheck/mappings.js';
import { type CounterInput, type CounterOutput, type LockInput, type LockOutput, counterModel, lockModel } from '../lincheck/models.js';
import { type CallMapping, notExecuted } from '../lincheck/recorder.js';
import type { Model } from '../lincheck/types.js';
import type { Prng } from '../sim/prng.js';

/** The mark of every name a well-behaved client uses (never written by a fuzz generator). */
export const goodMark = '§';

export interface Scheduler {
  after(ms: number, fn: () => void): void;
}

/** One client's loop: units of work (a lock cycle, a call) until stopped. */
export interface GoodLoop {
  /** Units completed so far. */
  readonly completed: number;
  /** Finish the unit under way, then start no other. */
  stop(): void;
  /** Stopped, and no unit under way. */
  readonly idle: boolean;
}

/**
 * A loop of single calls: `call(done)` sends one (its answer counts when `ok`), the next follows
 * 0-20 ms after its answer, until stopped. The call workloads' shared skeleton.
 */
export function callLoop(sched: Scheduler, rng: Prng, call: (done: (ok: boolean) => void) => void): GoodLoop {
  let completed = 0;
  let stopping = false;
  let busy = true;
  const next = (): void => {
    if (stopping) {
      busy = false;
      return;
    }
    call((ok) => {
      if (ok) completed++;
      sched.after(rng.uniform(0, 20), next);
    });
  };
  sched.after(rng.uniform(0, 20), next);
  return {
    get completed() {
      return completed;
    },
    stop: () => void (stopping = true),
    get idle() {
      return stopping && !busy;
    },
  };
}

export interface GoodWorkload<I, O> {
  readonly calls: CallMapping<I, O>;
  // `any`: the model's state type is the model's own business; only its inputs and outputs meet the client's.
  readonly model: Model<any, I, O>;
  /** What a unit is, for messages. */
  readonly unit: string;
  start(client: RsmClient, sched: Scheduler, rng: Prng, deadlineMs: number): GoodLoop;
}

const objectOf = (v: Json): Record<string, Json> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {});

/**
 * Lock cycles on two locks of their own: acquire (asked again while queued), then release with
 * the grant's token. A call whose outcome is unknown is sent again until it has one: a second
 * acquire by the holder returns its grant, a second release is refused `not-held` once the first
 * took effect; so a client never leaves a lock held or a queue joined behind it.
 */
export const goodLockWorkload: GoodWorkload<LockInput, LockOutput> = {
  calls: lockCalls,
  model: lockModel,
  unit: 'lock cycles',
  start(client, sched, rng, deadlineMs) {
    const owner = client.clientId;
    const locks = [`wellbehaved${goodMark}a`, `wellbehaved${goodMark}b`];
    let completed = 0;
    let stopping = false;
    let busy = false;
    const call = (proc: string, args: Json, then: (r: CallResult) => void): void => client.submit(proc, args, { deadlineMs }, then);
    const cycle = (): void => {
      if (stopping) {
        busy = false;
        return;
      }
      busy = true;
      acquire(rng.pick(locks));
    };
    const acquire = (lock: string): void => call('acquire', { lock, owner }, (r) => {
      const reply = r.ok ? objectOf(r.value) : null;
      if (reply?.['granted'] === true && typeof reply['token'] === 'number') sched.after(rng.uniform(0, 10), () => release(lock, reply['token'] as number));
      else sched.after(rng.uniform(5, 30), () => acquire(lock)); // queued, or the outcome is unknown: ask again
    });
    const release = (lock: string, token: number): void => call('release', { lock, owner, token }, (r) => {
      if (r.ok || (r.error instanceof AppRejectedError && r.error.code === 'not-held')) {
        completed++;
        sched.after(rng.uniform(0, 20), cycle);
      } else {
        sched.after(rng.uniform(5, 30), () => release(lock, token));
      }
    });
    sched.after(rng.uniform(0, 20), cycle);
    busy = true;
    return {
      get completed() {
        return completed;
      },
      stop: () => void (stopping = true),
      get idle() {
        return stopping && !busy;
      },
    };
  },
};

/**
 * The test app's counters, on one key of the clients' own that both share (`add` by a small
 * amount, `get`), checked key by key against `counterModel`. Not the list: every fuzz `append`
 * moves it, and the model could not tell.
 */
export const counterCalls: CallMapping<CounterInput, CounterOutput> = {
  input(proc, args) {
    const a = objectOf(args);
    const key = a['key'];
    if (typeof key !== 'string') return null;
    if (proc === 'get') return { proc: 'get', key };
    const by = a['by'];
    return proc === 'add' && typeof by === 'number' ? { proc: 'add', key, by } : null;
  },
  value: (_input, value) => ({ value: value as number }),
  appError: (_input, code) => (code === 'bad-args' ? notExecuted : null),
};

export const goodCounterWorkload: GoodWorkload<CounterInput, CounterOutput> = {
  calls: counterCalls,
  model: counterModel,
  unit: 'calls',
  start(client, sched, rng, deadlineMs) {
    const key = `wellbehaved${goodMark}counter`;
    return callLoop(sched, rng, (done) => {
      const read = rng.chance(0.3);
      client.submit(read ? 'get' : 'add', read ? { key } : { key, by: rng.between(1, 3) }, { deadlineMs }, (r) => done(r.ok));
    });
  },
};
