import type { Clock, TimerHandle } from '../../env/clock.js';
import type { Logger } from '../../env/logger.js';
import { type ClientStream, type StreamEnd, describeStreamEnd } from '../../env/streams.js';
import type { ClientTransport } from '../../env/transport.js';
import type { NodeId } from '../../env/types.js';
import type { Json } from '../../rsm/app.js';
import { type CallbackSubscribe, callbacksCodec } from '../../rsm/callbacks-wire.js';
import type { CallbackSubscription } from './callbacks.js';

/**
 * Timing of a `StreamCallbackSubscriber`. Every bound is kept well under the primary's
 * `CallbackOptions.sessionTimeoutMs` (default 5000 ms): a lock client may be without a stream at
 * the server only that long before its session (its locks) may expire behind its back, and it
 * learns of a gap only through `onEnd`.
 */
export interface CallbackSubscriberOptions {
  /**
   * How long one subscription may keep trying to get a stream accepted (following `not-primary`
   * ends to the primary they name, retrying members that are not serving yet) before it gives up
   * with `onEnd`. Default 1000 ms: a fifth of the default session timeout, so a lock client that
   * cannot reach a serving primary learns it (and stops handing out cached grants) long before
   * its session may expire.
   */
  readonly establishTimeoutMs: number;
  /**
   * Pause before the next attempt after a refusal that names no primary to go to (`not-primary`
   * with none known, `not-serving-yet`, `unavailable`, `unreachable`, `overloaded`). Default
   * 50 ms; a refusal naming the primary is followed at once.
   */
  readonly retryPauseMs: number;
  /**
   * How often the primary guess (`CallbackSubscriberConfig.primary`) is compared with the server
   * of the stream. When the guess changes to another node, the stream is at a node that may no
   * longer be the primary (e.g. cut off from the others and unaware of it): it is ended
   * (`onEnd`), and the lock client subscribes again at the new primary. Default 100 ms, as the
   * hub's `CallbackOptions.checkIntervalMs`.
   */
  readonly primaryCheckIntervalMs: number;
}

export const defaultCallbackSubscriberOptions: CallbackSubscriberOptions = {
  establishTimeoutMs: 1000,
  retryPauseMs: 50,
  primaryCheckIntervalMs: 100,
};

/** What a subscription needs of its subscriber: the transport, time, options, and where to try next. */
export interface SubscriptionContext {
  readonly transport: ClientTransport;
  readonly clock: Clock;
  readonly log: Logger;
  readonly options: CallbackSubscriberOptions;
  /** The primary guess now. */
  primaryGuess(): NodeId | null;
  /** Where to try next, avoiding `avoid` if there is another choice. */
  nextTarget(avoid: NodeId | null): NodeId;
  /** An end named `node` as the primary: try it next. */
  learn(node: NodeId): void;
  /** The subscription ended (or was closed): forget it. */
  forget(sub: StreamSubscription): void;
}

/**
 * What one subscription does, in its phases:
 * - establishing: a stream is being opened at `target`, or (`stream` null) the next attempt
 *   waits out a pause; `lastRefusal` says why the previous attempt failed;
 * - open: the server accepted the stream at `target`; its messages go to `onMessage`;
 * - ended: over (`onEnd` was called, or the owner closed it).
 */
type Phase =
  | { readonly kind: 'establishing'; readonly target: NodeId; readonly stream: ClientStream | null; readonly lastRefusal: string }
  | { readonly kind: 'open'; readonly target: NodeId; readonly stream: ClientStream }
  | { readonly kind: 'ended' };

/**
 * How a subscription acts on an end heard while establishing: go to the node named at once;
 * after a pause, try the same node again, or the next one avoiding this; or give up.
 */
type Reaction =
  | { readonly act: 'go'; readonly to: NodeId }
  | { readonly act: 'retry-same' }
  | { readonly act: 'retry-elsewhere'; readonly avoid: NodeId }
  | { readonly act: 'give-up' };

/**
 * What a refusal while establishing means (every `StreamEnd` kind has its reaction): follow a
 * `not-primary` naming another node at once; retry the same node after a pause when it is the
 * primary but not serving yet, or too busy; move to another node after a pause when this one
 * names no primary (its guess, and perhaps ours, is stale), is unavailable or unreachable; give
 * up on what retrying cannot cure (another cluster, a request the server refuses, a failure of
 * the server, a newer subscription of the same owner, or an owner of another client).
 */
export function reactionTo(end: StreamEnd, server: NodeId): Reaction {
  switch (end.kind) {
    case 'not-primary':
      return end.primary !== null && end.primary !== server ? { act: 'go', to: end.primary } : { act: 'retry-elsewhere', avoid: server };
    case 'not-serving-yet':
    case 'overloaded':
      return { act: 'retry-same' };
    case 'unavailable':
    case 'unreachable':
      return { act: 'retry-elsewhere', avoid: server };
    case 'replaced':
    case 'owner-taken':
    case 'invalid-request':
    case 'wrong-cluster':
    case 'internal':
    case 'cancelled':
      return { act: 'give-up' };
  }
}

/**
 * One subscription of an owner (see `StreamCallbackSubscriber` for the contract): a stream at a
 * time, until one is accepted and ends, or none is accepted within `establishTimeoutMs`.
 */
