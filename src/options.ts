/**
 * Every tunable of synod, in one place: each option with its default and the reason for it.
 * Units are last in every name. Layers take a `Partial` of their options and fill the rest
 * from these defaults (`withDefaults`).
 */

/** Limits on what synod accepts from the network. Input beyond them gets a typed error. */
export const limits = {
  /** Longest node id (`host:port`) accepted. DNS names are at most 253 bytes, plus `:65535`. */
  maxNodeIdLength: 260,
  /** Largest member list accepted. Majorities of more than a few dozen nodes make no sense for this design. */
  maxMembers: 64,
  /** Largest gRPC message a node accepts or sends (both directions); 4 MiB is gRPC's own default. */
  maxMessageBytes: 4 * 1024 * 1024,
  /** Highest Paxos instance number accepted; keeps instance arithmetic exact in a JS number. */
  maxInstance: Number.MAX_SAFE_INTEGER - 1,
  /** Highest proposal round accepted (same reason). */
  maxRound: Number.MAX_SAFE_INTEGER - 1,
  /** Largest client request (its arguments as JSON text) a replica accepts. 1 MiB. */
  maxRequestBytes: 1024 * 1024,
  /**
   * Largest app reply (JSON text, UTF-8 bytes) a replica answers with, and callback message it
   * sends; a larger reply is a `reply-too-large` outcome (the request did run). Under the 4 MiB gRPC limit.
   */
  maxReplyBytes: 1024 * 1024,
  /**
   * Deepest nesting of arrays and objects in JSON arguments (deeper: INVALID_ARGUMENT), replies
   * (a `reply-too-deep` outcome; the request did run) and callback messages. 64: no real document
   * needs more, and a handler walking its arguments recursively stays far from the stack's end
   * (whose place differs between replicas: see `App`). Every replica must use the same value.
   */
  maxJsonDepth: 64,
  /**
   * Longest app error code and message (and BUSY reason) an answer carries: a longer message is
   * cut, a longer code is a `handler-error`. 4096: far beyond any code or sentence, small beside a message.
   */
  maxErrorTextLength: 4096,
  /** Longest client id accepted. */
  maxClientIdLength: 128,
  /** Longest procedure name accepted (an app's names are checked against the same rule). */
  maxProcNameLength: 64,
  /** Most decided values one Paxos `decisions` message may carry; `maxFetchBatch` must not exceed it. */
  maxDecisionsPerMessage: 1024,
  /**
   * Largest record payload the durable log (`FileLog`) appends, and believes when it loads a log.
   * Default 16 MiB: protocol records are small (a Paxos record holds a member list, and nothing a
   * node logs is bigger than the 4 MiB `maxMessageBytes` it arrived in), so this leaves a wide
   * margin, while a length field that passes its checksum but is absurd (a log written with a
   * larger limit) is refused at load instead of being trusted.
   */
  maxLogRecordBytes: 16 * 1024 * 1024,
  /**
   * Longest cluster name (`GrpcTransportConfig.cluster`, sent in every envelope). A name is
   * compared, never parsed; 128 characters leave room for any naming scheme (a UUID is 36).
   */
  maxClusterNameLength: 128,
  /**
   * Longest cluster id accepted (sent in every message between nodes, kept in `identity.json`,
   * shown by `synod status`). synod makes ids itself (a UUID: 36 characters); the bound only keeps
   * an absurd one out of logs and data directories.
   */
  maxClusterIdLength: 64,
} as const;

