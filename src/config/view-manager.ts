import { invariant } from '../env/errors.js';
import type { Logger } from '../env/logger.js';
import type { Outbox } from '../env/outbox.js';
import { type Random, randomPick } from '../env/random.js';
import type { Members, NodeId } from '../env/types.js';
import { type ConfigOptions, defaultConfigOptions, withDefaults } from '../options.js';
import { majority } from '../paxos/context.js';
import type { ProposeOutcome } from '../paxos/proposer.js';
import type { ConfigMessage, JoinOutcome } from './messages.js';

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

export interface ViewManagerDeps {
  readonly self: NodeId;
  /** Drawn fresh at every process start. */
  readonly incarnation: string;
  /** True unless this is the first process ever to run on this node's storage. */
  readonly restarted: boolean;
  readonly paxos: PaxosPort;
  readonly listener: ConfigListener;
  readonly random: Random;
  readonly logger: Logger;
  readonly options?: Partial<ConfigOptions>;
  /** Whether this node asks to join when it is outside the view. Default true. */
  readonly wantsMembership?: boolean;
  /** Test-only protocol breakage. */
  readonly mutations?: ConfigMutations;
  /**
   * Whether stale members may remove dead members once most of the view is stale (default
   * true). A node that runs a replicated app turns this off: there, a silent member may be the
   * only holder of the app's state, and if it really is gone the app cannot serve anyway, so the
   * removal could only do harm (see `#proposeNext`).
   */
  readonly staleMayRemoveDead?: boolean;
}

/** Test-only switches that break the config layer on purpose, to prove the checkers bite. */
export interface ConfigMutations {
  /** Put an admitted joiner at the front of the member list instead of the end. */
  readonly joinerFirst?: boolean;
}

export const configTimers = { tick: 'config-tick' } as const;

/** What this node knows about another member of its current view, in heartbeat ticks. */
interface PeerHealth {
  /** Last tick a heartbeat arrived from it. */
  lastHeard: number;
  /** Last tick it reported this node's current view. */
  lastSameView: number;
  /** Its incarnation as first heard while it was listed; a different one means it restarted. */
  incarnation: string | null;
  /** Why it must be removed and re-added although it is alive, if it must. */
  stale: 'reported' | 'new-incarnation' | null;
}

/** A view change this node proposed and that has not been decided (or lost) yet. */
interface PendingChange {
  /** The view it changes: the proposal is for instance `vid + 1`. */
  readonly vid: number;
  readonly change: 'add' | 'remove';
  readonly node: NodeId;
}

/**
 * The config layer's core: turns the Paxos instances into a history of views, watches the
 * members of the current view with heartbeats, removes dead and stale members, adds joiners,
 * and tells the layer above about every committed view. Synchronous; effects go to the outbox;
 * Paxos is called down through `PaxosPort`.
 *
 * Invariants:
 * - views are committed in order, each exactly once per process life, and never change;
 * - at most one view change proposed by this node is in flight, and only for `vid + 1` (it may
 *   be re-targeted while no acceptor has accepted it, see `Proposer.propose`);
 * - every proposed view differs from the current one by exactly one member; joiners go to the
 *   end of the list and removals keep the order of the rest;
 * - no proposed view lacks a live majority (as this node sees it), so a change cannot by itself
 *   stall the cluster;
 * - a stale member proposes only removals of dead members, and only when a majority of the view
 *   is stale (see `#proposeNext`).
 */
export class ViewManager {
  readonly #self: NodeId;
  readonly #incarnation: string;
  readonly #restarted: boolean;
  readonly #paxos: PaxosPort;
  readonly #listener: ConfigListener;
  readonly #random: Random;
  readonly #log: Logger;
  readonly #options: ConfigOptions;
  readonly #wantsMembership: boolean;
  readonly #mutations: ConfigMutations;
  readonly #staleMayRemoveDead: boolean;

  readonly #views = new Map<number, Members>();
  #vid = 0;
  #status: SelfStatus = 'outside';
  /** This process has asked to join at least once (so a view that adds it admits this life). */
  #askedToJoin = false;
  readonly #peers = new Map<NodeId, PeerHealth>();
  /** Members that reported themselves stale in the current view. */
  readonly #staleReports = new Set<NodeId>();
  #tick = 0;
  #pending: PendingChange | null = null;
  /** A peer reported a higher view this tick: we are behind, so we propose nothing. */
  #behind = false;
  #admission: Admission = { kind: 'first-healthy' };
  /** Joiners this node has queued for admission, with the tick they last asked. */
  readonly #joiners = new Map<NodeId, number>();
  /** Whom this node asks to join, and when it last asked. */
  #joinTarget: NodeId | null = null;
  #joinAskedTick = Number.NEGATIVE_INFINITY;
  #joinAnswered = true;

