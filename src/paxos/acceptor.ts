import type { NodeId } from '../env/types.js';
import type { AcceptedValue, AcceptorSlotRecord, PaxosMessage, PaxosValue } from './messages.js';
import { type ProposalNumber, compareProposal, formatProposal } from './proposal-number.js';
import { type PaxosContext, type PaxosOutbox, judge } from './context.js';
import type { Learner } from './learner.js';

/** One instance's acceptor state. */
interface Slot {
  promised: ProposalNumber | null;
  accepted: AcceptedValue | null;
}

type Prepare = Extract<PaxosMessage, { kind: 'prepare' }>;
type Accept = Extract<PaxosMessage, { kind: 'accept' }>;

/**
 * The Paxos acceptor, one slot per undecided instance.
 *
 * Invariants:
 * - a slot's `promised` never decreases, and `accepted.n` never exceeds `promised`;
 * - every reply that rests on a promise or an acceptance is sent through the outbox after the
 *   record that backs it (persist before reply), so a restarted acceptor honours all of them;
 * - a prepare or accept meant for another member id at this address (`#addressedHere`) is not
 *   answered at all, not even with a decision;
 * - an instance this node knows to be decided is answered with its value, whatever was asked;
 * - nothing is promised to, or accepted from, a sender the value rule excludes, and no value is
 *   accepted (persisted) unless the rule holds for it after the previous instance's value, which
 *   must be known here when the rule needs it (`PaxosContext.rule`, `judge`).
 */
export class Acceptor {
  readonly #ctx: PaxosContext;
  readonly #learner: Learner;
  readonly #slots = new Map<number, Slot>();
  /** The last instance for which a message meant for another member was logged (see `#addressedHere`). */
  #warnedInstance = 0;

  constructor(ctx: PaxosContext, learner: Learner) {
    this.#ctx = ctx;
    this.#learner = learner;
  }

  restorePromise(instance: number, n: ProposalNumber): void {
    const slot = this.#slot(instance);
    if (slot.promised === null || compareProposal(n, slot.promised) > 0) slot.promised = n;
  }

  restoreAccept(instance: number, n: ProposalNumber, value: PaxosValue): void {
    this.restorePromise(instance, n);
    this.#slot(instance).accepted = { n, value };
  }

  /** The slot's state, for status pages and tests. */
  state(instance: number): { promised: ProposalNumber | null; accepted: AcceptedValue | null } {
    const slot = this.#slots.get(instance);
    return { promised: slot?.promised ?? null, accepted: slot?.accepted ?? null };
  }

  /** A decided instance needs no acceptor state any more. */
  forget(instance: number): void {
    this.#slots.delete(instance);
  }

