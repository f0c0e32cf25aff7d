import { type MemberId, type Members, type NodeId, addressOf } from '../env/types.js';
import type { AcceptedValue, PaxosMessage, PaxosValue } from './messages.js';
import { type ProposalNumber, compareProposal, formatProposal } from './proposal-number.js';
import { type PaxosContext, type PaxosOutbox, judge, majority } from './context.js';
import type { Learner } from './learner.js';
import { limits } from '../options.js';

export const proposerTimers = { phase: 'proposer-phase' } as const;

/** What `propose` did. */
export type ProposeOutcome =
  | 'started'
  /**
   * This node already drives that instance; `value` is now its own value for the rest of the
   * attempt (used in any later phase 2 in which no acceptor reports an accepted value).
   */
  | 'in-progress'
  /** The instance is decided already; its value is delivered (or was) through `onDecided`. */
  | 'already-decided'
  /** The previous instance is not known here, so neither are this instance's acceptors. */
  | 'previous-unknown'
  /** The layer is stopped (the node is halting); nothing was proposed. */
  | 'stopped';

/**
 * One proposal in progress. `phase` is where the round stands:
 * - preparing: prepares sent for `n`, collecting promises;
 * - accepting: accepts for `chosen` sent, collecting acceptances;
 * - backing-off: the last round lost (rejected or timed out); a new one starts when the timer fires.
 */
interface Attempt {
  readonly instance: number;
  /** The caller's value; used only if no acceptor reports an accepted one. The caller may replace it. */
  ownValue: PaxosValue;
  /** Members of view `instance - 1`. */
  readonly acceptors: Members;
  phase: 'preparing' | 'accepting' | 'backing-off';
  n: ProposalNumber;
  /** By acceptor (member id). */
  promises: Map<MemberId, AcceptedValue | null>;
  accepts: Set<MemberId>;
  chosen: PaxosValue | null;
  /** Consecutive lost rounds, for the exponential backoff. */
  losses: number;
}

/**
 * The Paxos proposer: drives at most one instance at a time to a decision.
 *
 * Invariants:
 * - every round it uses is above every round it has seen and is persisted before its prepare
 *   leaves, so a restarted proposer never reuses one;
 * - it proposes its own value only if no promise in the majority reported an accepted value;
 *   otherwise the value accepted under the highest proposal number;
 * - majorities are counted over the members of view `instance - 1` only.
 */
export class Proposer {
  readonly #ctx: PaxosContext;
  readonly #learner: Learner;
  #maxRoundSeen = 0;
  #attempt: Attempt | null = null;
  /** The current phase timeout (adaptive, see `PaxosOptions.phaseTimeoutMaxMs`). */
  #phaseTimeoutMs: number;

  constructor(ctx: PaxosContext, learner: Learner) {
    this.#ctx = ctx;
    this.#learner = learner;
    this.#phaseTimeoutMs = ctx.options.phaseTimeoutMs;
  }

  /** The phase timeout in force now (for tests and status). */
  get phaseTimeoutMs(): number {
    return this.#phaseTimeoutMs;
  }

