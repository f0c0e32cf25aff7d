import type { MemberId, NodeId } from '../env/types.js';
import type { AppIdentity } from './app-identity.js';

export type ConfigMessage =
  /**
   * Sent every heartbeat interval to every other member of the sender's current view (and by
   * a stale member too). `stale`: the sender restarted while listed and must be removed and
   * re-added before it counts as a member again.
   */
  | { readonly kind: 'heartbeat'; readonly vid: number; readonly incarnation: string; readonly stale: boolean }
  /**
   * A node outside the current view asks to be added. `vid`: the latest view it knows; `app`:
   * the app it runs (null: none), which must be compatible with the cluster's (`compatibleApps`);
   * `member`: the id a view adding it lists (`MemberId`; absent: its address), whose address must
   * be the sender's.
   */
  | { readonly kind: 'join'; readonly incarnation: string; readonly vid: number; readonly app: AppIdentity | null; readonly member?: MemberId }
  /**
   * The answer to a `join` from a node whose app is compatible with the answering member's.
   * `clusterId`: the cluster's id as the member knows it (empty: none), which a joiner with a
   * fresh data directory learns from the member it asked (`JoinRequest.answered`).
   */
  | { readonly kind: 'join-reply'; readonly vid: number; readonly outcome: JoinOutcome; readonly to: NodeId | null; readonly clusterId: string }
  /**
   * The answer to a `join` from a node whose app is not compatible with the answering member's:
   * it can never be a member of this cluster. Names both identities, as the member saw them.
   */
  | { readonly kind: 'join-refused'; readonly vid: number; readonly memberApp: AppIdentity | null; readonly joinerApp: AppIdentity | null };

/**
 * - queued: this member will propose adding the joiner (ask again if no view adds you);
 * - redirect: ask `to` instead (the node that admits joiners);
 * - retry: nobody admits right now (a view change or state transfer is under way); ask later;
 * - member: you are in my current view already.
 */
export type JoinOutcome = 'queued' | 'redirect' | 'retry' | 'member';

export const joinOutcomes: readonly JoinOutcome[] = ['queued', 'redirect', 'retry', 'member'];
