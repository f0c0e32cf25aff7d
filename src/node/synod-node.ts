import { randomUUID } from 'node:crypto';
import type { Logger } from '../env/logger.js';
import type { NodeId } from '../env/types.js';
import type { NodeWorld } from '../env/world.js';
import type { PaxosOptions, TransportOptions } from '../options.js';
import { PaxosLayer } from '../paxos/paxos-layer.js';
import { type ProductionWorld, createProductionWorld } from '../runtime/node-world.js';
import { Breakpoints } from './breakpoints.js';
import { ControlServer } from './control-server.js';
import { checkIdentity } from './identity.js';

export interface SynodNodeConfig {
  /** This node's address, `host:port`. */
  readonly me: NodeId;
  /** The cluster's first node (view 1 is `[first]`). */
  readonly first: NodeId;
  readonly dataDir: string;
  readonly logger: Logger;
  /** Serve the test control service on this address (default: none). Never in production. */
  readonly controlAddress?: string;
  readonly paxos?: Partial<PaxosOptions>;
  readonly transport?: Partial<TransportOptions>;
  /** What stopping on a fatal condition means; default: the process dies at once. */
  readonly stop?: (reason: string) => void;
}

/** The control service's address by convention: the node's port + 1. */
export function defaultControlAddress(me: NodeId): string {
  const colon = me.lastIndexOf(':');
  const port = Number(me.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port) || port < 1 || port >= 65535) {
    throw new RangeError(`node address ${me} must be host:port with a port below 65535`);
  }
  return `${me.slice(0, colon)}:${port + 1}`;
}

/**
 * One synod node process: its layers wired to the production world. Today that is the Paxos
 * layer; the config and RSM layers stack on it in later steps.
 */
export class SynodNode {
  readonly me: NodeId;
  /** Drawn fresh at every start: tells this process apart from earlier ones at the same address. */
  readonly incarnation: string;
  readonly paxos: PaxosLayer;
  readonly #prod: ProductionWorld;
  readonly #control: ControlServer | null;

  private constructor(me: NodeId, incarnation: string, paxos: PaxosLayer, prod: ProductionWorld, control: ControlServer | null) {
    this.me = me;
    this.incarnation = incarnation;
    this.paxos = paxos;
    this.#prod = prod;
    this.#control = control;
  }

  /**
   * Starts the node: checks the data directory's identity, replays the durable log (a damaged
   * log throws `CorruptLogError` naming file and offset, and nothing starts), then serves.
   */
  static async start(config: SynodNodeConfig): Promise<SynodNode> {
    checkIdentity(config.dataDir, config.me, config.first);
    const incarnation = randomUUID();
    const logger = config.logger;
    const prod = await createProductionWorld({
      self: config.me,
      dataDir: config.dataDir,
      logger,
      ...(config.transport === undefined ? {} : { transport: config.transport }),
      ...(config.stop === undefined ? {} : { stop: config.stop }),
    });
    const breakpoints = new Breakpoints();
    let paxos: PaxosLayer;
    try {
      paxos = new PaxosLayer(prod.world, {
        first: config.first,
        listener: { onDecided: (instance, value) => logger.info({ instance, value }, 'view decided') },
        breakpoints,
        ...(config.paxos === undefined ? {} : { options: config.paxos }),
      });
    } catch (err) {
      await prod.close();
      throw err;
    }
    prod.world.executor.submit(() => paxos.start());
    let control: ControlServer | null = null;
    if (config.controlAddress !== undefined) {
      control = await ControlServer.listen(config.controlAddress, {
        self: config.me,
        incarnation,
        transport: prod.transport,
        breakpoints,
        paxos,
        inNode: (fn) => runInNode(prod.world, fn),
        logger: logger.child({ layer: 'control' }),
      });
    }
    logger.info({ first: config.first, dataDir: config.dataDir, incarnation }, 'node started');
    return new SynodNode(config.me, incarnation, paxos, prod, control);
  }

  /** Stops serving, flushes the logs, releases the ports. */
  async close(): Promise<void> {
    this.paxos.stop();
    await this.#control?.close();
    await this.#prod.close();
  }
}

/** Runs `fn` as a task of the node's executor (the only place cores are touched) and returns its result. */
function runInNode<T>(world: NodeWorld, fn: () => T): T {
  let result: { value: T } | undefined;
  world.executor.submit(() => {
    result = { value: fn() };
  });
  if (result === undefined) throw new Error('the node is stopping');
  return result.value;
}
