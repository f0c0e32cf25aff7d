import { RecordLog } from '../env/durable-log.js';
import { LayerShell, type ShellMutations } from '../env/shell.js';
import type { NodeId } from '../env/types.js';
import type { NodeWorld } from '../env/world.js';
import type { PaxosOptions } from '../options.js';
import { decodePaxosRecord, paxosCodec } from './codec.js';
import type { PaxosBreakpoints, PaxosMutations } from './context.js';
import type { PaxosMessage, PaxosRecord, PaxosValue } from './messages.js';
import { type AcceptorSlotStatus, Paxos, type PaxosListener } from './paxos.js';
import type { ProposeOutcome } from './proposer.js';
import type { ValueRule } from './value-rule.js';

export interface PaxosLayerOptions {
  readonly first: NodeId;
  readonly listener: PaxosListener;
  readonly options?: Partial<PaxosOptions>;
  readonly breakpoints?: PaxosBreakpoints;
  /** What values may be decided (see `PaxosDeps.rule`); default any member list. */
  readonly rule?: ValueRule;
  /** Test-only: break Paxos or its shell on purpose. */
  readonly mutations?: PaxosMutations & ShellMutations;
}

/** Name of the Paxos layer's durable log in a node's storage. */
export const paxosLogName = 'paxos';

/**
 * The Paxos layer of one node, wired to its world: the `Paxos` core behind a `LayerShell`, with
 * its own durable log and its own channel. The layer above calls `propose` / `peerKnows` (calls
 * down, from inside its own handlers or tasks) and hears back through `listener.onDecided`.
 */
export class PaxosLayer {
  readonly core: Paxos;
  /** How many durable records this process replayed at start (0: the node's first life). */
  readonly replayedRecords: number;
  readonly #shell: LayerShell<PaxosMessage, PaxosRecord>;
  readonly #log: RecordLog<PaxosRecord>;

  /** Replays the durable log; throws `CorruptLogError` if it is damaged. Call `start` next. */
  constructor(world: NodeWorld, opts: PaxosLayerOptions) {
    const logger = world.logger.child({ layer: 'paxos' });
    this.core = new Paxos({
      self: world.self,
      first: opts.first,
      listener: opts.listener,
      random: world.random,
      logger,
      options: opts.options,
      breakpoints: opts.breakpoints,
      mutations: opts.mutations,
      rule: opts.rule,
    });
    this.#log = new RecordLog(world.durableLog(paxosLogName), decodePaxosRecord, `${world.self}/${paxosLogName}`);
    const records = this.#log.load();
    this.replayedRecords = records.length;
    this.core.restore(records);
    logger.info({ records: records.length, highestKnown: this.core.highestKnown }, 'paxos: replayed durable log');
    this.#shell = new LayerShell<PaxosMessage, PaxosRecord>({
      executor: world.executor,
      clock: world.clock,
      transport: world.transport,
      codec: paxosCodec,
      log: this.#log,
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
