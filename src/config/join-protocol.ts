import type { Logger } from '../env/logger.js';
import { type MemberId, type Members, type NodeId, addressOf } from '../env/types.js';
import type { ConfigOptions } from '../options.js';
import type { JoinRefusedError } from './app-identity.js';
import type { FailureDetector } from './failure-detector.js';
import { JoinAdmission } from './join-admission.js';
import { JoinRequest } from './join-request.js';
import type { ConfigMessage } from './messages.js';
import { type Admission, type ConfigOutbox, type PaxosPort, type SelfStatus, type ViewManagerDeps, configTimers } from './ports.js';

/**
 * Heartbeat intervals a listed member must have been silent before a join under another id at its
 * address marks it replaced (`FailureDetector.replaced`): 2 (0.2 s at the defaults), well under a
 * process restart, so a wiped node is believed at its first or second request.
 */
export const replacedAfterSilentTicks = 2;

/** What the join protocol reads of the view manager it serves (`ViewManager`). */
export interface JoinHost {
  readonly self: NodeId;
  /** This node as views list it (`MemberId`). */
  readonly member: MemberId;
  readonly vid: number;
  readonly status: SelfStatus;
  /** Addresses of the current view's members. */
  members(): Members;
  /** The current view's member ids. */
  memberIds(): Members;
  /** A member this node considers healthy (itself too). */
  isHealthy(node: NodeId): boolean;
  /** A peer reported a higher view this tick: this node proposes nothing. */
  readonly behind: boolean;
  /** Chooses the next view change and proposes it (`chooseViewChange`). */
  proposeNext(): void;
  readonly health: FailureDetector;
  readonly paxos: PaxosPort;
  readonly deps: ViewManagerDeps;
  readonly options: ConfigOptions;
  readonly log: Logger;
}

/**
 * The join protocol of one node, both sides: as a member, answering join requests
 * (`JoinAdmission`) and telling a listed member whose data directory was replaced (a join under
 * another member id at its address); as a node outside the view, asking to join (`JoinRequest`),
 * learning the cluster id, and saying why a view that lists its address is not its own. Part of
 * the config core: synchronous, effects through the outbox.
 */
export class JoinProtocol {
  readonly #host: JoinHost;
  readonly #admission: JoinAdmission;
  readonly #joining: JoinRequest;
  /** The member id this node last said it is not (`#noteReplaced`). */
  #replacedNoted: MemberId | undefined = undefined;

  constructor(host: JoinHost) {
    this.#host = host;
    const { deps } = host;
    this.#admission = new JoinAdmission(deps.app, deps.logger);
    this.#joining = new JoinRequest(deps.self, deps.app, deps.contacts ?? [], deps.logger);
  }

  /** Why the cluster refused this node, if it did. */
  get refusal(): JoinRefusedError | null {
    return this.#joining.refusal;
  }

  /** Whether this process has asked to join at least once (a view that adds it admits this life). */
  get asked(): boolean {
    return this.#joining.asked;
  }

  set admission(admission: Admission) {
    this.#admission.admission = admission;
  }

  /** The joiner queued first, if any (its address). */
  nextJoiner(): NodeId | undefined {
    return this.#admission.nextJoiner();
  }

  /** The member id `joiner` asked to be listed as, if it is queued here. */
  memberIdOf(joiner: NodeId): MemberId | undefined {
    return this.#admission.memberIdOf(joiner);
  }

  /** Whether this node admits joiners now. */
  admits(): boolean {
    return this.#admission.admits({ self: this.#host.self, status: this.#host.status, firstHealthy: () => this.#firstHealthy() });
  }

