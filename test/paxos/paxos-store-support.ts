/**
 * What the Paxos store crash tests share: one node's Paxos core over a `PaxosStore` (its records
 * appended and synced as the shell does), a script of inputs that decides views and keeps an
 * undecided instance's acceptor state moving, and a check that a restarted node holds everything
 * that was durable.
 */
import assert from 'node:assert/strict';
import { silentLogger } from '../../src/env/logger.js';
import { Outbox } from '../../src/env/outbox.js';
import type { PaxosOptions } from '../../src/options.js';
import type { PaxosMessage, PaxosRecord, PaxosValue } from '../../src/paxos/messages.js';
import { Paxos, paxosTimers } from '../../src/paxos/paxos.js';
import { PaxosStore, type PaxosStoreMutations } from '../../src/paxos/paxos-store.js';
import { type ProposalNumber, compareProposal } from '../../src/paxos/proposal-number.js';
import { Prng } from '../../tools/sim/prng.js';

import type { NodeStorage } from '../../src/env/world.js';

export type Storage = NodeStorage;

/** Small windows, so that a short script compacts many times. */
export const compaction: Partial<PaxosOptions> = { retainedViews: 2, compactAfterViews: 3 };

/** The undecided instance whose acceptor state the script keeps changing (within maxInstanceLead). */
export const farInstance = 200;

/** What was durable (a sync called back) in any life so far: what every later life must hold. */
export class Acked {
  readonly decided = new Map<number, string>();
  promised: ProposalNumber | null = null;
  accepted: { n: ProposalNumber; value: PaxosValue } | null = null;
  /** Every value sent in an accept for `farInstance`, by round (a surviving unacknowledged one must be one of them). */
  readonly sentValues = new Map<number, string>();

  note(r: PaxosRecord): void {
    if (r.kind === 'decide') this.decided.set(r.instance, r.value.join(','));
    if ((r.kind === 'promise' || r.kind === 'accept') && r.instance === farInstance) {
      if (this.promised === null || compareProposal(r.n, this.promised) > 0) this.promised = r.n;
      if (r.kind === 'accept' && (this.accepted === null || compareProposal(r.n, this.accepted.n) > 0)) this.accepted = { n: r.n, value: r.value };
    }
  }
}

/** One process of the node: loads what the disk holds, then runs inputs, persisting as the shell does. */
export class Life {
  readonly core: Paxos;
  readonly store: PaxosStore;
  readonly #acked: Acked;

  constructor(storage: Storage, acked: Acked, mutations?: PaxosStoreMutations) {
    this.#acked = acked;
    this.store = new PaxosStore({ world: storage, name: 'paxos', logger: silentLogger, mutations });
    const { snapshot, records } = this.store.load();
    this.core = new Paxos({
      self: 'a', first: 'a', listener: { onDecided: () => {} }, random: new Prng(1), logger: silentLogger, options: compaction,
    });
    this.core.restore(snapshot === null ? records : [{ kind: 'snapshot', snapshot, why: 'replayed' }, ...records]);
    this.run((out) => this.core.start(out));
  }

  run(handler: (out: Outbox<PaxosMessage, PaxosRecord>) => void): void {
    const out = new Outbox<PaxosMessage, PaxosRecord>();
    handler(out);
    const records = [...out.records];
    for (const r of records) this.store.append(r);
    this.store.sync((err) => {
      if (err === undefined) for (const r of records) this.#acked.note(r);
    });
    // The compaction timer (delay 0) fires at once, as the next task of the node would.
    if (out.timers.some((t) => t.key === paxosTimers.compact && t.delayMs !== null)) this.run((o) => this.core.onTimer(paxosTimers.compact, o));
  }

  /** Script step `k` (from any life: it reads where this node stands). */
  step(k: number, acked: Acked): void {
    const round = k + 1;
    if (k % 3 === 1) {
      this.run((out) => this.core.onMessage('c', { kind: 'prepare', instance: farInstance, n: { round, node: 'c' } }, out));
    } else if (k % 3 === 2) {
      const value = round % 2 === 0 ? ['a', 'b'] : ['a', 'c'];
      acked.sentValues.set(round, value.join(','));
      this.run((out) => this.core.onMessage('c', { kind: 'accept', instance: farInstance, n: { round, node: 'c' }, value }, out));
    } else {
      const instance = this.core.highestKnown + 1;
      this.run((out) => this.core.onMessage('b', { kind: 'decided', instance, value: viewOf(instance) }, out));
    }
  }
}

export function viewOf(instance: number): string[] {
  return instance % 2 === 0 ? ['a', 'b'] : ['a', 'b', 'c'];
}

/** The restarted node holds every durable decision (or forgot it behind a newer kept view) and the acceptor state exactly. */
export function assertHolds(life: Life, acked: Acked, where: string): void {
  const core = life.core;
  const newest = Math.max(1, ...acked.decided.keys());
  assert.ok(core.highestKnown >= newest, `${where}: knows up to ${core.highestKnown}, but ${newest} was durable`);
  for (const [instance, value] of acked.decided) {
    if (instance < core.oldestKnown) continue;
    assert.equal(core.decided(instance)?.join(','), value, `${where}: instance ${instance}`);
  }
  for (let i = Math.max(2, core.oldestKnown); i <= core.highestKnown; i++) assert.deepEqual(core.decided(i), viewOf(i), `${where}: kept instance ${i}`);
  assert.ok(core.keptValues <= (compaction.retainedViews ?? 0) + (compaction.compactAfterViews ?? 0), `${where}: ${core.keptValues} values kept`);
  const slot = core.acceptorStatus(farInstance);
  if (acked.promised !== null) {
    assert.ok(slot.promised !== null && compareProposal(slot.promised, acked.promised) >= 0,
      `${where}: promised ${JSON.stringify(slot.promised)}, but ${JSON.stringify(acked.promised)} was durable`);
  }
  if (acked.accepted !== null) {
    assert.ok(slot.accepted !== null && compareProposal(slot.accepted.n, acked.accepted.n) >= 0,
      `${where}: accepted ${JSON.stringify(slot.accepted)}, but ${JSON.stringify(acked.accepted)} was durable`);
  }
  if (slot.accepted !== null) {
    assert.equal(slot.accepted.value.join(','), acked.sentValues.get(slot.accepted.n.round), `${where}: the accepted value is the one sent with its round`);
  }
}
