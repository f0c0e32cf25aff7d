import { Outbox } from '../../src/env/outbox.js';
import type { Logger } from '../../src/env/logger.js';
import type { NodeId } from '../../src/env/types.js';
import type { PaxosOptions } from '../../src/options.js';
import type { PaxosMutations } from '../../src/paxos/context.js';
import type { PaxosMessage, PaxosRecord, PaxosValue } from '../../src/paxos/messages.js';
import { Paxos } from '../../src/paxos/paxos.js';
import type { ValueRule } from '../../src/paxos/value-rule.js';
import { Prng } from '../../tools/sim/prng.js';

/** A message between two cores, held by the test until it chooses to deliver it. */
export interface InFlight {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly msg: PaxosMessage;
}

/** One line a core logged, with the node that logged it. */
export interface LogLine {
  readonly node: NodeId;
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly fields: Readonly<Record<string, unknown>>;
  readonly msg: string;
}

export interface CoreNetOptions {
  readonly mutations?: PaxosMutations;
  /** Paxos options of every core (unset ones take their defaults). */
  readonly options?: Partial<PaxosOptions>;
  /** Seed of the one random source the cores share (jitter, gossip peer choice). Default 1. */
  readonly seed?: number;
  /** The value rule of every core (default Paxos' own: any member list; the node stack's: `viewRule`). */
  readonly rule?: ValueRule;
}

interface CoreNode {
  core: Paxos;
  durable: PaxosRecord[];
  /** Armed timers: name → the delay it was armed with. */
  timers: Map<string, number>;
  /** The node as views list it (its address unless `wipe` gave it another). */
  member: string;
}

/**
 * Paxos cores wired by hand for scripted tests (etcd-raft style): every effect is carried out at
 * once (records are durable before the batch's sends, as the shell guarantees), sent messages
 * wait in `inFlight` until the test delivers them in the order it wants, timers fire only when
 * the test fires them, and `crash` rebuilds a core from its durable records alone.
 *
 * A crash breakpoint (`arm`) that fires halts the node as the shell does: nothing of that batch
 * happens (no record, send, timer or upcall), messages delivered to it later are lost, its timers
 * never fire, and it stays halted until `crash` restarts it (with no breakpoint armed, as a fresh
 * process). Every line the cores log is kept in `logs`.
 */
export class CoreNet {
  readonly inFlight: InFlight[] = [];
  readonly decisions: Array<{ node: NodeId; instance: number; value: PaxosValue }> = [];
  readonly logs: LogLine[] = [];
  readonly #nodes = new Map<NodeId, CoreNode>();
  readonly #halted = new Map<NodeId, string>();
  readonly #armed = new Map<NodeId, Set<3 | 4>>();
  readonly #first: NodeId;
  readonly #mutations: PaxosMutations;
  readonly #options: Partial<PaxosOptions>;
  readonly #rule: ValueRule | undefined;
  readonly #random: Prng;

  constructor(ids: readonly NodeId[], opts: CoreNetOptions = {}) {
    this.#first = ids[0]!;
    this.#mutations = opts.mutations ?? {};
    this.#options = opts.options ?? {};
    this.#rule = opts.rule;
    this.#random = new Prng(opts.seed ?? 1);
    for (const id of ids) this.#boot(id, []);
  }

  core(id: NodeId): Paxos {
    return this.#node(id).core;
  }

  durable(id: NodeId): readonly PaxosRecord[] {
    return this.#node(id).durable;
  }

