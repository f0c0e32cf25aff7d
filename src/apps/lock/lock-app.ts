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
  readonly locks: Record<string, LockEntry>;
}

/** Longest lock name and owner id accepted. */
export const lockLimits = { maxLockNameLength: 256, maxOwnerLength: 128 } as const;

export type LockCallback =
  | { readonly kind: 'revoke'; readonly lock: string; readonly token: number }
  | { readonly kind: 'retry'; readonly lock: string };

function field(args: Json, name: string, max: number): string {
  const v = typeof args === 'object' && args !== null && !Array.isArray(args) ? args[name] : undefined;
  if (typeof v !== 'string' || v.length === 0) throw new AppError('bad-args', `${name} must be a non-empty string`);
  if (v.length > max) throw new AppError('bad-args', `${name} is longer than ${max} characters`);
  return v;
}

const lockName = (args: Json): string => field(args, 'lock', lockLimits.maxLockNameLength);
const ownerOf = (args: Json): string => field(args, 'owner', lockLimits.maxOwnerLength);

function entry(state: LockState, lock: string): LockEntry {
  let e = state.locks[lock];
  if (e === undefined) {
    e = { holder: null, token: 0, waiters: [] };
    state.locks[lock] = e;
  }
  return e;
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
  initialState: () => ({ lastToken: 0, locks: {} }),
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
      const e = state.locks[lock];
      const token = typeof args === 'object' && args !== null && !Array.isArray(args) ? args['token'] : undefined;
      if (e === undefined || e.holder !== owner || (typeof token === 'number' && token !== e.token)) {
        throw new AppError('not-held', `${owner} does not hold ${lock}${e?.holder ? ` (${e.holder} does, token ${e.token})` : ''}`);
      }
      e.holder = null;
      if (e.waiters.length === 0) delete state.locks[lock]; // tokens come from lastToken: nothing is lost
      return { released: true };
    },
    stat: (state, args) => {
      const e = state.locks[lockName(args)];
      return { holder: e?.holder ?? null, token: e?.token ?? 0, waiters: [...(e?.waiters ?? [])] };
    },
    expire: (state, args) => {
      const owner = ownerOf(args);
      let released = 0;
      let dequeued = 0;
      for (const [name, e] of Object.entries(state.locks)) {
        if (e.holder === owner) {
          e.holder = null;
          released++;
        }
        const before = e.waiters.length;
        e.waiters = e.waiters.filter((w) => w !== owner);
        dequeued += before - e.waiters.length;
        if (e.holder === null && e.waiters.length === 0) delete state.locks[name];
      }
      return { released, dequeued };
    },
  },
  callbacks: (state, request) => {
    if (request === undefined) return Object.entries(state.locks).flatMap(([name, e]) => callbacksOf(name, e));
    if (request.proc === 'expire') return Object.entries(state.locks).flatMap(([name, e]) => callbacksOf(name, e));
    if (request.proc !== 'acquire' && request.proc !== 'release') return [];
    const args = request.args;
    const name = typeof args === 'object' && args !== null && !Array.isArray(args) ? args['lock'] : undefined;
    return typeof name === 'string' ? callbacksOf(name, state.locks[name]) : [];
  },
  marshalState: (state) => jsonState.marshal(state as unknown as Json),
  unmarshalState: (data) => jsonState.unmarshal(data) as unknown as LockState,
});
