import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import type { Clock, TimerHandle } from '../../env/clock.js';
import { type Logger, silentLogger } from '../../env/logger.js';
import type { NodeId } from '../../env/types.js';
import type { Fields } from '../../env/validate.js';
import { withDefaults } from '../../options.js';
import type { Json } from '../../rsm/app.js';
import {
  callbacksService,
  decodeCallbackMessage,
  encodeSubscribeRequest,
  primaryFromDetails,
  subscribeMethod,
} from '../../rsm/callbacks-wire.js';
import { serviceDefinition } from '../../runtime/proto.js';
import { realClock } from '../../runtime/real-clock.js';
import type { CallbackSubscriber, CallbackSubscription } from './callbacks.js';

/**
 * Timing of `GrpcCallbackSubscriber`. Every bound is kept well under the primary's
 * `CallbackOptions.sessionTimeoutMs` (default 5000 ms): a lock client may be without a stream at
 * the server only that long before its session (its locks) may expire behind its back, and it
 * learns of a gap only through `onEnd`.
 */
export interface GrpcCallbackSubscriberOptions {
  /**
   * How long one subscription may keep trying to get a stream accepted (following `primary is X`
   * hints, retrying members that are not serving yet) before it gives up with `onEnd`. Default
   * 1000 ms: a fifth of the default session timeout, so a lock client that cannot reach a serving
   * primary learns it (and stops handing out cached grants) long before its session may expire.
   */
  readonly establishTimeoutMs: number;
  /**
   * A stream counts as accepted once it delivered a message or stayed open this long. The hub
   * refuses a stream at once and sends nothing on accepting one (no header), so open for a while
   * is the only sign; and only on a connection that is up (a call still waiting for one has not
   * reached the server). Default 200 ms: a refusal takes one round trip on a LAN. Until then an end
   * is a refusal, retried inside the subscription; after it every end is reported with `onEnd`.
   */
  readonly acceptedAfterMs: number;
  /**
   * Pause before the next attempt after a refusal that names no primary (`no primary known`,
   * UNAVAILABLE: a view change under way, the node down). Default 50 ms; a hint naming the primary
   * is followed at once.
   */
  readonly retryPauseMs: number;
  /**
   * How often the primary guess (`GrpcCallbackSubscriberConfig.primary`) is compared with the
   * server of the stream. When the guess changes to another node, the stream is at a node that
   * may no longer be the primary (e.g. cut off from the others and unaware of it): it is ended
   * (`onEnd`), and the lock client subscribes again at the new primary. Default 100 ms, as the
   * hub's `CallbackOptions.checkIntervalMs`.
   */
  readonly primaryCheckIntervalMs: number;
  /**
   * HTTP/2 keepalive of the connections the streams run on: a ping after `keepaliveTimeMs`
   * without traffic, the connection (and its stream) dropped when the ping is not answered within
   * `keepaliveTimeoutMs`. Without it a stream to a primary that vanished without closing its
   * connection (power loss, a network cut) would look open for ever while the new primary
   * expires this client's session. Defaults 2000 ms and 1000 ms: such a stream ends within about
   * 3 s, under the default session timeout, for a tiny ping every 2 s per server.
   */
  readonly keepaliveTimeMs: number;
  readonly keepaliveTimeoutMs: number;
}

export const defaultGrpcCallbackSubscriberOptions: GrpcCallbackSubscriberOptions = {
  establishTimeoutMs: 1000,
  acceptedAfterMs: 200,
  retryPauseMs: 50,
  primaryCheckIntervalMs: 100,
  keepaliveTimeMs: 2000,
  keepaliveTimeoutMs: 1000,
};

export interface GrpcCallbackSubscriberConfig {
  /** The cluster's name, sent in every subscription (a node of another cluster refuses it). */
  readonly cluster: string;
  /** Members to try when no primary is known (any members of the cluster). */
  readonly members: readonly NodeId[];
  /**
   * The current primary guess, e.g. `() => rsmClient.core.primary` of the lock client's own
   * `RsmClient` (null: none known). Read when a subscription starts and every
   * `primaryCheckIntervalMs`.
   */
  readonly primary: () => NodeId | null;
  readonly logger?: Logger;
  /** Default the real clock. */
  readonly clock?: Clock;
  readonly options?: Partial<GrpcCallbackSubscriberOptions>;
}

type Stream = grpc.ClientReadableStream<Fields>;

