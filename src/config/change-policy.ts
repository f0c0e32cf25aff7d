import type { Members, NodeId } from '../env/types.js';
import { majority } from '../paxos/context.js';
import type { FailureDetector } from './failure-detector.js';
import type { SelfStatus } from './ports.js';

/**
 * What a view change does: add or remove one node, or refresh (a new view of the same members, in
 * the same order, after `node` restarted: every layer above starts the view afresh).
 */
export type ChangeKind = 'add' | 'remove' | 'refresh';

/** One view change, the node it is about, and why (for the log). */
export interface ViewChange {
  readonly change: ChangeKind;
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
 * app's state. With durable state (`durableAbove`), every restarted member holds its state: what
 * it needs is a new view, in which every replica syncs afresh (a restarted primary's new process
 * never stamps a viewstamp its old one used), not a removal. So a member proposes a refresh (the
 * same members, a new view) for a restarted member, and when every member restarted (a power cut,
 * a rollout) the stale members propose one for themselves.
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
    // new view of the same members is what they need.
    const everyoneRestarted = others.length > 0 && others.every((m) => health.staleness(m) !== null && isAlive(m));
    if (status === 'stale' && ctx.durableAbove && everyoneRestarted) {
      return { change: 'refresh', node: self, reason: 'every member restarted: a new view for their durable states' };
    }
    return null;
  }
  for (const m of others) {
    const stale = health.staleness(m);
    if (stale !== null && stale !== 'replaced' && ctx.durableAbove && isAlive(m)) {
      return { change: 'refresh', node: m, reason: `${stale === 'reported' ? 'restarted while listed' : 'new incarnation'}: a new view for its durable state` };
    }
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
