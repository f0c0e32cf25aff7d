import { AppError, type Callback, type Json, defineApp, jsonState } from '../../rsm/app.js';

/**
 * The lock service's replicated state machine: Chubby-style locks with caching clients.
 *
 * Every lock has at most one holder (a lock client, named by its owner id), a fencing token, and
 * a FIFO queue of waiting owners. Tokens come from one counter of the whole service, so they
 * increase strictly with every grant of any lock (in the replicated state, so across failovers
 * too), and a lock nobody holds or waits for can be forgotten without its tokens starting over. The callbacks follow from the state alone:
 * - revoke(lock, token) to the holder while anyone waits (give it back when you can);
 * - retry(lock) to the first waiter while the lock is free (ask again now).
 * A primary that starts serving re-sends them all, so none is lost in a failover.
 *
 * Procedures (args are JSON objects):
 * - acquire({ lock, owner }) → { granted: true, token } | { granted: false } (queued; wait for retry)
 * - release({ lock, owner, token? }) → { released: true }; refused with `not-held` if owner does not
 *   hold it (or, with a token, holds it under another grant: a late re-sent release never frees a
 *   later grant)
 * - stat({ lock }) → { holder, token, waiters }
 * - expire({ owner }) → { released, dequeued }: the owner vanished (its session ended); its locks
 *   are released and it leaves every queue
 */
export interface LockEntry {
  holder: string | null;
  /** The fencing token of the current (or last) grant of this lock. */
  token: number;
  waiters: string[];
}

export interface LockState {
  /** The last fencing token issued, for any lock. */
  lastToken: number;
  /**
   * Every lock that is held or waited for, by name. A `Map`: names come from clients, and
   * `__proto__`, `constructor` or `toString` is a lock name like any other.
   */
  readonly locks: Map<string, LockEntry>;
}

/** Longest lock name and owner id accepted. */
export const lockLimits = { maxLockNameLength: 256, maxOwnerLength: 128 } as const;

export type LockCallback =
  | { readonly kind: 'revoke'; readonly lock: string; readonly token: number }
  | { readonly kind: 'retry'; readonly lock: string };

/** Argument `name` of an args object (own properties only: a name is never looked up on a prototype). */
function arg(args: Json, name: string): Json | undefined {
  return typeof args === 'object' && args !== null && !Array.isArray(args) && Object.hasOwn(args, name) ? args[name] : undefined;
}

function field(args: Json, name: string, max: number): string {
  const v = arg(args, name);
  if (typeof v !== 'string' || v.length === 0) throw new AppError('bad-args', `${name} must be a non-empty string`);
  if (v.length > max) throw new AppError('bad-args', `${name} is longer than ${max} characters`);
  return v;
}

const lockName = (args: Json): string => field(args, 'lock', lockLimits.maxLockNameLength);
const ownerOf = (args: Json): string => field(args, 'owner', lockLimits.maxOwnerLength);

function entry(state: LockState, lock: string): LockEntry {
  let e = state.locks.get(lock);
  if (e === undefined) {
    e = { holder: null, token: 0, waiters: [] };
    state.locks.set(lock, e);
  }
  return e;
}

/** Every callback the state calls for, lock by lock. */
function allCallbacks(state: LockState): Callback[] {
  return [...state.locks].flatMap(([name, e]) => callbacksOf(name, e));
}

/**
 * A state from its marshalled form, checked (the bytes come from another replica): `{ lastToken,
 * locks }` with the locks as a JSON object keyed by lock name, the form of version 1.0.0 (so the
 * bytes did not change when the state became a `Map`). `JSON.parse` makes every key an own
 * property, `__proto__` included.
 */