/**
 * The production `CallbackSubscriber`: one `synod.rsm.Callbacks/Subscribe` stream per
 * subscription, to the serving primary, over @grpc/grpc-js (`callbacks-wire.ts` is the wire).
 *
 * A subscription goes through two phases:
 * - establishing: it opens a stream at the primary guess (or, with none, the next member) and
 *   waits for it to be accepted (`acceptedAfterMs`). A refusal is retried inside the
 *   subscription: FAILED_PRECONDITION `primary is X` goes to X at once; `no primary known`,
 *   UNAVAILABLE (not serving yet, down, shutting down), RESOURCE_EXHAUSTED and other transient
 *   codes try the guess or the next member after `retryPauseMs`. If no stream is accepted within
 *   `establishTimeoutMs`, it ends (`onEnd`). It ends at once on a refusal retrying cannot cure:
 *   FAILED_PRECONDITION of another cluster, INVALID_ARGUMENT (a bad owner id), ABORTED (a newer
 *   subscription of the same owner took over).
 * - open: the stream was accepted. Every message is decoded and handed to `onMessage`; whenever
 *   the stream ends, for any reason, the subscription ends with `onEnd(reason)`, and so does a
 *   change of the primary guess to another node than the stream's (callbacks-wire: only the
 *   primary sends callbacks, and a node cut off from the others may not know it was replaced;
 *   the stream to it would stay open and silent while the new primary drops this owner's
 *   callbacks and runs its session clock).
 * It never reconnects an open stream by itself: the lock client must hear of every gap (see
 * `CallbackSubscriber`), so it subscribes again after `onEnd`, with its own backoff. Retrying
 * refusals inside the establishing phase keeps the gap bounded by `establishTimeoutMs`, well
 * under the session timeout, and the lock client already treats the time before an accepted
 * stream as a gap.
 *
 * `onEnd` runs at most once per subscription and never inside `subscribe`; neither callback runs
 * after the subscription's `close()`. `close()` of the subscriber closes every subscription and
 * connection it made.
 */
export class GrpcCallbackSubscriber implements CallbackSubscriber {
  readonly #cluster: string;
  readonly #members: NodeId[];
  readonly #primary: () => NodeId | null;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #options: GrpcCallbackSubscriberOptions;
  readonly #method: MethodDefinition<Fields, Fields>;
  readonly #clients = new Map<NodeId, grpc.Client>();
  readonly #subscriptions = new Set<StreamSubscription>();
  #nextMember = 0;
  /** The primary the latest `primary is X` refusal named, until an attempt goes there. */
  #hint: NodeId | null = null;
  #closed = false;

  constructor(config: GrpcCallbackSubscriberConfig) {
    if (config.members.length === 0) throw new RangeError('GrpcCallbackSubscriber needs at least one member address');
    this.#cluster = config.cluster;
    this.#members = [...new Set(config.members)];
    this.#primary = config.primary;
    this.#log = config.logger ?? silentLogger;
    this.#clock = config.clock ?? realClock;
    this.#options = withDefaults(defaultGrpcCallbackSubscriberOptions, config.options, 'callbackSubscriber');
    this.#method = serviceDefinition(callbacksService)[subscribeMethod] as MethodDefinition<Fields, Fields>;
  }

