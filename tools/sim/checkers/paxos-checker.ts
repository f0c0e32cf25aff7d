import type { NodeId } from '../../../src/env/types.js';
import { paxosCodec } from '../../../src/paxos/codec.js';
import { majority } from '../../../src/paxos/context.js';
import type { PaxosMessage, PaxosValue } from '../../../src/paxos/messages.js';
import { type ProposalNumber, compareProposal, formatProposal } from '../../../src/paxos/proposal-number.js';
import type { Simulation } from '../simulation.js';

function key(value: PaxosValue): string {
  return value.join(',');
}

/**
 * Safety checkers of the Paxos layer, fed by every node's upcalls and by a tap on the network:
 * - agreement of chosen values: a value is chosen in an instance once a majority of the
 *   instance's acceptors (the members of the previous view) have sent `accepted` for one
 *   proposal number; two different chosen values in one instance fail the run. This is Paxos'
 *   own safety property and is stricter than watching what nodes learn: a broken acceptor can
 *   let a second value be chosen that the learners' defences then hide;
 * - agreement of learned values: no two nodes (or two lives of one node) deliver different
 *   values for an instance;
 * - a proposal number carries one value only (a proposer that reused a round after a crash
 *   would make acceptances under that number ambiguous);
 * - acceptors keep their promises: no acceptor sends a promise or an acceptance for a proposal
 *   number below one it promised earlier in the same instance, in this life or an earlier one
 *   (what a promise that was not durable before its reply left looks like after a crash);
 * - validity: a delivered value was proposed for that instance (or is view 1, `[first]`);
 * - durability: a node that delivered an instance still has it, with the same value, after a
 *   restart (it was durable before the upcall), unless its log was compacted past it.
 * Acceptors and histories are disks, not addresses (`diskOf`, e.g. `n3` then `n3@2` after a
 * wipe): a wiped disk's successor is a new acceptor whose promises and history start empty, which
 * is what a wipe is, not a broken promise or a lost decision; a view member counts as an acceptor
 * only through the disk its id names. Agreement is over every disk and process ever.
 * Liveness is checked by the run itself (`paxos-run.ts`).
 */
export class PaxosChecker {
  readonly #sim: Simulation;
  readonly #chosen = new Map<number, string>();
  readonly #proposed = new Map<number, Set<string>>();
  /** Per disk, every instance it delivered in any of the lives that ran on it. */
  readonly #delivered = new Map<NodeId, Map<number, string>>();
  maxDecided = 1;
  /** Per instance and proposal number: the value proposed, and which disks accepted it. */
  readonly #ballots = new Map<string, { value: string | undefined; acceptors: Set<NodeId> }>();
  /** Per instance: the value chosen by a majority of acceptors, and under which proposal. */
  readonly #chosenByAcceptors = new Map<number, { value: string; n: string }>();
  /** Member lists of decided instances, to know each instance's acceptors. */
  readonly #views = new Map<number, readonly NodeId[]>();
  /** The disk the node at an address runs on now, as a member id (default: the address: disks never change). */
  readonly #diskOf: (node: NodeId) => string;

  constructor(sim: Simulation, first: NodeId, diskOf: (node: NodeId) => string = (node) => node) {
    this.#sim = sim;
    this.#diskOf = diskOf;
    this.#chosen.set(1, first);
    this.#proposed.set(1, new Set([first]));
    this.#views.set(1, [first]);
    sim.network.taps.push((from, _to, service, msg) => {
      if (service === paxosCodec.service) this.#sent(from, msg as PaxosMessage);
    });
  }

  /** Per acceptor (disk) and instance, the highest proposal number it has promised (by promise or acceptance). */
  readonly #promised = new Map<string, ProposalNumber>();

