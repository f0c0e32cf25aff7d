// The replica's tunables: retransmission, budgets in requests and bytes, the client table (src/rsm).
import { withDefaults } from './with-defaults.js';
import { limits } from './limits.js';

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
  /**
   * The serving primary sends a backup a new `invoke` batch only while fewer than this many
   * batches it sent are not yet acknowledged by every backup; requests that arrive meanwhile are
   * stamped and wait, and all that waited leave as one batch (within the two bounds below) as soon
   * as an acknowledgement frees a slot. A request that finds a slot free leaves at once: batching
   * never waits on a timer, so a lone request is never delayed, and batches grow with load by
   * themselves. Default 2: one batch in flight leaves a backup idle while its acknowledgement
   * travels back; two let the next batch form and arrive meanwhile, and more only make the
   * batches smaller (more messages and fsyncs per request). A quick measurement (64 `RsmClient`s
   * writing the test app's `add`, local 3-node cluster, `tools/bench/batches-in-flight.ts`, 4 s
   * windows, streams on, load average 2-5 on 2 cores): 1, 2, 4 gave 4,230, 4,378, 4,050 ops/s
   * (p99 44, 36, 42 ms), then 2,210, 2,025, 1,837 in a second, busier round: 1 and 2 within the
   * noise, 4 behind both times. Redo it on a quiet machine before changing this.
   */
  readonly maxInvokeBatchesInFlight: number;
  /**
   * Most requests one `invoke` batch carries. Default 1024: with the small requests that make
   * batching matter (tens of bytes), far more than a round trip's worth of load, while a batch
   * of 1024 still takes only about a millisecond to encode and execute. At most
   * `limits.maxInvokeBatchRequests`.
   */
  readonly maxInvokeBatchRequests: number;
  /**
   * Most request bytes (see `requestBytes`) one `invoke` batch carries; one request is always
   * sent, however large (it then goes alone). Default 1 MiB: a batch must fit in one message of
   * `TransportOptions.maxMessageBytes` (4 MiB by default) with its envelope; `requestBytes` counts
   * UTF-16 units, which take at most 3 bytes each in UTF-8, so 1 MiB of them is at most 3 MiB on
   * the wire, and the per-request fields of a full batch (under 64 bytes each) fit in the rest
   * (`checkRsmFitsTransport` checks it at start).
   */
  readonly maxInvokeBatchBytes: number;
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
   * replicated request no client can send) carrying the table's clock plus the time it measured
   * since its previous sweep (monotonic, at most two intervals: `ClientSweeper`) and the three table
   * options below; executing it advances the table's replicated clock (never backwards) and drops
   * entries idle longer than `clientRetentionMs`. The options a sweep carries are the ones in
   * force on every replica from then on (a node's own values matter only where it stamps sweeps,
   * or at the genesis of a cluster), so replicas never disagree about them. Default 10 s: one
   * tiny replicated request; an expiry comes up to about two intervals late, never early.
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
  /**
   * A replica writes a snapshot of its state (the app's `marshalState` and the client table) after
   * this many requests executed since the last one, and drops the log behind it. It bounds the
   * log on disk and what a restart replays. Default 10,000: replaying that many requests takes
   * well under a second, and at a few hundred bytes each the log stays a few MiB; a smaller
   * number marshals a large state more often (each snapshot holds the requests behind it until
   * it is durable).
   */
  readonly snapshotEveryRequests: number;
  /**
   * Or after this many bytes of requests (arguments and names, `requestBytes`) executed since
   * the last snapshot, whichever comes first: large requests fill the disk sooner. Default 64 MiB.
   */
  readonly snapshotEveryBytes: number;
  /**
   * A replica keeps the requests it executed most recently, up to this many, in memory: a replica
   * whose state stands at one of them (a restarted member, a backup that fell a little behind)
   * catches up by executing the ones after it, instead of copying the whole state. Default 10,000
   * (about a snapshot interval).
   */
  readonly catchUpRequests: number;
  /** And at most this many bytes of them (`requestBytes`). Default 16 MiB: the memory it may cost. */
  readonly catchUpBytes: number;
  /**
   * The primary lease (`PrimaryLease`): the serving primary acts on its own (answers queries,
   * keeps callback streams and session clocks) only while every backup of its view granted it a
   * lease within this long, measured on the primary's monotonic clock from when it asked. A
   * backup that granted one helps no other primary turn its view normal until its promise ran out
   * (`leaseWaitMs`). Default 500 ms: the failure detector's window (heartbeats every 100 ms,
   * suspected after 5 missed), so the previous primary's lease has all but run out by the time a
   * new view is decided, and the wait adds little to a failover.
   */
  readonly leaseMs: number;
  /**
   * The serving primary asks its backups to renew the lease this often. Default 100 ms: four
   * asks in a row can be lost before the lease lapses. Must be below `leaseMs`.
   */
  readonly leaseRenewMs: number;
  /**
   * The largest rate error of any node's monotonic clock against real time, in parts per million
   * (the lease assumes this bound on the rate, and none on the offset between clocks: only
   * durations measured on one clock are compared). Default 10,000 (1 %): a quartz clock is off by
   * 10–100 ppm and ntpd slews at most 500 ppm; it costs 1 % of `leaseMs` on a failover. chrony may
   * slew faster (its `maxslewrate`): cap that, or raise this (docs/operations.md, "Clocks").
   * Below 100,000.
   */
  readonly maxClockDriftPpm: number;
  /**
   * Most queries (`App.queries`) the primary holds while it confirms its lease; more get BUSY.
   * Default 10,000, as `maxInFlight`.
   */
  readonly maxPendingQueries: number;
}

