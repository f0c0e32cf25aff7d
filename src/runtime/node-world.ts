import { writeSync } from 'node:fs';
import { Executor } from '../env/executor.js';
import type { Logger } from '../env/logger.js';
import type { Metrics } from '../env/metrics.js';
import { systemRandom } from '../env/random.js';
import type { NodeId } from '../env/types.js';
import type { NodeWorld } from '../env/world.js';
import type { TransportOptions } from '../options.js';
import { dataDirStorage } from './data-dir-storage.js';
import { mkdirDurable } from './durable-fs.js';
import type { FileLog } from './file-log.js';
import { GrpcTransport } from './grpc-transport.js';
import { realClock } from './real-clock.js';
import type { NodeTls } from './tls-files.js';

export interface ProductionWorldOptions {
  readonly self: NodeId;
  /** The cluster's name, sent in every envelope; messages from other clusters are refused (see `GrpcTransportConfig.cluster`). */
  readonly cluster: string;
  /** The cluster's id, null until a joiner learned it (see `GrpcTransportConfig.clusterId`). */
  readonly clusterId: string | null;
  readonly dataDir: string;
  readonly logger: Logger;
  readonly transport?: Partial<TransportOptions>;
  /** Mutual TLS for the node's gRPC server and its peer connections (`GrpcTransportConfig.tls`); absent: plaintext. */
  readonly tls?: NodeTls;
  /**
   * What stopping means. Default: the process dies at once, as a crash would (SIGKILL to
   * itself), after writing the reason to standard error: a node whose invariants broke, whose
   * disk failed, or whose crash breakpoint fired must not run on or flush anything.
   */
  readonly stop?: (reason: string) => void;
  /** Where the node's layers count (default: nowhere, `noMetrics`); `PromMetrics` when `--metrics-address` is set. */
  readonly metrics?: Metrics;
}

export interface ProductionWorld {
  readonly world: NodeWorld;
  readonly transport: GrpcTransport;
  /** Flushes and closes every log, and closes the transport. */
  close(): Promise<void>;
}

export function dieNow(reason: string): never {
  writeSync(2, `synod: stopping: ${reason}\n`);
  process.kill(process.pid, 'SIGKILL');
  // SIGKILL cannot be caught; this line is never reached.
  throw new Error('unreachable');
}

/** Builds the production world of one node: gRPC, files with fsync, real timers, pino. */
export async function createProductionWorld(opts: ProductionWorldOptions): Promise<ProductionWorld> {
  // Durably: a power loss must not take away a directory that will hold acknowledged promises.
  mkdirDurable(opts.dataDir);
  const stop = opts.stop ?? dieNow;
  const transport = await GrpcTransport.listen({
    self: opts.self,
    cluster: opts.cluster,
    clusterId: opts.clusterId,
    logger: opts.logger.child({ layer: 'transport' }),
    options: opts.transport,
    tls: opts.tls,
    metrics: opts.metrics,
  });
  const logs: FileLog[] = [];
  const executor = new Executor((err) => {
    opts.logger.error({ err }, 'node stopped by an error');
    stop(`internal error: ${(err as Error).stack ?? String(err)}`);
  });
  const world: NodeWorld = {
    self: opts.self,
    executor,
    clock: realClock,
    random: systemRandom,
    logger: opts.logger,
    transport,
    ...(opts.metrics === undefined ? {} : { metrics: opts.metrics }),
    ...dataDirStorage(opts.dataDir, { logger: opts.logger, onLog: (log) => logs.push(log), metrics: opts.metrics }),
    halt(reason: string): void {
      executor.stop();
      opts.logger.error({ reason }, 'node halting');
      stop(reason);
    },
  };
  return {
    world,
    transport,
    async close() {
      executor.stop();
      await Promise.allSettled(logs.map((l) => l.close()));
      await transport.close();
    },
  };
}
