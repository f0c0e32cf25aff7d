import type { Clock, TimerHandle } from '../../env/clock.js';
import type { Logger } from '../../env/logger.js';
import { type ClientStream, type StreamEnd, describeStreamEnd } from '../../env/streams.js';
import type { ClientTransport } from '../../env/transport.js';
import type { NodeId } from '../../env/types.js';
import type { Json } from '../../rsm/app.js';
import { type CallbackSubscribe, type KeepAlive, callbacksCodec } from '../../rsm/callbacks-wire.js';
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
  /**
   * How long an open stream may go without a keepalive before it is ended (as if the server had
   * ended it `unavailable`). The serving primary sends one every `keepaliveIntervalMs` (default
   * 1000 ms) while its lease holds; a stream that stays silent longer is to a node that lost its
   * lease or is cut off from this client without knowing it, and waiting for the transport's own
   * keepalive (3 s and more) would only delay the move to the new primary. Default 2500 ms: two
   * and a half keepalive intervals, so one lost or late keepalive does not end a healthy stream.
   * A server that says it sends keepalives less often (`KeepAlive.intervalMs`) gets two and a half
   * of its own intervals instead, whichever is longer.
   */
  readonly keepaliveSilenceMs: number;
}

/** A stream is silent after this many of its server's keepalive intervals without one. */
const silenceIntervals = 2.5;
/** Longest keepalive interval a server's word is taken for (a day). */
const maxStatedIntervalMs = 24 * 60 * 60 * 1000;

export const defaultCallbackSubscriberOptions: CallbackSubscriberOptions = {
  establishTimeoutMs: 1000,
  retryPauseMs: 50,
  primaryCheckIntervalMs: 100,
  keepaliveSilenceMs: 2500,
};

/**
 * Until when (on the client's clock) a session surely lasts, from one keepalive of a stream whose
 * subscribe this client sent at `subscribedAtMs` on its own clock.
 *
 * Why not the arrival time: a push can be delayed without bound (queues, a slow network, a paused
 * process), so a keepalive that arrives now may have been sent long ago, and the server counts its
 * session timeout from the send. What this client knows for sure is that the server accepted the
 * stream after the subscribe was sent (real time t0, `subscribedAtMs` on the client's clock), and
 * sent the keepalive `sinceAcceptMs` later on its own clock. With every clock's rate within
 * 1 ± ρ of real time (ρ = maxDriftPpm / 1e6):
 * - the send happened at real time ≥ t0 + sinceAcceptMs/(1+ρ) (the server's clock runs at most
 *   1+ρ fast), which the client's clock (at least 1−ρ) shows at ≥ `anchor` =
 *   subscribedAtMs + sinceAcceptMs·(1−ρ)/(1+ρ);
 * - the server expires the session no earlier than sessionTimeoutMs on its clock after that
 *   send, i.e. real ≥ send + S/(1+ρ), which the client's clock shows at ≥ anchor + S·(1−ρ)/(1+ρ).
 * So before the returned time the server has surely not expired the session, however late the
 * keepalive came. S and ρ come from the keepalive: a misconfigured client cannot be unsafe.
 */
