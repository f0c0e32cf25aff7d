import type { MemberId, Members } from '../env/types.js';
import type { ProposalNumber } from './proposal-number.js';

/**
 * Paxos runs one instance per view: the value decided in instance `i` is the member list of view
 * `i`, and the acceptors of instance `i` are the members of view `i - 1`. Instance 1 is the
 * cluster's first view, `[first]`, known to every node from its configuration. Members are
 * `MemberId`s: an address, with the member's disk id when it has one; messages travel to and
 * from addresses (`addressOf`).
 */
export type PaxosValue = Members;

/** A value an acceptor accepted, reported in a promise. */
export interface AcceptedValue {
  readonly n: ProposalNumber;
  readonly value: PaxosValue;
}

export type PaxosMessage =
  /**
   * Phase 1a. The sender knows instance `instance - 1` is decided. `acceptor`: the member of view
   * `instance - 1` it is meant for (absent from senders older than member ids: any); a node at that
   * address whose member id differs (its data directory was wiped since) must not answer it.
   */
  | { readonly kind: 'prepare'; readonly instance: number; readonly n: ProposalNumber; readonly acceptor?: MemberId }
  /** Phase 1b: the acceptor promised `n`; `accepted` is what it accepted before, if anything. */
  | {
      readonly kind: 'promise';
      readonly instance: number;
      readonly n: ProposalNumber;
      readonly accepted: AcceptedValue | null;
    }
  /** Phase 2a. `acceptor` as for `prepare`. */
  | { readonly kind: 'accept'; readonly instance: number; readonly n: ProposalNumber; readonly value: PaxosValue; readonly acceptor?: MemberId }
  /** Phase 2b. */
  | { readonly kind: 'accepted'; readonly instance: number; readonly n: ProposalNumber }
  /** A prepare or accept for `n` lost to the higher promise `promised`. */
  | { readonly kind: 'reject'; readonly instance: number; readonly n: ProposalNumber; readonly promised: ProposalNumber }
  /** `instance` is decided: the decide broadcast, and the answer to anything about a decided instance. */
  | { readonly kind: 'decided'; readonly instance: number; readonly value: PaxosValue }
  /** Learner gossip: every instance up to `instance` is decided and durable at the sender. */
  | { readonly kind: 'known'; readonly instance: number }
  /** Learner catch-up: send me the decided values from instance `from` on. */
  | { readonly kind: 'fetch'; readonly from: number }
  /**
   * Decided values of instances `first`, `first + 1`, … (answer to `fetch`, or a push to a
   * laggard). `compacted`: the sender asked for (or was asked about) instances it no longer keeps
   * (its log was compacted, see `PaxosSnapshot`), and `first` is the oldest it keeps; a receiver
   * that cannot judge `values[0]` (it lacks instance `first - 1`) may start its history there.
   */
  | { readonly kind: 'decisions'; readonly first: number; readonly values: readonly PaxosValue[]; readonly compacted?: boolean };

export type PaxosMessageKind = PaxosMessage['kind'];

/** What a Paxos node keeps on disk; replayed in order at start. */
export type PaxosRecord =
  | { readonly kind: 'promise'; readonly instance: number; readonly n: ProposalNumber }
  | { readonly kind: 'accept'; readonly instance: number; readonly n: ProposalNumber; readonly value: PaxosValue }
  | { readonly kind: 'decide'; readonly instance: number; readonly value: PaxosValue }
  /** The highest round this node has used as a proposer; never reused after a restart. */
  | { readonly kind: 'round'; readonly round: number }
  /**
   * Everything the records before it said, in one piece: it replaces the log behind it (the
   * store writes it as the snapshot file and starts a new log generation, see `PaxosStore`).
   */
  | { readonly kind: 'snapshot'; readonly snapshot: PaxosSnapshot; readonly why: string };

/** One instance's acceptor state, as a snapshot keeps it (only undecided instances have any). */
export interface AcceptorSlotRecord {
  readonly instance: number;
  readonly promised: ProposalNumber | null;
  readonly accepted: AcceptedValue | null;
}

/**
 * A node's Paxos state in one piece (log compaction, `PaxosOptions.compactAfterViews`):
 * - `decided`: the decided values this node keeps, by instance, oldest first. The first one is
 *   the node's oldest known instance (its history starts there); the ones from it up to the
 *   highest contiguously known instance have no gaps; instances before it are forgotten here;
 * - `slots`: the acceptor state of every undecided instance, exactly as it was (promises and
 *   acceptances must survive compaction: a restarted acceptor honours all of them);
 * - `round`: at least the highest round this node ever used as a proposer.
 */
export interface PaxosSnapshot {
  readonly decided: ReadonlyArray<{ readonly instance: number; readonly value: PaxosValue }>;
  readonly slots: readonly AcceptorSlotRecord[];
  readonly round: number;
}