export interface PaxosOptions {
  /**
   * How long a proposer waits for a majority to answer one phase before it retries with a higher
   * round. Default 250 ms: loopback and LAN round trips plus an fsync are a few ms, so this only
   * fires when a majority is unreachable, and a quarter second keeps view changes well inside the
   * config layer's two-second removal budget.
   */
  readonly phaseTimeoutMs: number;
  /**
   * The phase timeout adapts: it doubles after every phase that timed out (up to this cap) and
   * halves back towards `phaseTimeoutMs` after every round this node decides. A phase includes
   * two fsyncs (the proposer's, then the acceptor's) besides the round trip, so on a slow disk a
   * fixed timeout shorter than that would never let a round finish. Default 8000 ms.
   */
  readonly phaseTimeoutMaxMs: number;
  /**
   * Backoff after a lost round: the n-th consecutive loss waits a random time in
   * [0.5, 1] × min(backoffMaxMs, backoffBaseMs × 2^(n-1)). Randomised, so that duelling proposers
   * stop preempting each other; default 20 ms base, capped at 1000 ms.
   */
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /**
   * Every so often each node tells one random peer how far it has learned, and the two bring the
   * laggard up to date. This is what lets a node that missed decide messages (lost, partitioned,
   * down) learn every decision without any other layer's help. Default 500 ms.
   */
  readonly learnerGossipIntervalMs: number;
  /** A fetch that got no answer may be sent again (to any peer) after this long. Default 500 ms. */
  readonly fetchRetryMs: number;
  /** Most decided values one `decisions` message carries. Default 64 (member lists are small). */
  readonly maxFetchBatch: number;
  /**
   * Prepare/accept messages for an instance more than this far beyond the highest instance this
   * node has learned are refused as out of range (a bogus instance number must not make an
   * acceptor create state). Default 1024: a node is never legitimately that far behind for long,
   * since it catches up before it answers.
   */
  readonly maxInstanceLead: number;
}

export const defaultPaxosOptions: PaxosOptions = {
  phaseTimeoutMs: 250,
  phaseTimeoutMaxMs: 8000,
  backoffBaseMs: 20,
  backoffMaxMs: 1000,
  learnerGossipIntervalMs: 500,
  fetchRetryMs: 500,
  maxFetchBatch: 64,
  maxInstanceLead: 1024,
};

export interface ConfigOptions {
  /**
   * How often members send each other heartbeats (and the config layer's tick). Default 100 ms:
   * on loopback or a LAN a heartbeat costs nothing, and detection time is a multiple of it.
   */
  readonly heartbeatIntervalMs: number;
  /**
   * A member is suspected after this many heartbeat intervals without a good heartbeat from it
   * (one that reports the same view and a live incarnation). Default 5: one or two lost
   * heartbeats never cause churn, and a dead member of a 3-node cluster on loopback is removed
   * in about 0.5 s plus one Paxos round, well under the 2 s budget.
   */
  readonly suspectAfterMissed: number;
  /**
   * A node outside the view asks to join again this often until a view adds it. Default 300 ms.
   */
  readonly joinRetryMs: number;
  /**
   * An admitted joiner that stops asking is forgotten after this long (it died or gave up).
   * Default 2000 ms.
   */
  readonly joinRequestTtlMs: number;
}

export const defaultConfigOptions: ConfigOptions = {
  heartbeatIntervalMs: 100,
  suspectAfterMissed: 5,
  joinRetryMs: 300,
  joinRequestTtlMs: 2000,
};

