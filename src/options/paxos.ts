// The Paxos layer's tunables (src/paxos).
import { limits } from './limits.js';
import { withDefaults } from './with-defaults.js';

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
  /**
   * Log compaction: how many of the newest decided views a node keeps (in memory, and in the
   * snapshot that replaces its log); older ones are forgotten. Who looks back: the RSM's
   * completeness proof walks from the current view back to a replica's last synced view (a
   * replica synced before the oldest kept view counts as not complete, which is safe: it copies
   * a state or the view refuses), and a peer this far behind catches up view by view. Default
   * 1024: far more views than a replica ever misses in a row while it is a member, at a few
   * hundred KB of member lists.
   */
  readonly retainedViews: number;
  /**
   * A node compacts its log (`PaxosSnapshot`: the kept views, acceptor state, highest round, as
   * one snapshot file; the log behind it dropped) once this many views are decided beyond the
   * `retainedViews` it keeps. So a node holds at most `retainedViews + compactAfterViews` views
   * and replays at most about 4.5 log records per view of them at start, whatever the number of
   * views ever decided. Default 1024: a compaction (one small file write) every 1024 views, a
   * log that replays in milliseconds.
   */
  readonly compactAfterViews: number;
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
  retainedViews: 1024,
  compactAfterViews: 1024,
};

/** Paxos options with defaults filled in and checked against each other. */
export function paxosOptions(given: Partial<PaxosOptions> | undefined): PaxosOptions {
  const o = withDefaults(defaultPaxosOptions, given, 'paxos');
  if (o.maxFetchBatch > limits.maxDecisionsPerMessage) {
    throw new RangeError(`paxos.maxFetchBatch (${o.maxFetchBatch}) must not exceed ${limits.maxDecisionsPerMessage}: peers refuse larger batches`);
  }
  if (!Number.isInteger(o.retainedViews) || o.retainedViews < 1 || !Number.isInteger(o.compactAfterViews) || o.compactAfterViews < 1) {
    throw new RangeError('paxos.retainedViews and paxos.compactAfterViews must be whole numbers of at least 1');
  }
  if (o.phaseTimeoutMaxMs < o.phaseTimeoutMs) {
    throw new RangeError('paxos.phaseTimeoutMaxMs must not be below paxos.phaseTimeoutMs');
  }
  return o;
}
