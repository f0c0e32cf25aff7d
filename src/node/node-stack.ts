import type { NodeId } from '../env/types.js';
import type { NodeWorld } from '../env/world.js';
import type { ShellMutations } from '../env/shell.js';
import type { ConfigOptions, PaxosOptions } from '../options.js';
import { ConfigLayer } from '../config/config-layer.js';
import type { ConfigListener, ConfigMutations } from '../config/view-manager.js';
import type { PaxosBreakpoints, PaxosMutations } from '../paxos/context.js';
import type { PaxosValue } from '../paxos/messages.js';
import { PaxosLayer } from '../paxos/paxos-layer.js';

export interface NodeStackOptions {
  readonly first: NodeId;
  readonly incarnation: string;
  readonly breakpoints?: PaxosBreakpoints;
  readonly paxos?: Partial<PaxosOptions>;
  readonly config?: Partial<ConfigOptions>;
  /** Hears every committed view (the RSM layer, when there is one; tests). */
  readonly onViewCommitted?: ConfigListener['onViewCommitted'];
  /** Hears every Paxos decision, after the config layer (simulator checkers). */
  readonly onDecided?: (instance: number, value: PaxosValue) => void;
  /** Hears every value the config layer proposes (simulator checkers: validity). */
  readonly onPropose?: (instance: number, value: PaxosValue) => void;
  readonly wantsMembership?: boolean;
  /** Test-only protocol breakage. */
  readonly mutations?: PaxosMutations & ShellMutations & ConfigMutations;
}

/**
 * The layers of one node, stacked: Paxos under config (and, later, the RSM above). Production
 * (`SynodNode`) and the simulator build nodes with this same class, so both run the same wiring.
 */
export class NodeStack {
  readonly paxos: PaxosLayer;
  readonly config: ConfigLayer;
  readonly #world: NodeWorld;

  /** Replays the durable logs; throws `CorruptLogError` for a damaged one. Call `start` next. */
  constructor(world: NodeWorld, opts: NodeStackOptions) {
    this.#world = world;
    let config: ConfigLayer | null = null;
    this.paxos = new PaxosLayer(world, {
      first: opts.first,
      listener: {
        onDecided: (instance, value) => {
          config?.onDecided(instance, value);
          opts.onDecided?.(instance, value);
        },
      },
      ...(opts.breakpoints === undefined ? {} : { breakpoints: opts.breakpoints }),
      ...(opts.paxos === undefined ? {} : { options: opts.paxos }),
      ...(opts.mutations === undefined ? {} : { mutations: opts.mutations }),
    });
    const paxos = this.paxos;
    config = new ConfigLayer(world, {
      incarnation: opts.incarnation,
      restarted: paxos.replayedRecords > 0,
      paxos: {
        propose: (instance, value) => {
          opts.onPropose?.(instance, value);
          return paxos.propose(instance, value);
        },
        peerKnows: (peer, instance) => paxos.peerKnows(peer, instance),
        get highestKnown() {
          return paxos.core.highestKnown;
        },
        decided: (instance) => paxos.core.decided(instance),
      },
      listener: { onViewCommitted: (vid) => opts.onViewCommitted?.(vid) },
      ...(opts.config === undefined ? {} : { options: opts.config }),
      ...(opts.wantsMembership === undefined ? {} : { wantsMembership: opts.wantsMembership }),
      ...(opts.mutations === undefined ? {} : { mutations: opts.mutations }),
    });
    this.config = config;
  }

  /** Starts the layers bottom-up, as one task of the node's executor. */
  start(): void {
    this.#world.executor.submit(() => {
      this.paxos.start();
      this.config.start();
    });
  }

  stop(): void {
    this.config.stop();
    this.paxos.stop();
  }
}
