// The tunables of callback streams and sessions (src/node/callback-hub.ts, sessions.ts).
import { withDefaults } from './with-defaults.js';

/**
 * The callback service (`synod.rsm.Callbacks`, `CallbackHub`) of a node whose app has callbacks,
 * and the client sessions kept on top of it (`SessionKeeper`; the lock service installs them).
 * How many streams a node keeps, and how far a client may fall behind, are the transport's
 * (`TransportOptions.maxStreams`, `maxQueuedStreamMessages`).
 */
export interface CallbackOptions {
  /**
   * How often the primary checks that it is still the primary of its view (streams are ended
   * when it is not) and that sessions are alive. Default 100 ms: a deposed primary's clients
   * learn it within a tenth of a second, for one look at the replica per tick.
   */
  readonly checkIntervalMs: number;
  /**
   * A session (an owner that holds or waits for something in the app's state) whose owner has
   * had no open stream to the serving primary for this long is expired: the primary submits the
   * app's expire request (the lock service: `expire({ owner })`, which releases its locks and
   * takes it out of every queue). A new primary starts every owner's clock when it starts
   * serving, so clients have this long to re-subscribe after a failover. Default 5000 ms: well
   * above a failover (about 1 s) plus a client's re-subscription, short enough that a vanished
   * holder blocks its waiters only a few seconds. A lock client must treat its cached locks as
   * lost once its stream has been down this long.
   */
  readonly sessionTimeoutMs: number;
  /**
   * The serving primary sends a keepalive down every callback stream this often (and once when it
   * accepts one), only while it holds its lease: each confirms the client's session, which a lock
   * client needs to keep handing out cached grants (`KeepAlive` in callbacks-wire.ts). Default
   * 1000 ms, or a fifth of `sessionTimeoutMs` when that is shorter: a client's session stays
   * confirmed through a few lost or late keepalives, for one small message per stream per second.
   * Must be below `sessionTimeoutMs / 4`, so that a session outlives several missed keepalives.
   */
  readonly keepaliveIntervalMs: number;
  /**
   * Chubby's lock-delay: a lock that a session expiry freed is granted to nobody for this long
   * (the lock service: `expire` marks it `delayed`, the primary submits `endDelay` this long after
   * it first sees the mark). It protects resources that do not check fencing tokens from the
   * expired holder's writes still in flight. Default 2000 ms: above a network's usual in-flight
   * time by far, and short next to the session timeout a waiter has already waited.
   */
  readonly lockDelayMs: number;
}

/** Longest keepalive interval when `sessionTimeoutMs` does not bound it: see `keepaliveIntervalMs`. */
const defaultKeepaliveIntervalMs = 1000;

export const defaultCallbackOptions: CallbackOptions = {
  checkIntervalMs: 100,
  sessionTimeoutMs: 5000,
  keepaliveIntervalMs: defaultKeepaliveIntervalMs,
  lockDelayMs: 2000,
};

/**
 * Callback options with defaults filled in and checked against each other. An unset
 * `keepaliveIntervalMs` is 1000 ms or a fifth of `sessionTimeoutMs`, whichever is shorter, so a
 * short session timeout alone (`synod node --session-timeout-ms`) is a valid configuration.
 */
export function callbackOptions(given: Partial<CallbackOptions> | undefined): CallbackOptions {
  const keepaliveIntervalMs = given?.keepaliveIntervalMs ??
    Math.min(defaultKeepaliveIntervalMs, (given?.sessionTimeoutMs ?? defaultCallbackOptions.sessionTimeoutMs) / 5);
  const o = withDefaults(defaultCallbackOptions, { ...given, keepaliveIntervalMs }, 'callbacks');
  if (o.keepaliveIntervalMs >= o.sessionTimeoutMs / 4) {
    throw new RangeError(`callbacks.keepaliveIntervalMs (${o.keepaliveIntervalMs}) must be below callbacks.sessionTimeoutMs / 4 (${o.sessionTimeoutMs / 4})`);
  }
  return o;
}
