import type { Json } from '../../rsm/app.js';
import type { CallbackSubscribe } from '../../rsm/callbacks-wire.js';
import type { LockCallback } from './lock-app.js';

/** An open subscription; `close` is idempotent, and after it returns neither callback of it runs again. */
export interface CallbackSubscription {
  close(): void;
}

/**
 * Where a lock client gets the callbacks (design §6: revoke, retry) the primary pushes to its
 * owner id. A subscription names the owner and the lock client's own client id (that of its
 * `RsmClient`): the server serves an owner's callbacks only to the client the owner is bound to,
 * and ends another client's subscription `owner-taken`. `StreamCallbackSubscriber` implements it over the transport's stream service (gRPC in
 * production, the simulated network in the simulator); tests also use fakes.
 *
 * Failure semantics an implementation must keep:
 * - `onMessage` gets each callback message as the app made it (`LockCallback` JSON). Messages may
 *   come twice, late, or before the reply they relate to; the lock client copes with that.
 * - It follows the primary: when the primary changes it subscribes to the new one (that policy
 *   lives here, not in the lock client). A subscription that starts on a serving primary must
 *   deliver every callback outstanding for the owner (`Replica.outstandingCallbacks()`), since
 *   those sent while no subscription was open are otherwise lost.
 * - `onEnd(reason)` is called at most once, when the subscription ended and will deliver nothing
 *   more (the implementation gave up, e.g. no primary reachable). The lock client subscribes
 *   again after a backoff, asking again for every lock it waits for; its cached grants stay
 *   valid until the last confirmed bound (a failover that re-subscribes in time keeps them).
 *   No callback runs after `close()`.
 * - Sessions (Chubby's): the serving primary confirms the owner's session with keepalives on the
 *   stream while it holds its lease, and expires an owner no earlier than
 *   `CallbackOptions.sessionTimeoutMs` on its clock after the last keepalive it sent it (its
 *   grants are released, it leaves every queue). An implementation reports, through
 *   `onConfirmed(validUntilMs)`, a time on the subscriber's clock before which the session
 *   surely lasts, however late the keepalive arrived (see `confirmedUntil`); the bound only ever
 *   rises within a subscription. The lock client hands out cached grants only before it: that,
 *   not the stream being open, is what keeps its local holders inside the server's grant. A
 *   subscriber with no keepalives never confirms anything, and its client never hands out a
 *   cached grant: the safe side.
 * - It follows the primary, and ends (`onEnd`) a stream to a node that stopped being it: one whose
 *   keepalives stopped, or that the RSM client moved away from or dropped (no primary known).
 * - Either callback may run synchronously inside `subscribe` (e.g. an immediate failure).
 */
export interface CallbackSubscriber {
  subscribe(who: CallbackSubscribe, onMessage: (message: Json) => void, onEnd: (reason: string) => void,
    onConfirmed?: (validUntilMs: number) => void): CallbackSubscription;
}

/** A lock callback message, or null if `message` is not one. */
export function parseLockCallback(message: Json): LockCallback | null {
  if (typeof message !== 'object' || message === null || Array.isArray(message)) return null;
  const { kind, lock, token } = message;
  if (typeof lock !== 'string' || lock.length === 0) return null;
  if (kind === 'retry') return { kind, lock };
  if (kind === 'revoke' && typeof token === 'number' && Number.isSafeInteger(token) && token > 0) return { kind, lock, token };
  return null;
}
