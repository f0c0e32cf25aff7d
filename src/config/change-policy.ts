import type { Members, NodeId } from '../env/types.js';
import { majority } from '../paxos/context.js';
import type { FailureDetector } from './failure-detector.js';
import type { SelfStatus } from './ports.js';

/** One view change: add or remove one node, and why (for the log). */
export interface ViewChange {
  readonly change: 'add' | 'remove';
  readonly node: NodeId;
  readonly reason: string;
}

/** What the choice of the next view change looks at. */
export interface ChangeContext {
  readonly self: NodeId;
  readonly members: Members;
  readonly status: SelfStatus;
  readonly health: FailureDetector;
  readonly suspectAfterMissed: number;
  /** See `ViewManagerDeps.staleMayRemoveDead`. */
  readonly staleMayRemoveDead: boolean;
  /** See `ViewManagerDeps.durableAbove`. */
  readonly durableAbove: boolean;
  /** The joiner to add next, if this node queued one. */
  readonly joiner: NodeId | undefined;
  /** Whether this node admits joiners now. */
  readonly admits: () => boolean;
}

/**
 * Chooses at most one view change for this node to propose. Dead members go first, then stale
 * ones, then joiners; within each kind the first in list order, so concurrent proposers tend to
 * propose the same value. Two rules keep changes from stalling the cluster:
 * - nothing is proposed while the current view lacks a live majority (nothing could be
 *   decided, and a proposal left waiting would complete later in a changed world);
 * - no change is proposed whose resulting view lacks a live majority.
 * A stale node proposes only the removal of dead members, and only once a majority of the
 * view is stale (and `staleMayRemoveDead`): the view has then lost most of its surviving
 * processes, while waiting for the silent ones could be forever. With a replicated app above,
 * this is off when the app's state lives in memory only: a "dead" member may just be unreachable
 * for a while (a restarted node's peers need time to reconnect) and hold the only copy of the
 * app's state. With durable state (`durableAbove`), every restarted member holds its state, and
 * when all of them restarted they remove the view's last member, to make a new view in which the
 * replicas sync afresh.
 * A member whose data directory was replaced counts as dead, however lively its address: its disk,
 * and the acceptor on it, are gone (a view that kept it with one other member could never decide
 * again). A joiner at an address the view lists is added only once that member is removed: a view
 * never lists an address twice.
 */
export function chooseViewChange(ctx: ChangeContext): ViewChange | null {
  const { self, members, status, health, suspectAfterMissed } = ctx;
  const isAlive = (m: NodeId): boolean => health.isAlive(m) && (m === self || health.staleness(m) !== 'replaced');
  if (members.filter(isAlive).length < majority(members.length)) return null;
  const others = members.filter((m) => m !== self);
  const keepsMajority = (next: Members): boolean => next.filter(isAlive).length >= majority(next.length);
  const without = (node: NodeId): Members => members.filter((m) => m !== node);
  const staleCount = others.filter((m) => health.staleness(m) !== null).length + (status === 'stale' ? 1 : 0);
  if (status === 'stale' && (!ctx.staleMayRemoveDead || staleCount < majority(members.length))) return null;

  for (const m of others) {
    if (health.otherViewFor(m) < suspectAfterMissed || !keepsMajority(without(m))) continue;
    const reason = health.silentFor(m) >= suspectAfterMissed
      ? `no heartbeat for ${health.silentFor(m)} intervals`
      : `reports another view for ${health.otherViewFor(m)} intervals`;
    return { change: 'remove', node: m, reason };
  }
  if (status !== 'member') {
    // Every member restarted and all are alive (a full-cluster restart with durable state): a
    // new view is what they need; removing the last member makes one (it rejoins at once).
    const last = members[members.length - 1]!;
    const everyoneRestarted = others.length > 0 && others.every((m) => health.staleness(m) !== null && isAlive(m));
    if (status === 'stale' && ctx.durableAbove && everyoneRestarted && keepsMajority(without(last))) {
      return { change: 'remove', node: last, reason: 'every member restarted: a new view for their durable states' };
    }
    return null;
  }
  for (const m of others) {
    const stale = health.staleness(m);
    if (stale !== null && keepsMajority(without(m))) {
      const reason = stale === 'reported' ? 'restarted while listed' : stale === 'replaced' ? 'its data directory was replaced' : 'new incarnation';
      return { change: 'remove', node: m, reason };
    }
  }
  // The joiner itself counts as alive: it has just asked.
  const aliveWithJoiner = members.filter(isAlive).length + 1;
  if (ctx.joiner !== undefined && !members.includes(ctx.joiner) && ctx.admits() && aliveWithJoiner >= majority(members.length + 1)) {
    return { change: 'add', node: ctx.joiner, reason: 'asked to join' };
  }
  return null;
}
