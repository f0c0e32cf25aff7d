import { invariant } from '../env/errors.js';
import { randomPick } from '../env/random.js';
import { type NodeId, addressOf } from '../env/types.js';
import type { PaxosMessage, PaxosValue } from './messages.js';
import { type PaxosContext, type PaxosOutbox, judge, sameValue } from './context.js';

/** Share of gossip rounds that pick a peer from the latest view rather than from everyone ever named. */
const gossipLatestViewShare = 0.75;

/** Timer names the learner uses. */
export const learnerTimers = { gossip: 'learner-gossip', fetchRetry: 'learner-fetch-retry' } as const;

/**
 * Knows every decided value, persists each before it is used, and delivers them upward in
 * instance order, each exactly once per process lifetime (after a restart, the replayed ones are
 * delivered again, in order, by `deliverReplayed`).
 *
 * Invariants:
 * - instance 1 is `[first]` from configuration and never persisted;
 * - the values kept are those of instances `#oldest` and later (log compaction forgets older
 *   ones, `compact`); `#contiguous` is the highest instance such that every instance from
 *   `#oldest` up to it is known, and nothing is learned below `#oldest` any more;
 * - an instance's value never changes. A second, different value from this node's own proposer is
 *   an agreement violation and stops the node; one from a peer is refused with an error line (a
 *   message from the network never stops a node, and nothing of it is persisted);
 * - nothing a peer tells is learned (and persisted) unless the value rule holds for it
 *   (`PaxosContext.rule`): a value a replay would stop on never reaches the disk. With a rule that
 *   needs the previous value, every value learned follows one that is known, so what this node
 *   knows is always contiguous.
 */
export class Learner {
  readonly #ctx: PaxosContext;
  readonly #decided = new Map<number, PaxosValue>();
  /** Every node named by any known view: whom to gossip with. */
  readonly #everyone = new Set<NodeId>();
  #contiguous = 1;
  /** The oldest instance whose value is kept (see `compact`). */
  #oldest = 1;
  #fetchOutstanding = false;
  readonly #onDecided: (instance: number, value: PaxosValue) => void;

  /** @param onDecided upcall, run through the outbox after the decision is durable */
  constructor(ctx: PaxosContext, first: NodeId, onDecided: (instance: number, value: PaxosValue) => void) {
    this.#ctx = ctx;
    this.#onDecided = onDecided;
    this.#decided.set(1, [first]);
    this.#everyone.add(first);
  }

  /** The value of `instance`, if known. */
  value(instance: number): PaxosValue | undefined {
    return this.#decided.get(instance);
  }

  /** Highest instance up to which every value is known. */
  get contiguous(): number {
    return this.#contiguous;
  }

  /** The oldest instance whose value this node keeps (1 until its log was first compacted). */
  get oldest(): number {
    return this.#oldest;
  }

  /** How many decided values are kept in memory (bounded by log compaction). */
  get kept(): number {
    return this.#decided.size;
  }

