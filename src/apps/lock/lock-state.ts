import { invariant } from '../../env/errors.js';
import { AppError, type Json, jsonState } from '../../rsm/app.js';

/**
 * The lock service's replicated state (`lockApp`), its bytes, and the bookkeeping of owners:
 * which client each owner belongs to while it holds or waits for anything.
 */

export interface LockEntry {
  holder: string | null;
  /** The fencing token of the current (or last) grant of this lock. */
  token: number;
  waiters: string[];
  /**
   * Chubby's lock-delay: a session expiry freed this lock, and nobody is granted it until a node's
   * `endDelay` clears the mark (`CallbackOptions.lockDelayMs` later). Only a free lock is delayed;
   * acquires meanwhile queue. Absent in states of version 1.1.0 (read as false).
   */
  delayed?: boolean;
}

/**
 * An owner that holds or waits for at least one lock, and the client it belongs to: the client
 * id (`HandlerContext.clientId`) of the request that first used it. Only that client may name it
 * until it holds and waits for nothing; then the binding is gone and the owner id is free again.
 */
export interface OwnerBinding {
  readonly client: string;
  /** Locks it holds plus queues it waits in (always at least 1: a binding at 0 is deleted). */
  places: number;
}

export interface LockState {
  /** The last fencing token issued, for any lock. */
  lastToken: number;
  /**
   * Every lock that is held or waited for, by name. A `Map`: names come from clients, and
   * `__proto__`, `constructor` or `toString` is a lock name like any other.
   */
  readonly locks: Map<string, LockEntry>;
  /**
   * Every owner that holds or waits for a lock, with its client. Invariant: exactly the holders
   * and waiters of `locks`, each with `places` = locks held + queues waited in.
   */
  readonly owners: Map<string, OwnerBinding>;
}

/** Longest lock name and owner id accepted. */
export const lockLimits = { maxLockNameLength: 256, maxOwnerLength: 128 } as const;

export function emptyLockState(): LockState {
  return { lastToken: 0, locks: new Map(), owners: new Map() };
}

/** Lock `lock`'s entry, made (free, nobody waiting) if the state has none. */
export function entry(state: LockState, lock: string): LockEntry {
  let e = state.locks.get(lock);
  if (e === undefined) {
    e = { holder: null, token: 0, waiters: [] };
    state.locks.set(lock, e);
  }
  return e;
}

/**
 * Refuses (`owner-taken`) a request of client `client` that names `owner` while the owner
 * belongs to another client. The message does not name that client: client ids are what keeps
 * one client from passing for another, so none ever leaves the cluster.
 */
export function checkOwner(state: LockState, owner: string, client: string): void {
  const binding = state.owners.get(owner);
  if (binding !== undefined && binding.client !== client) {
    throw new AppError('owner-taken', `owner ${owner} belongs to another client (the one that first used it, until it holds and waits for ` +
      'nothing): a client may name only its own owners');
  }
}

/** `owner` took a place (a lock it now holds, or a queue it joined) for `client`, who is bound to it from now on if it was not yet. */
export function takePlace(state: LockState, owner: string, client: string): void {
  const binding = state.owners.get(owner);
  if (binding === undefined) state.owners.set(owner, { client, places: 1 });
  else binding.places++;
}

/** `owner` gave up a place; with none left, its binding ends and any client may use the owner id. */
export function leavePlace(state: LockState, owner: string): void {
  const binding = state.owners.get(owner);
  invariant(binding !== undefined && binding.places > 0, () => `lock state: owner ${owner} leaves a place it was not counted in`);
  if (--binding.places === 0) state.owners.delete(owner);
}

/**
 * Releases every lock `owner` holds and takes it out of every queue; its binding ends. With
 * `delay` (a session expiry), each lock it released is marked `delayed`. Locks left free with
 * nobody waiting and no delay are forgotten (tokens come from `lastToken`: nothing is lost).
 */
