import type { Logger } from '../env/logger.js';
import type { Random } from '../env/random.js';
import { type MemberId, type NodeId, addressOf } from '../env/types.js';
import { type PaxosOptions, paxosOptions } from '../options.js';
import { members as checkMembers } from '../env/validate.js';
import { invariant } from '../env/errors.js';
import type { AcceptedValue, PaxosMessage, PaxosRecord, PaxosSnapshot, PaxosValue } from './messages.js';
import { type PaxosBreakpoints, type PaxosContext, type PaxosMutations, type PaxosOutbox, judge, noBreakpoints } from './context.js';
import { Acceptor } from './acceptor.js';
import { Learner, learnerTimers } from './learner.js';
import { type ProposeOutcome, Proposer, proposerTimers } from './proposer.js';
import type { ProposalNumber } from './proposal-number.js';
import { type ValueRule, anyMemberList } from './value-rule.js';

/** The one upcall of the Paxos layer. */
export interface PaxosListener {
  /**
   * `instance` decided `value`. Called in instance order, each instance once per process
   * lifetime, after the decision is durable on this node, and never while Paxos is inside a
   * handler (it arrives through the outbox). At start the replay begins with the oldest instance
   * kept (`Paxos.oldestKnown`, 1 until the log was compacted). One gap is possible: a node that
   * catches up from peers that compacted away the instances it lacks starts its history at the
   * oldest one they keep (`Paxos.oldestKnown` moves there), and the next call skips to it.
   */
  onDecided(instance: number, value: PaxosValue): void;
}

export interface PaxosDeps {
  /** This node's address. */
  readonly self: NodeId;
  /** This node as views list it (default `self`: listed by address alone); see `PaxosContext.member`. */
  readonly member?: MemberId;
  /** The cluster's first node: instance 1 is `[first]` everywhere. */
  readonly first: NodeId;
  readonly listener: PaxosListener;
  readonly random: Random;
  readonly logger: Logger;
  readonly options?: Partial<PaxosOptions>;
  readonly breakpoints?: PaxosBreakpoints;
  readonly mutations?: PaxosMutations;
  /**
   * What values may be decided, and who may drive or announce them (default `anyMemberList`: Paxos
   * alone). The config layer passes `viewRule`: each view one member away from the one before.
   */
  readonly rule?: ValueRule;
}

/** Timers of the Paxos core itself (the proposer's and learner's have their own). */
export const paxosTimers = { compact: 'paxos-compact' } as const;

/** The acceptor state of one instance, as a status page shows it. */
export interface AcceptorSlotStatus {
  readonly instance: number;
  readonly promised: ProposalNumber | null;
  readonly accepted: AcceptedValue | null;
  readonly decided: PaxosValue | null;
}

/**
 * One node's Paxos: acceptor, proposer and learner behind one message router. Synchronous; every
 * handler records its effects in the outbox it is given (design §1).
 *
 * Use: `restore` the durable records, then `start`, then feed messages and timers. Higher layers
 * call `propose` and `peerKnows` (calls down, allowed while they hold their own state) and hear
 * back only through `PaxosListener.onDecided`.
 */
export class Paxos {
  readonly #ctx: PaxosContext;
  readonly #learner: Learner;
  readonly #acceptor: Acceptor;
  readonly #proposer: Proposer;
  #started = false;

