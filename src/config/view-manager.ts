import { invariant } from '../env/errors.js';
import type { Logger } from '../env/logger.js';
import { type MemberId, type Members, type NodeId, addressOf } from '../env/types.js';
import {
  type ConfigOptions, configOptions,
} from '../options.js';
import type { JoinRefusedError } from './app-identity.js';
import { type ChangeKind, chooseViewChange } from './change-policy.js';
import { FailureDetector } from './failure-detector.js';
import { JoinProtocol } from './join-protocol.js';
import type { ConfigMessage } from './messages.js';
import { type Admission, type ConfigOutbox, type PaxosPort, type SelfStatus, type ViewManagerDeps, configTimers } from './ports.js';
import { ViewHistory, describeChange } from './view-history.js';

// The config layer's vocabulary, importable from here as before the core was split.
export type { Admission, ClusterIdPort, ConfigListener, ConfigMutations, ConfigOutbox, PaxosPort, SelfStatus, ViewManagerDeps } from './ports.js';
export { configTimers } from './ports.js';
export { describeChange } from './view-history.js';

/** A view change this node proposed and that has not been decided (or lost) yet. */
interface PendingChange {
  /** The view it changes: the proposal is for instance `vid + 1`. */
  readonly vid: number;
  readonly change: ChangeKind;
  readonly node: NodeId;
}

/**
 * The config layer's core: turns the Paxos instances into a history of views (`ViewHistory`),
 * watches the members of the current view with heartbeats (`FailureDetector`), removes dead and
 * stale members, adds joiners and asks to join (`JoinProtocol`), and tells the
 * layer above about every committed view. Synchronous; effects go to the outbox; Paxos is called
 * down through `PaxosPort`.
 *
 * Invariants:
 * - views are committed in order, each exactly once per process life, and never change;
 * - at most one view change proposed by this node is in flight, and only for `vid + 1` (it may
 *   be re-targeted while no acceptor has accepted it, see `Proposer.propose`);
 * - every proposed view differs from the current one by exactly one member, or is the same list
 *   (a refresh, with durable state above: `ChangeKind`); joiners go to the end of the list and
 *   removals keep the order of the rest; a view never lists an address twice;
 * - no proposed view lacks a live majority (as this node sees it), so a change cannot by itself
 *   stall the cluster;
 * - a stale member proposes only removals of dead members, and only when a majority of the view
 *   is stale, or (durable state above) a refresh when every member restarted (see `chooseViewChange`).
 */
export class ViewManager {
  readonly #deps: ViewManagerDeps;
  readonly #self: NodeId;
  /** This node as views list it (`MemberId`): it is listed in a view only under this id. */
  readonly #member: MemberId;
  readonly #paxos: PaxosPort;
  readonly #log: Logger;
  readonly #options: ConfigOptions;

  readonly #history: ViewHistory;
  readonly #health: FailureDetector;
  readonly #joins: JoinProtocol;
  #status: SelfStatus = 'outside';
  #pending: PendingChange | null = null;
  /** A peer reported a higher view this tick: we are behind, so we propose nothing. */
  #behind = false;

  constructor(deps: ViewManagerDeps) {
    this.#deps = deps;
    this.#self = deps.self;
    this.#member = deps.member ?? deps.self;
    this.#paxos = deps.paxos;
    this.#log = deps.logger;
    this.#options = configOptions(deps.options);
    this.#history = new ViewHistory(deps.self);
    this.#health = new FailureDetector(deps.self, this.#options.suspectAfterMissed, deps.logger, deps.durableAbove === true, deps.metrics);
    const manager = this; // the join protocol reads this core's state live, through getters
    this.#joins = new JoinProtocol({
      self: deps.self,
      member: this.#member,
      get vid() { return manager.vid; },
      get status() { return manager.#status; },
      members: () => manager.members(),
      memberIds: () => manager.memberIds(),
      isHealthy: (node: NodeId) => manager.isHealthy(node),
      get behind() { return manager.#behind; },
      proposeNext: () => manager.#proposeNext(),
      health: this.#health,
      paxos: deps.paxos,
      deps,
      options: this.#options,
      log: deps.logger,
    });
  }

  // ---- queries -------------------------------------------------------------------------

  get vid(): number {
    return this.#history.vid;
  }

  get status(): SelfStatus {
    return this.#status;
  }

  get incarnation(): string {
    return this.#deps.incarnation;
  }

  /** Addresses of the members of view `vid` (default: the current one). */
  members(vid = this.#history.vid): Members {
    return this.#history.members(vid);
  }