  constructor(deps: ViewManagerDeps) {
    this.#self = deps.self;
    this.#incarnation = deps.incarnation;
    this.#restarted = deps.restarted;
    this.#paxos = deps.paxos;
    this.#listener = deps.listener;
    this.#random = deps.random;
    this.#log = deps.logger;
    this.#options = withDefaults(defaultConfigOptions, deps.options, 'config');
    this.#wantsMembership = deps.wantsMembership ?? true;
    this.#mutations = deps.mutations ?? {};
    this.#staleMayRemoveDead = deps.staleMayRemoveDead ?? true;
  }

  // ---- queries -------------------------------------------------------------------------

  get vid(): number {
    return this.#vid;
  }

  get status(): SelfStatus {
    return this.#status;
  }

  get incarnation(): string {
    return this.#incarnation;
  }

  /** Members of view `vid` (default: the current one). */
  members(vid = this.#vid): Members {
    const members = this.#views.get(vid);
    invariant(members !== undefined, () => `view ${vid} is not known at ${this.#self}`);
    return members;
  }

  /** Every view this node knows, oldest first. */
  views(): Array<{ vid: number; members: Members }> {
    return [...this.#views].map(([vid, members]) => ({ vid, members }));
  }

  /** A member of the current view that answers heartbeats (stale or not): a working Paxos acceptor. */
  isAlive(node: NodeId): boolean {
    if (node === this.#self) return true;
    const p = this.#peers.get(node);
    return p !== undefined && this.#tick - p.lastHeard < this.#options.suspectAfterMissed;
  }

  /** A member of the current view this node considers healthy (alive, same view, not stale); itself too. */
  isHealthy(node: NodeId): boolean {
    if (node === this.#self) return this.#status === 'member';
    const p = this.#peers.get(node);
    return p !== undefined && this.#tick - p.lastSameView < this.#options.suspectAfterMissed && p.stale === null;
  }

  get pendingChange(): PendingChange | null {
    return this.#pending;
  }

  // ---- lifecycle -----------------------------------------------------------------------

  /** Takes the views Paxos already knows (replayed from its log), settles this node's status, starts ticking. */
  start(out: ConfigOutbox): void {
    invariant(this.#vid === 0, 'ViewManager started twice');
    for (let i = 1; i <= this.#paxos.highestKnown; i++) this.#views.set(i, this.#paxos.decided(i)!);
    this.#vid = this.#paxos.highestKnown;
    const listed = this.members().includes(this.#self);
    this.#status = !listed ? 'outside' : this.#restarted ? 'stale' : 'member';
    this.#resetPeers();
    this.#log.info(
      { vid: this.#vid, members: this.members(), status: this.#status, incarnation: this.#incarnation },
      this.#status === 'stale'
        ? 'config: restarted while listed in the view; asking to be removed and re-added'
        : 'config: started');
    this.#considerEveryoneStale(out);
    out.setTimer(configTimers.tick, this.#options.heartbeatIntervalMs);
    const vid = this.#vid;
    out.upcall(() => this.#listener.onViewCommitted(vid));
  }

  // ---- inputs --------------------------------------------------------------------------

  /** Paxos decided `instance` (delivered in order; the replayed ones at start are known already). */
  onDecided(instance: number, value: Members, out: ConfigOutbox): void {
    if (instance <= this.#vid) return;
    invariant(instance === this.#vid + 1, () => `view ${instance} delivered after ${this.#vid} at ${this.#self}`);
    const previous = this.members();
    this.#views.set(instance, value);
    this.#vid = instance;
    const before = this.#status;
    const wasListed = previous.includes(this.#self);
    const listed = value.includes(this.#self);
    if (!listed) this.#status = 'outside';
    else if (!wasListed) this.#status = this.#askedToJoin ? 'member' : 'stale';
    if (this.#pending !== null && this.#pending.vid < this.#vid) this.#pending = null;
    // 'admit' was granted for the view that just ended: a new view syncs first, and the layer
    // above opens admission again when it serves (design §4: a syncing view admits nobody).
    if (this.#admission.kind === 'admit') this.#admission = { kind: 'closed' };
    // Heartbeats flow only between listed nodes: what this node knew of its peers while it was
    // outside is old. A node that becomes listed gives every peer a full grace period.
    if (listed && !wasListed) this.#peers.clear();
    this.#resetPeers();
    for (const m of value) this.#joiners.delete(m);
    this.#staleReports.clear();
    this.#behind = false;
    this.#log.info(
      { vid: instance, members: value, change: describeChange(previous, value), status: this.#status },
      before === this.#status ? 'config: view committed' : `config: view committed; this node is now ${this.#status}`);
    if (this.#status === 'outside') {
      this.#joinTarget = null;
      this.#joinAnswered = true;
    }
    this.#considerEveryoneStale(out);
    out.upcall(() => this.#listener.onViewCommitted(instance));
  }

  onMessage(from: NodeId, m: ConfigMessage, out: ConfigOutbox): void {
    switch (m.kind) {
      case 'heartbeat':
        this.#onHeartbeat(from, m, out);
        break;
      case 'join':
        this.#onJoin(from, m, out);
        break;
      case 'join-reply':
        this.#onJoinReply(from, m, out);
        break;
    }
  }

  onTimer(key: string, out: ConfigOutbox): void {
    if (key !== configTimers.tick) return;
    this.#tick++;
    const members = this.members();
    if (members.includes(this.#self)) {
      const beat: ConfigMessage = { kind: 'heartbeat', vid: this.#vid, incarnation: this.#incarnation, stale: this.#status === 'stale' };
      for (const m of members) if (m !== this.#self) out.sendVolatile(m, beat);
    }
    this.#expireJoiners();
    if (this.#status === 'outside' && this.#wantsMembership) this.#askToJoin(out);
    if (this.#status !== 'outside' && !this.#behind) this.#proposeNext();
    this.#behind = false;
    out.setTimer(configTimers.tick, this.#options.heartbeatIntervalMs);
  }

  // ---- calls down from the layer above --------------------------------------------------

  /** Sets who admits joiners (see `Admission`). */
  setAdmission(admission: Admission): void {
    this.#admission = admission;
  }

  /** Proposes `members + node` for view `vid + 1` if `vid` is current. Returns whether it did. */
  add(node: NodeId, vid: number): boolean {
    if (vid !== this.#vid || this.#status !== 'member' || this.members().includes(node)) return false;
    return this.#propose('add', node, 'asked by the layer above');
  }

  /** Proposes `members - node` for view `vid + 1` if `vid` is current. Returns whether it did. */
  remove(node: NodeId, vid: number): boolean {
    if (vid !== this.#vid || this.#status !== 'member' || !this.members().includes(node)) return false;
    return this.#propose('remove', node, 'asked by the layer above');
  }

  // ---- heartbeats and failure detection ---------------------------------------------------

  #onHeartbeat(from: NodeId, m: Extract<ConfigMessage, { kind: 'heartbeat' }>, out: ConfigOutbox): void {
    if (m.vid > this.#vid) this.#behind = true;
    if (m.vid !== this.#vid) this.#paxos.peerKnows(from, m.vid);
    const peer = this.#peers.get(from);
    if (peer === undefined) return; // not a member of this node's current view
    peer.lastHeard = this.#tick;
    if (m.vid === this.#vid) peer.lastSameView = this.#tick;
    if (peer.incarnation !== null && peer.incarnation !== m.incarnation && peer.stale === null) {
      peer.stale = 'new-incarnation';
      this.#log.warn({ vid: this.#vid, peer: from, was: peer.incarnation, now: m.incarnation },
        'config: member restarted (new incarnation); it must be removed and re-added');
    }
    peer.incarnation ??= m.incarnation;
    if (m.stale && peer.stale === null) {
      peer.stale = 'reported';
      this.#log.warn({ vid: this.#vid, peer: from }, 'config: member reports it restarted while listed');
    }
    if (m.stale && m.vid === this.#vid) {
      this.#staleReports.add(from);
      this.#considerEveryoneStale(out);
    }
  }

  /**
   * A stale node normally waits to be removed. But when every other member of its view is
   * stale too, no process holds the state those members shared: nobody could ever remove the
   * others without losing it anyway. Then the members carry on as they are (the layers above
   * start from empty state), and this is logged as the data loss it is.
   */
  #considerEveryoneStale(out: ConfigOutbox): void {
    if (this.#status !== 'stale') return;
    const others = this.members().filter((m) => m !== this.#self);
    if (!others.every((m) => this.#staleReports.has(m))) return;
    this.#status = 'member';
    this.#log.error({ vid: this.#vid, members: this.members() },
      'config: every member of the view restarted; their replicated in-memory state is lost; carrying on as members');
    const vid = this.#vid;
    out.upcall(() => this.#listener.onViewCommitted(vid));
  }

  /**
   * Chooses at most one view change and proposes it (or re-targets the one in flight). Dead
   * members go first, then stale ones, then joiners; within each kind the first in list order,
   * so concurrent proposers tend to propose the same value. Two rules keep changes from
   * stalling the cluster:
   * - nothing is proposed while the current view lacks a live majority (nothing could be
   *   decided, and a proposal left waiting would complete later in a changed world);
   * - no change is proposed whose resulting view lacks a live majority.
   * A stale node proposes only the removal of dead members, and only once a majority of the
   * view is stale (and `staleMayRemoveDead`): the view has then lost most of its surviving
   * processes, while waiting for the silent ones could be forever. With a replicated app above,
   * this is off: a "dead" member may just be unreachable for a while (a restarted node's peers
   * need time to reconnect) and hold the only copy of the app's state.
   */
  #proposeNext(): void {
    const members = this.members();
    if (members.filter((m) => this.isAlive(m)).length < majority(members.length)) return;
    const change = this.#chooseChange(members);
    if (change === null) return;
    const pending = this.#pending;
    if (pending !== null && pending.vid === this.#vid && pending.change === change.change && pending.node === change.node) return;
    this.#propose(change.change, change.node, change.reason);
  }

  #chooseChange(members: Members): { change: 'add' | 'remove'; node: NodeId; reason: string } | null {
    const others = members.filter((m) => m !== this.#self);
    const keepsMajority = (next: Members): boolean => next.filter((m) => this.isAlive(m)).length >= majority(next.length);
    const without = (node: NodeId): Members => members.filter((m) => m !== node);
    const { suspectAfterMissed } = this.#options;
    const staleCount = others.filter((m) => this.#peers.get(m)!.stale !== null).length + (this.#status === 'stale' ? 1 : 0);
    if (this.#status === 'stale' && (!this.#staleMayRemoveDead || staleCount < majority(members.length))) return null;

    for (const m of others) {
      const p = this.#peers.get(m)!;
      if (this.#tick - p.lastSameView < suspectAfterMissed || !keepsMajority(without(m))) continue;
      const reason = this.#tick - p.lastHeard >= suspectAfterMissed
        ? `no heartbeat for ${this.#tick - p.lastHeard} intervals`
        : `reports another view for ${this.#tick - p.lastSameView} intervals`;
      return { change: 'remove', node: m, reason };
    }
    if (this.#status !== 'member') return null;
    for (const m of others) {
      const stale = this.#peers.get(m)!.stale;
      if (stale !== null && keepsMajority(without(m))) {
        return { change: 'remove', node: m, reason: stale === 'reported' ? 'restarted while listed' : 'new incarnation' };
      }
    }
    const joiner = this.#joiners.keys().next();
    // The joiner itself counts as alive: it has just asked.
    const aliveWithJoiner = members.filter((m) => this.isAlive(m)).length + 1;
    if (!joiner.done && this.#admits() && aliveWithJoiner >= majority(members.length + 1)) {
      return { change: 'add', node: joiner.value, reason: 'asked to join' };
    }
    return null;
  }

  #propose(change: 'add' | 'remove', node: NodeId, reason: string): boolean {
    if (this.#status === 'outside') return false;
    const members = this.members();
    const joined = this.#mutations.joinerFirst === true ? [node, ...members] : [...members, node];
    const value = change === 'add' ? joined : members.filter((m) => m !== node);
    if (value.length === 0) return false; // the last member is never removed
    const outcome = this.#paxos.propose(this.#vid + 1, value);
    this.#log.info({ vid: this.#vid, proposed: this.#vid + 1, change, node, reason, outcome, members: value },
      `config: proposing to ${change} ${node} (${reason})`);
    if (outcome === 'started' || outcome === 'in-progress') this.#pending = { vid: this.#vid, change, node };
    return outcome === 'started' || outcome === 'in-progress';
  }

  // ---- joining ----------------------------------------------------------------------------

  /** Whether this node admits joiners now. */
  #admits(): boolean {
    if (this.#status !== 'member') return false;
    switch (this.#admission.kind) {
      case 'admit':
        return true;
      case 'first-healthy':
        return this.#firstHealthy() === this.#self;
      default:
        return false;
    }
  }

  #firstHealthy(): NodeId {
    return this.members().find((m) => this.isHealthy(m)) ?? this.#self;
  }

  #onJoin(from: NodeId, m: Extract<ConfigMessage, { kind: 'join' }>, out: ConfigOutbox): void {
    if (m.vid !== this.#vid) this.#paxos.peerKnows(from, m.vid);
    const reply = (outcome: JoinOutcome, to: NodeId | null = null): void =>
      out.send(from, { kind: 'join-reply', vid: this.#vid, outcome, to });
    if (this.members().includes(from)) return reply('member');
    if (this.#status !== 'member') return reply('retry');
    const a = this.#admission;
    if (a.kind === 'closed') return reply('retry');
    if (a.kind === 'redirect') return reply('redirect', a.to);
    if (a.kind === 'first-healthy') {
      const admitter = this.#firstHealthy();
      if (admitter !== this.#self) return reply('redirect', admitter);
    }
    if (!this.#joiners.has(from)) {
      this.#log.info({ vid: this.#vid, joiner: from, incarnation: m.incarnation }, 'config: join request queued');
    }
    this.#joiners.set(from, this.#tick);
    reply('queued');
    if (!this.#behind) this.#proposeNext();
  }

  #onJoinReply(from: NodeId, m: Extract<ConfigMessage, { kind: 'join-reply' }>, out: ConfigOutbox): void {
    if (m.vid !== this.#vid) this.#paxos.peerKnows(from, m.vid);
    this.#joinAnswered = true;
    if (m.outcome === 'redirect' && m.to !== null && m.to !== this.#joinTarget) {
      this.#joinTarget = m.to;
      if (this.#status === 'outside') this.#sendJoin(out);
    }
  }

  #askToJoin(out: ConfigOutbox): void {
    const everyTicks = Math.max(1, Math.round(this.#options.joinRetryMs / this.#options.heartbeatIntervalMs));
    if (this.#tick - this.#joinAskedTick < everyTicks) return;
    const members = this.members();
    // Nobody answered the last request: its target may be dead; try another member.
    if (!this.#joinAnswered || this.#joinTarget === null || !members.includes(this.#joinTarget)) {
      this.#joinTarget = this.#joinTarget === null ? members[0]! : randomPick(this.#random, members)!;
    }
    this.#sendJoin(out);
  }

  #sendJoin(out: ConfigOutbox): void {
    const target = this.#joinTarget!;
    if (!this.#askedToJoin) this.#log.info({ vid: this.#vid, target }, 'config: asking to join');
    this.#askedToJoin = true;
    this.#joinAskedTick = this.#tick;
    this.#joinAnswered = false;
    out.send(target, { kind: 'join', incarnation: this.#incarnation, vid: this.#vid });
  }

  #expireJoiners(): void {
    const ttlTicks = Math.ceil(this.#options.joinRequestTtlMs / this.#options.heartbeatIntervalMs);
    for (const [joiner, tick] of this.#joiners) if (this.#tick - tick > ttlTicks) this.#joiners.delete(joiner);
  }

  /** Health records for exactly the other members of the current view; newcomers get a full grace period. */
  #resetPeers(): void {
    const members = this.members();
    for (const p of [...this.#peers.keys()]) if (!members.includes(p)) this.#peers.delete(p);
    for (const m of members) {
      if (m !== this.#self && !this.#peers.has(m)) {
        this.#peers.set(m, { lastHeard: this.#tick, lastSameView: this.#tick, incarnation: null, stale: null });
      }
    }
  }
}

/** `+node` or `-node` (or a description of a larger change, which config itself never proposes). */
export function describeChange(before: Members, after: Members): string {
  const added = after.filter((m) => !before.includes(m));
  const removed = before.filter((m) => !after.includes(m));
  return [...added.map((m) => `+${m}`), ...removed.map((m) => `-${m}`)].join(' ') || 'none';
}
