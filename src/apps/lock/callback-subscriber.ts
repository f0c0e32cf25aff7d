import type { Clock } from '../../env/clock.js';
import { type Logger, silentLogger } from '../../env/logger.js';
import type { ClientTransport } from '../../env/transport.js';
import type { NodeId } from '../../env/types.js';
import { limits, withDefaults } from '../../options.js';
import type { Json } from '../../rsm/app.js';
import type { CallbackSubscribe } from '../../rsm/callbacks-wire.js';
import type { CallbackSubscriber, CallbackSubscription } from './callbacks.js';
import { type CallbackSubscriberOptions, StreamSubscription, type SubscriptionContext, defaultCallbackSubscriberOptions } from './callback-subscription.js';

export { type CallbackSubscriberOptions, defaultCallbackSubscriberOptions } from './callback-subscription.js';

export interface CallbackSubscriberConfig {
  /** Opens the streams (`ClientTransport.openStream`): gRPC in production, the simulated network in the simulator. */
  readonly transport: ClientTransport;
  /** Members to try when no primary is known (any members of the cluster). */
  readonly members: readonly NodeId[];
  /**
   * The current primary guess, e.g. `() => rsmClient.core.primary` of the lock client's own
   * `RsmClient` (null: none known). Read when a subscription starts and every
   * `primaryCheckIntervalMs`.
   */
  readonly primary: () => NodeId | null;
  readonly clock: Clock;
  readonly logger?: Logger;
  readonly options?: Partial<CallbackSubscriberOptions>;
}

/**
 * The `CallbackSubscriber` over any `ClientTransport`: one stream of the callback service
 * (`callbacksCodec`, `Subscribe{owner, client_id}`) per subscription, at the serving primary. Production
 * runs it over gRPC (`GrpcCallbackSubscriber`), the simulator over its network.
 *
 * A subscription goes through two phases:
 * - establishing: it opens a stream at the primary named by the latest refusal, else the primary
 *   guess, else the next member, and waits for the server to accept it. Every end heard meanwhile
 *   is acted on (`reactionTo`): `not-primary` naming another node goes there at once; `not-primary`
 *   naming none (the node's own guess is stale, perhaps ours too), `unavailable` and `unreachable`
 *   go to another node, `not-serving-yet` and `overloaded` try the same one again, each after
 *   `retryPauseMs`; another cluster's node, an invalid request, a server failure, a newer
 *   subscription of the same owner and an owner that belongs to another client (`owner-taken`)
 *   end the subscription at once. If no stream is accepted within
 *   `establishTimeoutMs`, it ends (`onEnd`).
 * - open: the stream was accepted. Every callback is handed to `onMessage`; every keepalive
 *   raises the session bound given to `onConfirmed` (`confirmedUntil`). Whenever the stream
 *   ends, for any reason, the subscription ends with `onEnd(reason)`, and so does a change of the
 *   primary guess to another node than the stream's or to none (only the primary sends
 *   callbacks, and a node cut off from the others may not know it was replaced; the stream to it
 *   would stay open and silent while the new primary drops this owner's callbacks and runs its
 *   session clock), and so does `keepaliveSilenceMs` without a keepalive.
 * It never reopens an open stream by itself: the lock client must hear of every gap (see
 * `CallbackSubscriber`), so it subscribes again after `onEnd`, with its own backoff. Retrying
 * refusals inside the establishing phase keeps the gap bounded by `establishTimeoutMs`, well
 * under the session timeout, and the lock client already treats the time before an accepted
 * stream as a gap. A stream to a server that went silent ends after `keepaliveSilenceMs`.
 *
 * `onEnd` runs at most once per subscription and never inside `subscribe`; neither callback runs
 * after the subscription's `close()`. `close()` of the subscriber closes every subscription.
 */
export class StreamCallbackSubscriber implements CallbackSubscriber {
  readonly #members: NodeId[];
  readonly #subscriptions = new Set<StreamSubscription>();
  readonly #ctx: SubscriptionContext;
  #nextMember = 0;
  /** The primary the latest `not-primary` end named, until an attempt goes there. */
  #hint: NodeId | null = null;
  #closed = false;

  constructor(config: CallbackSubscriberConfig) {
    if (config.members.length === 0) throw new RangeError('a callback subscriber needs at least one member address');
    this.#members = [...new Set(config.members)];
    const primary = config.primary;
    this.#ctx = {
      transport: config.transport,
      clock: config.clock,
      log: config.logger ?? silentLogger,
      options: withDefaults(defaultCallbackSubscriberOptions, config.options, 'callbackSubscriber'),
      primaryGuess: primary,
      nextTarget: (avoid: NodeId | null) => this.#nextTarget(avoid, primary()),
      learn: (node: NodeId) => this.#learn(node),
      forget: (sub: StreamSubscription) => void this.#subscriptions.delete(sub),
    };
  }

  get options(): CallbackSubscriberOptions {
    return this.#ctx.options;
  }

  subscribe(who: CallbackSubscribe, onMessage: (message: Json) => void, onEnd: (reason: string) => void,
    onConfirmed?: (validUntilMs: number) => void): CallbackSubscription {
    if (this.#closed) {
      // Reported later, never inside subscribe; and never after the caller closed it.
      let closed = false;
      this.#ctx.clock.setTimer(0, () => {
        if (!closed) onEnd('the callback subscriber is closed');
      });
      return { close: () => void (closed = true) };
    }
    const sub = new StreamSubscription(this.#ctx, who, onMessage, onEnd, onConfirmed);
    this.#subscriptions.add(sub);
    sub.start();
    return sub;
  }

  /** Closes every subscription (no callback of them runs any more). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const sub of [...this.#subscriptions]) sub.close();
  }

  /**
   * Where to try next: the primary named by the latest `not-primary` end (once), else the primary
   * guess, else the members in turn (skipping `avoid` if there are others).
   */
  #nextTarget(avoid: NodeId | null, guess: NodeId | null): NodeId {
    const hint = this.#hint;
    this.#hint = null;
    if (hint !== null && hint !== avoid) return hint;
    if (guess !== null && guess !== avoid) return guess;
    for (let k = 0; k < this.#members.length; k++) {
      const m = this.#members[this.#nextMember++ % this.#members.length]!;
      if (m !== avoid) return m;
    }
    return this.#members[0]!;
  }

  /**
   * An end named `node` as the primary: the next attempt goes there, and it is tried like a
   * member from now on (up to `limits.maxMembers` addresses: a server cannot make the list grow
   * without bound).
   */
  #learn(node: NodeId): void {
    this.#hint = node;
    if (!this.#members.includes(node) && this.#members.length < limits.maxMembers) this.#members.push(node);
  }
}