  /** Member ids of view `vid` (default: the current one): addresses with disk ids (`MemberId`). */
  memberIds(vid = this.#history.vid): Members {
    return this.#history.ids(vid);
  }

  /** This node as views list it. */
  get member(): MemberId {
    return this.#member;
  }

  /** Whether view `vid`'s members are still kept here (old views go with Paxos' log compaction). */
  knows(vid: number): boolean {
    return this.#history.knows(vid);
  }

  /** The oldest view kept here (see `knows`). */
  get oldestVid(): number {
    return this.#history.oldest;
  }

  /** The newest `count` views kept here, oldest first (every kept view when `count` is omitted). */
  views(count?: number): Array<{ vid: number; members: Members }> {
    return this.#history.tail(count);
  }

  /** A member of the current view that answers heartbeats (stale or not): a working Paxos acceptor. */
  isAlive(node: NodeId): boolean {
    return this.#health.isAlive(node);
  }

  /** A member of the current view this node considers healthy (alive, same view, not stale); itself too. */
  isHealthy(node: NodeId): boolean {
    return node === this.#self ? this.#status === 'member' : this.#health.isHealthyPeer(node);
  }

  get pendingChange(): PendingChange | null {
    return this.#pending;
  }

  /** Why the cluster refused this node, if it did: it asks no more, answers nobody, and is stopping. */
  get refusal(): JoinRefusedError | null {
    return this.#joins.refusal;
  }

  // ---- lifecycle -----------------------------------------------------------------------