export interface RsmOptions {
  /**
   * The primary's retransmission timer fires this often, and this is the shortest retransmit
   * timeout (RTO): an `invoke` a backup has not acknowledged is re-sent only once it has gone
   * unacknowledged for at least its backup's RTO. Each backup's RTO adapts to how long its
   * acknowledgements take (smoothed round trip plus four deviations, measured in timer periods
   * from invokes sent once only), doubles with every timeout until such a measurement comes,
   * and every re-send of one invoke doubles that invoke's wait again (see `Retransmitter`).
   * Default 50 ms: far above a LAN round trip, so on a LAN only lost messages are re-sent, and a
   * lost invoke is re-sent within 50–100 ms (it must have waited one whole period).
   */
  readonly invokeRetryMs: number;
  /**
   * The longest retransmit timeout: however slow a backup's acknowledgements, or however often
   * an invoke was re-sent, it is re-sent at least this often while unacknowledged. Default 1000 ms:
   * a lost invoke costs at most a second more, and a backup that stays silent that long is removed
   * by the config layer (about 0.5 s of missed heartbeats) anyway.
   */
  readonly invokeRetryMaxMs: number;
  /**
   * Most invokes re-sent to one backup per timer period, oldest (lowest seqno) first: what is
   * overdue beyond it waits for the next period. Default 64: a lagging backup is sent the next
   * ones it needs to execute in order, not the whole window at once.
   */
  readonly maxRetransmitInvokes: number;
  /**
   * Most request bytes (see `requestBytes`) re-sent to one backup per timer period; one invoke is
   * always allowed, however large. Default 1 MiB (one largest request): with the default period
   * at most 20 MiB/s per backup, a fraction of a LAN link, so re-sends never crowd out first sends.
   */
  readonly maxRetransmitBytes: number;
  /** A syncing replica re-sends its `sync-status` (or its last `sync-pull`) after this long without an answer. Default 100 ms. */
  readonly syncRetryMs: number;
  /** State transfer ships the state in chunks of this many bytes (well under the gRPC message limit). Default 256 KiB. */
  readonly stateChunkBytes: number;
  /**
   * A backup buffers at most this many early `invoke`s (beyond the next seqno); more are dropped
   * and re-sent by the primary. Default 10000, as `maxInFlight`: the primary never has more to send.
   */
  readonly maxBufferedInvokes: number;
  /**
   * A backup buffers at most this many request bytes of early `invoke`s. A full buffer keeps the
   * invokes nearest to execution (lowest seqnos) and drops the others; the primary re-sends what
   * was dropped once its retransmit timeout passes, so nothing is lost. Default 16 MiB, as
   * `maxInFlightBytes`: a backup never needs more than the primary holds in flight.
   */
  readonly maxBufferedBytes: number;
  /** The primary stamps at most this many requests not yet executed; more get BUSY. Default 10000. */
  readonly maxInFlight: number;
  /**
   * The primary holds at most this many request bytes (see `requestBytes`: the arguments' JSON
   * text, client id and procedure name) stamped and not yet executed; a request that would go
   * above it gets BUSY. One request is always admitted when nothing is in flight, so a request of
   * any accepted size can run. Default 16 MiB: 16 requests of the largest size
   * (`limits.maxRequestBytes`), more than a node can replicate in the time one takes (about
   * 50 ms for 1 MiB on loopback), while a flood of large requests holds at most this (each byte
   * also as parsed arguments and one encoding per backup: docs/operations.md, "Limits").
   */
  readonly maxInFlightBytes: number;
  /**
   * The fair share: one client id holds at most this share of `maxInFlight` and of
   * `maxInFlightBytes` at the primary; above it its requests get BUSY while the others' are
   * still admitted. A client with nothing in flight is always admitted (if the budget has room).
   * Default 0.25 (4 MiB, three requests of the largest size): no single client id can fill the
   * pipeline; four flooding ids together can. Between 0 and 1.
   */
  readonly clientInFlightShare: number;
  /** What BUSY tells clients to wait before retrying. Default 50 ms. */
  readonly busyRetryAfterMs: number;
  /**
   * The client table (`ClientTable`). Every this long the serving primary submits a sweep (a
   * replicated request no client can send) carrying its wall-clock time and the three table
   * options below; executing it advances the table's replicated clock (never backwards) and drops
   * entries idle longer than `clientRetentionMs`. The options a sweep carries are the ones in
   * force on every replica from then on (a node's own values matter only where it stamps sweeps,
   * or at the genesis of a cluster), so replicas never disagree about them. Default 10 s: one
   * tiny replicated request, and an expiry comes at most that late.
   */
  readonly clientTableSweepMs: number;
  /**
   * An entry whose client has made no request for this long, on the table's replicated clock, is
   * dropped; that client's next request is refused (`ClientExpiredError`: the outcome of an
   * earlier call is unknown) unless it marks itself as a new client. It must exceed every
   * client's deadline, so that no client is still retrying a call when its entry goes (a retry
   * then learns only that its outcome is unknown), with room for the clock skew between
   * successive primaries. Default 6 h: far above any sensible deadline (10 s by default) and any
   * pause of a live client between its calls, while the ids of clients that are gone (every
   * one-shot CLI call makes one) do not pile up for ever.
   */
  readonly clientRetentionMs: number;
  /**
   * Most entries the client table holds. A new client beyond it evicts the least recently active
   * entry, if that one has been idle for `clientEvictableAfterMs`; otherwise the new client is
   * refused as busy (`client-table-full`) until one is (nobody's entry is taken while it may
   * still be retrying a call). Default 100,000: about 30 MiB of entries with small replies (each
   * entry keeps its client's last reply, so at most `limits.maxReplyBytes` more), far more
   * clients than one cluster serves at once, and under a flood of new ids the oldest idle
   * entries go first.
   */
  readonly maxClients: number;
  /**
   * An entry is evicted to make room for a new client (`maxClients`) only once its client has
   * been idle this long on the replicated clock. Like `clientRetentionMs` it must exceed every
   * client's deadline, and a client's `newClientWindowMs`. Default 5 min: thirty times the default
   * deadline, short enough that a flood of new client ids locks new clients out for minutes at
   * most (known clients are served throughout).
   */
  readonly clientEvictableAfterMs: number;
  /**
   * Largest replicated state (client table and app state, as streamed) a replica accepts in a
   * state transfer; a source that sends more is refused (logged; the transfer starts over later).
   * It stops a faulty or forged source from making a replica collect without bound. Default
   * 4 GiB: the app's state arrives as one buffer (`App.unmarshalState`), and 4 GiB is the largest
   * buffer Node 20 makes; a state that big takes minutes to ship anyway.
   */
  readonly maxStateTransferBytes: number;
}

