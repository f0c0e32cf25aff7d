import type { Logger } from '../env/logger.js';
import type { NodeId } from '../env/types.js';
import type { ObserveOptions } from '../options/observe.js';
import type { GrpcTransport } from '../runtime/grpc-transport.js';
import type { PromMetrics } from '../runtime/prom-metrics.js';
import type { NodeStack } from './node-stack.js';
import { OpsServer } from './ops-server.js';
import { PeerStatusAsker, gaugeSample } from './ops-status.js';
import { ReadinessWatch } from './readiness-watch.js';

export interface NodeOpsDeps {
  readonly me: NodeId;
  readonly stack: NodeStack<never>;
  readonly transport: GrpcTransport;
  /** Runs `fn` as a task of the node's executor (where the cores may be read); throws once the node stops. */
  readonly inNode: <T>(fn: () => T) => T;
  /** The node's metrics when `metricsAddress` is set (`PromMetrics`), else undefined. */
  readonly metrics: PromMetrics | undefined;
  readonly metricsAddress: string | undefined;
  readonly observe: ObserveOptions;
  readonly logger: Logger;
}

/** What a node serves for operators: health on its gRPC port always, and the HTTP endpoint when asked. */
export interface NodeOps {
  readonly readiness: ReadinessWatch;
  /** Null without `metricsAddress`. */
  readonly server: OpsServer | null;
  /** Says NOT_SERVING and closes the HTTP endpoint. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts a node's operations side (`SynodNode`): the readiness watch with grpc.health.v1 on the
 * node's own gRPC port, and with `metricsAddress` the HTTP endpoint (`OpsServer`) whose gauges
 * are sampled from the node at each scrape. Rejects (the watch stopped again) when the endpoint
 * cannot listen.
 */
export async function startNodeOps(deps: NodeOpsDeps): Promise<NodeOps> {
  const { stack, transport, inNode, observe, logger } = deps;
  const readiness = new ReadinessWatch({
    status: () => inNode(() => stack.status()),
    addHealthService: (health) => health.addToServer({
      // grpc-health-check types the definition with proto-loader's and the handlers loosely; grpc-js takes both as they are.
      addService: (definition, implementation) => transport.addPlainService(
        definition as unknown as Parameters<typeof transport.addPlainService>[0],
        implementation as unknown as Parameters<typeof transport.addPlainService>[1]),
    }),
    pollMs: observe.readinessPollMs,
    timelineViews: observe.statusTimelineViews,
    logger: logger.child({ layer: 'health' }),
  });
  let server: OpsServer | null = null;
  if (deps.metrics !== undefined && deps.metricsAddress !== undefined) {
    deps.metrics.sample = () => inNode(() => gaugeSample(stack));
    try {
      server = await OpsServer.listen(deps.metricsAddress, {
        self: deps.me,
        metrics: deps.metrics,
        readiness,
        status: () => inNode(() => stack.status()),
        peers: new PeerStatusAsker(transport, observe.peerStatusTimeoutMs),
        maxConnections: observe.maxOpsConnections,
        requestTimeoutMs: observe.opsRequestTimeoutMs,
        logger: logger.child({ layer: 'ops' }),
      });
    } catch (err) {
      readiness.stop();
      throw new Error(`${deps.me}: cannot serve metrics on ${deps.metricsAddress}: ${(err as Error).message}`, { cause: err });
    }
  }
  let closing: Promise<void> | null = null;
  return {
    readiness,
    server,
    close: () => (closing ??= (async () => {
      readiness.stop();
      await server?.close();
    })()),
  };
}
