import type { Channel, ClientTransport } from '../env/transport.js';
import type { NodeId } from '../env/types.js';
import type { NodeGaugeSample, NodeRole } from '../runtime/prom-metrics.js';
import type { NodeStack } from './node-stack.js';
import { type NodeStatus, type StatusCall, isServing, nodeServiceCodec } from './status.js';

/** Whether this node is ready (a normal replica of a serving view), and if not, why, in one line. */
export interface Readiness {
  readonly ready: boolean;
  readonly reason: string;
}

/** What /readyz, grpc.health.v1 and the `synod_ready` gauge say: `isServing`, with the reason when not. */
export function readinessOf(s: NodeStatus): Readiness {
  if (isServing(s)) return { ready: true, reason: `serving in view ${s.vid}` };
  if (s.vid === 0) return { ready: false, reason: 'starting: no view yet' };
  if (s.configStatus !== 'member') return { ready: false, reason: `not a member of view ${s.vid} (${s.configStatus})` };
  if (s.refusing) return { ready: false, reason: `view ${s.vid} refuses to serve: no member holds a complete state` };
  return { ready: false, reason: `replica is ${s.replicaStatus ?? 'absent'} in view ${s.vid}` };
}

/** The role a status shows: what the `synod_role` gauge and the status page call it. */
export function roleOf(s: NodeStatus): NodeRole {
  if (s.vid === 0) return 'starting';
  if (s.configStatus !== 'member') return 'joining';
  if (s.app !== null && s.replicaStatus !== 'normal') return s.replicaStatus === 'syncing' ? 'syncing' : 'joining';
  return s.primary === s.node ? 'primary' : 'backup';
}

/** The gauges' sample: the status plus what only the cores hold (lease, bytes, streams). Call from an executor task. */
export function gaugeSample(stack: NodeStack<never>): NodeGaugeSample {
  const s = stack.status();
  const replica = stack.rsm?.core ?? null;
  const lease = replica?.lease ?? { state: 'none' as const };
  const feeds = stack.feeds?.stats() ?? null;
  return {
    vid: s.vid,
    role: roleOf(s),
    ready: isServing(s),
    inFlightRequests: s.inFlight,
    inFlightBytes: replica?.inFlightBytes ?? 0,
    lastExecuted: s.lastExecuted,
    leaseHeld: lease.state === 'held',
    leaseRemainingMs: lease.state === 'held' ? lease.remainingMs : 0,
    callbackStreams: stack.callbacks?.size ?? 0,
    feedStreams: feeds?.streams ?? 0,
    feedEvictions: feeds?.evicted ?? 0,
  };
}

/** One member as the status page shows it: its own status, or why it could not be asked. */
export type MemberReport =
  | { readonly node: NodeId; readonly reachable: true; readonly status: NodeStatus }
  | { readonly node: NodeId; readonly reachable: false; readonly error: string };

/**
 * Asks other nodes for their status over the node service (`synod.node.Node`, what `synod status`
 * calls), through this node's own transport. At most one call per peer is outstanding; each ask
 * settles within `timeoutMs`, as unreachable if no answer came. Answers that come after that
 * are dropped.
 */
export class PeerStatusAsker {
  readonly #channel: Channel<StatusCall>;
  readonly #waiting = new Map<NodeId, Array<(r: MemberReport) => void>>();
  readonly #timeoutMs: number;

  constructor(transport: Pick<ClientTransport, 'connect'>, timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
    this.#channel = transport.connect(nodeServiceCodec,
      (server, status) => this.#settle(server, { node: server, reachable: true, status }),
      (server, failure) => this.#settle(server, { node: server, reachable: false, error: `${failure.kind}: ${failure.detail}` }));
  }

  /** The status of `peer`, or an unreachable report; never rejects. */
  ask(peer: NodeId): Promise<MemberReport> {
    return new Promise((resolve) => {
      const waiting = this.#waiting.get(peer);
      if (waiting !== undefined) {
        waiting.push(resolve); // rides the call already out
        return;
      }
      this.#waiting.set(peer, [resolve]);
      const timer = setTimeout(() => this.#settle(peer, { node: peer, reachable: false, error: `no answer within ${this.#timeoutMs} ms` }), this.#timeoutMs);
      timer.unref();
      this.#waiting.get(peer)!.push(() => clearTimeout(timer));
      this.#channel.send(peer, { kind: 'status' });
    });
  }

  #settle(peer: NodeId, report: MemberReport): void {
    const waiting = this.#waiting.get(peer);
    if (waiting === undefined) return;
    this.#waiting.delete(peer);
    for (const done of waiting) done(report);
  }
}

/** One view as the timeline shows it: when this node first saw it committed. */
export interface TimelineView {
  readonly vid: number;
  readonly members: readonly NodeId[];
  readonly primary: NodeId | null;
  /** Wall-clock ms when this node first saw the view (null: committed before this process watched). */
  readonly seenAtMs: number | null;
}

/**
 * The views this node saw, newest last, at most `maxViews`: what the status page draws as a
 * timeline. Fed from each status look (the readiness watch's, every few tens of ms), so a view's
 * time is when this node committed it, to within one look.
 */
export class ViewTimeline {
  readonly #views: TimelineView[] = [];
  readonly #maxViews: number;

  constructor(maxViews: number) {
    this.#maxViews = maxViews;
  }

  /** Records what `s` shows: the views it lists that are new here, the current one stamped now. */
  saw(s: NodeStatus, nowMs: number): void {
    const last = this.#views.at(-1);
    for (const v of s.views) {
      if (last !== undefined && v.vid <= last.vid) continue;
      const current = v.vid === s.vid;
      this.#views.push({ vid: v.vid, members: v.members, primary: current ? s.primary : null, seenAtMs: current && last !== undefined ? nowMs : null });
    }
    const newest = this.#views.at(-1);
    // The primary of the current view may be learned after the view (a replica finds it at commit).
    if (newest !== undefined && newest.vid === s.vid && newest.primary === null && s.primary !== null) {
      this.#views[this.#views.length - 1] = { ...newest, primary: s.primary };
    }
    if (this.#views.length > this.#maxViews) this.#views.splice(0, this.#views.length - this.#maxViews);
  }

  get views(): readonly TimelineView[] {
    return this.#views;
  }
}