  #sent(from: NodeId, m: PaxosMessage): void {
    // Sent now, so by the disk the sender runs on now (a message outlives its process, not its disk).
    const acceptor = m.kind === 'promise' || m.kind === 'accepted' ? this.#diskOf(from) : from;
    if (m.kind === 'promise' || m.kind === 'accepted') this.#checkPromiseKept(acceptor, m.kind, m.instance, m.n);
    if (m.kind !== 'accept' && m.kind !== 'accepted') return;
    const id = `${m.instance}/${formatProposal(m.n)}`;
    let ballot = this.#ballots.get(id);
    if (ballot === undefined) {
      ballot = { value: undefined, acceptors: new Set() };
      this.#ballots.set(id, ballot);
    }
    if (m.kind === 'accept') {
      const value = key(m.value);
      if (ballot.value !== undefined && ballot.value !== value) {
        // Acceptances under one number can no longer be told apart: that alone breaks Paxos.
        this.#sim.fail(`agreement: proposal ${formatProposal(m.n)} in instance ${m.instance} was used for ` +
          `[${ballot.value}] and again for [${value}] (a proposer reused a round)`);
      }
      ballot.value = value;
      return;
    }
    ballot.acceptors.add(acceptor);
    this.#checkChosen(m.instance, formatProposal(m.n), ballot);
  }

  #checkPromiseKept(acceptor: NodeId, kind: string, instance: number, n: ProposalNumber): void {
    const id = `${acceptor}/${instance}`;
    const promised = this.#promised.get(id);
    if (promised !== undefined && compareProposal(n, promised) < 0) {
      this.#sim.fail(`promise broken: ${acceptor} sent ${kind} for ${formatProposal(n)} in instance ${instance} ` +
        `after promising ${formatProposal(promised)} there`);
      return;
    }
    this.#promised.set(id, n);
  }

  #checkChosen(instance: number, n: string, ballot: { value: string | undefined; acceptors: Set<NodeId> }): void {
    const acceptors = this.#views.get(instance - 1);
    if (acceptors === undefined || ballot.value === undefined) return;
    const votes = acceptors.filter((a) => ballot.acceptors.has(a)).length;
    if (votes < majority(acceptors.length)) return;
    const earlier = this.#chosenByAcceptors.get(instance);
    if (earlier === undefined) {
      this.#chosenByAcceptors.set(instance, { value: ballot.value, n });
      this.#agree(instance, ballot.value, `a majority of acceptors under ${n}`);
    } else if (earlier.value !== ballot.value) {
      this.#sim.fail(`agreement: instance ${instance} had [${earlier.value}] chosen under ${earlier.n} ` +
        `and then [${ballot.value}] chosen under ${n} (a majority of acceptors accepted each)`);
    }
  }

  /** Compares a chosen or learned value with what the instance already has. */
  #agree(instance: number, k: string, who: string): void {
    const chosen = this.#chosen.get(instance);
    if (chosen === undefined) {
      this.#chosen.set(instance, k);
      this.#views.set(instance, k.split(','));
      if (instance > this.maxDecided) this.maxDecided = instance;
      // The next instance's acceptors are now known: re-check its ballots.
      for (const [id, ballot] of this.#ballots) {
        const [i, n] = id.split('/') as [string, string];
        if (Number(i) === instance + 1) this.#checkChosen(instance + 1, n, ballot);
      }
    } else if (chosen !== k) {
      this.#sim.fail(`agreement: ${who} decided [${k}] in instance ${instance}, but [${chosen}] was decided there before`);
    }
  }

  proposed(instance: number, value: PaxosValue): void {
    let set = this.#proposed.get(instance);
    if (set === undefined) {
      set = new Set();
      this.#proposed.set(instance, set);
    }
    set.add(key(value));
  }

  delivered(node: NodeId, instance: number, value: PaxosValue): void {
    const k = key(value);
    const disk = this.#diskOf(node);
    this.#sim.log(`decided ${disk} i=${instance} [${k}]`);
    this.#agree(instance, k, disk);
    if (this.#proposed.get(instance)?.has(k) !== true) {
      this.#sim.fail(`validity: ${node} decided [${k}] in instance ${instance}, which nobody proposed there`);
    }
    let mine = this.#delivered.get(disk);
    if (mine === undefined) {
      mine = new Map();
      this.#delivered.set(disk, mine);
    }
    mine.set(instance, k);
  }

  /**
   * `node` restarted; `replayed(i)` is what its log gave back for instance i, and `oldest` the
   * oldest instance it kept (compaction forgot those before; agreement on everything it replays
   * is still checked as it delivers them again). Checked against what lives on its current disk
   * delivered: on a wiped disk's successor, nothing yet.
   */
  restarted(node: NodeId, replayed: (instance: number) => PaxosValue | undefined, oldest = 1): void {
    for (const [instance, k] of this.#delivered.get(this.#diskOf(node)) ?? []) {
      if (instance < oldest) continue;
      const value = replayed(instance);
      if (value === undefined || key(value) !== k) {
        this.#sim.fail(
          `durability: ${this.#diskOf(node)} delivered [${k}] in instance ${instance} before a crash, ` +
          `and replays ${value === undefined ? 'nothing' : `[${key(value)}]`} after it`);
      }
    }
  }

  /**
   * The views a change of membership must reckon with now: the newest decided one (chosen by a
   * majority of acceptors, or learned by any node), those decided from instance `since` on (e.g.
   * the newest one a node committed: a value chosen that no node learned yet still needs its
   * acceptors), and every value proposed for the instance after the newest, which may yet be decided.
   */
  frontier(since = this.maxDecided): { readonly decided: readonly NodeId[]; readonly views: ReadonlyArray<readonly NodeId[]> } {
    const decided = this.#chosen.get(this.maxDecided)!.split(',');
    const views: Array<readonly NodeId[]> = [];
    for (let i = Math.min(since, this.maxDecided); i <= this.maxDecided; i++) {
      const k = this.#chosen.get(i);
      if (k !== undefined) views.push(k.split(','));
    }
    for (const k of this.#proposed.get(this.maxDecided + 1) ?? []) views.push(k.split(','));
    return { decided, views };
  }

  /** Instances decided so far (the highest one known to any node's upcall). */
  get decidedCount(): number {
    return this.#chosen.size;
  }
}
