/**
 * A node's identity is its listening address, `host:port`. It is stable across restarts of the
 * same node (a restarted process keeps its address and data directory); a process start is told
 * apart by its incarnation, which the config layer draws fresh at every start.
 */
export type NodeId = string;

/** An ordered member list. Order matters: joiners go to the end, and primary choice reads it. */
export type Members = readonly NodeId[];

/**
 * A member of a view as the views (Paxos values) list it: the node's address, and for a node that
 * joined with a data directory of its own, `@` and that directory's disk id (made with the
 * directory, kept in its `identity.json`). The cluster's first node and nodes whose data
 * directories predate disk ids are listed by address alone.
 *
 * Why: a member whose data directory was wiped comes back on the same address with nothing on
 * disk; its acceptor has forgotten its promises, its replica its state. Listed by disk, it is
 * another member: messages meant for the old disk's member are not its to answer, it is no
 * acceptor or state holder of the views the old disk was in, and it is added anew once the old
 * member is removed. A view never lists one address twice.
 */
export type MemberId = string;

/** The address a member is reached at (its id without the disk id). */
export function addressOf(member: MemberId): NodeId {
  const at = member.lastIndexOf('@');
  return at < 0 ? member : member.slice(0, at);
}

/** The member id of the node at `address` whose data directory's disk id is `disk` (null: listed by address alone). */
export function memberId(address: NodeId, disk: string | null): MemberId {
  return disk === null ? address : `${address}@${disk}`;
}
