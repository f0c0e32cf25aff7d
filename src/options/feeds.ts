// The tunables of feed streams (src/node/feed-hub.ts on the primary, src/client/feed-subscription.ts
// at the client). How many streams a node keeps open in all is the transport's
// (`TransportOptions.maxStreams`).
import { withDefaults } from './with-defaults.js';

/** The feed service of a node whose app has feeds (`App.feeds`, `FeedHub`). */
export interface FeedOptions {
  /**
   * How often the primary checks that it is still the serving primary with its lease (streams end
   * `not-primary` or `unavailable` when not), sends progress to idle streams, and looks for
   * stalled subscribers. Default 100 ms, as the callback service's.
   */
  readonly checkIntervalMs: number;
  /**
   * Most events one stream message carries. Default 256: a subscriber far behind catches up in
   * few messages, and one message stays small next to `maxMessageBytes`.
   */
  readonly maxEventsPerMessage: number;
  /**
   * Most bytes (of the events' JSON text) one stream message carries; a message closes before the
   * event that would pass it. One event alone may pass it, up to the transport's
   * `maxMessageBytes` less 64 KiB; an event larger than that goes in parts of this size
   * (`fragment` messages), up to `maxFeedEventBytes` (64 MiB; past it the stream ends
   * `event-too-large`, naming its position). Default 256 KiB: what a
   * subscriber holds of one message is small, and a catch-up still moves in large steps.
   */
  readonly maxMessageBytes: number;
  /**
   * A stream whose subscriber has read nothing for this long while the primary had events for it
   * (its transport buffer full: `ServerStream.whenWritable` not called back) is ended `evicted`,
   * naming the position sent last; the subscriber resumes from the last position it received
   * (Suicidal Snail: the primary never holds more for a slow subscriber than its stream's buffer,
   * and a subscriber that cannot keep up learns it). Default 10000 ms: far above a pause of a
   * healthy client (a garbage collection, a busy event loop), short enough that a wedged one
   * does not hold a stream for long.
   */
  readonly stallTimeoutMs: number;
  /**
   * A stream that was sent nothing for this long gets a progress message (the position the
   * subscriber's feed has reached, though no event matched its filter). Progress lets a
   * subscriber resume near the head rather than far back, and tells it the stream is alive: a
   * subscriber ends a stream that stays silent for its `silenceTimeoutMs`. Default 1000 ms.
   */
  readonly progressIntervalMs: number;
  /** Most feed streams a node keeps open (one more is refused `overloaded`). Default 10000. */
  readonly maxStreams: number;
  /**
   * Most bytes of events being sent in parts (each such event's JSON text is held by its stream
   * until its last part is read) that a node holds for all its streams together; a stream whose
   * event would pass it ends `overloaded` (its subscriber retries later). Default 256 MiB: a few
   * subscribers of the largest events at once, never one per stream (10000 streams of a 64 MiB
   * event would take any node down).
   */
  readonly maxBytesInParts: number;
}

export const defaultFeedOptions: FeedOptions = {
  checkIntervalMs: 100,
  maxEventsPerMessage: 256,
  maxMessageBytes: 256 * 1024,
  stallTimeoutMs: 10_000,
  progressIntervalMs: 1000,
  maxStreams: 10_000,
  maxBytesInParts: 256 * 1024 * 1024,
};

/** Feed options with defaults filled in; throws `RangeError` for a value out of range. */
export function feedOptions(partial?: Partial<FeedOptions>): FeedOptions {
  const o = withDefaults(defaultFeedOptions, partial, 'feeds');
  for (const [name, value] of Object.entries(o)) {
    if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`feeds.${name}: must be a positive integer, not ${String(value)}`);
  }
  return o;
}

/** A feed subscriber (`FeedSubscription`): how it finds the primary, retries and bounds what it holds. */
export interface FeedSubscriberOptions {
  /**
   * Pause before subscribing again after a stream ended or was refused with no primary named.
   * Doubles per failure in a row up to `maxRetryPauseMs`. Default 50 ms: a failover takes
   * about a second, and a refusal naming the primary is followed at once.
   */
  readonly retryPauseMs: number;
  /** Longest pause between attempts. Default 1000 ms. */
  readonly maxRetryPauseMs: number;
  /**
   * An open stream that brings nothing (no event, no progress) for this long is ended and the
   * subscription resumes elsewhere: its server was cut off, paused, or lost its primaryship
   * without ending it. Default 3500 ms: three and a half of the server's default
   * `progressIntervalMs`, so one late progress message does not end a healthy stream.
   */
  readonly silenceTimeoutMs: number;
  /**
   * How often the primary guess is compared with the stream's server: a stream at a node that is
   * no longer the guess is ended and resumed at the new primary. Default 100 ms.
   */
  readonly primaryCheckIntervalMs: number;
}

export const defaultFeedSubscriberOptions: FeedSubscriberOptions = {
  retryPauseMs: 50,
  maxRetryPauseMs: 1000,
  silenceTimeoutMs: 3500,
  primaryCheckIntervalMs: 100,
};

/** Subscriber options with defaults filled in; throws `RangeError` for a value out of range. */
export function feedSubscriberOptions(partial?: Partial<FeedSubscriberOptions>): FeedSubscriberOptions {
  const o = withDefaults(defaultFeedSubscriberOptions, partial, 'feedSubscriber');
  for (const [name, value] of Object.entries(o)) {
    if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`feedSubscriber.${name}: must be a positive integer, not ${String(value)}`);
  }
  if (o.maxRetryPauseMs < o.retryPauseMs) throw new RangeError('feedSubscriber.maxRetryPauseMs: must not be below retryPauseMs');
  return o;
}
