import { LayerShell, type ShellMutations } from '../env/shell.js';
import type { MemberId, NodeId } from '../env/types.js';
import type { NodeWorld } from '../env/world.js';
import type { PaxosOptions } from '../options.js';
import { paxosCodec } from './codec.js';
import type { PaxosBreakpoints, PaxosMutations } from './context.js';
import type { PaxosMessage, PaxosRecord, PaxosValue } from './messages.js';
import { type AcceptorSlotStatus, Paxos, type PaxosListener } from './paxos.js';
import type { ProposeOutcome } from './proposer.js';
import { PaxosStore, type PaxosStoreMutations } from './paxos-store.js';
import type { ValueRule } from './value-rule.js';

export interface PaxosLayerOptions {
  readonly first: NodeId;
  /** This node as views list it (default its address); see `PaxosDeps.member`. */
  readonly member?: MemberId;
  readonly listener: PaxosListener;
  readonly options?: Partial<PaxosOptions>;
  readonly breakpoints?: PaxosBreakpoints;
  /** What values may be decided (see `PaxosDeps.rule`); default any member list. */
  readonly rule?: ValueRule;
  /** Test-only: break Paxos or its shell on purpose. */
  readonly mutations?: PaxosMutations & ShellMutations & PaxosStoreMutations;
}

/**
 * Name of the Paxos layer's durable files in a node's storage: the log `paxos` (generation 0,
 * the only one before the first compaction, and the one log of nodes from before compaction
 * existed), later generations `paxos-<gen>`, the snapshot `paxos.snapshot` (see `PaxosStore`).
 */
export const paxosLogName = 'paxos';

/**
 * The Paxos layer of one node, wired to its world: the `Paxos` core behind a `LayerShell`, with
 * its own durable log and its own channel. The layer above calls `propose` / `peerKnows` (calls
 * down, from inside its own handlers or tasks) and hears back through `listener.onDecided`.
 */
export class PaxosLayer {
  readonly core: Paxos;
  /** How many durable records this process replayed at start, a snapshot counting as one (0: the node's first life). */
  readonly replayedRecords: number;
  readonly #shell: LayerShell<PaxosMessage, PaxosRecord>;
  readonly #store: PaxosStore;

  /**
   * Replays the snapshot and the log after it; throws `CorruptSnapshotError` or `CorruptLogError`
   * if they are damaged. Call `start` next.
   */
  constructor(world: NodeWorld, opts: PaxosLayerOptions) {
    const logger = world.logger.child({ layer: 'paxos' });
    this.core = new Paxos({
      self: world.self,
      member: opts.member,
      first: opts.first,
      listener: opts.listener,
      random: world.random,
      logger,
      options: opts.options,
      breakpoints: opts.breakpoints,
      mutations: opts.mutations,
      rule: opts.rule,
    });
    this.#store = new PaxosStore({ world, name: paxosLogName, logger, mutations: opts.mutations });
    const { snapshot, records, gen } = this.#store.load();
    const replayed: PaxosRecord[] = snapshot === null ? [...records] : [{ kind: 'snapshot', snapshot, why: 'replayed' }, ...records];
    this.replayedRecords = replayed.length;
    this.core.restore(replayed);
    logger.info({ snapshot: snapshot !== null, records: records.length, gen, oldestKnown: this.core.oldestKnown, highestKnown: this.core.highestKnown },
      'paxos: replayed durable state');
    this.#shell = new LayerShell<PaxosMessage, PaxosRecord>({
      executor: world.executor,
      clock: world.clock,
      transport: world.transport,
      codec: paxosCodec,
      log: this.#store,
      onMessage: (from, msg, out) => this.core.onMessage(from, msg, out),
      onTimer: (key, out) => this.core.onTimer(key, out),
      onHalt: (reason) => world.halt(reason),
      mutations: opts.mutations,
    });
  }

  /** Delivers the replayed decisions upward and starts the learner. Run from an executor task. */
  start(): void {
    this.#shell.run((out) => this.core.start(out));
  }

  propose(instance: number, value: PaxosValue): ProposeOutcome {
    let outcome: ProposeOutcome = 'stopped';
    this.#shell.run((out) => {
      outcome = this.core.propose(instance, value, out);
    });
    return outcome;
  }

  /** Why this node may not propose `value` for `instance` (see `Paxos.proposalProblem`), or null. */
  proposalProblem(instance: number, value: PaxosValue): string | null {
    return this.core.proposalProblem(instance, value);
  }

  peerKnows(peer: NodeId, instance: number): void {
    this.#shell.run((out) => this.core.peerKnows(peer, instance, out));
  }

  acceptorStatus(instance: number): AcceptorSlotStatus {
    return this.core.acceptorStatus(instance);
  }

  stop(): void {
    this.#shell.stop();
  }
}
