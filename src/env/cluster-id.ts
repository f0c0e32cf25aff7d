/**
 * The cluster-id rule of messages between nodes (see `Transport`: cluster identity), as a pure
 * function that every transport (gRPC, the simulator's) applies to its envelopes.
 */

/**
 * What a receiver makes of an envelope's cluster id (its cluster name matched already):
 * - admitted;
 * - receiver-has-none: this node has not learned its cluster id yet, and the channel is not the
 *   join protocol's: nothing but the join protocol reaches a node before it knows its cluster;
 * - sender-has-none: the sender has not learned the id, and the channel is not the join
 *   protocol's (where a newcomer may speak);
 * - another-id: both know an id, and they differ (a re-created cluster, a stray old process).
 */
export type ClusterIdVerdict = 'admitted' | 'receiver-has-none' | 'sender-has-none' | 'another-id';

/**
 * @param ours this node's cluster id, null while it has none
 * @param theirs the envelope's, empty when the sender has none
 * @param admitsNewcomers whether the channel is the join protocol's (`WireCodec.admitsNewcomers`)
 */
export function judgeClusterId(ours: string | null, theirs: string, admitsNewcomers: boolean): ClusterIdVerdict {
  if (admitsNewcomers && (theirs === '' || ours === null)) return 'admitted';
  if (ours === null) return 'receiver-has-none';
  if (theirs === '') return 'sender-has-none';
  return theirs === ours ? 'admitted' : 'another-id';
}

/** Whether a node whose cluster id is `ours` (null: none yet) sends on a channel: only the join protocol's before it knows. */
export function maySend(ours: string | null, admitsNewcomers: boolean): boolean {
  return ours !== null || admitsNewcomers;
}
