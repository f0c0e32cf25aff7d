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
}

export const defaultCallbackOptions: CallbackOptions = {
  checkIntervalMs: 100,
  sessionTimeoutMs: 5000,
};

/** Callback options with defaults filled in. */
export function callbackOptions(given: Partial<CallbackOptions> | undefined): CallbackOptions {
  return withDefaults(defaultCallbackOptions, given, 'callbacks');
}
