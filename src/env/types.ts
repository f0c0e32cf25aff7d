/**
 * A node's identity is its listening address, `host:port`. It is stable across restarts of the
 * same node (a restarted process keeps its address and data directory); a process start is told
 * apart by its incarnation, which the config layer draws fresh at every start.
 */
export type NodeId = string;

/** An ordered member list. Order matters: joiners go to the end, and primary choice reads it. */
export type Members = readonly NodeId[];