export const defaultRsmOptions: RsmOptions = {
  invokeRetryMs: 50,
  invokeRetryMaxMs: 1000,
  maxRetransmitInvokes: 64,
  maxRetransmitBytes: 1024 * 1024,
  maxInvokeBatchesInFlight: 2,
  maxInvokeBatchRequests: 1024,
  maxInvokeBatchBytes: 1024 * 1024,
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
  snapshotEveryRequests: 10_000,
  snapshotEveryBytes: 64 * 1024 * 1024,
  catchUpRequests: 10_000,
  catchUpBytes: 16 * 1024 * 1024,
  leaseMs: 500,
  leaseRenewMs: 100,
  maxClockDriftPpm: 10_000,
  maxPendingQueries: 10_000,
};

/** RSM options with defaults filled in and checked against each other. */
export function rsmOptions(given: Partial<RsmOptions> | undefined): RsmOptions {
  const o = withDefaults(defaultRsmOptions, given, 'rsm');
  for (const key of ['maxInvokeBatchesInFlight', 'maxInvokeBatchRequests', 'maxRetransmitInvokes', 'maxBufferedInvokes', 'maxInFlight', 'maxClients', 'snapshotEveryRequests', 'catchUpRequests'] as const) {
    if (!Number.isInteger(o[key])) throw new RangeError(`rsm.${key} must be a positive integer, got ${o[key]}`);
  }
  if (o.maxInvokeBatchRequests > limits.maxInvokeBatchRequests) {
    throw new RangeError(`rsm.maxInvokeBatchRequests must be at most limits.maxInvokeBatchRequests (${limits.maxInvokeBatchRequests}), got ${o.maxInvokeBatchRequests}`);
  }
  if (o.clientInFlightShare > 1) throw new RangeError(`rsm.clientInFlightShare must be at most 1, got ${o.clientInFlightShare}`);
  if (o.invokeRetryMaxMs < o.invokeRetryMs) throw new RangeError('rsm.invokeRetryMaxMs must not be below rsm.invokeRetryMs');
  if (!Number.isInteger(o.maxPendingQueries)) throw new RangeError(`rsm.maxPendingQueries must be a positive integer, got ${o.maxPendingQueries}`);
  if (o.leaseRenewMs >= o.leaseMs) throw new RangeError(`rsm.leaseRenewMs (${o.leaseRenewMs}) must be below rsm.leaseMs (${o.leaseMs})`);
  if (o.maxClockDriftPpm >= 100_000) throw new RangeError(`rsm.maxClockDriftPpm must be below 100000 (10 %), got ${o.maxClockDriftPpm}`);
  if (o.clientRetentionMs < o.clientEvictableAfterMs) {
    throw new RangeError('rsm.clientRetentionMs must not be below rsm.clientEvictableAfterMs (an idle entry is dropped after the one, evictable after the other)');
  }
  return o;
}

