// Shared by the gRPC transport tests: nodes on free loopback ports, real-time polling, a
// logger that keeps its lines.
import type { Metrics } from '../../src/env/metrics.js';
import { createServer } from 'node:net';
import { after } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../src/env/logger.js';
import { silentLogger } from '../../src/env/logger.js';
import type { NodeId } from '../../src/env/types.js';
import type { TransportOptions } from '../../src/options.js';
import { GrpcTransport } from '../../src/runtime/grpc-transport.js';

/** A port free a moment ago on loopback. Another process may take it before we bind: callers retry. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** The cluster every test node belongs to unless a test says otherwise. */
export const cluster = 'test-cluster';

/** That cluster's id: every test node knows it unless a test says otherwise. */
export const clusterId = 'test-cluster-id';

export interface NodeConfig {
  readonly cluster?: string;
  /** Default `clusterId`; null: a node that has not learned one (a joiner). */
  readonly clusterId?: string | null;
  readonly logger?: Logger;
  readonly options?: Partial<TransportOptions>;
  /** Where the transport counts (default `noMetrics`). */
  readonly metrics?: Metrics;
  /** Reuse this address (a restart); otherwise pick a free loopback port. */
  readonly self?: NodeId;
}

/** Starts a transport, retrying on bind failure (a free port can be taken between probe and bind). */
export async function startNode(config: NodeConfig = {}): Promise<GrpcTransport> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 10; attempt++) {
    const self = config.self ?? `127.0.0.1:${await freePort()}`;
    try {
      return await GrpcTransport.listen({
        self,
        cluster: config.cluster ?? cluster,
        clusterId: config.clusterId === undefined ? clusterId : config.clusterId,
        logger: config.logger ?? silentLogger,
        options: config.options,
        metrics: config.metrics,
      });
    } catch (err) {
      lastError = err;
      await sleep(50);
    }
  }
  throw lastError;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` in real time. */
export async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() >= deadline) return false;
    await sleep(5);
  }
  return true;
}

export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly fields: Record<string, unknown>;
  readonly msg: string;
}

/** A Logger that keeps every line, child bindings merged into the fields. */
export function capturingLogger(lines: LogLine[] = [], bindings: object = {}): Logger & { readonly lines: LogLine[] } {
  const at =
    (level: LogLine['level']) =>
    (fields: object, msg: string): void => {
      lines.push({ level, fields: { ...bindings, ...fields }, msg });
    };
  return {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => capturingLogger(lines, { ...bindings, ...more }),
  };
}

export const statusName = (code: grpc.status): string => grpc.status[code] ?? String(code);

/**
 * For a describe block: `node()` starts a transport (with `defaults` under its own options) that
 * is closed after the block, and `cleanup` takes any other closing step; the steps run in reverse order.
 */
export function closedAfterBlock(defaults: Partial<TransportOptions> = {}): { node: (config?: NodeConfig) => Promise<GrpcTransport>; cleanup: Array<() => Promise<void> | void> } {
  const cleanup: Array<() => Promise<void> | void> = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });
  const node = async (config: NodeConfig = {}): Promise<GrpcTransport> => {
    const t = await startNode({ ...config, options: { ...defaults, ...config.options } });
    cleanup.push(() => t.close());
    return t;
  };
  return { node, cleanup };
}

/** Both ways messages between nodes may travel (`TransportOptions.peerMessages`): delivery tests run against each. */
export const peerMessageModes = ['stream', 'unary'] as const;