  constructor(deps: PaxosDeps) {
    this.#ctx = {
      self: deps.self,
      member: deps.member ?? deps.self,
      options: paxosOptions(deps.options),
      random: deps.random,
      logger: deps.logger,
      breakpoints: deps.breakpoints ?? noBreakpoints,
      mutations: deps.mutations ?? {},
      rule: deps.mutations?.skipValueRule === true ? anyMemberList : deps.rule ?? anyMemberList,
    };
    this.#learner = new Learner(this.#ctx, deps.first, (i, v) => deps.listener.onDecided(i, v));
    this.#acceptor = new Acceptor(this.#ctx, this.#learner);
    this.#proposer = new Proposer(this.#ctx, this.#learner);
  }

  /** Rebuilds state from the durable records of an earlier run, in their order. Before `start`. */
  restore(records: readonly PaxosRecord[]): void {
    for (const r of records) {
      switch (r.kind) {
        case 'promise':
          this.#proposer.observe(r.n);
          this.#acceptor.restorePromise(r.instance, r.n);
          break;
        case 'accept':
          this.#proposer.observe(r.n);
          this.#acceptor.restoreAccept(r.instance, r.n, r.value);
          break;
        case 'decide':
          this.#learner.restore(r.instance, r.value);
          this.#acceptor.forget(r.instance);
          break;
        case 'round':
          this.#proposer.restoreRound(r.round);
          break;
        case 'snapshot':
          this.#restoreSnapshot(r.snapshot);
          break;
      }
    }
  }

  /** A snapshot replaces everything the records before it said. */
  #restoreSnapshot(s: PaxosSnapshot): void {
    const [oldest, ...rest] = s.decided;
    invariant(oldest !== undefined, 'a paxos snapshot without decided values');
    this.#learner.restart(oldest.instance, oldest.value);
    for (const d of rest) this.#learner.restore(d.instance, d.value);
    this.#acceptor.restoreSlots(s.slots);
    this.#acceptor.forgetThrough(this.#learner.contiguous);
    this.#proposer.restoreRound(s.round);
  }

  /** This node's Paxos state in one piece (see `PaxosSnapshot`). */
  snapshot(): PaxosSnapshot {
    return { decided: this.#learner.keptValues(), slots: this.#acceptor.slots(), round: this.#proposer.maxRoundSeen };
  }

  /** Whether more than `retainedViews + compactAfterViews` values are kept (see `#maybeCompact`). */
  get #dueForCompaction(): boolean {
    const { retainedViews, compactAfterViews } = this.#ctx.options;
    return this.#learner.contiguous - this.#learner.oldest + 1 > retainedViews + compactAfterViews;
  }

  /**
   * Log compaction (`PaxosOptions.compactAfterViews`): once more than `retainedViews +
   * compactAfterViews` values are kept, the older ones are forgotten and a snapshot of what
   * remains replaces the log (the store writes it before anything persisted after it).
   */
  #maybeCompact(out: PaxosOutbox): void {
    const { retainedViews } = this.#ctx.options;
    const learner = this.#learner;
    if (!this.#dueForCompaction) return;
    const forgotten = learner.contiguous - retainedViews + 1 - learner.oldest;
    if (!learner.compact(learner.contiguous - retainedViews + 1)) return;
    out.persist({ kind: 'snapshot', snapshot: this.snapshot(), why: `${forgotten} views forgotten; keeping ${learner.oldest}..${learner.contiguous}` });
  }

  /** Delivers the replayed decisions upward, in order, and starts the learner's gossip. */
  start(out: PaxosOutbox): void {
    if (this.#started) return;
    this.#started = true;
    this.#learner.deliverReplayed(out);
    this.#learner.start(out);
    this.#maybeCompact(out); // a log left long (an older version's, say) is compacted at once
  }

  /** Highest instance up to which this node knows every decided value. */
  get highestKnown(): number {
    return this.#learner.contiguous;
  }

  /** The oldest instance whose value this node keeps; older ones were compacted away. */
  get oldestKnown(): number {
    return this.#learner.oldest;
  }

  /** How many decided values this node keeps in memory (bounded by compaction). */
  get keptValues(): number {
    return this.#learner.kept;
  }

  /** The decided value of `instance`, if known here. */
  decided(instance: number): PaxosValue | undefined {
    return this.#learner.value(instance);
  }

  acceptorStatus(instance: number): AcceptorSlotStatus {
    return { instance, ...this.#acceptor.state(instance), decided: this.#learner.value(instance) ?? null };
  }

  get proposingInstance(): number | null {
    return this.#proposer.activeInstance;
  }

  /**
   * Why this node may not propose `value` for `instance` now, or null when it may: the value must
   * be a member list, follow the value rule after the previous instance's value (which must be
   * known here), and this node must be one of the instance's acceptors as the rule asks of any
   * proposer. The test control service's `Propose` asks this first; `propose` requires it.
   */
  proposalProblem(instance: number, value: PaxosValue): string | null {
    if (instance < 2) return `instance ${instance} cannot be proposed (instance 1 is the first view, made by the first node)`;
    try {
      checkMembers(value, 'value');
    } catch (err) {
      return (err as Error).message;
    }
    const previous = this.#learner.value(instance - 1);
    // Not an error: `propose` answers 'previous-unknown' (or 'already-decided') without proposing.
    if (previous === undefined) return null;
    const { self, member } = this.#ctx;
    if (!previous.includes(member) && previous.some((m) => addressOf(m) === self)) {
      return `view ${instance - 1} lists this address as another member than ${member} (its data directory was replaced since): ` +
        'it is no acceptor of that view';
    }
    const verdict = judge(this.#ctx, previous, value, this.#ctx.self);
    return verdict.kind === 'refused' ? verdict.problem : null;
  }

  /**
   * Starts driving `instance` to a decision, proposing `value` unless an acceptor already
   * accepted another. The outcome arrives as `onDecided(instance, …)`, whichever value wins.
   * The value must pass `proposalProblem` (a caller that proposes what no acceptor would accept
   * has a bug: the proposer would retry forever).
   */
  propose(instance: number, value: PaxosValue, out: PaxosOutbox): ProposeOutcome {
    const problem = this.proposalProblem(instance, value);
    invariant(problem === null, () => `invalid proposal for instance ${instance}: [${value.join(',')}]: ${problem}`);
    return this.#proposer.propose(instance, value, out);
  }

  /**
   * A higher layer heard that `peer` knows every instance up to `instance` (e.g. from its
   * heartbeat): fetch from it what this node lacks, or send it what it lacks.
   */
  peerKnows(peer: NodeId, instance: number, out: PaxosOutbox): void {
    this.#learner.onKnown(peer, { kind: 'known', instance }, out);
  }

  /**
   * Whether a prepare or accept of `from` for `instance` may raise this proposer's rounds: not
   * when the value rule refuses the sender (not an acceptor of the view before `instance`, when
   * this node knows it). A stranger's round near `limits.maxRound` would otherwise leave this node
   * no round to propose with (the acceptor refuses such a message too).
   */
  #mayMoveRounds(from: NodeId, instance: number): boolean {
    return judge(this.#ctx, this.#learner.value(instance - 1), null, from).kind !== 'refused';
  }

  onMessage(from: NodeId, m: PaxosMessage, out: PaxosOutbox): void {
    if (!this.#inRange(from, m, out)) return;
    const before = this.#learner.contiguous;
    switch (m.kind) {
      case 'prepare':
        if (this.#mayMoveRounds(from, m.instance)) this.#proposer.observe(m.n);
        this.#learner.noteKnownAt(from, m.instance - 1, out);
        this.#acceptor.onPrepare(from, m, out);
        break;
      case 'accept':
        if (this.#mayMoveRounds(from, m.instance)) this.#proposer.observe(m.n);
        this.#learner.noteKnownAt(from, m.instance - 1, out);
        this.#acceptor.onAccept(from, m, out);
        break;
      case 'promise':
        this.#proposer.onPromise(from, m, out);
        break;
      case 'accepted':
        // May decide: this node's own proposer learns its instance here.
        this.#proposer.onAccepted(from, m, out);
        break;
      case 'reject':
        this.#proposer.onReject(from, m, out);
        break;
      case 'decided':
        if (this.#learner.learnFrom(from, m.instance, m.value, true, out)) this.#acceptor.forget(m.instance);
        // Only a decision this node knows ends its own round: a refused one (forged, or not
        // judged yet) must not make the proposer give up the instance.
        if (this.#learner.value(m.instance) !== undefined) this.#proposer.onLearned(m.instance, out);
        break;
      case 'known':
        this.#learner.onKnown(from, m, out);
        break;
      case 'fetch':
        this.#learner.onFetch(from, m, out);
        break;
      case 'decisions':
        if (m.compacted === true && m.first > this.#learner.contiguous + 1) this.#jump(from, m, out);
        else this.#learner.onDecisions(from, m, out);
        break;
    }
    this.#afterLearning(before, out);
  }

  onTimer(key: string, out: PaxosOutbox): void {
    if (key === paxosTimers.compact) this.#maybeCompact(out);
    else if (key === proposerTimers.phase) this.#proposer.onTimer(key, out);
    else if (key === learnerTimers.gossip || key === learnerTimers.fetchRetry) this.#learner.onTimer(key, out);
  }

  /**
   * A peer's history starts beyond what this node knows, and the views in between are forgotten
   * there (`decisions` marked `compacted`): this node starts its own history at the peer's oldest
   * view, durably (a snapshot of the new state, before the upcall), then learns the rest of the
   * batch as usual. The peers are trusted for that view as for any catch-up batch; the views
   * after it are judged by the value rule.
   */
  #jump(from: NodeId, m: Extract<PaxosMessage, { kind: 'decisions' }>, out: PaxosOutbox): void {
    const [first, ...rest] = m.values;
    if (first === undefined) return;
    this.#learner.jump(from, m.first, first, out);
    this.#acceptor.forgetThrough(this.#learner.contiguous);
    out.persist({ kind: 'snapshot', snapshot: this.snapshot(), why: `caught up from ${from}, whose history starts at ${m.first}` });
    this.#learner.onDecisions(from, { kind: 'decisions', first: m.first + 1, values: rest }, out);
  }

  /** Instances that became known (contiguously) need no acceptor state, and end any round for them. */
  #afterLearning(before: number, out: PaxosOutbox): void {
    const now = this.#learner.contiguous;
    if (now === before) return;
    this.#acceptor.forgetThrough(now);
    this.#proposer.onLearned(now, out);
    // Compaction runs in a batch of its own, right after this one: the snapshot (two syncs'
    // time) then delays what is persisted after it, but not this batch's decisions and replies.
    if (this.#dueForCompaction) out.setTimer(paxosTimers.compact, 0);
  }

  /**
   * Refuses phase and decision messages for instances far beyond what this node has learned:
   * honouring them would let a bogus instance number make the acceptor keep state, or write a
   * decision that far ahead to disk and end this node's own round. The message is logged and
   * dropped, and this node fetches from the sender (at most one fetch per `fetchRetryMs`), so a
   * node that really is that far behind catches up and answers the sender's next attempt.
   */
  #inRange(from: NodeId, m: PaxosMessage, out: PaxosOutbox): boolean {
    let instance: number;
    if (m.kind === 'prepare' || m.kind === 'accept' || m.kind === 'decided') instance = m.instance;
    else if (m.kind === 'decisions') {
      // A compacted peer's history may start far ahead of a node that was away for long.
      if (m.compacted === true) return true;
      instance = m.first;
    } else return true;
    if (instance < this.#learner.oldest && m.kind !== 'decisions') {
      // Decided long ago and forgotten here (compacted): nothing to promise, accept or learn.
      // The sender is far behind: say how far this node knows, so that it catches up.
      out.send(from, { kind: 'known', instance: this.#learner.contiguous });
      return false;
    }
    const lead = instance - this.#learner.contiguous;
    if (lead <= this.#ctx.options.maxInstanceLead) return true;
    this.#ctx.logger.warn(
      { from, kind: m.kind, instance, highestKnown: this.#learner.contiguous, maxLead: this.#ctx.options.maxInstanceLead },
      'paxos: refused message for an instance out of range');
    this.#learner.noteKnownAt(from, instance - 1, out);
    return false;
  }
}