/**
 * How long a backup's promise lasts on its own clock after it granted a lease (and how long a
 * restarted node waits before it helps another primary): no shorter than the longest the
 * primary can use that lease in real time. The primary uses it until `leaseMs` on its clock from
 * its ask, at most leaseMs / (1 − ρ) real time; the backup granted no earlier than the ask, and
 * its promise lasts at least leaseWaitMs / (1 + ρ) real time; so leaseWaitMs ≥ leaseMs (1 + ρ) /
 * (1 − ρ), plus 1 ms for timers' rounding.
 */
export function leaseWaitMs(o: Pick<RsmOptions, 'leaseMs' | 'maxClockDriftPpm'>): number {
  const rho = o.maxClockDriftPpm / 1e6;
  return Math.ceil((o.leaseMs * (1 + rho)) / (1 - rho)) + 1;
}

/**
 * Room a message needs beyond the state chunk it carries: the envelope's node ids, cluster name
 * and id and the chunk's fields, plus the peer stream's frame around it (its number and service
 * name), take well under 1 KiB (`limits` bound each); 4 KiB leaves room.
 */
export const stateChunkOverheadBytes = 4 * 1024;

/**
 * Wire bytes one request of an `invoke` batch takes beyond its counted text (`requestBytes`):
 * field tags, lengths, its `seq` and flags, well under 64 bytes.
 */
export const invokeRequestOverheadBytes = 64;

/** Most wire bytes an `invoke` batch of more than one request can take (see `RsmOptions.maxInvokeBatchBytes`). */
export function maxInvokeBatchWireBytes(rsm: Pick<RsmOptions, 'maxInvokeBatchBytes' | 'maxInvokeBatchRequests'>): number {
  return 3 * rsm.maxInvokeBatchBytes + rsm.maxInvokeBatchRequests * invokeRequestOverheadBytes + stateChunkOverheadBytes;
}

/**
 * Checks what ties the RSM options to the transport's: a state chunk, and a full `invoke` batch,
 * must fit in a message (otherwise every such message is refused at send: a state transfer never
 * ends, a batch is never acknowledged). Thrown as a `RangeError` naming both, before the node starts.
 */
export function checkRsmFitsTransport(rsm: Pick<RsmOptions, 'stateChunkBytes' | 'maxInvokeBatchBytes' | 'maxInvokeBatchRequests'>, maxMessageBytes: number): void {
  if (rsm.stateChunkBytes + stateChunkOverheadBytes > maxMessageBytes) {
    throw new RangeError(`rsm.stateChunkBytes (${rsm.stateChunkBytes}) plus ${stateChunkOverheadBytes} bytes of envelope must fit in transport.maxMessageBytes (${maxMessageBytes})`);
  }
  const batch = maxInvokeBatchWireBytes(rsm);
  if (batch > maxMessageBytes) {
    throw new RangeError(`an invoke batch of rsm.maxInvokeBatchBytes (${rsm.maxInvokeBatchBytes}) and rsm.maxInvokeBatchRequests (${rsm.maxInvokeBatchRequests}) may take ${batch} bytes on the wire, more than transport.maxMessageBytes (${maxMessageBytes})`);
  }
}
