import type { History, Model, Operation } from './types.js';

/**
 * Sequential models for the linearizability checker: the test app's append-only list, the test
 * app's counters, and the lock service. Each documents its input and output types: the recorders
 * (simulator, nemesis) build operations of exactly these shapes from the calls they make and the
 * replies they get. A call that was refused without being executed (not an app error: e.g. the
 * cluster would not serve it) constrains nothing and is best left out of the history; a call
 * whose outcome is unknown (deadline passed) has `output: undefined`.
 */

/** Splits a history into parts by a key of each operation, in order of first appearance. */
function partitionBy<I, O>(history: History<I, O>, keyOf: (input: I) => string): Array<History<I, O>> {
  const parts = new Map<string, Array<Operation<I, O>>>();
  for (const op of history) {
    const k = keyOf(op.input);
    let part = parts.get(k);
    if (part === undefined) {
      part = [];
      parts.set(k, part);
    }
    part.push(op);
  }
  return [...parts.values()];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

// ---------------------------------------------------------------------------------------------
// The test app's append-only list (what the simulator's RSM runs do).

/**
 * `append({ item })` and `length()` of the test app. Input: `{ proc: 'append', item }` or
 * `{ proc: 'length' }`; output: `{ index }` (the app's reply to append, the item's 0-based index)
 * or `{ length }` (its reply to length).
 */
export type AppendInput = { readonly proc: 'append'; readonly item: string } | { readonly proc: 'length' };
export type AppendOutput = { readonly index: number } | { readonly length: number };

/**
 * The list, seen through its length: an append with a known index is allowed only at index ===
 * length (and makes it one longer); an append with unknown outcome makes it one longer (or is
 * left out: it never took effect); `length` must match. One part: every append touches the list.
 */
export const appendModel: Model<number, AppendInput, AppendOutput> = {
  name: 'append-list',
  init: () => 0,
  step(length, input, output) {
    if (input.proc === 'append') {
      if (output === undefined) return length + 1;
      return isObject(output) && (output as Record<string, unknown>)['index'] === length ? length + 1 : undefined;
    }
    if (output === undefined) return length;
    return isObject(output) && (output as Record<string, unknown>)['length'] === length ? length : undefined;
  },
  key: (length) => String(length),
  // Whatever its item, an append makes the list one longer.
  unknownEffect: (input) => input.proc,
  describe(op) {
    const out = op.output as Record<string, unknown> | undefined;
    if (op.input.proc === 'append') return `append ${op.input.item} → ${out === undefined ? '?' : `index ${String(out['index'])}`}`;
    return `length → ${out === undefined ? '?' : String(out['length'])}`;
  },
  describeState: (length) => `the list has ${length} item${length === 1 ? '' : 's'} (the next append gets index ${length})`,
};

// ---------------------------------------------------------------------------------------------
// The test app's counters.

/**
 * `add({ key, by })` and `get({ key })` of the test app. Input: `{ proc: 'add', key, by }` or
 * `{ proc: 'get', key }`; output: `{ value }` (the app's reply: the counter's new value after an
 * add, its value for a get; 0 when unset).
 */
export type CounterInput = { readonly proc: 'add'; readonly key: string; readonly by: number } | { readonly proc: 'get'; readonly key: string };
export interface CounterOutput {
  readonly value: number;
}

/**
 * One counter per key, checked key by key (`partition`): add must return the value plus `by`;
 * get must return the value; an add with unknown outcome adds `by` (or never took effect).
 */
export const counterModel: Model<number, CounterInput, CounterOutput> = {
  name: 'counters',
  init: () => 0,
  step(value, input, output) {
    const next = input.proc === 'add' ? value + input.by : value;
    if (output === undefined) return next;
    return isObject(output) && output.value === next ? next : undefined;
  },
  key: (value) => String(value),
  partition: (history) => partitionBy(history, (input) => input.key),
  unknownEffect: (input) => JSON.stringify(input.proc === 'add' ? [input.key, input.by] : [input.key]),
  describe(op) {
    const out = op.output === undefined ? '?' : String(op.output.value);
    return op.input.proc === 'add' ? `add ${op.input.key} ${op.input.by >= 0 ? '+' : ''}${op.input.by} → ${out}` : `get ${op.input.key} → ${out}`;
  },
  describeState: (value) => `the counter is ${value}`,
};

// ---------------------------------------------------------------------------------------------
// The lock service.

/**
 * The lock service's procedures (src/apps/lock/lock-app.ts). Input: `{ proc: 'acquire', lock, owner }`,
 * `{ proc: 'release', lock, owner, token? }` or `{ proc: 'stat', lock }`. Output: the app's reply
 * as is — `{ granted: true, token }` or `{ granted: false }` for acquire, `{ released: true }` for
 * release, `{ holder, token, waiters }` for stat — or `{ error: code }` when the app refused the
 * call with an app error (release: `not-held`).
 *
 * The nodes' own requests (`lockInternalCalls`, recorded under a pseudo-client): `{ proc:
 * 'expire', lock, owner }`, one operation per lock of the history for one `expire({ owner })`
 * (it touches every lock), output `{ expired: true }` (the app's counts span every lock, so the
 * model takes nothing from them); `{ proc: 'endDelay', lock }`, output the app's `{ ended }`.
 */
export type LockInput =
  | { readonly proc: 'acquire'; readonly lock: string; readonly owner: string }
  | { readonly proc: 'release'; readonly lock: string; readonly owner: string; readonly token?: number }
  | { readonly proc: 'stat'; readonly lock: string }
  | { readonly proc: 'expire'; readonly lock: string; readonly owner: string }
  | { readonly proc: 'endDelay'; readonly lock: string };
export type LockOutput =
  | { readonly granted: true; readonly token: number }
  | { readonly granted: false }
  | { readonly released: true }
  | { readonly error: string }
  | { readonly holder: string | null; readonly token: number; readonly waiters: readonly string[] }
  | { readonly expired: true }
  | { readonly ended: boolean };

/** One lock as the model sees it. */
export interface LockModelState {
  readonly holder: string | null;
  /**
   * The fencing token of the current grant (of the last one while the lock is free and someone
   * waits; 0 once the lock is forgotten: free, nobody waiting). `null`: granted by an acquire
   * with unknown outcome and not seen since; it is then at least `minNextToken - 1`.
   */
  readonly token: number | null;
  /** The smallest token a new grant of this lock may carry (per lock, tokens increase strictly). */
  readonly minNextToken: number;
  /** Owners waiting, first in line first. */
  readonly waiters: readonly string[];
  /** Lock-delay: an expiry freed the lock and no `endDelay` cleared the mark yet (only a free lock is delayed). */
  readonly delayed: boolean;
}

const freeLock: LockModelState = { holder: null, token: 0, minNextToken: 1, waiters: [], delayed: false };

/** Whether `owner` may be granted the lock now (it is free and nobody else is first in line). */
const grantable = (s: LockModelState, owner: string): boolean => s.holder === null && !s.delayed && (s.waiters.length === 0 || s.waiters[0] === owner);

const queued = (s: LockModelState, owner: string): LockModelState =>
  (s.waiters.includes(owner) ? s : { ...s, waiters: [...s.waiters, owner] });

/**
 * The state once the current grant's token is known to be `t`: allowed only if `t` is what the
 * state says, or the token was unknown and `t` is not below its bound.
 */
function withToken(s: LockModelState, t: number): LockModelState | undefined {
  if (s.token !== null) return s.token === t ? s : undefined;
  return t >= s.minNextToken - 1 ? { ...s, token: t, minNextToken: t + 1 } : undefined;
}

function released(s: LockModelState): LockModelState {
  return s.waiters.length === 0 ? { ...s, holder: null, token: 0 } : { ...s, holder: null };
}

function lockStep(s: LockModelState, input: LockInput, output: LockOutput | undefined): LockModelState | undefined {
  const out = output as Record<string, unknown> | undefined;
  switch (input.proc) {
    case 'acquire': {
      const { owner } = input;
      const grant = grantable(s, owner);
      if (out === undefined) {
        if (s.holder === owner) return s;
        if (grant) return { holder: owner, token: null, minNextToken: s.minNextToken + 1, waiters: s.waiters.filter((w) => w !== owner), delayed: false };
        return queued(s, owner);
      }
      if (out['granted'] === true && typeof out['token'] === 'number') {
        const t = out['token'];
        if (s.holder === owner) return withToken(s, t); // asked again: the same grant
        if (!grant || t < s.minNextToken) return undefined;
        return { holder: owner, token: t, minNextToken: t + 1, waiters: s.waiters.filter((w) => w !== owner), delayed: false };
      }
      if (out['granted'] === false) return s.holder === owner || grant ? undefined : queued(s, owner);
      return undefined;
    }
    case 'release': {
      const { owner, token } = input;
      const holds = s.holder === owner;
      if (out === undefined) {
        if (!holds) return s;
        if (token === undefined) return released(s);
        const pinned = withToken(s, token);
        return pinned === undefined ? s : released(pinned);
      }
      if (out['released'] === true) {
        if (!holds) return undefined;
        if (token === undefined) return released(s);
        const pinned = withToken(s, token);
        return pinned === undefined ? undefined : released(pinned);
      }
      // Refused: the owner does not hold it, or holds it under another grant (an unknown token
      // may be that other grant: allowed, nothing learnt).
      if (out['error'] === 'not-held') return !holds || (token !== undefined && s.token !== token) ? s : undefined;
      return undefined;
    }
    case 'stat': {
      if (out === undefined) return s;
      const waiters = out['waiters'];
      if (out['holder'] !== s.holder || typeof out['token'] !== 'number' || !Array.isArray(waiters)) return undefined;
      if (waiters.length !== s.waiters.length || waiters.some((w, i) => w !== s.waiters[i])) return undefined;
      return withToken(s, out['token']);
    }
    case 'expire': {
      // The owner's session ended: what it held is freed and delayed, its place in the queue gone.
      const holds = s.holder === input.owner;
      const next = { ...s, holder: holds ? null : s.holder, waiters: s.waiters.filter((w) => w !== input.owner), delayed: s.delayed || holds };
      return forgottenIfIdle(next);
    }
    case 'endDelay': {
      if (out !== undefined && out['ended'] !== s.delayed) return undefined;
      return s.delayed ? forgottenIfIdle({ ...s, delayed: false }) : s;
    }
  }
}

/** The app forgets a lock that is free, undelayed and waited for by nobody: a stat then shows token 0. */
function forgottenIfIdle(s: LockModelState): LockModelState {
  return s.holder === null && s.waiters.length === 0 && !s.delayed ? { ...s, token: 0 } : s;
}

function describeLockOutput(input: LockInput, out: Record<string, unknown> | undefined): string {
  if (out === undefined) return '?';
  if (typeof out['error'] === 'string') return out['error'];
  switch (input.proc) {
    case 'acquire': return out['granted'] === true ? `granted #${String(out['token'])}` : out['granted'] === false ? 'queued' : JSON.stringify(out);
    case 'release': return out['released'] === true ? 'released' : JSON.stringify(out);
    case 'stat': {
      const waiters = Array.isArray(out['waiters']) ? out['waiters'] as unknown[] : [];
      const free = out['token'] === 0 ? 'free' : `free, last #${String(out['token'])}`;
      const who = out['holder'] === null ? free : `${String(out['holder'])} #${String(out['token'])}`;
      return `${who}${waiters.length > 0 ? `, waiting [${waiters.join(', ')}]` : ''}`;
    }
    case 'expire': return 'expired';
    case 'endDelay': return out['ended'] === true ? 'ended' : 'not delayed';
  }
}

/**
 * The lock service, one lock at a time (`partition` by lock name): per lock a holder, the token of
 * its grant, a bound for the next token, and the FIFO queue of waiters.
 * - acquire is granted only if the lock is free and nobody else is first in line (the owner is
 *   first, or nobody waits), with a token above every earlier grant of this lock; or if the owner
 *   already holds it, with the same token. Exact tokens are not predictable (one counter serves
 *   the whole service, so per lock they increase strictly but skip). It is not granted only if
 *   someone else holds the lock or is first in line; the owner then joins the queue (once).
 * - release succeeds only if the owner holds the lock (under the token given, if one is); it is
 *   refused with `not-held` otherwise. A lock left free with nobody waiting is forgotten (stat
 *   then shows token 0).
 * - stat must show the holder, the token and the waiters exactly.
 * - expire (a node ended the owner's session) frees the lock if the owner held it, marking it
 *   delayed, and takes the owner out of the queue; a delayed lock is granted to nobody (acquires
 *   queue) until endDelay clears the mark (`ended` says whether there was one). A lock left free,
 *   undelayed, with nobody waiting is forgotten.
 * - An unknown outcome takes effect (as the app would have answered) or never does.
 * Assumptions: every expiry and end of delay of the history's locks is in the history (the
 * simulator records the nodes' own requests: `lockInternalCalls`), and every lock starts free
 * with nobody waiting (fresh lock names, or a fresh service).
 */
export const lockModel: Model<LockModelState, LockInput, LockOutput> = {
  name: 'lock-service',
  init: () => freeLock,
  step: lockStep,
  key: (s) => JSON.stringify([s.holder, s.token, s.minNextToken, s.waiters, s.delayed]),
  partition: (history) => partitionBy(history, (input) => input.lock),
  unknownEffect: (i) => JSON.stringify(i.proc === 'stat' || i.proc === 'endDelay' ? [i.proc, i.lock] : [i.proc, i.lock, i.owner, i.proc === 'release' ? i.token ?? null : null]),
  describe(op) {
    const out = describeLockOutput(op.input, op.output as Record<string, unknown> | undefined);
    const i = op.input;
    if (i.proc === 'stat' || i.proc === 'endDelay') return `${i.proc} ${i.lock} → ${out}`;
    return `${i.proc} ${i.lock} by ${i.owner}${i.proc === 'release' && i.token !== undefined ? ` #${i.token}` : ''} → ${out}`;
  },
  describeState(s) {
    const token = s.token === null ? `an unknown token ≥ ${s.minNextToken - 1}` : `token ${s.token}`;
    const free = s.token === 0 ? 'the lock is free' : `the lock is free (its last grant had ${token})`;
    const holder = s.holder === null ? free : `the lock is held by ${s.holder} under ${token}`;
    const waiters = s.waiters.length === 0 ? 'nobody waits' : `waiting: ${s.waiters.join(', ')}`;
    return `${holder}${s.delayed ? ' (delayed)' : ''}, ${waiters}, a new grant needs a token ≥ ${s.minNextToken}`;
  },
};

/**
 * What checking lock by lock cannot see: fencing tokens come from one counter of the whole
 * service, so a token names one grant — one lock, one owner — across every lock. Returns the first
 * token seen for two locks, or for two holders of a lock (in replies to acquire and in stats), as
 * a sentence; null if none. Token 0 (a forgotten lock's stat) names no grant. A cheap side check
 * of a history `lockModel` checks per lock.
 */
export function lockTokenConflict(history: History<LockInput, LockOutput>): string | null {
  const seen = new Map<number, { lock: string; owner: string | null; op: Operation<LockInput, LockOutput> }>();
  for (const op of history) {
    const out = op.output as Record<string, unknown> | undefined;
    const token = out?.['token'];
    if (out === undefined || typeof token !== 'number' || token === 0) continue;
    let owner: string | null;
    if (op.input.proc === 'acquire' && out['granted'] === true) owner = op.input.owner;
    else if (op.input.proc === 'stat') owner = typeof out['holder'] === 'string' ? out['holder'] : null;
    else continue;
    const earlier = seen.get(token);
    if (earlier === undefined) {
      seen.set(token, { lock: op.input.lock, owner, op });
      continue;
    }
    const sameOwner = earlier.owner === null || owner === null || earlier.owner === owner;
    if (earlier.lock !== op.input.lock || !sameOwner) {
      const describe = (o: Operation<LockInput, LockOutput>): string => `${lockModel.describe!(o)} [op ${o.id}, ${o.client}]`;
      return `token ${token} names two grants (${describe(earlier.op)}; ${describe(op)}): one service-wide counter issues every token once`;
    }
    if (earlier.owner === null && owner !== null) seen.set(token, { lock: earlier.lock, owner, op });
  }
  return null;
}