export const defaultRsmOptions: RsmOptions = {
  invokeRetryMs: 50,
  invokeRetryMaxMs: 1000,
  maxRetransmitInvokes: 64,
  maxRetransmitBytes: 1024 * 1024,
  syncRetryMs: 100,
  stateChunkBytes: 256 * 1024,
  maxBufferedInvokes: 10_000,
  maxBufferedBytes: 16 * 1024 * 1024,
  maxInFlight: 10_000,
  maxInFlightBytes: 16 * 1024 * 1024,
  clientInFlightShare: 0.25,
  busyRetryAfterMs: 50,
  clientTableSweepMs: 10_000,
  clientRetentionMs: 6 * 60 * 60 * 1000,
  maxClients: 100_000,
  clientEvictableAfterMs: 5 * 60 * 1000,
  maxStateTransferBytes: 4 * 1024 * 1024 * 1024,
};

/** RSM options with defaults filled in and checked against each other. */
export function rsmOptions(given: Partial<RsmOptions> | undefined): RsmOptions {
  const o = withDefaults(defaultRsmOptions, given, 'rsm');
  for (const key of ['maxRetransmitInvokes', 'maxBufferedInvokes', 'maxInFlight'] as const) {
    if (!Number.isInteger(o[key])) throw new RangeError(`rsm.${key} must be a positive integer, got ${o[key]}`);
  }
  if (o.clientInFlightShare > 1) throw new RangeError(`rsm.clientInFlightShare must be at most 1, got ${o.clientInFlightShare}`);
  if (o.invokeRetryMaxMs < o.invokeRetryMs) throw new RangeError('rsm.invokeRetryMaxMs must not be below rsm.invokeRetryMs');
  return o;
}