export function confirmedUntil(subscribedAtMs: number, keepalive: KeepAlive): number {
  const rho = keepalive.maxDriftPpm / 1e6;
  const shrink = (1 - rho) / (1 + rho);
  return subscribedAtMs + (keepalive.sinceAcceptMs + keepalive.sessionTimeoutMs) * shrink;
}

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
 * - open: the server accepted the stream at `target`; its callbacks go to `onMessage`, its
 *   keepalives (counted from when its subscribe was sent) raise the bound reported to `onConfirmed`;
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
  readonly #onConfirmed: (validUntilMs: number) => void;
  readonly #startedAt: number;
  /** The highest bound reported to `#onConfirmed` (it only ever rises). */
  #confirmedUntil = -Infinity;
  #phase: Phase = { kind: 'ended' };
  /** The primary guess last looked at: only a change of it moves an open stream. */
  #lastGuess: NodeId | null;
  #retryTimer: TimerHandle | null = null;
  #checkTimer: TimerHandle | null = null;
  #deadlineTimer: TimerHandle | null = null;
  /** Open: ends the stream after `keepaliveSilenceMs` without a keepalive. */
  #silenceTimer: TimerHandle | null = null;
  /** The keepalive interval the stream's server last said it keeps (0: none said yet). */
  #serverIntervalMs = 0;

  constructor(ctx: SubscriptionContext, who: CallbackSubscribe, onMessage: (message: Json) => void, onEnd: (reason: string) => void,
    onConfirmed: (validUntilMs: number) => void = () => {}) {
    this.#ctx = ctx;
    this.#who = { owner: who.owner, clientId: who.clientId };
    this.#owner = who.owner;
    this.#onMessage = onMessage;
    this.#onEnd = onEnd;
    this.#onConfirmed = onConfirmed;
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
    const subscribedAtMs = this.#ctx.clock.now(); // before the subscribe leaves: the keepalives' anchor
    const current = (): boolean => stream !== null && (this.#phase.kind === 'establishing' || this.#phase.kind === 'open') && this.#phase.stream === stream;
    stream = this.#ctx.transport.openStream(callbacksCodec, target, this.#who, {
      accepted: () => {
        if (current()) this.#accepted(target, stream!);
      },
      message: (message) => {
        if (!current() || this.#phase.kind !== 'open') return;
        // Keepalives are the subscription's own business; the app sees callbacks only.
        if (message.kind === 'callback') this.#onMessage(message.message);
        else this.#keepalive(subscribedAtMs, message);
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
    this.#armSilence(target);
    this.#ctx.log.debug({ owner: this.#owner, server: target, ms: Math.round(this.#ctx.clock.now() - this.#startedAt) }, 'callback subscriber: stream open');
  }

  /** A keepalive on the open stream: it is alive, and the session surely lasts until `confirmedUntil`. */
  #keepalive(subscribedAtMs: number, keepalive: KeepAlive): void {
    const p = this.#phase;
    if (p.kind !== 'open') return;
    this.#serverIntervalMs = keepalive.intervalMs;
    this.#armSilence(p.target);
    const until = confirmedUntil(subscribedAtMs, keepalive);
    if (until <= this.#confirmedUntil) return;
    this.#confirmedUntil = until;
    this.#onConfirmed(until);
  }

  /** (Re)starts the count of `keepaliveSilenceMs` on the open stream at `target`. */
  #armSilence(target: NodeId): void {
    this.#silenceTimer?.cancel();
    // A server's stated interval is clamped: beyond a day it can only be a bad value (and a timer
    // beyond 2^31 - 1 ms would fire at once).
    const ms = Math.max(this.#ctx.options.keepaliveSilenceMs, silenceIntervals * Math.min(this.#serverIntervalMs, maxStatedIntervalMs));
    this.#silenceTimer = this.#ctx.clock.setTimer(ms, () => {
      this.#silenceTimer = null;
      if (this.#phase.kind === 'open') this.#finish(`callback stream ended: ${target}: unavailable: no keepalive for ${ms} ms (keepaliveSilenceMs)`);
    });
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

  /**
   * Moves off a node when the primary guess changes to another one, or to none: the RSM client
   * drops its guess when a node answers `not-primary` naming nobody, which is what a deposed
   * primary (cut off from its peers, or lease lapsed) says; a stream kept open to it would hear
   * nothing more while the new primary runs this owner's session clock.
   */
  #checkPrimary(): void {
    const guess = this.#ctx.primaryGuess();
    const previous = this.#lastGuess;
    if (guess === previous) return;
    this.#lastGuess = guess;
    const p = this.#phase;
    if (p.kind === 'ended') return;
    if (guess === null) {
      if (p.kind === 'open') this.#finish(`no primary known: the RSM client dropped ${previous ?? p.target} as primary`);
      return; // establishing: the attempt under way goes on (its refusals name where to go)
    }
    if (guess === p.target) return;
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
    for (const t of [this.#retryTimer, this.#checkTimer, this.#deadlineTimer, this.#silenceTimer]) t?.cancel();
    this.#retryTimer = this.#checkTimer = this.#deadlineTimer = this.#silenceTimer = null;
    this.#ctx.forget(this);
  }
}