  /** Replay of a durable `decide` record (one about a forgotten instance is moot). */
  restore(instance: number, value: PaxosValue): void {
    if (instance >= this.#oldest) this.#record(instance, value);
  }

  /** The decided values kept, oldest first: what a snapshot holds (`PaxosSnapshot.decided`). */
  keptValues(): Array<{ instance: number; value: PaxosValue }> {
    return [...this.#decided].map(([instance, value]) => ({ instance, value })).sort((a, b) => a.instance - b.instance);
  }

  /**
   * Forgets every value before `oldest` (at most `#contiguous`, so the newest contiguous value is
   * always kept: the next instance is judged against it). Returns whether anything was forgotten.
   */
  compact(oldest: number): boolean {
    const floor = Math.min(oldest, this.#contiguous);
    if (floor <= this.#oldest) return false;
    for (const i of [...this.#decided.keys()]) if (i < floor) this.#decided.delete(i);
    this.#oldest = floor;
    this.#recountEveryone();
    return true;
  }

  /**
   * Starts the history at `instance` (a snapshot replayed, or a peer's compacted history this
   * node could not have caught up with value by value): everything older is forgotten, and
   * `instance` is known to hold `value`. Does not deliver anything (see `jump`).
   */
  restart(instance: number, value: PaxosValue): void {
    for (const i of [...this.#decided.keys()]) if (i < instance) this.#decided.delete(i);
    this.#oldest = instance;
    this.#contiguous = instance;
    this.#record(instance, value);
    this.#recountEveryone();
  }

  /**
   * A peer's compacted history starts at `instance`, beyond what this node can fetch value by
   * value (it lacks `instance - 1`, which no peer it asked keeps): the node starts its history
   * there, as if it had replayed a snapshot, and delivers `instance` (and whatever it already
   * knew right after it) upward. The caller persists a snapshot of the new state first.
   */
  jump(from: NodeId, instance: number, value: PaxosValue, out: PaxosOutbox): void {
    invariant(instance > this.#contiguous + 1, () => `jump to ${instance} at ${this.#ctx.self}, which knows up to ${this.#contiguous}`);
    this.#ctx.logger.warn({ from, instance, value, highestKnown: this.#contiguous },
      'paxos: the peers forgot the views this node lacks (compacted logs); its history now starts at the oldest view they keep');
    this.restart(instance, value);
    for (let i = instance; i <= this.#contiguous; i++) {
      const v = this.#decided.get(i)!;
      out.upcall(() => this.#onDecided(i, v));
    }
  }

  /** After a restart: delivers every replayed contiguous value upward, in order. */
  deliverReplayed(out: PaxosOutbox): void {
    for (let i = this.#oldest; i <= this.#contiguous; i++) {
      const value = this.#decided.get(i)!;
      out.upcall(() => this.#onDecided(i, value));
    }
  }

  /**
   * This node's own proposer found `instance` decided with `value` (a value it judged itself).
   * Returns true if it was news.
   */
  learnOwn(instance: number, value: PaxosValue, out: PaxosOutbox): boolean {
    const known = this.#decided.get(instance);
    if (known !== undefined) {
      invariant(sameValue(known, value), () =>
        `agreement violated at ${this.#ctx.self}: instance ${instance} decided [${known.join(',')}] ` +
        `and now [${value.join(',')}] by its own proposer`);
      return false;
    }
    const verdict = judge(this.#ctx, this.#decided.get(instance - 1), value, null);
    invariant(verdict.kind === 'ok', () => `${this.#ctx.self}'s own proposer decided [${value.join(',')}] in instance ` +
      `${instance}, which the value rule (${this.#ctx.rule.name}) does not allow: ${verdict.kind === 'refused' ? verdict.problem : 'previous unknown'}`);
    this.#accept(instance, value, null, out);
    return true;
  }

  /**
   * `from` told this node that `instance` decided `value`: in a `decided` message (`announced`:
   * the sender must be one of the instance's acceptors, as proposers and acceptors are), or in
   * a batch of `decisions` (catch-up, from anybody who knows). Learned only if the value rule holds;
   * a value whose previous one is unknown here is not learned now, and the gap is fetched from
   * `from` (the value comes again with it). Returns true if it was news and learned.
   */
  learnFrom(from: NodeId, instance: number, value: PaxosValue, announced: boolean, out: PaxosOutbox): boolean {
    if (instance < this.#oldest) return false; // forgotten here: decided long ago, nothing to learn
    const known = this.#decided.get(instance);
    if (known !== undefined) {
      if (!sameValue(known, value)) {
        this.#ctx.logger.error({ from, instance, known, value },
          'paxos: refused a decision that contradicts the value this node knows for the instance ' +
          '(a forged message, a node of another cluster, or an agreement violation elsewhere)');
      }
      return false;
    }
    const verdict = judge(this.#ctx, this.#decided.get(instance - 1), value, announced ? from : null);
    if (verdict.kind === 'unjudged') {
      this.#ctx.logger.debug({ from, instance, highestKnown: this.#contiguous },
        'paxos: decision after a gap: not learned until the gap is fetched');
      this.noteKnownAt(from, instance, out);
      return false;
    }
    if (verdict.kind === 'refused') {
      this.#ctx.logger.error({ from, instance, value, previous: this.#decided.get(instance - 1) ?? null, rule: this.#ctx.rule.name, problem: verdict.problem },
        `paxos: refused a decision that breaks the value rule (${verdict.problem}); nothing persisted`);
      return false;
    }
    this.#accept(instance, value, from, out);
    return true;
  }

  /** Records a decision that passed every check: durable before anything uses it, then delivered in order. */
  #accept(instance: number, value: PaxosValue, from: NodeId | null, out: PaxosOutbox): void {
    const before = this.#contiguous;
    this.#record(instance, value);
    out.persist({ kind: 'decide', instance, value });
    this.#ctx.logger.info({ instance, value, from }, 'paxos: learned decision');
    for (let i = before + 1; i <= this.#contiguous; i++) {
      const v = this.#decided.get(i)!;
      out.upcall(() => this.#onDecided(i, v));
    }
    if (from !== null) this.noteKnownAt(from, instance, out);
  }

  /** `peer` knows every instance up to `instance`; if that is beyond us, fetch from it. */
  noteKnownAt(peer: NodeId, instance: number, out: PaxosOutbox): void {
    if (this.#ctx.mutations.noCatchUp === true) return;
    if (instance <= this.#contiguous || this.#fetchOutstanding || peer === this.#ctx.self) return;
    this.#fetchOutstanding = true;
    out.send(peer, { kind: 'fetch', from: this.#contiguous + 1 });
    out.setTimer(learnerTimers.fetchRetry, this.#ctx.options.fetchRetryMs);
  }

  onFetch(from: NodeId, m: Extract<PaxosMessage, { kind: 'fetch' }>, out: PaxosOutbox): void {
    this.#push(from, m.from, out);
  }

  onDecisions(from: NodeId, m: Extract<PaxosMessage, { kind: 'decisions' }>, out: PaxosOutbox): void {
    this.#fetchOutstanding = false;
    out.cancelTimer(learnerTimers.fetchRetry);
    for (const [k, value] of m.values.entries()) {
      const instance = m.first + k;
      if (instance < this.#oldest) continue; // forgotten here: long decided
      // The rest of a batch after a value that was not learned cannot be judged either.
      if (!this.learnFrom(from, instance, value, false, out) && this.#decided.get(instance) === undefined) return;
    }
  }

  onKnown(from: NodeId, m: Extract<PaxosMessage, { kind: 'known' }>, out: PaxosOutbox): void {
    if (m.instance > this.#contiguous) this.noteKnownAt(from, m.instance, out);
    else if (m.instance < this.#contiguous) this.#push(from, m.instance + 1, out);
  }

  /** Starts the periodic gossip that lets every node learn every decision eventually. */
  start(out: PaxosOutbox): void {
    out.setTimer(learnerTimers.gossip, this.#ctx.options.learnerGossipIntervalMs);
  }

  onTimer(key: string, out: PaxosOutbox): void {
    if (key === learnerTimers.fetchRetry) {
      this.#fetchOutstanding = false;
    } else if (key === learnerTimers.gossip && this.#ctx.mutations.noCatchUp !== true) {
      // Mostly the members of the latest view (the ones that are most likely alive and ahead);
      // sometimes anybody ever named in a view, so that a removed node that missed the news is
      // reached too.
      const latest = this.#decided.get(this.#contiguous)!;
      const pool = this.#ctx.random.next() < gossipLatestViewShare ? latest : [...this.#everyone];
      const peer = randomPick(this.#ctx.random, pool.map(addressOf).filter((p) => p !== this.#ctx.self));
      if (peer !== undefined) out.send(peer, { kind: 'known', instance: this.#contiguous });
      out.setTimer(learnerTimers.gossip, this.#ctx.options.learnerGossipIntervalMs);
    }
  }

  /**
   * Sends `to` the decided values from `first` on, as many as one message may carry, followed by
   * a `known` when more remain.
   */
  #push(to: NodeId, asked: number, out: PaxosOutbox): void {
    // What was compacted away here cannot be sent: the batch starts at the oldest value kept,
    // and says so, so that a peer that lacks the view before it can start its history there.
    const compacted = asked < this.#oldest;
    const first = compacted ? this.#oldest : asked;
    const last = Math.min(this.#contiguous, first + this.#ctx.options.maxFetchBatch - 1);
    if (first < 1 || first > last) return;
    const values: PaxosValue[] = [];
    for (let i = first; i <= last; i++) values.push(this.#decided.get(i)!);
    out.send(to, compacted ? { kind: 'decisions', first, values, compacted } : { kind: 'decisions', first, values });
    // A batch cut short by maxFetchBatch: say how far we know, so that the peer fetches the next
    // batch at once instead of waiting for gossip (each batch would otherwise cost a gossip round).
    if (last < this.#contiguous) out.send(to, { kind: 'known', instance: this.#contiguous });
  }

  /** Gossip reaches everybody named by a kept view (so it stays bounded by compaction too). */
  #recountEveryone(): void {
    this.#everyone.clear();
    for (const value of this.#decided.values()) for (const node of value) this.#everyone.add(node);
  }

  #record(instance: number, value: PaxosValue): void {
    this.#decided.set(instance, value);
    for (const node of value) this.#everyone.add(node);
    while (this.#decided.has(this.#contiguous + 1)) this.#contiguous++;
  }
}
