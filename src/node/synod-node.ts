import { randomUUID } from 'node:crypto';
import type { Logger } from '../env/logger.js';
import type { NodeId } from '../env/types.js';
import type { NodeWorld } from '../env/world.js';
import { type CallbackOptions, type ConfigOptions, type PaxosOptions, type RsmOptions, type TransportOptions, callbackOptions } from '../options.js';
import type { App } from '../rsm/app.js';
import type { RsmMutations } from '../rsm/replica.js';
import { CallbackHub } from './callback-hub.js';
import { SessionKeeper, type SessionSpec } from './sessions.js';
import { nodeServiceCodec } from './status.js';
import { type ProductionWorld, createProductionWorld } from '../runtime/node-world.js';
import { Breakpoints } from './breakpoints.js';
import { ControlServer } from './control-server.js';
import { checkIdentity } from './identity.js';
import { NodeStack } from './node-stack.js';

export interface SynodNodeConfig {
  /** This node's address, `host:port`. */
  readonly me: NodeId;
  /** The cluster's first node (view 1 is `[first]`). */
  readonly first: NodeId;
  /**
   * The cluster's name: every message carries it and a node refuses messages of another
   * cluster (a leftover process on a reused port cannot interfere). Default `synod@<first>`.
   */
  readonly cluster?: string;
  readonly dataDir: string;
  readonly logger: Logger;
  /** Serve the test control service on this address (default: none). Never in production. */
  readonly controlAddress?: string;
  readonly paxos?: Partial<PaxosOptions>;
  readonly config?: Partial<ConfigOptions>;
  readonly rsm?: Partial<RsmOptions>;
  /**
   * The replicated app this node runs (default: none, Paxos and config only), and its name. An
   * app with callbacks (`App.callbacks`) gets the callback service (`CallbackHub`), with owner
   * ids of at most `maxOwnerLength` characters; with `sessions`, the serving primary also
   * expires owners that stay without a callback stream (`SessionKeeper`).
   */
  readonly app?: {
    readonly name: string;
    readonly app: App<never>;
    readonly sessions?: SessionSpec<never>;
    readonly maxOwnerLength?: number;
  };
  /** The callback service and sessions (used only with an app that has callbacks). */
  readonly callbacks?: Partial<CallbackOptions>;
  /**
   * Test-only RSM mutations (each breaks the protocol on purpose, to prove a checker catches it
   * on real processes: `npm run nemesis -- --mutate …`). Refused unless the control service is on:
   * never in production.
   */
  readonly testMutations?: RsmMutations;
  readonly transport?: Partial<TransportOptions>;
  /** What stopping on a fatal condition means; default: the process dies at once. */
  readonly stop?: (reason: string) => void;
}