export function dropOwner(state: LockState, owner: string, delay = false): { released: number; dequeued: number } {
  let released = 0;
  let dequeued = 0;
  for (const [name, e] of state.locks) {
    if (e.holder === owner) {
      e.holder = null;
      if (delay) e.delayed = true;
      released++;
      leavePlace(state, owner);
    }
    const before = e.waiters.length;
    e.waiters = e.waiters.filter((w) => w !== owner);
    for (let k = e.waiters.length; k < before; k++) leavePlace(state, owner);
    dequeued += before - e.waiters.length;
    if (e.holder === null && e.waiters.length === 0 && e.delayed !== true) state.locks.delete(name); // deleting the current entry keeps the iteration valid
  }
  invariant(!state.owners.has(owner), () => `lock state: owner ${owner} is still bound after giving up every place`);
  return { released, dequeued };
}

/**
 * The state as bytes: `{ lastToken, locks, owners }`, locks keyed by name (`{ holder, token,
 * waiters }`) and owners by id (their client id). `Object.fromEntries` makes own properties,
 * `__proto__` too, so every lock and owner is written.
 */
export function marshalLockState(state: LockState): Uint8Array {
  const owners = Object.fromEntries([...state.owners].map(([owner, b]) => [owner, b.client]));
  // `delayed` is written only when set, so a state without delays has the 1.1.0 form.
  const locks = Object.fromEntries([...state.locks].map(([name, e]) => [name, { holder: e.holder, token: e.token, waiters: e.waiters, ...(e.delayed === true ? { delayed: true } : {}) }]));
  return jsonState.marshal({ lastToken: state.lastToken, locks, owners });
}

/**
 * A state from its marshalled form, checked (the bytes come from another replica): a malformed
 * state, or owners that do not match the locks' holders and waiters, is a `TypeError`.
 * `JSON.parse` makes every key an own property, `__proto__` included.
 */
export function unmarshalLockState(data: Uint8Array): LockState {
  const v = jsonState.unmarshal(data);
  const o = typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {};
  const { lastToken, locks, owners } = o;
  if (!Number.isSafeInteger(lastToken) || (lastToken as number) < 0) throw new TypeError('lock state: lastToken must be a non-negative integer');
  const isObject = (x: Json | undefined): x is Record<string, Json> => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (!isObject(locks)) throw new TypeError('lock state: locks must be an object');
  if (!isObject(owners)) throw new TypeError('lock state: owners must be an object');
  const state: LockState = { lastToken: lastToken as number, locks: new Map(), owners: new Map() };
  for (const [name, e] of Object.entries(locks)) {
    const { holder, token, waiters, delayed } = (isObject(e) ? e : {}) as Record<string, Json>;
    if ((holder !== null && typeof holder !== 'string') || !Number.isSafeInteger(token) || !Array.isArray(waiters) ||
      !waiters.every((w) => typeof w === 'string') || (delayed !== undefined && delayed !== true) || (delayed === true && holder !== null)) {
      throw new TypeError(`lock state: lock ${JSON.stringify(name)} is not { holder, token, waiters, delayed? } (only a free lock is delayed)`);
    }
    state.locks.set(name, { holder: holder as string | null, token: token as number, waiters: waiters as string[], ...(delayed === true ? { delayed: true } : {}) });
  }
  for (const [owner, client] of Object.entries(owners)) {
    if (typeof client !== 'string' || client.length === 0) throw new TypeError(`lock state: owner ${JSON.stringify(owner)} has no client id`);
    state.owners.set(owner, { client, places: 0 });
  }
  for (const e of state.locks.values()) {
    for (const owner of e.holder === null ? e.waiters : [e.holder, ...e.waiters]) {
      const binding = state.owners.get(owner);
      if (binding === undefined) throw new TypeError(`lock state: owner ${JSON.stringify(owner)} holds or waits without a client`);
      binding.places++;
    }
  }
  for (const [owner, b] of state.owners) if (b.places === 0) throw new TypeError(`lock state: owner ${JSON.stringify(owner)} is bound but holds and waits for nothing`);
  return state;
}
