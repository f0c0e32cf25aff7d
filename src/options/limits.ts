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
  /**
   * Most calls one client id may have in flight: the client table keeps the outcomes of at most
   * this many of a client's numbers (from the lowest one the client has not had answered,
   * `Request.answeredBelow`), and refuses a request numbered beyond them (`client-window`). A
   * client never sends more (`ClientOptions.maxCallsInFlight`, at most this). 1024: four times
   * the most in flight the benchmarks use, and a bound on the outcomes one client id holds.
   * Every replica must use the same value.
   */
  maxClientWindow: 1024,
  /** Longest client id accepted. */
  maxClientIdLength: 128,
  /** Longest procedure name accepted (an app's names are checked against the same rule). */
  maxProcNameLength: 64,
  /** Most decided values one Paxos `decisions` message may carry; `maxFetchBatch` must not exceed it. */
  maxDecisionsPerMessage: 1024,
  /**
   * Most requests one `invoke` batch may carry on the wire (the codec refuses more);
   * `RsmOptions.maxInvokeBatchRequests` must not exceed it. 10,000, as `RsmOptions.maxInFlight`:
   * a primary never has more to send at once.
   */
  maxInvokeBatchRequests: 10_000,
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