  propose(id: NodeId, instance: number, value: PaxosValue): string {
    if (this.#halted.has(id)) throw new Error(`node ${id} is halted`);
    return this.#run(id, (out) => this.#node(id).core.propose(instance, value, out));
  }

  /**
   * Delivers the first in-flight message matching `match`; throws if there is none. A message to
   * a halted node is taken out of flight and lost.
   */
  deliver(match: (m: InFlight) => boolean): InFlight {
    const i = this.inFlight.findIndex(match);
    if (i < 0) throw new Error('no such message in flight');
    const [m] = this.inFlight.splice(i, 1);
    if (this.#halted.has(m!.to)) return m!;
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

  /** Puts a message in flight as if `from` had sent it (a forged or replayed message). */
  inject(from: NodeId, to: NodeId, msg: PaxosMessage): void {
    this.inFlight.push({ from, to, msg });
  }

  /** Fires the timer `key` of `id` (armed or not); a fired timer is no longer armed. No-op on a halted node. */
  fireTimer(id: NodeId, key: string): void {
    if (this.#halted.has(id)) return;
    this.#node(id).timers.delete(key);
    this.#run(id, (out) => this.#node(id).core.onTimer(key, out));
  }

  /** The timers `id` has armed, each with the delay it was (last) armed with. */
  timers(id: NodeId): ReadonlyMap<string, number> {
    return this.#node(id).timers;
  }

  /** Arms crash breakpoint `n` (3 or 4) on `id` until it halts there or restarts. */
  arm(id: NodeId, n: 3 | 4): void {
    let set = this.#armed.get(id);
    if (set === undefined) this.#armed.set(id, (set = new Set()));
    set.add(n);
  }

  /** Why `id` halted (the outbox's `haltReason`), or undefined while it runs. */
  haltReason(id: NodeId): string | undefined {
    return this.#halted.get(id);
  }

  /** The node restarts from its durable records; its in-memory state and timers are gone. */
  crash(id: NodeId): void {
    this.#halted.delete(id);
    this.#armed.delete(id);
    this.#boot(id, this.#node(id).durable, this.#node(id).member);
  }

  /**
   * The node restarts at the same address with nothing on disk (its data directory was wiped),
   * as the member `member` (`MemberId`; a real node's new data directory has a new disk id).
   */
  wipe(id: NodeId, member: string): void {
    this.#halted.delete(id);
    this.#armed.delete(id);
    this.#boot(id, [], member);
  }

  #boot(id: NodeId, durable: PaxosRecord[], member: string = id): void {
    const core = new Paxos({
      self: id,
      member,
      first: this.#first,
      random: this.#random,
      logger: captureLogger(id, this.logs, {}),
      options: this.#options,
      mutations: this.#mutations,
      rule: this.#rule,
      breakpoints: { isArmed: (n) => this.#armed.get(id)?.has(n) ?? false },
      listener: { onDecided: (instance, value) => this.decisions.push({ node: id, instance, value }) },
    });
    core.restore(durable);
    this.#nodes.set(id, { core, durable, timers: new Map(), member });
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
    if (out.haltReason !== undefined) {
      this.#halted.set(id, out.haltReason);
      node.timers.clear();
      return result;
    }
    node.durable.push(...out.records);
    for (const { key, delayMs } of out.timers) {
      if (delayMs === null) node.timers.delete(key);
      else node.timers.set(key, delayMs);
    }
    for (const { to, msg } of [...out.volatileSends, ...out.sends]) this.inFlight.push({ from: id, to, msg });
    for (const call of out.upcalls) call();
    return result;
  }
}

function captureLogger(node: NodeId, lines: LogLine[], bindings: Readonly<Record<string, unknown>>): Logger {
  const at = (level: LogLine['level']) => (fields: object, msg: string): void => {
    lines.push({ node, level, fields: { ...bindings, ...fields }, msg });
  };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => captureLogger(node, lines, { ...bindings, ...more }),
  };
}

export const to = (node: NodeId, kind?: PaxosMessage['kind']) => (m: InFlight): boolean =>
  m.to === node && (kind === undefined || m.msg.kind === kind);
export const from = (node: NodeId, dest: NodeId, kind?: PaxosMessage['kind']) => (m: InFlight): boolean =>
  m.from === node && m.to === dest && (kind === undefined || m.msg.kind === kind);