export interface ClientOptions {
  /**
   * How long the client waits for an answer from one replica before it tries the next one.
   * Default 500 ms: far above a loopback or LAN round trip plus an fsync, short enough that a
   * dead primary costs little beyond the view change itself.
   */
  readonly attemptTimeoutMs: number;
  /**
   * Backoff when the cluster answers BUSY, or when no replica could be reached: the n-th
   * consecutive one waits a random time in [0.5, 1] × min(retryMaxMs, retryBaseMs × 2^(n-1)),
   * and at least what BUSY asked for. Defaults 10 ms and 500 ms.
   */
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  /** The deadline of a call when the caller sets none. Default 10 s. */
  readonly defaultDeadlineMs: number;
  /**
   * A client the cluster does not know yet (a new one, or one told its entry expired) marks the
   * attempts of its call as a new client's for this long after the call's first attempt; later
   * attempts go unmarked, and are refused if the cluster still does not know the client. The mark
   * lets a request run for a client the table has no entry for, so it must never reach the
   * cluster after that entry could have been dropped again: this must stay below the cluster's
   * `RsmOptions.clientEvictableAfterMs` and `clientRetentionMs`, whatever the call's deadline.
   * It should be at least the call's deadline: a new client that a full table (`maxClients`)
   * keeps waiting past it is told `ClientExpiredError` rather than running into its deadline.
   * Default 30 s: three default deadlines, a tenth of the default eviction age.
   */
  readonly newClientWindowMs: number;
}

export const defaultClientOptions: ClientOptions = {
  attemptTimeoutMs: 500,
  retryBaseMs: 10,
  retryMaxMs: 500,
  defaultDeadlineMs: 10_000,
  newClientWindowMs: 30_000,
};

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

export interface LockClientOptions {
  /**
   * Deadline of one server call (acquire or release) the lock client makes through its
   * `RsmClient`. Default 10 s, as `ClientOptions.defaultDeadlineMs`: long enough to ride out a
   * view change; a call that still fails has an unknown outcome and is retried (see below).
   */
  readonly callDeadlineMs: number;
  /**
   * A server call that failed without a definite outcome (deadline, unavailable, busy) is sent
   * again after this long; acquire and release are both safe to repeat. Default 200 ms: the
   * `RsmClient` has already backed off inside the call, so this only paces the repeats of a
   * cluster that stays down.
   */
  readonly serverRetryMs: number;
  /**
   * The callback subscription is re-opened after it ended: first after `resubscribeBaseMs`,
   * doubling up to `resubscribeMaxMs` while it keeps ending without delivering anything, back to
   * the base once a message arrived. Defaults 50 ms and 2000 ms: a primary failover takes a view
   * change (about a second), and a client must not hammer a cluster that is down.
   */
  readonly resubscribeBaseMs: number;
  readonly resubscribeMaxMs: number;
}

export const defaultLockClientOptions: LockClientOptions = {
  callDeadlineMs: 10_000,
  serverRetryMs: 200,
  resubscribeBaseMs: 50,
  resubscribeMaxMs: 2000,
};

