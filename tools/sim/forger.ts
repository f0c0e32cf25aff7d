import type { NodeId } from '../../src/env/types.js';
import { paxosCodec } from '../../src/paxos/codec.js';
import type { PaxosMessage, PaxosValue } from '../../src/paxos/messages.js';
import type { StackProcess } from './cluster.js';
import type { Simulation, SimNode } from './simulation.js';

/** The forger's address: named by no view, ever. */
export const forgerId = 'forger:0';

/** Members the forger makes up; no node of a run has these ids. */
const strangers = ['stranger:1', 'stranger:2'];

/**
 * A process outside the cluster that sends its nodes forged Paxos messages that would break the
 * view rules if taken in: a `decided` or an `accept` from a sender that is in no view (with a value
 * one member away, or sharing nobody with the view before), a `decided` that claims a member's
 * address but adds two members at once, and a `decisions` batch (catch-up, judged by value alone)
 * whose value is two changes away. It knows the cluster id (the worst accident short of malice: a
 * process that once belonged to the cluster), so nothing but Paxos' own checks (`ValueRule`,
 * `viewRule`) stands between its values and a node's disk. Every forged value names a stranger, so
 * a node that learned one shows at once to the checkers (validity: nobody proposed it; view
 * agreement; view step).
 */
export class Forger {
  readonly #sim: Simulation;
  readonly #nodes: () => ReadonlyArray<SimNode<StackProcess>>;
  forged = 0;

  constructor(sim: Simulation, nodes: () => ReadonlyArray<SimNode<StackProcess>>) {
    this.#sim = sim;
    this.#nodes = nodes;
  }

  /** Sends one forged message to a random node that runs and knows its cluster id. */
  forge(): void {
    const rng = this.#sim.rng;
    const targets = this.#nodes().filter((n) => n.up && n.process !== null && n.disk.identity?.clusterId != null);
    if (targets.length === 0) return;
    const target = rng.pick(targets);
    const core = target.process!.stack.paxos.core;
    const known = core.highestKnown;
    const view = core.decided(known)!;
    const instance = known + 1;
    const oneAway: PaxosValue = [...view, strangers[0]!];
    const twoAway: PaxosValue = [...view, ...strangers];
    const disjoint: PaxosValue = [...strangers];
    const member = rng.pick(view);
    let from: NodeId = forgerId;
    let msg: PaxosMessage;
    switch (rng.int(5)) {
      case 0:
        msg = { kind: 'decided', instance, value: oneAway };
        break;
      case 1:
        msg = { kind: 'decided', instance, value: disjoint };
        break;
      case 2:
        from = member === target.id ? forgerId : member;
        msg = { kind: 'decided', instance, value: twoAway };
        break;
      case 3:
        msg = { kind: 'accept', instance, n: { round: 1_000_000 + rng.int(1000), node: forgerId }, value: oneAway };
        break;
      default:
        msg = { kind: 'decisions', first: instance, values: [twoAway] };
        break;
    }
    this.forged++;
    const wire = { from, to: target.id, cluster_id: target.disk.identity!.clusterId, ...paxosCodec.encode(msg) };
    const summary = `paxos.${msg.kind}${'instance' in msg ? ` i=${msg.instance}` : ` first=${instance}`} (forged)`;
    this.#sim.log(`forge ${from}>${target.id} ${summary}`);
    this.#sim.network.send(from, target.id, paxosCodec.service, msg, wire, summary);
  }
}