  /** Raises the highest round seen (from any message or replayed record). */
  observe(n: ProposalNumber): void {
    if (n.round > this.#maxRoundSeen) this.#maxRoundSeen = n.round;
  }

  /** The highest round seen (and so at least every round this node used): what a snapshot keeps. */
  get maxRoundSeen(): number {
    return this.#maxRoundSeen;
  }

  restoreRound(round: number): void {
    if (round > this.#maxRoundSeen) this.#maxRoundSeen = round;
  }

  /** The instance being proposed, if any (for status). */
  get activeInstance(): number | null {
    return this.#attempt?.instance ?? null;
  }

  propose(instance: number, value: PaxosValue, out: PaxosOutbox): ProposeOutcome {
    if (this.#learner.value(instance) !== undefined) return 'already-decided';
    const acceptors = this.#learner.value(instance - 1);
    if (acceptors === undefined) return 'previous-unknown';
    if (this.#attempt?.instance === instance) {
      // Safe at any time: a proposer's own value only matters when phase 1 found nothing
      // accepted, and a round already in phase 2 keeps the value it chose.
      this.#attempt.ownValue = value;
      return 'in-progress';
    }
    this.#attempt = {
      instance,
      ownValue: value,
      acceptors,
      phase: 'preparing',
      n: { round: 0, node: this.#ctx.member },
      promises: new Map(),
      accepts: new Set(),
      chosen: null,
      losses: 0,
    };
    this.#ctx.logger.info({ instance, value }, 'paxos: proposing');
    this.#startRound(out);
    return 'started';
  }

  /** `instance` is decided (learned by any path): a round for it, or below it, is moot. */
  onLearned(instance: number, out: PaxosOutbox): void {
    if (this.#attempt !== null && this.#attempt.instance <= instance) {
      this.#attempt = null;
      out.cancelTimer(proposerTimers.phase);
    }
  }

  onPromise(from: NodeId, m: Extract<PaxosMessage, { kind: 'promise' }>, out: PaxosOutbox): void {
    const a = this.#current(m.instance, m.n, 'preparing');
    const acceptor = a === null ? undefined : acceptorAt(a, from);
    if (a === null || acceptor === undefined) return;
    if (m.accepted !== null) {
      // A value no acceptor would accept (the rule) must not be adopted: the round could never end.
      const verdict = judge(this.#ctx, a.acceptors, m.accepted.value, null);
      if (verdict.kind !== 'ok') {
        this.#ctx.logger.error({ from, instance: a.instance, accepted: m.accepted.value, rule: this.#ctx.rule.name,
          problem: verdict.kind === 'refused' ? verdict.problem : 'unjudged' },
        'paxos: ignored a promise reporting an accepted value that breaks the value rule');
        return;
      }
    }
    a.promises.set(acceptor, m.accepted);
    if (a.promises.size < majority(a.acceptors.length)) return;
    if (this.#ctx.breakpoints.isArmed(3)) {
      out.halt(`breakpoint 3: proposer of instance ${a.instance} stops between prepare and accept`);
      return;
    }
    let highest: AcceptedValue | null = null;
    for (const accepted of a.promises.values()) {
      if (accepted !== null && (highest === null || compareProposal(accepted.n, highest.n) > 0)) highest = accepted;
    }
    a.chosen = highest?.value ?? (this.#ctx.mutations.forgeOwnValue === true ? [...a.ownValue].reverse() : a.ownValue);
    a.phase = 'accepting';
    this.#ctx.logger.debug(
      { instance: a.instance, n: formatProposal(a.n), value: a.chosen, adopted: highest !== null },
      'paxos: majority promised; sending accepts');
    for (const acceptor of a.acceptors) {
      out.send(addressOf(acceptor), { kind: 'accept', instance: a.instance, n: a.n, value: a.chosen, acceptor });
    }
    out.setTimer(proposerTimers.phase, this.#phaseTimeoutMs);
  }

  onAccepted(from: NodeId, m: Extract<PaxosMessage, { kind: 'accepted' }>, out: PaxosOutbox): void {
    const a = this.#current(m.instance, m.n, 'accepting');
    const acceptor = a === null ? undefined : acceptorAt(a, from);
    if (a === null || acceptor === undefined) return;
    a.accepts.add(acceptor);
    if (a.accepts.size < majority(a.acceptors.length)) return;
    if (this.#ctx.breakpoints.isArmed(4)) {
      out.halt(`breakpoint 4: proposer of instance ${a.instance} stops between accept and decide`);
      return;
    }
    const value = a.chosen!;
    this.#attempt = null;
    this.#phaseTimeoutMs = Math.max(this.#ctx.options.phaseTimeoutMs, this.#phaseTimeoutMs / 2);
    out.cancelTimer(proposerTimers.phase);
    this.#learner.learnOwn(a.instance, value, out);
    // Decide goes to every acceptor of the instance and every member of the new view, not only
    // to those that answered, so that all of them learn without a fetch.
    const audience = new Set([...a.acceptors, ...value].map(addressOf));
    audience.delete(this.#ctx.self);
    for (const node of audience) out.send(node, { kind: 'decided', instance: a.instance, value });
  }

  onReject(from: NodeId, m: Extract<PaxosMessage, { kind: 'reject' }>, out: PaxosOutbox): void {
    const a = this.#attempt;
    // Only an acceptor of the attempt's view moves the rounds (a stranger's forged round must not).
    const fromAcceptor = a !== null && acceptorAt(a, from) !== undefined;
    if (fromAcceptor) this.observe(m.promised);
    if (a === null || a.instance !== m.instance || compareProposal(a.n, m.n) !== 0 || !fromAcceptor) return;
    if (a.phase === 'backing-off') return;
    this.#ctx.logger.debug(
      { instance: a.instance, n: formatProposal(a.n), promised: formatProposal(m.promised) }, 'paxos: round rejected');
    this.#backOff(out);
  }

  onTimer(key: string, out: PaxosOutbox): void {
    if (key !== proposerTimers.phase || this.#attempt === null) return;
    if (this.#attempt.phase === 'backing-off') {
      this.#startRound(out);
    } else {
      this.#phaseTimeoutMs = Math.min(this.#ctx.options.phaseTimeoutMaxMs, this.#phaseTimeoutMs * 2);
      this.#ctx.logger.debug(
        { instance: this.#attempt.instance, phase: this.#attempt.phase, nextTimeoutMs: this.#phaseTimeoutMs },
        'paxos: phase timed out');
      this.#backOff(out);
    }
  }

  #startRound(out: PaxosOutbox): void {
    const a = this.#attempt!;
    const round = this.#maxRoundSeen + 1;
    if (round > limits.maxRound) {
      // Only a forged or corrupt message can have shown a round this high (rounds grow by one per
      // attempt). A round above the limit would be persisted and then refused on every restart:
      // give up the attempt instead, loudly; the node stays up and can still learn decisions.
      this.#ctx.logger.error({ instance: a.instance, maxRoundSeen: this.#maxRoundSeen, maxRound: limits.maxRound },
        'paxos: no round left below limits.maxRound (a peer sent a forged or corrupt round); not proposing');
      this.#attempt = null;
      out.cancelTimer(proposerTimers.phase);
      return;
    }
    this.#maxRoundSeen = round;
    out.persist({ kind: 'round', round });
    a.n = { round, node: this.#ctx.member };
    a.phase = 'preparing';
    a.promises = new Map();
    a.accepts = new Set();
    a.chosen = null;
    for (const acceptor of a.acceptors) out.send(addressOf(acceptor), { kind: 'prepare', instance: a.instance, n: a.n, acceptor });
    out.setTimer(proposerTimers.phase, this.#phaseTimeoutMs);
  }

  #backOff(out: PaxosOutbox): void {
    const a = this.#attempt!;
    a.losses++;
    a.phase = 'backing-off';
    const { backoffBaseMs, backoffMaxMs } = this.#ctx.options;
    const ceiling = Math.min(backoffMaxMs, backoffBaseMs * 2 ** Math.min(a.losses - 1, 30));
    out.setTimer(proposerTimers.phase, ceiling * (0.5 + 0.5 * this.#ctx.random.next()));
  }

  #current(instance: number, n: ProposalNumber, phase: Attempt['phase']): Attempt | null {
    const a = this.#attempt;
    if (a === null || a.instance !== instance || a.phase !== phase || compareProposal(a.n, n) !== 0) return null;
    return a;
  }
}

/**
 * The acceptor of the attempt's view at address `from`, if any. A view lists an address once,
 * and prepares and accepts name the member they are meant for, which only that member answers
 * (`Acceptor`): so an answer from `from` to this attempt's round is that member's.
 */
function acceptorAt(a: Attempt, from: NodeId): MemberId | undefined {
  return a.acceptors.find((m) => addressOf(m) === from);
}