export class StreamSubscription implements CallbackSubscription {
  readonly #ctx: SubscriptionContext;
  readonly #who: CallbackSubscribe;
  /** `#who.owner`, for logs. */
  readonly #owner: string;
  readonly #onMessage: (message: Json) => void;
  readonly #onEnd: (reason: string) => void;
  readonly #startedAt: number;
  #phase: Phase = { kind: 'ended' };
  /** The primary guess last looked at: only a change of it moves an open stream. */
  #lastGuess: NodeId | null;
  #retryTimer: TimerHandle | null = null;
  #checkTimer: TimerHandle | null = null;
  #deadlineTimer: TimerHandle | null = null;

  constructor(ctx: SubscriptionContext, who: CallbackSubscribe, onMessage: (message: Json) => void, onEnd: (reason: string) => void) {
    this.#ctx = ctx;
    this.#who = { owner: who.owner, clientId: who.clientId };
    this.#owner = who.owner;
    this.#onMessage = onMessage;
    this.#onEnd = onEnd;
    this.#startedAt = ctx.clock.now();
    this.#lastGuess = ctx.primaryGuess();
  }

  start(): void {
    const { clock, options } = this.#ctx;
    this.#deadlineTimer = clock.setTimer(options.establishTimeoutMs, () => {
      this.#deadlineTimer = null;
      const p = this.#phase;
      if (p.kind === 'establishing') this.#finish(`no callback stream accepted within ${options.establishTimeoutMs} ms (last: ${p.lastRefusal || 'none'})`);
    });
    this.#attempt(this.#ctx.nextTarget(null), '');
    this.#scheduleCheck();
  }

  close(): void {
    if (this.#phase.kind === 'ended') return;
    this.#teardown();
  }

  #attempt(target: NodeId, lastRefusal: string): void {
    let stream: ClientStream | null = null;
    const current = (): boolean => stream !== null && (this.#phase.kind === 'establishing' || this.#phase.kind === 'open') && this.#phase.stream === stream;
    stream = this.#ctx.transport.openStream(callbacksCodec, target, this.#who, {
      accepted: () => {
        if (current()) this.#accepted(target, stream!);
      },
      message: (message) => {
        // Keepalives are the subscription's own business; the app sees callbacks only.
        if (current() && this.#phase.kind === 'open' && message.kind === 'callback') this.#onMessage(message.message);
      },
      ended: (end) => {
        if (current()) this.#ended(target, end);
      },
    });
    this.#phase = { kind: 'establishing', target, stream, lastRefusal };
  }

  #accepted(target: NodeId, stream: ClientStream): void {
    this.#phase = { kind: 'open', target, stream };
    this.#deadlineTimer?.cancel();
    this.#deadlineTimer = null;
    this.#ctx.log.debug({ owner: this.#owner, server: target, ms: Math.round(this.#ctx.clock.now() - this.#startedAt) }, 'callback subscriber: stream open');
  }

  #ended(server: NodeId, end: StreamEnd): void {
    const reason = `${server}: ${describeStreamEnd(end)}`;
    if (this.#phase.kind === 'open') return this.#finish(`callback stream ended: ${reason}`);
    const reaction = reactionTo(end, server);
    switch (reaction.act) {
      case 'give-up':
        if (end.kind !== 'replaced') this.#ctx.log.error({ owner: this.#owner, reason }, 'callback subscriber: subscription refused');
        return this.#finish(`callback subscription refused: ${reason}`);
      case 'go':
        this.#ctx.learn(reaction.to);
        return this.#attempt(this.#ctx.nextTarget(server), reason);
      case 'retry-same':
      case 'retry-elsewhere':
        this.#phase = { kind: 'establishing', target: server, stream: null, lastRefusal: reason };
        this.#retryTimer = this.#ctx.clock.setTimer(this.#ctx.options.retryPauseMs, () => {
          this.#retryTimer = null;
          if (this.#phase.kind !== 'establishing' || this.#phase.stream !== null) return;
          this.#attempt(reaction.act === 'retry-same' ? server : this.#ctx.nextTarget(reaction.avoid), reason);
        });
    }
  }

  #scheduleCheck(): void {
    this.#checkTimer = this.#ctx.clock.setTimer(this.#ctx.options.primaryCheckIntervalMs, () => {
      this.#checkTimer = null;
      if (this.#phase.kind === 'ended') return;
      this.#checkPrimary();
      if (this.#isLive()) this.#scheduleCheck();
    });
  }

  /** (A method, so that TypeScript does not narrow the phase across calls that may end it.) */
  #isLive(): boolean {
    return this.#phase.kind !== 'ended';
  }

  /** Moves off a node when the primary guess changes to another one. */
  #checkPrimary(): void {
    const guess = this.#ctx.primaryGuess();
    if (guess === this.#lastGuess) return;
    this.#lastGuess = guess;
    const p = this.#phase;
    if (guess === null || p.kind === 'ended' || guess === p.target) return;
    if (p.kind === 'open') return this.#finish(`the primary moved from ${p.target} to ${guess}`);
    // Establishing: go there instead (the attempt under way, or the pause, is dropped).
    p.stream?.close();
    this.#retryTimer?.cancel();
    this.#retryTimer = null;
    this.#attempt(guess, p.lastRefusal);
  }

  #finish(reason: string): void {
    if (this.#phase.kind === 'ended') return;
    this.#teardown();
    this.#ctx.log.debug({ owner: this.#owner, reason }, 'callback subscriber: subscription ended');
    this.#onEnd(reason);
  }

  #teardown(): void {
    const p = this.#phase;
    this.#phase = { kind: 'ended' };
    if (p.kind !== 'ended') p.stream?.close();
    for (const t of [this.#retryTimer, this.#checkTimer, this.#deadlineTimer]) t?.cancel();
    this.#retryTimer = this.#checkTimer = this.#deadlineTimer = null;
    this.#ctx.forget(this);
  }
}