  /** One heartbeat interval passed: forgets joiners that stopped asking; asks to join when outside. */
  onTick(out: ConfigOutbox): void {
    const { health, options, deps, status } = this.#host;
    this.#admission.expire(health.tick, Math.ceil(options.joinRequestTtlMs / options.heartbeatIntervalMs));
    if (status !== 'outside' || !(deps.wantsMembership ?? true)) return;
    const everyTicks = Math.max(1, Math.round(options.joinRetryMs / options.heartbeatIntervalMs));
    if (this.#joining.due(health.tick, everyTicks, this.#host.members(), deps.random) !== null) this.#sendJoin(out);
  }

  /** View `vid` (member ids `value`, after `previous`) was committed, and this node's status settled. */
  viewCommitted(vid: number, value: Members, previous: Members): void {
    this.#admission.viewCommitted(value);
    this.#noteQueuedReplacements(value, previous);
    if (this.#host.status === 'outside') this.#joining.restart();
    this.noteReplaced(vid);
  }

  onMessage(from: NodeId, m: Exclude<ConfigMessage, { kind: 'heartbeat' }>, out: ConfigOutbox): void {
    if (m.kind === 'join') this.#onJoin(from, m, out);
    else if (m.kind === 'join-reply') this.#onJoinReply(from, m, out);
    else this.#onRefusal(from, m, out);
  }

  /**
   * Says so when view `vid` lists this node's address as another member id: the member whose data
   * directory this node's replaced (or a node of that address from before). This node is outside
   * that view and asks to be added anew; the members remove the other one first. Said once per
   * member it is taken for (a catch-up commits many views).
   */
  noteReplaced(vid: number): void {
    const { self, member, log } = this.#host;
    if (this.#host.status !== 'outside' || !this.#host.members().includes(self)) return;
    const listedAs = this.#host.memberIds().find((m) => addressOf(m) === self);
    if (listedAs === this.#replacedNoted) return;
    this.#replacedNoted = listedAs;
    log.warn({ vid, listedAs, member },
      `config: view ${vid} lists this address as ${listedAs}, but this data directory is ${member}: ` +
      'it is not that member (its data directory was replaced); asking to be added anew once that member is removed');
  }

  #firstHealthy(): NodeId {
    return this.#host.members().find((m) => this.#host.isHealthy(m)) ?? this.#host.self;
  }

  #onJoin(from: NodeId, m: Extract<ConfigMessage, { kind: 'join' }>, out: ConfigOutbox): void {
    const host = this.#host;
    if (m.vid !== host.vid) host.paxos.peerKnows(from, m.vid);
    const joiner = m.member ?? from;
    if (addressOf(joiner) !== from) {
      host.log.warn({ vid: host.vid, from, member: joiner }, 'config: ignored a join request for a member id of another address');
      return;
    }
    const listed = host.memberIds().includes(joiner);
    const replaced = !listed && host.members().includes(from);
    // Believed once the listed member has been silent a while: two processes cannot share an
    // address, so a join under another id while the listed one still beats is an old message
    // (a wiped node's restart takes longer than this anyway; it asks again every joinRetryMs).
    if (replaced && host.health.silentFor(from) >= replacedAfterSilentTicks) host.health.replaced(from, joiner);
    const answer = this.#admission.answer(from, joiner, m.app, m.incarnation, {
      self: host.self,
      vid: host.vid,
      status: host.status,
      listed,
      replaced,
      tick: host.health.tick,
      firstHealthy: () => this.#firstHealthy(),
    });
    if (answer.kind === 'refused') {
      out.send(from, { kind: 'join-refused', vid: host.vid, memberApp: host.deps.app, joinerApp: m.app });
      return;
    }
    out.send(from, { kind: 'join-reply', vid: host.vid, outcome: answer.outcome, to: answer.to, clusterId: host.deps.clusterId.current() ?? '' });
    if (answer.outcome === 'queued' && !host.behind) host.proposeNext();
  }

  #onJoinReply(from: NodeId, m: Extract<ConfigMessage, { kind: 'join-reply' }>, out: ConfigOutbox): void {
    const { deps, paxos } = this.#host;
    const { redirectTo, learnedId } = this.#joining.answered(from, m.outcome === 'redirect' ? m.to : null, m.clusterId,
      deps.clusterId.current() !== null);
    if (learnedId === null) {
      if (m.vid !== this.#host.vid) paxos.peerKnows(from, m.vid);
    } else {
      // Kept durably and given to the transport after this handler: only then may Paxos talk
      // (a fetch sent before would not leave).
      const vid = m.vid;
      out.upcall(() => {
        deps.clusterId.adopt(learnedId);
        paxos.peerKnows(from, vid);
      });
    }
    if (redirectTo !== null && this.#host.status === 'outside') this.#sendJoin(out);
  }

  /** A member refused this node's join (another app): once believed, the node must stop. */
  #onRefusal(from: NodeId, m: Extract<ConfigMessage, { kind: 'join-refused' }>, out: ConfigOutbox): void {
    const host = this.#host;
    if (m.vid !== host.vid) host.paxos.peerKnows(from, m.vid);
    const error = this.#joining.refused(from, m, host.vid, host.status);
    if (error === null) return;
    out.cancelTimer(configTimers.tick);
    out.upcall(() => host.deps.onJoinRefused(error));
  }

  /**
   * A joiner queued here asked as another member id than the one `value` has just added at its
   * address (a view adding its old disk was decided after it was wiped): that member is replaced
   * now, not when the joiner next asks, so that no change counts it alive in between. Only a member
   * this view adds: one listed before answers heartbeats, and a queued request can be an old one.
   */
  #noteQueuedReplacements(value: Members, previous: Members): void {
    for (const id of value) {
      if (previous.includes(id)) continue;
      const queued = this.#admission.memberIdOf(addressOf(id));
      if (queued !== undefined && queued !== id) this.#host.health.replaced(addressOf(id), queued);
    }
  }

  #sendJoin(out: ConfigOutbox): void {
    const { self, member, vid, deps } = this.#host;
    const target = this.#joining.sending(this.#host.health.tick, vid);
    out.send(target, { kind: 'join', incarnation: deps.incarnation, vid, app: deps.app, ...(member === self ? {} : { member }) });
  }
}
