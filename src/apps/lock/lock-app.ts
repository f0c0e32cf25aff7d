/**
 * The lock service's replicated state machine: Chubby-style locks with caching clients.
 *
 * Every lock has at most one holder (a lock client, named by its owner id), a fencing token, and
 * a FIFO queue of waiting owners. Tokens come from one counter of the whole service, so they
 * increase strictly with every grant of any lock (in the replicated state, so across failovers
 * too), and a lock nobody holds or waits for can be forgotten without its tokens starting over.
 * The callbacks follow from the state alone:
 * - revoke(lock, token) to the holder while anyone waits (give it back when you can);
 * - retry(lock) to the first waiter while the lock is free (ask again now).
 * A primary that starts serving re-sends them all, so none is lost in a failover.
 *
 * Owners belong to their client. An owner is bound to the client (`HandlerContext.clientId`)
 * whose request first made it hold or wait for a lock, and stays bound while it holds or waits
 * for anything (the binding is replicated state). A request of another client that names a
 * bound owner is refused with `owner-taken` and changes nothing: no client can release another's
 * lock, queue it, or give back its locks, and the callback service serves a bound owner's stream
 * to its client only (`lockSessions.clientOf`). An owner that holds and waits for nothing is
 * bound to none: the next client to use it takes it (owner ids are public: `stat` shows them).
 *
 * Procedures (args are JSON objects; names and owners are checked before anything else):
 * - acquire({ lock, owner }) → { granted: true, token } | { granted: false } (queued; wait for retry)
 * - release({ lock, owner, token }) → { released: true }; `token` is the grant's fencing token
 *   (`bad-args` without one). Refused with `not-held` unless the owner holds the lock under that
 *   very grant (a late re-sent release never frees a later grant)
 * - stat({ lock }) → { holder, token, waiters }
 * - giveBack({ owner }) → { released, dequeued }: the owner's own client gives back every lock it
 *   holds and leaves every queue (a lock client that closes: `GrpcLockClient.close({ giveBack })`)
 * - expire({ owner }) → { released, dequeued }: the same, called by a node when the owner's
 *   session ended (`SessionKeeper`); each lock it releases is `delayed` (Chubby's lock-delay):
 *   granted to nobody, acquires queue, no retry goes out, until
 * - endDelay({ lock }) → { ended: boolean }: called by a node `CallbackOptions.lockDelayMs` after
 *   it saw the lock delayed; clears the mark, so the first waiter gets retry and its acquire is
 *   granted (the queue reserves the lock for it), or forgets a lock nobody waits for.
 *   `expire` and `endDelay` are refused with `internal-only` from any client
 * Refusals (`AppError` codes): `bad-args`, `owner-taken`, `not-held`, `internal-only`; each
 * changes nothing.
 */
import { type App, AppError, type Callback, type HandlerContext, type Json, argOf, defineApp } from '../../rsm/app.js';
import { type LockEntry, type LockState, checkOwner, dropOwner, emptyLockState, entry, leavePlace, lockLimits, marshalLockState, takePlace, unmarshalLockState } from './lock-state.js';

export { type LockEntry, type LockState, type OwnerBinding, lockLimits } from './lock-state.js';

/** A callback message of the lock service, to an owner. */
export type LockCallback =
  | { readonly kind: 'revoke'; readonly lock: string; readonly token: number }
  | { readonly kind: 'retry'; readonly lock: string };

/** Test-only breakage of the lock service (the simulator proves its owner check bites with it); never in production. */
export interface LockAppMutations {
  /** Lets any client name any owner: the `owner-taken` refusal is skipped. */
  readonly skipOwnerCheck?: boolean;
}

/** Argument `name` of an args object (own properties only: a name is never looked up on a prototype). */
function field(args: Json, name: string, max: number): string {
  const v = argOf(args, name);
  if (typeof v !== 'string' || v.length === 0) throw new AppError('bad-args', `${name} must be a non-empty string`);
  if (v.length > max) throw new AppError('bad-args', `${name} is longer than ${max} characters`);
  return v;
}

const lockName = (args: Json): string => field(args, 'lock', lockLimits.maxLockNameLength);
const ownerOf = (args: Json): string => field(args, 'owner', lockLimits.maxOwnerLength);

/** The fencing token a release names: the grant it gives back. */
function tokenOf(args: Json): number {
  const token = argOf(args, 'token');
  if (typeof token !== 'number' || !Number.isSafeInteger(token) || token < 1) {
    throw new AppError('bad-args', 'token must be the fencing token of the grant given back (a positive integer)');
  }
  return token;
}