function stateOf(v: Json): LockState {
  const o = typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {};
  const lastToken = o['lastToken'];
  const locks = o['locks'];
  if (!Number.isSafeInteger(lastToken) || (lastToken as number) < 0) throw new TypeError('lock state: lastToken must be a non-negative integer');
  if (typeof locks !== 'object' || locks === null || Array.isArray(locks)) throw new TypeError('lock state: locks must be an object');
  const map = new Map<string, LockEntry>();
  for (const [name, e] of Object.entries(locks)) {
    const { holder, token, waiters } = (typeof e === 'object' && e !== null && !Array.isArray(e) ? e : {}) as Record<string, Json>;
    if ((holder !== null && typeof holder !== 'string') || !Number.isSafeInteger(token) || !Array.isArray(waiters) ||
      !waiters.every((w) => typeof w === 'string')) {
      throw new TypeError(`lock state: lock ${JSON.stringify(name)} is not { holder, token, waiters }`);
    }
    map.set(name, { holder: holder as string | null, token: token as number, waiters: waiters as string[] });
  }
  return { lastToken: lastToken as number, locks: map };
}

/** The callbacks lock `name` calls for in its current state. */
function callbacksOf(name: string, e: LockEntry | undefined): Callback[] {
  if (e === undefined || e.waiters.length === 0) return [];
  if (e.holder !== null) return [{ clientId: e.holder, message: { kind: 'revoke', lock: name, token: e.token } }];
  return [{ clientId: e.waiters[0]!, message: { kind: 'retry', lock: name } }];
}

export const lockApp = defineApp<LockState>({
  name: 'lock',
  version: '1.0.0',
  initialState: () => ({ lastToken: 0, locks: new Map() }),
  handlers: {
    acquire: (state, args): Json => {
      const lock = lockName(args);
      const owner = ownerOf(args);
      const e = entry(state, lock);
      if (e.holder === owner) return { granted: true, token: e.token };
      if (e.holder === null && (e.waiters.length === 0 || e.waiters[0] === owner)) {
        e.holder = owner;
        e.token = ++state.lastToken;
        e.waiters = e.waiters.filter((w) => w !== owner);
        return { granted: true, token: e.token };
      }
      if (!e.waiters.includes(owner)) e.waiters.push(owner);
      return { granted: false };
    },
    release: (state, args) => {
      const lock = lockName(args);
      const owner = ownerOf(args);
      const e = state.locks.get(lock);
      const token = arg(args, 'token');
      if (e === undefined || e.holder !== owner || (typeof token === 'number' && token !== e.token)) {
        throw new AppError('not-held', `${owner} does not hold ${lock}${e?.holder ? ` (${e.holder} does, token ${e.token})` : ''}`);
      }
      e.holder = null;
      if (e.waiters.length === 0) state.locks.delete(lock); // tokens come from lastToken: nothing is lost
      return { released: true };
    },
    stat: (state, args) => {
      const e = state.locks.get(lockName(args));
      return { holder: e?.holder ?? null, token: e?.token ?? 0, waiters: [...(e?.waiters ?? [])] };
    },
    expire: (state, args) => {
      const owner = ownerOf(args);
      let released = 0;
      let dequeued = 0;
      for (const [name, e] of state.locks) {
        if (e.holder === owner) {
          e.holder = null;
          released++;
        }
        const before = e.waiters.length;
        e.waiters = e.waiters.filter((w) => w !== owner);
        dequeued += before - e.waiters.length;
        if (e.holder === null && e.waiters.length === 0) state.locks.delete(name); // deleting the current entry keeps the iteration valid
      }
      return { released, dequeued };
    },
  },
  callbacks: (state, request) => {
    if (request === undefined || request.proc === 'expire') return allCallbacks(state);
    if (request.proc !== 'acquire' && request.proc !== 'release') return [];
    const name = arg(request.args, 'lock');
    return typeof name === 'string' ? callbacksOf(name, state.locks.get(name)) : [];
  },
  // `Object.fromEntries` makes own properties, `__proto__` too, so every lock is written.
  marshalState: (state) => jsonState.marshal({ lastToken: state.lastToken, locks: Object.fromEntries(state.locks) as unknown as Json }),
  unmarshalState: (data) => stateOf(jsonState.unmarshal(data)),
});
