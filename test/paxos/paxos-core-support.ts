/**
 * What the scripted Paxos core tests share: node names, an instance decided in one call, and
 * queries over what a CoreNet holds in flight and what its cores delivered upward.
 */
import assert from 'node:assert/strict';
import type { NodeId } from '../../src/env/types.js';
import type { PaxosMessage, PaxosValue } from '../../src/paxos/messages.js';
import type { ProposalNumber } from '../../src/paxos/proposal-number.js';
import type { CoreNet, InFlight } from './core-net.js';

export const a = 'a';
export const b = 'b';
export const c = 'c';
export const d = 'd';

type Kind = PaxosMessage['kind'];
export type Msg<K extends Kind> = Extract<PaxosMessage, { kind: K }>;
export type Sent<K extends Kind> = { readonly from: NodeId; readonly to: NodeId; readonly msg: Msg<K> };

/** The in-flight messages of kind `kind` (optionally only those `where` accepts), oldest first. */
export function inFlight<K extends Kind>(net: CoreNet, kind: K, where: (m: InFlight) => boolean = () => true): Array<Sent<K>> {
  return net.inFlight.filter((m): m is Sent<K> => m.msg.kind === kind && where(m));
}

export const fromNode = (node: NodeId) => (m: InFlight): boolean => m.from === node;
export const n = (round: number, node: NodeId): ProposalNumber => ({ round, node });

/** Instances `node` delivered upward through onDecided, in delivery order. */
export function upcalls(net: CoreNet, node: NodeId): number[] {
  return net.decisions.filter((x) => x.node === node).map((x) => x.instance);
}

/** The values `node` delivered upward, by instance. */
export function deliveredValue(net: CoreNet, node: NodeId, instance: number): PaxosValue[] {
  return net.decisions.filter((x) => x.node === node && x.instance === instance).map((x) => x.value);
}

/** Instance 2 = `members`, decided by `a` alone (the acceptors of instance 2 are view 1 = [a]). */
export function decideView2(net: CoreNet, members: PaxosValue = [a, b, c]): void {
  assert.equal(net.propose(a, 2, members), 'started');
  net.deliverAll();
  for (const node of members) assert.deepEqual(net.core(node).decided(2), members);
}

/**
 * `proposer` drives `instance` to `value` while only the nodes in `reach` talk to each other:
 * every message to or from any other node is lost.
 */
export function decideAmong(net: CoreNet, proposer: NodeId, instance: number, value: PaxosValue, reach: readonly NodeId[]): void {
  const inside = (m: InFlight): boolean => reach.includes(m.from) && reach.includes(m.to);
  assert.equal(net.propose(proposer, instance, value), 'started');
  net.deliverAll(inside);
  net.drop((m) => !inside(m));
  assert.deepEqual(net.core(proposer).decided(instance), value);
}
