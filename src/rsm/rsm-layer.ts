import type { RecordSink } from '../env/durable-log.js';
import { LayerShell } from '../env/shell.js';
import type { RsmRecord } from './durable-records.js';
import { RsmStore } from './rsm-store.js';
import type { NodeWorld } from '../env/world.js';
import { type RsmOptions, observeOptions } from '../options.js';
import { noMetrics } from '../env/metrics.js';
import { RsmMeter } from './rsm-meter.js';
import type { App } from './app.js';
import { clientServiceCodec, replicaCodec } from './codec.js';
import { invariant } from '../env/errors.js';
import { type ClientAnswer, type ClientCall, type ReplicaMessage, type Request, isInternalClientId } from './messages.js';
import { type CallbackListener, type ConfigPort, Replica, type ReplicaObserver, type RsmBreakpoints, type RsmMutations } from './replica.js';

export interface RsmLayerOptions<S> {
  readonly app: App<S>;
  readonly config: ConfigPort;
  /**
   * This node may create the cluster's initial state if its disk holds no replicated state: it is
   * the cluster's first node, and nothing can have been executed anywhere without it (its data
   * directory is new, or the cluster never had a view after its first). See `ReplicaDeps.genesis`.
   */
  readonly mayCreate: boolean;
  /**
   * Test-only (the durability benchmark's baseline): keep the replicated state in memory only,
   * as before it was durable. Default true.
   */
  readonly durable?: boolean;
  /** Resolved where the node is composed (`NodeStack`). */
  readonly options: RsmOptions;
  readonly breakpoints?: RsmBreakpoints;
  readonly mutations?: RsmMutations;
  /** Test-only: `ReplicaDeps.verifyQueries`. */
  readonly verifyQueries?: boolean;
  readonly observer?: ReplicaObserver;
  /** Hears the app's callbacks (the node's `CallbackHub`). */
  readonly callbacks?: CallbackListener;
}

/** The name of the RSM's files in a node's storage: `rsm.snapshot` and the logs `rsm-<gen>`. */
export const rsmStoreName = 'rsm';

/** Where records go when the state is kept in memory only (test-only, `RsmLayerOptions.durable`): nowhere, at once. */
const memoryOnly: RecordSink<RsmRecord> = { append: () => {}, sync: (done) => done() };

/**
 * The RSM layer of one node, wired to its world: the `Replica` core behind a `LayerShell` with
 * the internal replica channel, the client service, and the replica's durable store
 * (`RsmStore`: snapshot and log, replayed here at construction). Config tells it about views
 * through `onViewCommitted`.
 */
export class RsmLayer<S> {
  readonly core: Replica<S>;
  readonly #shell: LayerShell<ReplicaMessage, RsmRecord, ClientCall, ClientAnswer>;
  readonly #store: RsmStore | null;
  readonly #meter: RsmMeter;

  /** Replays the durable state; throws `CorruptLogError` / `CorruptSnapshotError` for damage. */
  constructor(world: NodeWorld, opts: RsmLayerOptions<S>) {
    const logger = world.logger.child({ layer: 'rsm' });
    this.#store = opts.durable === false ? null
      : new RsmStore({ world, name: rsmStoreName, logger, mutations: opts.mutations });
    const durable = this.#store?.load() ?? { snapshot: null, records: [] };
    const meter = this.#meter = new RsmMeter(world.metrics ?? noMetrics, () => world.clock.now(),
      [...Object.keys(opts.app.handlers), ...Object.keys(opts.app.queries ?? {})], observeOptions());
    const empty = durable.snapshot === null && durable.records.length === 0;
    this.core = new Replica<S>({
      self: world.self,
      clock: world.clock,
      app: opts.app,
      config: opts.config,
      logger,
      genesis: opts.mayCreate && empty,
      durable,
      options: opts.options,
      breakpoints: opts.breakpoints,
      mutations: opts.mutations,
      verifyQueries: opts.verifyQueries,
      observer: opts.observer,
      callbacks: opts.callbacks,
    });
    this.#shell = new LayerShell<ReplicaMessage, RsmRecord, ClientCall, ClientAnswer>({
      executor: world.executor,
      clock: world.clock,
      transport: world.transport,
      codec: replicaCodec,
      log: this.#store ?? memoryOnly,
      mutations: { sendBeforeDurable: opts.mutations?.ackBeforeDurable === true },
      onMessage: (from, msg, out) => {
        meter.received(from, msg);
        this.core.onMessage(from, msg, out);
        meter.status(this.core.status, this.core.vid);
      },
      onLeave: (o) => meter.left(o),
      onTimer: (key, out) => this.core.onTimer(key, out),
      onHalt: (reason) => world.halt(reason),
      service: {
        codec: clientServiceCodec,
        onRequest: (from, call, out) => {
          meter.request(from, call);
          this.core.onClientCall(from, call, out);
        },
      },
    });
  }

  /**
   * Submits `request` to this node's replica from inside the node, as a client's request
   * (`Replica.onClientCall`) with a return address that routes its answer to `onAnswer` instead of
   * the network (`LayerShell.localReturnAddress`). The replica treats it exactly as a client's:
   * only a serving primary runs it, through the whole replication protocol (others answer
   * `not-primary` or `busy`), and the client table runs a `(clientId, seq)` at most once, so the
   * caller owns a client id of its own in the nodes' namespace (`internalClientIdPrefix`, e.g.
   * `synod:sessions@<node>`) and numbers its requests upwards. The request is marked `internal`
   * here, and only here: its handler sees `HandlerContext.internal` true on every replica.
   * `onAnswer` gets at most one answer, as an executor task of its own; none if the node stops
   * or the caller calls the returned `forget` first. Call it from a task of the node's executor.
   * For node-internal work such as expiring sessions (`SessionKeeper`) and sweeping the client
   * table (`ClientSweeper`: its procedure is synod's own, which only this path may submit).
   */
  submitInternal(request: Request, onAnswer: (answer: ClientAnswer) => void): () => void {
    invariant(isInternalClientId(request.clientId), () => `a node's own request under client id ${request.clientId}, outside the nodes' namespace`);
    const local = this.#shell.localReturnAddress(onAnswer);
    const internal: Request = { ...request, internal: true };
    this.#shell.run((out) => this.core.onClientCall(local.address, { kind: 'invoke', request: internal }, out));
    return local.forget;
  }

  /** Client requests this layer answered and their summed latency (`RsmMeter.clientPath`). */
  get clientPath(): { readonly answers: number; readonly seconds: number } {
    return this.#meter.clientPath;
  }

  /** Config listener: a view was committed (or this node's status in it changed). */
  onViewCommitted(): void {
    this.#shell.run((out) => this.core.onViewCommitted(out));
    this.#meter.status(this.core.status, this.core.vid);
  }

  stop(): void {
    this.#shell.stop();
  }

  /** Flushes the durable store and releases its files (after `stop`). */
  async close(): Promise<void> {
    await this.#store?.close();
  }
}