export interface TransportOptions {
  /**
   * Deadline of one message delivery over gRPC. Messages are best effort (protocols retransmit),
   * so a short deadline just frees resources for a peer that does not answer. Default 1000 ms.
   */
  readonly sendDeadlineMs: number;
  /**
   * A channel to a peer that has failed is kept and reused; gRPC reconnects with its own backoff
   * capped at this value, so a restarted peer is reachable again within it. Default 1000 ms.
   */
  readonly reconnectBackoffMaxMs: number;
  /** Largest message sent or received. Default `limits.maxMessageBytes`. */
  readonly maxMessageBytes: number;
  /**
   * First reconnect delay after a connection attempt to a peer failed; gRPC doubles it (with
   * jitter) up to `reconnectBackoffMaxMs`. Default 100 ms: gRPC's own 1 s would make a peer that
   * restarts within a second look down for a whole second, longer than Paxos' phase timeout.
   */
  readonly reconnectBackoffInitialMs: number;
  /**
   * How long `close()` lets calls in flight finish before cutting them. Default 500 ms: every call
   * is one small one-way message that the receiver answers at once, so a clean shutdown takes a
   * few ms; the bound only matters when a peer stalls, and a cut message is just a lost one.
   */
  readonly closeGraceMs: number;
  /**
   * Most peers a transport keeps a connection (a gRPC client) to. Sending to one more closes the
   * least recently used one, which is dialled again at its next send (a lost message at worst).
   * Default 256: four times `limits.maxMembers`, so that the members of a cluster, plus joiners
   * and departed nodes still being answered, never evict each other, while a stream of messages
   * from ever new sender ids (which this node answers) cannot make it hold connections without
   * bound.
   */
  readonly maxPeerClients: number;
  /**
   * Deadline of one client call (a request of a request/response service, e.g. `synod.rsm.Client`,
   * and its answer) made through `connect`. Longer than `sendDeadlineMs` because the server
   * answers only after it has done the work (the primary waits for its backups), and a request
   * that arrives during a view change waits for it: default 3000 ms, above the config layer's
   * two-second budget to remove a dead member. When it passes the caller gets `unreachable` with
   * `DEADLINE_EXCEEDED`, and the server forgets the call (a late answer is dropped).
   */
  readonly callDeadlineMs: number;
  /**
   * Most client calls a node holds unanswered at once (over all the services it serves); one
   * more is refused at once with RESOURCE_EXHAUSTED. Each holds a gRPC call (a stream and its
   * request) until answered, cancelled or past its deadline. Default 10000, as
   * `RsmOptions.maxInFlight` (the requests a primary holds before it answers BUSY): calls beyond
   * that would only be answered BUSY, and the bound stops clients that never give up (or set no
   * deadline) from making a node hold calls without limit.
   */
  readonly maxPendingCalls: number;
  /**
   * Most bytes of client calls a node holds unanswered at once (each call counted by the size of
   * its request message as received); a call that would go above it is refused at once with
   * RESOURCE_EXHAUSTED. A call is always admitted when none waits, so any message within
   * `maxMessageBytes` can be served. Default 32 MiB: twice `RsmOptions.maxInFlightBytes`, room
   * for the primary's whole pipeline plus retries that wait on the same requests, while a flood
   * of large calls cannot make a node hold more.
   */
  readonly maxPendingCallBytes: number;
  /**
   * What a RESOURCE_EXHAUSTED refusal of a call (too many calls or call bytes waiting) tells the
   * client to wait before it asks again, in the trailing metadata `synod-retry-after-ms`.
   * Default 100 ms: long enough for a few of the waiting calls to be answered.
   */
  readonly overloadRetryAfterMs: number;
  /**
   * The server pings every connection (HTTP/2 PING) after this long without one, and closes it
   * if the ping is not answered within `keepaliveTimeoutMs`. This is what ends the long-lived
   * callback streams (`synod.rsm.Callbacks`) of a client that vanished without closing its
   * connection (its machine lost power or the network): without it such a stream would look open
   * for ever, and the client's session (its locks) would never expire. Node answers pings by
   * itself, so clients need no setting. Defaults 5000 ms and 5000 ms: a vanished client's stream
   * ends within 10 s, for one tiny ping per connection every 5 s.
   */
  readonly keepaliveTimeMs: number;
  readonly keepaliveTimeoutMs: number;
  /**
   * The same on a client's connections, while a call or stream is open: a stream to a server that
   * vanished (power loss, a network cut, a paused process) must end, or it would look open while
   * the new primary expires the client's session. Defaults 2000 ms and 1000 ms: such a stream ends
   * within about 3 s, under `CallbackOptions.sessionTimeoutMs`, for a tiny ping every 2 s.
   */
  readonly clientKeepaliveTimeMs: number;
  readonly clientKeepaliveTimeoutMs: number;
  /**
   * Most server streams (`Transport.serveStream`) a node keeps open; one more is refused
   * `overloaded`. Default 10000, as `maxPendingCalls`: one callback stream per lock client, far
   * more than one primary serves, while ever new streams cannot make a node hold them without bound.
   */
  readonly maxStreams: number;
  /**
   * Most messages of one server stream waiting to reach its client; one more ends the stream
   * `overloaded` instead of buffering without bound (the client opens a new one, and gets what is
   * outstanding again). Default 1000: callbacks are rare, so a client that far behind is stuck.
   */
  readonly maxQueuedStreamMessages: number;
}

