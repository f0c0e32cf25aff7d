// The gRPC transport's tunables: deadlines, reconnects, message and call bounds (src/runtime).
import { type CallStreamOptions, checkCallStreamOptions, defaultCallStreamOptions } from './call-streams.js';
import { limits } from './limits.js';
import { withDefaults } from './with-defaults.js';

/** The call streams' options (`callWire`, their bounds and timings) are documented in call-streams.ts. */
export interface TransportOptions extends CallStreamOptions {
  /**
   * Deadline of one message delivery over gRPC (`peerMessages: 'unary'`). Messages are best effort (protocols retransmit),
   * so a short deadline just frees resources for a peer that does not answer. Default 1000 ms.
   */
  readonly sendDeadlineMs: number;
  /**
   * A channel to a peer that has failed is kept and reused; gRPC reconnects with its own backoff
   * capped at this value, so a restarted peer is reachable again within it. A peer stream that
   * broke is reopened at the next send after a backoff of its own, between
   * `reconnectBackoffInitialMs` and this value, doubled per failed attempt and reset once a stream
   * is accepted or the peer is heard from. Default 1000 ms.
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
  /**
   * How one-way messages between nodes (the channels: Paxos, config, RSM) travel. `'stream'`:
   * over one long-lived gRPC stream per (sender, receiver) pair, one frame per message
   * (`synod.peer.Peer/Stream`, proto/peer.proto); `'unary'`: one unary `Deliver` call per
   * message, as before streams existed. Default `'stream'`: a unary call costs grpc-js and HTTP/2
   * a stream set-up, headers and trailers per message, which a profile showed dominating a busy
   * primary. `'unary'` is kept for one release so that benchmarks can compare the two; a node
   * receives both kinds whatever it sends.
   */
  readonly peerMessages: PeerMessages;
  /**
   * Most bytes of messages to one peer that its stream has not taken yet: frames waiting for the
   * stream to drain (its HTTP/2 window is full: the peer reads slower than this node sends) plus
   * frames handed to grpc-js and not yet written. A message that would go above it is dropped
   * (counted, warn at most once a second per peer with the count): messages may be lost, and every
   * protocol retransmits. One message is always taken when nothing waits, so any message within
   * `maxMessageBytes` can go. Default 16 MiB, as `RsmOptions.maxInFlightBytes`: a primary's
   * whole pipeline of invokes to one backup fits, so a momentary stall drops nothing the RSM would
   * have to re-send, while a peer that stopped reading costs this node at most that much.
   */
  readonly peerQueueBytes: number;
  /**
   * Largest message (its serialized envelope, in bytes) that goes to a peer by the `control` lane
   * of its link; larger ones go by the `bulk` lane (`peerMessages: 'stream'`). Each lane is its
   * own stream with its own queue, so small messages never wait behind (nor are dropped for) large
   * ones queued for the same peer: design §3, heartbeats never wait behind bulk work. Frames of
   * one channel may overtake each other across lanes, which the `Transport` contract allows.
   * Default 16 KiB: above every heartbeat, ack, lease ask or grant, Paxos prepare/accept of a view
   * and small invoke batch (hundreds of bytes to a few KiB), below a state-transfer chunk
   * (`RsmOptions.stateChunkBytes`, 256 KiB) and a full invoke batch (up to 1 MiB).
   */
  readonly peerControlFrameBytes: number;
  /**
   * Most bytes of messages to one peer that its `control` lane has not taken yet, as
   * `peerQueueBytes` is for the `bulk` lane (which it then bounds alone); beyond it a small
   * message is dropped (counted per lane, warn at most once a second). Default 1 MiB: at least 64
   * control messages of the largest size, thousands of heartbeats; a peer that takes none of them
   * is down or stuck, and holding more would only deliver stale heartbeats later.
   */
  readonly peerControlQueueBytes: number;
  /**
   * Most peer streams (`peerMessages: 'stream'`) other nodes may hold open to this node at once (a
   * sender holds up to two: its control and bulk lanes, `peerControlFrameBytes`); one more is
   * refused at open with RESOURCE_EXHAUSTED (warn, at most one line a second). Each
   * open stream holds an HTTP/2 stream and little else (frames are handled as they arrive).
   * Default 512, twice `maxPeerClients`: two per peer, with room for joiners and departed nodes,
   * while streams from ever new senders cannot make a node hold them without bound.
   */
  readonly maxPeerStreams: number;
}

/** See `TransportOptions.peerMessages`. */
export type PeerMessages = 'stream' | 'unary';

export const defaultTransportOptions: TransportOptions = {
  ...defaultCallStreamOptions,
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
  peerMessages: 'stream',
  peerQueueBytes: 16 * 1024 * 1024,
  peerControlFrameBytes: 16 * 1024,
  peerControlQueueBytes: 1024 * 1024,
  maxPeerStreams: 512,
};

/** Transport options with defaults filled in; the counts must be integers. */
export function transportOptions(given: Partial<TransportOptions> | undefined): TransportOptions {
  const o = withDefaults(defaultTransportOptions, given, 'transport');
  for (const key of ['maxPeerClients', 'maxPendingCalls', 'maxStreams', 'maxQueuedStreamMessages', 'maxPeerStreams', 'peerQueueBytes', 'peerControlFrameBytes', 'peerControlQueueBytes'] as const) {
    if (!Number.isInteger(o[key])) throw new RangeError(`transport.${key} must be a positive integer, got ${o[key]}`);
  }
  if (o.peerMessages !== 'stream' && o.peerMessages !== 'unary') {
    throw new RangeError(`transport.peerMessages must be "stream" or "unary", got ${JSON.stringify(o.peerMessages)}`);
  }
  checkCallStreamOptions(o);
  return o;
}
