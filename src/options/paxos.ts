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