/** The default cluster name of a cluster whose first node is `first`. */
export function defaultClusterName(first: NodeId): string {
  return `synod@${first}`;
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
 * One synod node process: its layers (`NodeStack`: Paxos, config, and the RSM with an app) wired
 * to the production world; the callback service and client sessions when the app has callbacks;
 * and optionally the test control service.
 */
export class SynodNode {
  readonly me: NodeId;
  /** Drawn fresh at every start: tells this process apart from earlier ones at the same address. */
  readonly incarnation: string;
  readonly stack: NodeStack<never>;
  /** The callback service, when the app has callbacks. */
  readonly callbacks: CallbackHub | null;
  readonly #sessions: SessionKeeper<never> | null;
  readonly #prod: ProductionWorld;
  readonly #control: ControlServer | null;

  private constructor(
    me: NodeId,
    incarnation: string,
    stack: NodeStack<never>,
    prod: ProductionWorld,
    control: ControlServer | null,
    callbacks: CallbackHub | null,
    sessions: SessionKeeper<never> | null,
  ) {
    this.me = me;
    this.incarnation = incarnation;
    this.stack = stack;
    this.#prod = prod;
    this.#control = control;
    this.callbacks = callbacks;
    this.#sessions = sessions;
  }

  /**
   * Starts the node: checks the data directory's identity, replays the durable log (a damaged
   * log throws `CorruptLogError` naming file and offset, and nothing starts), then serves.
   */
  static async start(config: SynodNodeConfig): Promise<SynodNode> {
    const cluster = config.cluster ?? defaultClusterName(config.first);
    callbackOptions(config.callbacks); // bad options refuse the start before anything is touched
    if (config.testMutations !== undefined && config.controlAddress === undefined) {
      throw new RangeError('test mutations break the protocol on purpose: they are refused unless the test control service is on');
    }
    const firstLife = checkIdentity(config.dataDir, { me: config.me, first: config.first, cluster });
    const incarnation = randomUUID();
    const logger = config.logger;
    const prod = await createProductionWorld({
      self: config.me,
      cluster,
      dataDir: config.dataDir,
      logger,
      transport: config.transport,
      stop: config.stop,
    });
    const breakpoints = new Breakpoints();
    let stack: NodeStack<never>;
    // Created once the stack is; callbacks only flow once the stack has started, after that.
    let hub: CallbackHub | null = null;
    try {
      stack = new NodeStack<never>(prod.world, {
        first: config.first,
        incarnation,
        firstLife,
        breakpoints,
        replicaObserver: { callbacks: (callbacks) => hub?.deliver(callbacks) },
        ...(config.app === undefined ? {} : { app: config.app.app, appName: config.app.name }),
        paxos: config.paxos,
        config: config.config,
        rsm: config.rsm,
        mutations: config.testMutations,
      });
    } catch (err) {
      await prod.close();
      throw err;
    }
    const inNode = <T>(fn: () => T): T => runInNode(prod.world, fn);
    let sessions: SessionKeeper<never> | null = null;
    const rsm = stack.rsm;
    if (rsm !== null && config.app?.app.callbacks !== undefined) {
      hub = CallbackHub.serve({
        self: config.me,
        transport: prod.transport,
        replica: rsm.core,
        inNode,
        clock: prod.world.clock,
        logger: logger.child({ layer: 'callbacks' }),
        options: config.callbacks,
        maxOwnerLength: config.app.maxOwnerLength,
      });
      if (config.app.sessions !== undefined) {
        const callbackHub = hub;
        sessions = new SessionKeeper<never>({
          self: config.me,
          executor: prod.world.executor,
          clock: prod.world.clock,
          logger: logger.child({ layer: 'sessions' }),
          replica: rsm.core,
          submit: (request, onAnswer) => rsm.submitInternal(request, onAnswer),
          connected: (owner) => callbackHub.has(owner),
          isolated: () => prod.transport.isolated,
          spec: config.app.sessions,
          options: config.callbacks,
        });
        sessions.start();
      }
    }
    stack.start();
    const statusChannel = prod.transport.serve(nodeServiceCodec, (from) => {
      statusChannel.answer(from, runInNode(prod.world, () => stack.status()));
    });
    let control: ControlServer | null = null;
    if (config.controlAddress !== undefined) {
      control = await ControlServer.listen(config.controlAddress, {
        self: config.me,
        incarnation,
        transport: prod.transport,
        breakpoints,
        paxos: stack.paxos,
        config: stack.config,
        inNode: (fn) => runInNode(prod.world, fn),
        logger: logger.child({ layer: 'control' }),
      });
    }
    logger.info({ first: config.first, cluster, dataDir: config.dataDir, incarnation, app: config.app?.name ?? null,
      callbacks: hub !== null, sessions: sessions !== null }, 'node started');
    return new SynodNode(config.me, incarnation, stack, prod, control, hub, sessions);
  }

  /** Stops serving, flushes the logs, releases the ports. */
  async close(): Promise<void> {
    this.#sessions?.stop();
    this.callbacks?.close();
    this.stack.stop();
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
