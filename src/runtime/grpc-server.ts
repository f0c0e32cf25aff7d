import * as grpc from '@grpc/grpc-js';
import { invariant } from '../env/errors.js';
import type { Logger } from '../env/logger.js';
import type { NodeId } from '../env/types.js';
import type { TransportOptions } from '../options.js';
import { describeClusterName } from './grpc-peers.js';
import { clusterMetadata, wrongClusterCode } from './grpc-status.js';
import type { PartitionFilter } from './partition-filter.js';

/**
 * What the three parts of `GrpcTransport`'s server side (channels, the request/response
 * services, the streams) share: the node's identity and cluster, its gRPC server, its partition
 * filter, and the checks every incoming call of a client passes first. Internal to `src/runtime`.
 */
export interface ServerContext {
  readonly self: NodeId;
  readonly cluster: string;
  readonly log: Logger;
  readonly options: TransportOptions;
  readonly server: grpc.Server;
  readonly partition: PartitionFilter;
  /** True once `close()` began. */
  closing(): boolean;
  /**
   * Reserves `service` for one kind of use (a channel, a served service, a stream); a name is
   * used once per transport (`what` names the kind, for the programmer error).
   */
  claim(service: string, what: string): void;
}

/** A refused message, call or stream: its gRPC status. */
export interface Refusal {
  readonly ok: false;
  readonly code: grpc.status;
  readonly details: string;
  /** Trailing metadata (a refusal of another cluster names this node's cluster here). */
  readonly metadata?: grpc.Metadata;
}

export function refuse(code: grpc.status, details: string): Refusal {
  return { ok: false, code, details };
}

/** A refusal of another cluster's traffic by a node of cluster `ours`: its cluster in the metadata too. */
export function wrongCluster(ours: string, details: string): Refusal {
  return { ok: false, code: wrongClusterCode, details, metadata: clusterMetadata(ours) };
}

/** Whether this node is cut off from every peer and client (`GrpcTransport.isolate()`). */
export function isolated(ctx: ServerContext): boolean {
  return ctx.partition.describe().isolated;
}

/**
 * The checks a client's call or stream passes before anything else, in order: the node is not
 * closing (UNAVAILABLE), not isolated (UNAVAILABLE), and the call names this node's cluster
 * (FAILED_PRECONDITION, logged at warn). `kind` names the call in log lines (`call`, `stream`).
 */
export function admitClient(ctx: ServerContext, service: string, client: string, cluster: unknown, kind: 'call' | 'stream'): Refusal | null {
  if (ctx.closing()) return refuse(grpc.status.UNAVAILABLE, `${ctx.self} is shutting down`);
  if (isolated(ctx)) {
    ctx.log.debug({ service, client }, `${kind} refused: this node is isolated`);
    return refuse(grpc.status.UNAVAILABLE, `${ctx.self} is isolated`);
  }
  if (cluster !== ctx.cluster) {
    const theirs = describeClusterName(cluster);
    const ours = JSON.stringify(ctx.cluster);
    ctx.log.warn({ client, service, senderCluster: theirs, cluster: ours },
      kind === 'call' ? 'call refused: made by a client of another cluster' : 'stream refused: opened by a client of another cluster');
    return wrongCluster(ctx.cluster, `call from a client of cluster ${theirs} reached ${ctx.self} of cluster ${ours}`);
  }
  return null;
}

/** A registry of the service names a transport uses (see `ServerContext.claim`). */
export function serviceClaims(): (service: string, what: string) => void {
  const claimed = new Map<string, string>();
  return (service, what) => {
    const earlier = claimed.get(service);
    invariant(earlier === undefined, () => earlier === what
      ? `${what} ${service} ${what === 'channel' ? 'opened' : 'served'} twice`
      : `${what} ${service}: the name is taken by a ${earlier}`);
    claimed.set(service, what);
  };
}