  /** Every instance up to `instance` is decided (and known): their slots go. */
  forgetThrough(instance: number): void {
    for (const i of [...this.#slots.keys()]) if (i <= instance) this.#slots.delete(i);
  }

  /** Every slot, by instance: what a snapshot keeps (`PaxosSnapshot.slots`). */
  slots(): AcceptorSlotRecord[] {
    return [...this.#slots].sort(([a], [b]) => a - b).map(([instance, s]) => ({ instance, promised: s.promised, accepted: s.accepted }));
  }

  /** Replaces every slot with a snapshot's (`PaxosSnapshot.slots`). */
  restoreSlots(slots: readonly AcceptorSlotRecord[]): void {
    this.#slots.clear();
    for (const s of slots) this.#slots.set(s.instance, { promised: s.promised, accepted: s.accepted });
  }

  onPrepare(from: NodeId, m: Prepare, out: PaxosOutbox): void {
    if (!this.#addressedHere(from, m)) return;
    if (this.#answerDecided(from, m.instance, out)) return;
    const verdict = judge(this.#ctx, this.#learner.value(m.instance - 1), null, from);
    if (verdict.kind === 'refused') {
      this.#refused(from, m.instance, 'prepare', null, verdict.problem);
      return;
    }
    const slot = this.#slot(m.instance);
    if (slot.promised !== null) {
      const order = compareProposal(m.n, slot.promised);
      if (order < 0) {
        out.send(from, { kind: 'reject', instance: m.instance, n: m.n, promised: slot.promised });
        return;
      }
      if (order === 0) {
        // A duplicate or retransmitted prepare: the promise stands (and is already persisted).
        out.send(from, { kind: 'promise', instance: m.instance, n: m.n, accepted: slot.accepted });
        return;
      }
    }
    slot.promised = m.n;
    if (this.#ctx.mutations.skipPromisePersist !== true) {
      out.persist({ kind: 'promise', instance: m.instance, n: m.n });
    }
    this.#ctx.logger.debug({ instance: m.instance, n: formatProposal(m.n), from }, 'paxos: promised');
    out.send(from, { kind: 'promise', instance: m.instance, n: m.n, accepted: slot.accepted });
  }

  onAccept(from: NodeId, m: Accept, out: PaxosOutbox): void {
    if (!this.#addressedHere(from, m)) return;
    if (this.#answerDecided(from, m.instance, out)) return;
    const verdict = judge(this.#ctx, this.#learner.value(m.instance - 1), m.value, from);
    if (verdict.kind === 'unjudged') {
      // Paxos.onMessage has asked the sender for the gap; the proposer's next round finds us able to judge.
      this.#ctx.logger.debug({ from, instance: m.instance }, 'paxos: accept not judged yet (previous instance unknown here); ignored');
      return;
    }
    if (verdict.kind === 'refused') {
      this.#refused(from, m.instance, 'accept', m.value, verdict.problem);
      return;
    }
    const slot = this.#slot(m.instance);
    if (slot.promised !== null && compareProposal(m.n, slot.promised) < 0) {
      out.send(from, { kind: 'reject', instance: m.instance, n: m.n, promised: slot.promised });
      return;
    }
    const repeat = slot.accepted !== null && compareProposal(slot.accepted.n, m.n) === 0;
    slot.promised = m.n;
    slot.accepted = { n: m.n, value: m.value };
    if (!repeat) {
      out.persist({ kind: 'accept', instance: m.instance, n: m.n, value: m.value });
      this.#ctx.logger.debug({ instance: m.instance, n: formatProposal(m.n), from, value: m.value }, 'paxos: accepted');
    }
    out.send(from, { kind: 'accepted', instance: m.instance, n: m.n });
  }

  /**
   * Whether a prepare or accept is meant for this node's member id. One meant for another member
   * at this address (the member whose data directory this node's replaced) is not this acceptor's
   * to answer: that member's promises and acceptances are gone with its disk, and answering in its
   * place could decide two values. Dropped without an answer; the proposer's view lacks that
   * acceptor until the old member is removed.
   */
  #addressedHere(from: NodeId, m: Prepare | Accept): boolean {
    // A sender from before member ids names nobody: it means whoever its views list at this
    // address, which is this node only if it is listed by address alone.
    const addressed = m.acceptor ?? this.#ctx.self;
    if (addressed === this.#ctx.member) return true;
    if (this.#warnedInstance !== m.instance) {
      this.#warnedInstance = m.instance; // once per instance: a proposer retries every round
      this.#ctx.logger.warn({ from, instance: m.instance, kind: m.kind, addressed, member: this.#ctx.member },
        `paxos: ignored ${m.kind === 'prepare' ? 'a prepare' : 'an accept'} meant for ${addressed}, a member this data directory is not`);
    }
    return false;
  }

  /** A prepare or accept the value rule excludes: no state, no answer, an error line. */
  #refused(from: NodeId, instance: number, kind: 'prepare' | 'accept', value: PaxosValue | null, problem: string): void {
    this.#ctx.logger.error({ from, instance, kind, value, acceptors: this.#learner.value(instance - 1) ?? null, rule: this.#ctx.rule.name, problem },
      `paxos: refused ${kind === 'prepare' ? 'a prepare' : 'an accept'} that breaks the value rule (${problem}); nothing persisted`);
  }

  #answerDecided(from: NodeId, instance: number, out: PaxosOutbox): boolean {
    const value = this.#learner.value(instance);
    if (value === undefined) return false;
    out.send(from, { kind: 'decided', instance, value });
    return true;
  }

  #slot(instance: number): Slot {
    let slot = this.#slots.get(instance);
    if (slot === undefined) {
      slot = { promised: null, accepted: null };
      this.#slots.set(instance, slot);
    }
    return slot;
  }
}