/** Every callback the state calls for, lock by lock. */
function allCallbacks(state: LockState): Callback[] {
  return [...state.locks].flatMap(([name, e]) => callbacksOf(name, e));
}

/** The callbacks lock `name` calls for in its current state. */
function callbacksOf(name: string, e: LockEntry | undefined): Callback[] {
  if (e === undefined || e.waiters.length === 0 || e.delayed === true) return []; // a delayed lock is granted to nobody yet
  if (e.holder !== null) return [{ clientId: e.holder, message: { kind: 'revoke', lock: name, token: e.token } }];
  return [{ clientId: e.waiters[0]!, message: { kind: 'retry', lock: name } }];
}

/** Refuses a request of a client to a procedure only nodes may call (`expire`, `endDelay`). */
function internalOnly(context: HandlerContext, proc: string, why: string): void {
  if (!context.internal) throw new AppError('internal-only', `${proc} is called by the nodes ${why}`);
}

/**
 * The lock service, with test-only `mutations` (none in production: use `lockApp`). Version
 * 1.1.0: owners bound to clients (the state has `owners`), release needs its token, `giveBack`,
 * and `expire` internal only. 1.2.0: lock-delay (`delayed` locks, internal `endDelay`); it reads
 * 1.1.0 states.
 */
export function createLockApp(mutations: LockAppMutations = {}): App<LockState> {
  /** Refuses a request naming an owner of another client (`owner-taken`), unless the mutation skips it. */
  const mayName = (state: LockState, owner: string, context: HandlerContext): void => {
    if (mutations.skipOwnerCheck !== true) checkOwner(state, owner, context.clientId);
  };
  return defineApp<LockState>({
    name: 'lock',
    version: '1.2.0',
    initialState: emptyLockState,
    handlers: {
      acquire: (state, args, context): Json => {
        const lock = lockName(args);
        const owner = ownerOf(args);
        mayName(state, owner, context);
        const e = entry(state, lock);
        if (e.holder === owner) return { granted: true, token: e.token };
        if (e.holder === null && e.delayed !== true && (e.waiters.length === 0 || e.waiters[0] === owner)) {
          if (e.waiters[0] === owner) e.waiters.shift(); // its place in the queue becomes the hold
          else takePlace(state, owner, context.clientId);
          e.holder = owner;
          e.token = ++state.lastToken;
          return { granted: true, token: e.token };
        }
        if (!e.waiters.includes(owner)) {
          e.waiters.push(owner);
          takePlace(state, owner, context.clientId);
        }
        return { granted: false };
      },
      release: (state, args, context) => {
        const lock = lockName(args);
        const owner = ownerOf(args);
        const token = tokenOf(args);
        mayName(state, owner, context);
        const e = state.locks.get(lock);
        if (e === undefined || e.holder !== owner || token !== e.token) {
          throw new AppError('not-held', `${owner} does not hold ${lock} under token ${token}${e?.holder ? ` (${e.holder} does, token ${e.token})` : ''}`);
        }
        e.holder = null;
        leavePlace(state, owner);
        if (e.waiters.length === 0) state.locks.delete(lock); // tokens come from lastToken: nothing is lost
        return { released: true };
      },
      stat: (state, args) => {
        const e = state.locks.get(lockName(args));
        return { holder: e?.holder ?? null, token: e?.token ?? 0, waiters: [...(e?.waiters ?? [])] };
      },
      giveBack: (state, args, context) => {
        const owner = ownerOf(args);
        mayName(state, owner, context);
        return dropOwner(state, owner);
      },
      expire: (state, args, context) => {
        internalOnly(context, 'expire', 'when an owner\'s session ends; a client gives back its own locks with giveBack');
        return dropOwner(state, ownerOf(args), true);
      },
      endDelay: (state, args, context) => {
        internalOnly(context, 'endDelay', 'when a lock\'s lock-delay is over');
        const lock = lockName(args);
        const e = state.locks.get(lock);
        if (e === undefined || e.delayed !== true) return { ended: false };
        delete e.delayed;
        if (e.waiters.length === 0) state.locks.delete(lock);
        return { ended: true };
      },
    },
    callbacks: (state, request) => {
      if (request === undefined || request.proc === 'expire' || request.proc === 'giveBack') return allCallbacks(state);
      if (request.proc !== 'acquire' && request.proc !== 'release' && request.proc !== 'endDelay') return [];
      const name = argOf(request.args, 'lock');
      return typeof name === 'string' ? callbacksOf(name, state.locks.get(name)) : [];
    },
    marshalState: marshalLockState,
    unmarshalState: unmarshalLockState,
  });
}

export const lockApp = createLockApp();
