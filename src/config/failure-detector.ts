import { invariant } from '../env/errors.js';
import type { Logger } from '../env/logger.js';
import { type Metrics, noMetrics } from '../env/metrics.js';
import type { Members, NodeId } from '../env/types.js';

/** What this node knows about another member of its current view, in heartbeat ticks. */
interface PeerHealth {
  /** Last tick a heartbeat arrived from it. */
  lastHeard: number;
  /** Last tick it reported this node's current view. */
  lastSameView: number;
  /** Its incarnation as first heard while it was listed; a different one means it restarted. */
  incarnation: string | null;
  /** Why it needs a new view although it is alive (removed and re-added, or with durable state a refresh), if it does. */
  stale: Staleness;
}

/**
 * Why a live member needs a new view (removed and re-added; with durable state above, a refresh of
 * the same members, except a replaced one, which is removed): it said so, it came back as a new process, or a
 * node at its address asked to join with another member id (its data directory was replaced:
 * the member listed is gone for good, whatever the layers above keep on disk).
 */
export type Staleness = 'reported' | 'new-incarnation' | 'replaced' | null;

/** A heartbeat as the detector needs it. */
export interface HeardBeat {
  readonly vid: number;
  readonly incarnation: string;
  readonly stale: boolean;
}

/**
 * The failure detector of the config layer: counts heartbeat ticks and remembers, for every
 * other member of the current view, when it was last heard, when it last agreed on the view,
 * and whether it restarted (reported stale or a new incarnation). Suspicion is a count of
 * missed ticks, never one lost heartbeat (design §3).
 *
 * Invariant: there is a health record for exactly the other members of the current view (kept by
 * `track`); a newcomer starts with a full grace period.
 */
export class FailureDetector {
  readonly #self: NodeId;
  readonly #suspectAfterMissed: number;
  readonly #log: Logger;
  readonly #peers = new Map<NodeId, PeerHealth>();
  /** Members that reported themselves stale in the current view. */
  readonly #staleReports = new Set<NodeId>();
  #tick = 0;
  /**
   * With durable state above (`ViewManagerDeps.durableAbove`): a restarted member that stays
   * listed in a new view is a member again, so staleness ends with the view, and a stale report
   * counts only in the view it names.
   */
  readonly #restartsHeal: boolean;

  readonly #metrics: Metrics;

  constructor(self: NodeId, suspectAfterMissed: number, logger: Logger, restartsHeal = false, metrics: Metrics = noMetrics) {
    this.#restartsHeal = restartsHeal;
    this.#metrics = metrics;
    this.#self = self;
    this.#suspectAfterMissed = suspectAfterMissed;
    this.#log = logger;
  }

  /** Heartbeat ticks since this process started. */
  get tick(): number {
    return this.#tick;
  }

  /** One heartbeat interval passed. */
  advance(): void {
    let missed = 0;
    for (const p of this.#peers.values()) if (p.lastHeard < this.#tick) missed++; // silent through the interval that ends now
    if (missed > 0) this.#metrics.count('synod_heartbeats_missed_total', undefined, missed);
    this.#tick++;
  }

  /** A member of the current view that answers heartbeats (stale or not): a working Paxos acceptor. */
  isAlive(node: NodeId): boolean {
    if (node === this.#self) return true;
    const p = this.#peers.get(node);
    return p !== undefined && this.#tick - p.lastHeard < this.#suspectAfterMissed;
  }

  /** Another member that is alive, reports the same view and is not stale. */
  isHealthyPeer(node: NodeId): boolean {
    const p = this.#peers.get(node);
    return p !== undefined && this.#tick - p.lastSameView < this.#suspectAfterMissed && p.stale === null;
  }

  /** Ticks since `member` (another member of the current view) last sent a heartbeat. */
  silentFor(member: NodeId): number {
    return this.#tick - this.#peer(member).lastHeard;
  }

  /** Ticks since `member` last reported this node's current view. */
  otherViewFor(member: NodeId): number {
    return this.#tick - this.#peer(member).lastSameView;
  }

  staleness(member: NodeId): Staleness {
    return this.#peer(member).stale;
  }

  /** Whether every one of `members` reported itself stale in the current view. */
  allReportedStale(members: Members): boolean {
    return members.every((m) => this.#staleReports.has(m));
  }

  /**
   * A heartbeat from `from` while this node is in view `vid`. Returns whether it is a stale
   * report for that very view (then every member may be stale: the caller checks).
   */
  heard(from: NodeId, m: HeardBeat, vid: number): boolean {
    const peer = this.#peers.get(from);
    if (peer === undefined) return false; // not a member of this node's current view
    peer.lastHeard = this.#tick;
    if (m.vid === vid) peer.lastSameView = this.#tick;
    if (peer.incarnation !== null && peer.incarnation !== m.incarnation && peer.stale === null) {
      peer.stale = 'new-incarnation';
      this.#log.warn({ vid, peer: from, was: peer.incarnation, now: m.incarnation },
        'config: member restarted (new incarnation); it needs a new view');
    }
    peer.incarnation ??= m.incarnation;
    if (m.stale && peer.stale === null && (!this.#restartsHeal || m.vid === vid)) {
      peer.stale = 'reported';
      this.#log.warn({ vid, peer: from }, 'config: member reports it restarted while listed');
    }
    if (!m.stale || m.vid !== vid) return false;
    this.#staleReports.add(from);
    return true;
  }

  /**
   * A node at `member`'s address asked to join as another member id: the member listed lost its
   * data directory. Marked for removal (a new view does not heal it).
   */
  replaced(member: NodeId, joiner: string): void {
    const peer = this.#peers.get(member);
    if (peer === undefined || peer.stale === 'replaced') return;
    peer.stale = 'replaced';
    this.#log.warn({ peer: member, joiner }, 'config: a member\'s data directory was replaced (it asks to join as a new member); it must be removed and added anew');
  }

  /**
   * A new view was committed. What this node knew of its peers while it was outside is old
   * (heartbeats flow only between listed nodes): `becameListed` gives every peer a full grace
   * period. Stale reports were about the old view; with `#restartsHeal`, so is every peer's
   * staleness.
   */
  viewChanged(members: Members, becameListed: boolean): void {
    if (becameListed) this.#peers.clear();
    if (this.#restartsHeal) {
      for (const [m, p] of this.#peers) {
        if (!members.includes(m) || p.stale === null || p.stale === 'replaced') continue;
        // Healed: its new incarnation is learned afresh from its next heartbeat, not held against it.
        p.stale = null;
        p.incarnation = null;
      }
    }
    this.track(members);
    this.#staleReports.clear();
  }

  /** Health records for exactly the other members of `members`; newcomers get a full grace period. */
  track(members: Members): void {
    for (const p of [...this.#peers.keys()]) if (!members.includes(p)) this.#peers.delete(p);
    for (const m of members) {
      if (m !== this.#self && !this.#peers.has(m)) {
        this.#peers.set(m, { lastHeard: this.#tick, lastSameView: this.#tick, incarnation: null, stale: null });
      }
    }
  }

  #peer(member: NodeId): PeerHealth {
    const p = this.#peers.get(member);
    invariant(p !== undefined, () => `no health record of ${member} at ${this.#self}: not another member of the current view`);
    return p;
  }
}
