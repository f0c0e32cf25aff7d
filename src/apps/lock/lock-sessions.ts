import type { SessionSpec } from '../../node/sessions.js';
import type { LockState } from './lock-app.js';

/**
 * The lock service's sessions (`SessionKeeper`): every owner that holds a lock or waits in a
 * lock's queue has a session, kept alive by its callback stream to the primary. An owner that
 * has had no stream for `CallbackOptions.sessionTimeoutMs` (its client died, hung, or lost the
 * network) is expired with `expire({ owner })`: its locks are released and it leaves every
 * queue, so the first waiter of each lock it held gets `retry` and the next grant carries a
 * higher fencing token. A lock is therefore never stuck behind a vanished client for longer than
 * the session timeout (plus the time its stream takes to end: see
 * `TransportOptions.keepaliveTimeMs`). Only the stream of the owner's own client counts
 * (`clientOf`: the client it is bound to), so no other client can keep a vanished owner's
 * session, and its locks, alive. `expire` is a node's own request (`HandlerContext.internal`):
 * clients cannot call it. Each lock an expiry freed is granted to nobody for
 * `CallbackOptions.lockDelayMs` (the keeper then submits `endDelay({ lock })`, internal too), so
 * the expired holder's writes still in flight reach a resource that checks no token before the
 * next holder's do.
 */
export const lockSessions: SessionSpec<LockState> = {
  // The bound owners are exactly those that hold or wait for a lock (`LockState.owners`).
  owners: (state) => state.owners.keys(),
  expire: (owner) => ({ proc: 'expire', args: { owner } }),
  clientOf: (state, owner) => state.owners.get(owner)?.client ?? null,
  // Lock-delay: the locks expiries freed; each gets endDelay lockDelayMs after the primary saw it.
  *delayed(state) {
    for (const [name, e] of state.locks) if (e.delayed === true) yield name;
  },
  endDelay: (lock) => ({ proc: 'endDelay', args: { lock } }),
  describe(state, owner) {
    const held: string[] = [];
    const waiting: string[] = [];
    for (const [name, e] of state.locks) {
      if (e.holder === owner) held.push(name);
      if (e.waiters.includes(owner)) waiting.push(name);
    }
    return { locksReleased: held, queuesLeft: waiting };
  },
};