  subscribe(owner: string, onMessage: (message: Json) => void, onEnd: (reason: string) => void): CallbackSubscription {
    if (this.#closed) {
      // Reported later, never inside subscribe; and never after the caller closed it.
      let closed = false;
      this.#clock.setTimer(0, () => {
        if (!closed) onEnd('the callback subscriber is closed');
      });
      return { close: () => void (closed = true) };
    }
    const sub = new StreamSubscription(this, owner, onMessage, onEnd);
    this.#subscriptions.add(sub);
    sub.start();
    return sub;
  }

  /** Closes every subscription (no callback of them runs any more) and every connection. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const sub of [...this.#subscriptions]) sub.close();
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
  }

  // ── for StreamSubscription ──────────────────────────────────────────────────────────────────

  get options(): GrpcCallbackSubscriberOptions {
    return this.#options;
  }

  get clock(): Clock {
    return this.#clock;
  }

  get log(): Logger {
    return this.#log;
  }

  primaryGuess(): NodeId | null {
    return this.#primary();
  }

  /**
   * Where to try next: the primary named by the latest `primary is X` refusal (once), else the
   * primary guess, else the members in turn (skipping `avoid` if there are others).
   */
  nextTarget(avoid: NodeId | null): NodeId {
    const hint = this.#hint;
    this.#hint = null;
    if (hint !== null && hint !== avoid) return hint;
    const guess = this.#primary();
    if (guess !== null && guess !== avoid) return guess;
    for (let k = 0; k < this.#members.length; k++) {
      const m = this.#members[this.#nextMember++ % this.#members.length]!;
      if (m !== avoid) return m;
    }
    return this.#members[0]!;
  }

  /** A refusal named `node` as the primary: the next attempt goes there, and it is tried like a member from now on. */
  learn(node: NodeId): void {
    this.#hint = node;
    if (!this.#members.includes(node)) this.#members.push(node);
  }

  open(server: NodeId, owner: string): Stream {
    let client = this.#clients.get(server);
    if (client === undefined) {
      client = new grpc.Client(server, grpc.credentials.createInsecure(), {
        'grpc.keepalive_time_ms': this.#options.keepaliveTimeMs,
        'grpc.keepalive_timeout_ms': this.#options.keepaliveTimeoutMs,
      });
      this.#clients.set(server, client);
    }
    const m = this.#method;
    return client.makeServerStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, encodeSubscribeRequest(this.#cluster, owner));
  }

  /** Whether the connection to `server` is up (a call on it has reached the server or been refused by it). */
  connected(server: NodeId): boolean {
    const client = this.#clients.get(server);
    return client !== undefined && client.getChannel().getConnectivityState(false) === grpc.connectivityState.READY;
  }

  forget(sub: StreamSubscription): void {
    this.#subscriptions.delete(sub);
  }
}

type Phase = 'establishing' | 'open' | 'ended';

/** One subscription: a stream at a time, until one is accepted and ends, or none is in time. */
class StreamSubscription implements CallbackSubscription {
  readonly #owner: string;
  readonly #parent: GrpcCallbackSubscriber;
  readonly #onMessage: (message: Json) => void;
  readonly #onEnd: (reason: string) => void;
  readonly #startedAt: number;
  #phase: Phase = 'establishing';
  #call: Stream | null = null;
  #target: NodeId | null = null;
  /** The primary guess last looked at: only a change of it moves an open stream. */
  #lastGuess: NodeId | null;
  #acceptTimer: TimerHandle | null = null;
  #retryTimer: TimerHandle | null = null;
  #checkTimer: TimerHandle | null = null;
  #deadlineTimer: TimerHandle | null = null;
  #lastRefusal = '';

  constructor(parent: GrpcCallbackSubscriber, owner: string, onMessage: (message: Json) => void, onEnd: (reason: string) => void) {
    this.#parent = parent;
    this.#owner = owner;
    this.#onMessage = onMessage;
    this.#onEnd = onEnd;
    this.#startedAt = parent.clock.now();
    this.#lastGuess = parent.primaryGuess();
  }

  start(): void {
    this.#deadlineTimer = this.#parent.clock.setTimer(this.#parent.options.establishTimeoutMs, () => {
      this.#deadlineTimer = null;
      if (this.#phase === 'establishing') this.#giveUp();
    });
    this.#attempt(this.#parent.nextTarget(null));
    this.#scheduleCheck();
  }

  close(): void {
    if (this.#phase === 'ended') return;
    this.#phase = 'ended';
    this.#teardown();
  }

  #attempt(target: NodeId): void {
    if (this.#phase !== 'establishing') return;
    this.#target = target;
    const call = this.#parent.open(target, this.#owner);
    this.#call = call;
    call.on('data', (wire: Fields) => this.#data(call, wire));
    // grpc-js reports the end of a failed call twice (`error`, then `status`); the first counts.
    call.on('error', (err: grpc.ServiceError) => this.#ended(call, err.code, err.details));
    call.on('status', (s: grpc.StatusObject) => this.#ended(call, s.code, s.details));
    this.#armAcceptTimer(call, target);
  }

  /**
   * The stream counts as accepted once it has not been refused for `acceptedAfterMs` on a
   * connection that is up: a call still waiting for a connection (a node that does not answer
   * at all) is not at the server, so it keeps waiting, until `establishTimeoutMs`.
   */
  #armAcceptTimer(call: Stream, target: NodeId): void {
    this.#acceptTimer?.cancel();
    this.#acceptTimer = this.#parent.clock.setTimer(this.#parent.options.acceptedAfterMs, () => {
      this.#acceptTimer = null;
      if (this.#call !== call || this.#phase !== 'establishing') return;
      if (this.#parent.connected(target)) this.#accepted();
      else this.#armAcceptTimer(call, target);
    });
  }

  #accepted(): void {
    if (this.#phase !== 'establishing') return;
    this.#phase = 'open';
    this.#acceptTimer?.cancel();
    this.#acceptTimer = null;
    this.#parent.log.debug({ owner: this.#owner, server: this.#target, ms: Math.round(this.#parent.clock.now() - this.#startedAt) }, 'callback subscriber: stream open');
  }

  #data(call: Stream, wire: Fields): void {
    if (this.#call !== call || this.#phase === 'ended') return;
    this.#accepted();
    let message: Json;
    try {
      message = decodeCallbackMessage(wire);
    } catch (err) {
      this.#parent.log.warn({ owner: this.#owner, server: this.#target, err }, 'callback subscriber: ignoring a callback message that is not JSON');
      return;
    }
    this.#onMessage(message);
  }

  #ended(call: Stream, code: grpc.status, details: string): void {
    if (this.#call !== call || this.#phase === 'ended') return;
    this.#call = null;
    const server = this.#target;
    const reason = `${server}: ${grpc.status[code] ?? code}: ${details}`;
    const hint = code === grpc.status.FAILED_PRECONDITION ? primaryFromDetails(details) : undefined;
    if (typeof hint === 'string' && hint !== server) this.#parent.learn(hint);
    if (this.#phase === 'open') return this.#finish(`callback stream ended: ${reason}`);
    // Establishing: a refusal.
    this.#lastRefusal = reason;
    if (code === grpc.status.INVALID_ARGUMENT || code === grpc.status.ABORTED || (code === grpc.status.FAILED_PRECONDITION && hint === undefined)) {
      // Retrying cannot help: a bad owner id, another cluster's node, or our own newer subscription.
      if (code !== grpc.status.ABORTED) this.#parent.log.error({ owner: this.#owner, reason }, 'callback subscriber: subscription refused');
      return this.#finish(`callback subscription refused: ${reason}`);
    }
    if (typeof hint === 'string' && hint !== server) {
      this.#attempt(this.#parent.nextTarget(server));
      return;
    }
    this.#retryTimer = this.#parent.clock.setTimer(this.#parent.options.retryPauseMs, () => {
      this.#retryTimer = null;
      this.#attempt(this.#parent.nextTarget(server));
    });
  }

  /** (A method, so that TypeScript does not narrow the phase across calls that may end it.) */
  #isEnded(): boolean {
    return this.#phase === 'ended';
  }

  #giveUp(): void {
    this.#finish(`no callback stream accepted within ${this.#parent.options.establishTimeoutMs} ms (last: ${this.#lastRefusal || 'none'})`);
  }

  #scheduleCheck(): void {
    this.#checkTimer = this.#parent.clock.setTimer(this.#parent.options.primaryCheckIntervalMs, () => {
      this.#checkTimer = null;
      if (this.#phase === 'ended') return;
      this.#checkPrimary();
      if (!this.#isEnded()) this.#scheduleCheck();
    });
  }

  /** Moves off a node when the primary guess changes to another one. */
  #checkPrimary(): void {
    const guess = this.#parent.primaryGuess();
    if (guess === this.#lastGuess) return;
    this.#lastGuess = guess;
    if (guess === null || guess === this.#target) return;
    if (this.#phase === 'open') {
      this.#finish(`the primary moved from ${this.#target} to ${guess}`);
      return;
    }
    // Establishing: go there instead (the attempt under way is dropped).
    this.#cancelCall();
    this.#retryTimer?.cancel();
    this.#retryTimer = null;
    this.#attempt(guess);
  }

  #finish(reason: string): void {
    if (this.#phase === 'ended') return;
    this.#phase = 'ended';
    this.#teardown();
    this.#parent.log.debug({ owner: this.#owner, reason }, 'callback subscriber: subscription ended');
    this.#onEnd(reason);
  }

  #cancelCall(): void {
    const call = this.#call;
    this.#call = null;
    call?.cancel();
  }

  #teardown(): void {
    this.#cancelCall();
    for (const t of [this.#acceptTimer, this.#retryTimer, this.#checkTimer, this.#deadlineTimer]) t?.cancel();
    this.#acceptTimer = this.#retryTimer = this.#checkTimer = this.#deadlineTimer = null;
    this.#parent.forget(this);
  }
}