  /** Takes the views Paxos already knows (replayed from its log), settles this node's status, starts ticking. */
  start(out: ConfigOutbox): void {
    invariant(this.vid === 0, 'ViewManager started twice');
    this.#history.load(this.#paxos.oldestKnown ?? 1, this.#paxos.highestKnown, (i) => this.#paxos.decided(i));
    const listed = this.memberIds().includes(this.#member);
    this.#status = !listed ? 'outside' : this.#deps.restarted ? 'stale' : 'member';
    this.#joins.noteReplaced(this.vid);
    this.#health.track(this.members());
    this.#log.info(
      { vid: this.vid, members: this.memberIds(), member: this.#member, status: this.#status, incarnation: this.#deps.incarnation },
      this.#status === 'stale'
        ? (this.#deps.durableAbove === true ? 'config: restarted while listed in the view; waiting for a new view of its members'
          : 'config: restarted while listed in the view; asking to be removed and re-added')
        : 'config: started');
    this.#considerEveryoneStale(out);
    out.setTimer(configTimers.tick, this.#options.heartbeatIntervalMs);
    const vid = this.vid;
    out.upcall(() => this.#deps.listener.onViewCommitted(vid));
  }

  // ---- inputs --------------------------------------------------------------------------

  /** Paxos decided `instance` (delivered in order; the replayed ones at start are known already). */
  onDecided(instance: number, value: Members, out: ConfigOutbox): void {
    if (instance <= this.vid) return;
    const previous = this.memberIds();
    this.#history.commit(instance, value);
    this.#history.forgetBefore(this.#paxos.oldestKnown ?? 1);
    const before = this.#status;
    const wasListed = previous.includes(this.#member);
    const listed = value.includes(this.#member);
    const durable = this.#deps.durableAbove === true;
    if (!listed) this.#status = 'outside';
    else if (!wasListed) this.#status = this.#joins.asked ? 'member' : 'stale';
    else if (durable && this.#status === 'stale') this.#status = 'member'; // a new view after its restart: it syncs afresh
    if (this.#pending !== null && this.#pending.vid < instance) this.#pending = null;
    this.#health.viewChanged(this.members(), listed && !wasListed);
    this.#behind = false;
    this.#log.info(
      { vid: instance, members: value, change: describeChange(previous, value), status: this.#status },
      before === this.#status ? 'config: view committed' : `config: view committed; this node is now ${this.#status}`);
    this.#joins.viewCommitted(instance, value, previous);
    this.#considerEveryoneStale(out);
    out.upcall(() => this.#deps.listener.onViewCommitted(instance));
  }

  onMessage(from: NodeId, m: ConfigMessage, out: ConfigOutbox): void {
    if (this.refusal !== null) return;
    switch (m.kind) {
      case 'heartbeat':
        this.#onHeartbeat(from, m, out);
        break;
      default:
        this.#joins.onMessage(from, m, out);
        break;
    }
  }

  onTimer(key: string, out: ConfigOutbox): void {
    if (key !== configTimers.tick || this.refusal !== null) return;
    this.#health.advance();
    const members = this.members();
    if (this.#status !== 'outside') {
      const beat: ConfigMessage = { kind: 'heartbeat', vid: this.vid, incarnation: this.#deps.incarnation, stale: this.#status === 'stale' };
      for (const m of members) if (m !== this.#self) out.sendVolatile(m, beat);
    }
    this.#joins.onTick(out);
    if (this.#status !== 'outside' && !this.#behind) this.#proposeNext();
    this.#behind = false;
    out.setTimer(configTimers.tick, this.#options.heartbeatIntervalMs);
  }

  // ---- calls down from the layer above --------------------------------------------------

  /** Sets who admits joiners (see `Admission`). */
  setAdmission(admission: Admission): void {
    this.#joins.admission = admission;
  }

  /** Proposes `members + node` for view `vid + 1` if `vid` is current. Returns whether it did. */
  add(node: NodeId, vid: number): boolean {
    if (vid !== this.vid || this.#status !== 'member' || this.members().includes(node)) return false;
    return this.#propose('add', node, 'asked by the layer above');
  }

  /** Proposes `members - node` for view `vid + 1` if `vid` is current. Returns whether it did. */
  remove(node: NodeId, vid: number): boolean {
    if (vid !== this.vid || this.#status !== 'member' || !this.members().includes(node)) return false;
    return this.#propose('remove', node, 'asked by the layer above');
  }

  // ---- heartbeats, staleness, and the changes they call for --------------------------------

  #onHeartbeat(from: NodeId, m: Extract<ConfigMessage, { kind: 'heartbeat' }>, out: ConfigOutbox): void {
    if (m.vid > this.vid) this.#behind = true;
    if (m.vid !== this.vid) this.#paxos.peerKnows(from, m.vid);
    if (this.#health.heard(from, m, this.vid)) this.#considerEveryoneStale(out);
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
    if (!this.#health.allReportedStale(others)) return;
    if (this.#deps.durableAbove === true) {
      // With durable state a view of two or more gets a new view instead (`chooseViewChange`).
      if (others.length > 0) return;
      this.#status = 'member';
      this.#log.info({ vid: this.vid, members: this.members() }, 'config: restarted as the only member of its view; carrying on with its durable state');
    } else {
      this.#status = 'member';
      this.#log.error({ vid: this.vid, members: this.members() },
        'config: every member of the view restarted; their replicated in-memory state is lost; carrying on as members');
    }
    const vid = this.vid;
    out.upcall(() => this.#deps.listener.onViewCommitted(vid));
  }

  /**
   * Chooses at most one view change (`chooseViewChange`) and proposes it, or re-targets the one
   * in flight.
   */
  #proposeNext(): void {
    const change = chooseViewChange({
      self: this.#self,
      members: this.members(),
      status: this.#status,
      health: this.#health,
      suspectAfterMissed: this.#options.suspectAfterMissed,
      staleMayRemoveDead: this.#deps.staleMayRemoveDead ?? true,
      durableAbove: this.#deps.durableAbove === true,
      joiner: this.#joins.nextJoiner(),
      admits: () => this.#joins.admits(),
    });
    if (change === null) return;
    const pending = this.#pending;
    if (pending !== null && pending.vid === this.vid && pending.change === change.change && pending.node === change.node) return;
    this.#propose(change.change, change.node, change.reason);
  }

  #propose(change: ChangeKind, node: NodeId, reason: string): boolean {
    if (this.#status === 'outside') return false;
    const ids = this.memberIds();
    const id = change === 'add' ? this.#joins.memberIdOf(node) ?? node : node;
    const joined = this.#deps.mutations?.joinerFirst === true ? [id, ...ids] : [...ids, id];
    const value = change === 'add' ? joined : change === 'refresh' ? [...ids] : ids.filter((m) => addressOf(m) !== node);
    if (value.length === 0) return false; // the last member is never removed
    const outcome = this.#paxos.propose(this.vid + 1, value);
    this.#log.info({ vid: this.vid, proposed: this.vid + 1, change, node, reason, outcome, members: value },
      change === 'refresh' ? `config: proposing a new view of the same members for ${node} (${reason})` : `config: proposing to ${change} ${node} (${reason})`);
    if (outcome === 'started' || outcome === 'in-progress') this.#pending = { vid: this.vid, change, node };
    return outcome === 'started' || outcome === 'in-progress';
  }
}
