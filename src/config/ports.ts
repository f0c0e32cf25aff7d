import type { Logger } from '../env/logger.js';
import type { Metrics } from '../env/metrics.js';
import type { Outbox } from '../env/outbox.js';
import type { Random } from '../env/random.js';
import type { MemberId, Members, NodeId } from '../env/types.js';
import type { ConfigOptions } from '../options.js';
import type { ProposeOutcome } from '../paxos/proposer.js';
import type { AppIdentity, JoinRefusedError } from './app-identity.js';
import type { ConfigMessage } from './messages.js';

/**
 * How the config layer meets its neighbours: what it needs of Paxos below (`PaxosPort`), what it
 * tells the layer above (`ConfigListener`), what that layer pushes down (`Admission`), and
 * everything its core is given (`ViewManagerDeps`).
 */

export type ConfigOutbox = Outbox<ConfigMessage, never>;

/**
 * Where this node stands in the current view:
 * - member: listed, and admitted in this process life (or the cluster's very first start);
 * - stale: listed, but this process started after it was added, so whatever the layers above
 *   held in memory for that membership is gone; it must be removed and re-added;
 * - outside: not listed (never joined, removed, or not yet caught up).
 */
export type SelfStatus = 'member' | 'stale' | 'outside';

/**
 * Who admits joiners. The layer above pushes this down (it never needs to be asked):
 * - first-healthy: the first member of the view, in list order, that this node considers
 *   healthy admits; others redirect to it (the default, and what a cluster without an RSM uses);
 * - admit: this node admits (an RSM primary that serves);
 * - redirect: send joiners to `to` (an RSM backup: to the primary);
 * - closed: nobody admits now; joiners retry later (an RSM view still in state transfer).
 */
export type Admission =
  | { readonly kind: 'first-healthy' }
  | { readonly kind: 'admit' }
  | { readonly kind: 'redirect'; readonly to: NodeId }
  | { readonly kind: 'closed' };

/** What the config layer needs of Paxos (calls down; `PaxosLayer` provides them). */
export interface PaxosPort {
  propose(instance: number, value: Members): ProposeOutcome;
  /** `peer` knows every view up to `instance`: learn from it, or teach it, whichever is behind. */
  peerKnows(peer: NodeId, instance: number): void;
  readonly highestKnown: number;
  /** The oldest instance Paxos keeps (its log is compacted); default 1. The config layer keeps no older view. */
  readonly oldestKnown?: number;
  decided(instance: number): Members | undefined;
}

/** The one upcall of the config layer. */
export interface ConfigListener {
  /**
   * The current view (`vid`) or this node's status in it changed. Called after the config
   * layer's state is settled, never from inside its handlers; once at start for the view the
   * node starts in, then for every newly committed view in order.
   */
  onViewCommitted(vid: number): void;
}

/** Test-only switches that break the config layer on purpose, to prove the checkers bite. */
export interface ConfigMutations {
  /** Put an admitted joiner at the front of the member list instead of the end. */
  readonly joinerFirst?: boolean;
}

export const configTimers = { tick: 'config-tick' } as const;

/**
 * The cluster's id as this node holds it: made by the first node when it creates the cluster
 * (with view 1), kept with the node's data by every node (`identity.json` in production, the
 * simulated disk in the simulator), and carried in every message between nodes by the transport,
 * which refuses another. A joiner with a fresh data directory has none: it learns the id from the
 * join reply of the member it asked (`JoinRequest.answered`), which is a contact the operator
 * named (`--first`, `--join`) or one that contact redirected it to. That is safe enough for what
 * the id is for, accidents (a re-created cluster on the same addresses, a stray old process);
 * a malicious member could lie, which mutual TLS between nodes is there to stop.
 */
export interface ClusterIdPort {
  /** The id; null while this node has not learned it. */
  current(): string | null;
  /**
   * Learns `id`: kept durably first, then carried in (and required of) every message. Called
   * once, after a handler (an effect), and only while `current()` is null.
   */
  adopt(id: string): void;
}

export interface ViewManagerDeps {
  /** This node's address. */
  readonly self: NodeId;
  /** This node as views list it (default `self`: by address alone); see `MemberId`. */
  readonly member?: MemberId;
  /** Drawn fresh at every process start. */
  readonly incarnation: string;
  /** True unless this is the first process ever to run on this node's storage. */
  readonly restarted: boolean;
  readonly paxos: PaxosPort;
  readonly listener: ConfigListener;
  /** The app this node runs (null: none). A joiner is admitted only with a compatible one. */
  readonly app: AppIdentity | null;
  /**
   * A member refused this node's join: it runs an app the cluster cannot share. Called once,
   * after the handler, and never while this node is a member; the node must stop (it can never
   * join), which is the node composition's business, not the layer above's.
   */
  readonly onJoinRefused: (error: JoinRefusedError) => void;
  /** The cluster's id: sent in join replies, learned from one while this node has none. */
  readonly clusterId: ClusterIdPort;
  /**
   * Addresses to ask, besides the members of the latest view this node knows, when it asks to
   * join (default none): the contacts an operator named at start (`--join`, or a `--first` that
   * is not the cluster's first node). Any live member is a good one.
   */
  readonly contacts?: readonly NodeId[];
  readonly random: Random;
  readonly logger: Logger;
  /** Where missed heartbeats are counted (default `noMetrics`). */
  readonly metrics?: Metrics;
  readonly options?: Partial<ConfigOptions>;
  /** Whether this node asks to join when it is outside the view. Default true. */
  readonly wantsMembership?: boolean;
  /** Test-only protocol breakage. */
  readonly mutations?: ConfigMutations;
  /**
   * Whether stale members may remove dead members once most of the view is stale (default
   * true). A node that runs a replicated app turns this off: there, a silent member may be the
   * only holder of the app's state, and if it really is gone the app cannot serve anyway, so the
   * removal could only do harm (see `chooseViewChange`).
   */
  readonly staleMayRemoveDead?: boolean;
  /**
   * The layer above keeps its state on disk (a replicated app with its durable store): a member
   * that restarted still holds what it held, so it needs a new view, not a removal. Then (default
   * false):
   * - a stale member becomes a member again once any view after its restart lists it (every
   *   replica syncs afresh in a new view; its state counts as before);
   * - a restarted member gets a refresh, a new view of the same members (`ChangeKind`), not a
   *   removal; when every member of a view of two or more restarted (a full-cluster restart),
   *   they propose that refresh themselves;
   * - a member of a view of one that restarted carries on in its view (it has no backups).
   */
  readonly durableAbove?: boolean;
}
