import type { Outbox } from '../env/outbox.js';
import type { Members, NodeId } from '../env/types.js';
import type { ProposeOutcome } from '../paxos/proposer.js';
import type { ConfigMessage } from './messages.js';

/**
 * How the config layer meets its neighbours: what it needs of Paxos below (`PaxosPort`), what it
 * tells the layer above (`ConfigListener`), and what that layer pushes down (`Admission`).
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
