import { Outbox } from '../../src/env/outbox.js';
import { silentLogger } from '../../src/env/logger.js';
import type { NodeId } from '../../src/env/types.js';
import type { PaxosMutations } from '../../src/paxos/context.js';
import type { PaxosMessage, PaxosRecord, PaxosValue } from '../../src/paxos/messages.js';
import { Paxos } from '../../src/paxos/paxos.js';
import { Prng } from '../../src/sim/prng.js';

/** A message between two cores, held by the test until it chooses to deliver it. */
export interface InFlight {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly msg: PaxosMessage;
}

interface CoreNode {
  core: Paxos;
  durable: PaxosRecord[];
  timers: Set<string>;
}

/**
 * Paxos cores wired by hand for scripted tests (etcd-raft style): every effect is carried out at
 * once (records are durable before the batch's sends, as the shell guarantees), sent messages
 * wait in `inFlight` until the test delivers them in the order it wants, timers fire only when
 * the test fires them, and `crash` rebuilds a core from its durable records alone.
 */
export class CoreNet {
  readonly inFlight: InFlight[] = [];
  readonly decisions: Array<{ node: NodeId; instance: number; value: PaxosValue }> = [];
  readonly #nodes = new Map<NodeId, CoreNode>();
  readonly #first: NodeId;
  readonly #mutations: PaxosMutations;
  readonly #random = new Prng(1);

  constructor(ids: readonly NodeId[], opts: { mutations?: PaxosMutations } = {}) {
    this.#first = ids[0]!;
    this.#mutations = opts.mutations ?? {};
    for (const id of ids) this.#boot(id, []);
  }

  core(id: NodeId): Paxos {
    return this.#node(id).core;
  }

  durable(id: NodeId): readonly PaxosRecord[] {
    return this.#node(id).durable;
  }

  propose(id: NodeId, instance: number, value: PaxosValue): string {
    return this.#run(id, (out) => this.#node(id).core.propose(instance, value, out));
  }

  /** Delivers the first in-flight message matching `match`; throws if there is none. */
  deliver(match: (m: InFlight) => boolean): InFlight {
    const i = this.inFlight.findIndex(match);
    if (i < 0) throw new Error('no such message in flight');
    const [m] = this.inFlight.splice(i, 1);
    this.#run(m!.to, (out) => this.#node(m!.to).core.onMessage(m!.from, m!.msg, out));
    return m!;
  }

  /** Delivers messages (oldest first) until none is in flight, or `limit` deliveries. */
  deliverAll(match: (m: InFlight) => boolean = () => true, limit = 10_000): void {
    for (let n = 0; n < limit && this.inFlight.some(match); n++) this.deliver(match);
  }

  /** Drops every in-flight message matching `match`. */
  drop(match: (m: InFlight) => boolean): void {
    for (let i = this.inFlight.length - 1; i >= 0; i--) if (match(this.inFlight[i]!)) this.inFlight.splice(i, 1);
  }

  fireTimer(id: NodeId, key: string): void {
    this.#run(id, (out) => this.#node(id).core.onTimer(key, out));
  }

  /** The node restarts from its durable records; its in-memory state and timers are gone. */
  crash(id: NodeId): void {
    this.#boot(id, this.#node(id).durable);
  }

  #boot(id: NodeId, durable: PaxosRecord[]): void {
    const core = new Paxos({
      self: id,
      first: this.#first,
      random: this.#random,
      logger: silentLogger,
      mutations: this.#mutations,
      listener: { onDecided: (instance, value) => this.decisions.push({ node: id, instance, value }) },
    });
    core.restore(durable);
    this.#nodes.set(id, { core, durable, timers: new Set() });
    this.#run(id, (out) => core.start(out));
  }

  #node(id: NodeId): CoreNode {
    const node = this.#nodes.get(id);
    if (node === undefined) throw new Error(`unknown node ${id}`);
    return node;
  }

  #run<T>(id: NodeId, handler: (out: Outbox<PaxosMessage, PaxosRecord>) => T): T {
    const node = this.#node(id);
    const out = new Outbox<PaxosMessage, PaxosRecord>();
    const result = handler(out);
    node.durable.push(...out.records);
    for (const { key, delayMs } of out.timers) {
      if (delayMs === null) node.timers.delete(key);
      else node.timers.add(key);
    }
    for (const { to, msg } of [...out.volatileSends, ...out.sends]) this.inFlight.push({ from: id, to, msg });
    for (const call of out.upcalls) call();
    return result;
  }
}

export const to = (node: NodeId, kind?: PaxosMessage['kind']) => (m: InFlight): boolean =>
  m.to === node && (kind === undefined || m.msg.kind === kind);
export const from = (node: NodeId, dest: NodeId, kind?: PaxosMessage['kind']) => (m: InFlight): boolean =>
  m.from === node && m.to === dest && (kind === undefined || m.msg.kind === kind);