export const defaultTransportOptions: TransportOptions = {
  sendDeadlineMs: 1000,
  reconnectBackoffMaxMs: 1000,
  maxMessageBytes: limits.maxMessageBytes,
  reconnectBackoffInitialMs: 100,
  closeGraceMs: 500,
  maxPeerClients: 256,
  callDeadlineMs: 3000,
  maxPendingCalls: 10_000,
  maxPendingCallBytes: 32 * 1024 * 1024,
  overloadRetryAfterMs: 100,
  keepaliveTimeMs: 5000,
  keepaliveTimeoutMs: 5000,
  clientKeepaliveTimeMs: 2000,
  clientKeepaliveTimeoutMs: 1000,
  maxStreams: 10_000,
  maxQueuedStreamMessages: 1000,
};

/** Transport options with defaults filled in; the counts must be integers. */
export function transportOptions(given: Partial<TransportOptions> | undefined): TransportOptions {
  const o = withDefaults(defaultTransportOptions, given, 'transport');
  for (const key of ['maxPeerClients', 'maxPendingCalls', 'maxStreams', 'maxQueuedStreamMessages'] as const) {
    if (!Number.isInteger(o[key])) throw new RangeError(`transport.${key} must be a positive integer, got ${o[key]}`);
  }
  return o;
}

/**
 * Fills unset options from `defaults`, and refuses values of another type than the default's and
 * numbers that are not positive and finite.
 * An option given as `undefined` counts as unset (callers pass optional values straight through);
 * a key that is not an option is refused (a typo would otherwise leave the default in force).
 */
export function withDefaults<T extends object>(defaults: T, given: Partial<T> | undefined, what: string): T {
  const merged: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const [key, value] of Object.entries(given ?? {})) {
    // A misspelt option must not be ignored in silence (the default would apply instead).
    if (!Object.hasOwn(merged, key)) throw new RangeError(`${what}.${key} is not an option; known: ${Object.keys(merged).join(', ')}`);
    if (value === undefined) continue;
    // Options may come from a file (`synod node --options`): "100" where 100 is meant must not pass.
    if (typeof value !== typeof merged[key]) {
      throw new RangeError(`${what}.${key} must be a ${typeof merged[key]}, got ${JSON.stringify(value)}`);
    }
    merged[key] = value;
  }
  for (const [key, value] of Object.entries(merged)) {
    if (typeof value === 'number' && !(Number.isFinite(value) && value > 0)) {
      throw new RangeError(`${what}.${key} must be a positive number, got ${String(value)}`);
    }
  }
  return merged as T;
}

/** Paxos options with defaults filled in and checked against each other. */
export function paxosOptions(given: Partial<PaxosOptions> | undefined): PaxosOptions {
  const o = withDefaults(defaultPaxosOptions, given, 'paxos');
  if (o.maxFetchBatch > limits.maxDecisionsPerMessage) {
    throw new RangeError(`paxos.maxFetchBatch (${o.maxFetchBatch}) must not exceed ${limits.maxDecisionsPerMessage}: peers refuse larger batches`);
  }
  if (o.phaseTimeoutMaxMs < o.phaseTimeoutMs) {
    throw new RangeError('paxos.phaseTimeoutMaxMs must not be below paxos.phaseTimeoutMs');
  }
  return o;
}

/** How `connect()` finds the cluster before it makes its client (`client/discovery.ts`). */
export interface ConnectTimingOptions {
  /**
   * Give up finding the cluster after this long: no address given answered the node service.
   * Default 10 s, as `ClientOptions.defaultDeadlineMs`: a cluster that is starting or failing over
   * answers well within it, and a script pointed at the wrong place learns it without hanging.
   */
  readonly connectDeadlineMs: number;
  /** Deadline of one status call made while finding the cluster. Default 2000 ms. */
  readonly connectAttemptTimeoutMs: number;
  /** Pause between rounds over every address given. Default 200 ms. */
  readonly connectRetryMs: number;
}

export const defaultConnectTimingOptions: ConnectTimingOptions = {
  connectDeadlineMs: 10_000,
  connectAttemptTimeoutMs: 2000,
  connectRetryMs: 200,
};
