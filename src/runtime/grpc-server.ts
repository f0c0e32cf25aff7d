import * as grpc from '@grpc/grpc-js';
import { invariant } from '../env/errors.js';
import type { Logger } from '../env/logger.js';
import type { Metrics } from '../env/metrics.js';
import type { NodeId } from '../env/types.js';
import { type TransportOptions, limits } from '../options.js';
import { judgeClusterId } from '../env/cluster-id.js';
import { describeClusterName } from './grpc-peers.js';
import { clusterMetadata, wrongClusterCode } from './grpc-status.js';
import type { PartitionFilter } from './partition-filter.js';
import type { TlsAuth } from './tls-auth.js';

/**
 * What the three parts of `GrpcTransport`'s server side (channels, the request/response
 * services, the streams) share: the node's identity and cluster, its gRPC server, its partition
 * filter, and the checks every incoming call of a client passes first. Internal to `src/runtime`.
 */
export interface ServerContext {
  readonly self: NodeId;
  readonly cluster: string;
  /** The cluster's id as this node knows it now; null until it learned it (a joiner with a fresh data directory). */
  clusterId(): string | null;
  readonly log: Logger;
  readonly options: TransportOptions;
  readonly server: grpc.Server;
  readonly partition: PartitionFilter;
  /** Who may call what (mutual TLS; admits everyone on a plaintext node). */
  readonly auth: TlsAuth;
  /** True once `close()` began. */
  closing(): boolean;
  /**
   * Reserves `service` for one kind of use (a channel, a served service, a stream); a name is
   * used once per transport (`what` names the kind, for the programmer error).
   */
  claim(service: string, what: string): void;
  /** Where the transport counts what it does to clients (a stream evicted for not reading). */
  readonly metrics: Metrics;
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

/** A refusal of a message or call that names another cluster id than this node's (both named). */
export function wrongClusterId(ctx: ServerContext, details: string): Refusal {
  return { ok: false, code: wrongClusterCode, details, metadata: clusterMetadata(ctx.cluster, ctx.clusterId() ?? undefined) };
}

/** A received cluster id field, for a log line or an error (it may be absent or absurd). */
export function describeClusterId(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) return '(none)';
  if (value.length > limits.maxClusterIdLength) return `${JSON.stringify(value.slice(0, limits.maxClusterIdLength))}…`;
  return JSON.stringify(value);
}

/**
 * The cluster-id check of a message between nodes on a channel (its cluster name matched
 * already): `judgeClusterId`. Refusals are FAILED_PRECONDITION naming both ids, logged at warn
 * (at debug while this node itself has no id yet: expected until it joins).
 */
export function admitClusterId(ctx: ServerContext, from: NodeId, service: string, theirs: unknown, admitsNewcomers: boolean): Refusal | null {
  const ours = ctx.clusterId();
  const verdict = judgeClusterId(ours, typeof theirs === 'string' ? theirs : '', admitsNewcomers);
  const fields = { from, service, senderClusterId: describeClusterId(theirs), clusterId: ours === null ? '(none yet)' : JSON.stringify(ours) };
  const cluster = JSON.stringify(ctx.cluster);
  switch (verdict) {
    case 'admitted':
      return null;
    case 'receiver-has-none':
      ctx.log.debug(fields, 'message refused: this node has not learned its cluster id yet');
      return refuse(wrongClusterCode, `${ctx.self} has not learned the id of cluster ${cluster} yet (it is joining); ` +
        `message from ${from} of cluster id ${describeClusterId(theirs)} refused`);
    case 'sender-has-none':
      ctx.log.warn(fields, 'message refused: the sender has not learned the cluster id (only the join protocol admits it)');
      return wrongClusterId(ctx, `message from ${from}, which has not learned the id of cluster ${cluster}, reached ` +
        `${ctx.self} (cluster id ${JSON.stringify(ours)}) on ${service}, which only members use`);
    case 'another-id':
      ctx.log.warn(fields, 'message refused: sent by a node of another cluster id (a re-created cluster, or a stray process)');
      return wrongClusterId(ctx, `message from ${from} of cluster id ${describeClusterId(theirs)} reached ${ctx.self} ` +
        `of cluster ${cluster}, id ${JSON.stringify(ours)}`);
  }
}

/** Whether this node is cut off from every peer and client (`GrpcTransport.isolate()`). */
export function isolated(ctx: ServerContext): boolean {
  return ctx.partition.isolated;
}

/**
 * The checks a client's call or stream passes before anything else, in order: the node is not
 * closing (UNAVAILABLE), not isolated (UNAVAILABLE), the call names this node's cluster
 * (FAILED_PRECONDITION, logged at warn), and, when it names a cluster id (a node calling another
 * node does; clients do not need one), that id is this node's (FAILED_PRECONDITION naming both,
 * warn; a node that has not learned its id yet cannot tell, and admits it). `kind` names the call
 * in log lines (`call`, `stream`).
 */
export function admitClient(ctx: ServerContext, service: string, client: string, cluster: unknown, kind: 'call' | 'stream', clusterId?: unknown): Refusal | null {
  if (ctx.closing()) return refuse(grpc.status.UNAVAILABLE, `${ctx.self} is shutting down`);
  if (isolated(ctx)) {
    ctx.log.debug({ service, client }, `${kind} refused: this node is isolated`);
    // Who it is travels along (as in a wrong-cluster refusal): `synod control` needs the cluster's
    // name and id to heal an isolated node, which answers no status call.
    return { ...refuse(grpc.status.UNAVAILABLE, `${ctx.self} is isolated`), metadata: clusterMetadata(ctx.cluster, ctx.clusterId() ?? undefined) };
  }
  if (cluster !== ctx.cluster) {
    const theirs = describeClusterName(cluster);
    const ours = JSON.stringify(ctx.cluster);
    ctx.log.warn({ client, service, senderCluster: theirs, cluster: ours },
      kind === 'call' ? 'call refused: made by a client of another cluster' : 'stream refused: opened by a client of another cluster');
    return wrongCluster(ctx.cluster, `call from a client of cluster ${theirs} reached ${ctx.self} of cluster ${ours}`);
  }
  const ourId = ctx.clusterId();
  if (typeof clusterId === 'string' && clusterId.length > 0 && ourId !== null && clusterId !== ourId) {
    ctx.log.warn({ client, service, senderClusterId: describeClusterId(clusterId), clusterId: JSON.stringify(ourId) },
      `${kind} refused: made by a node of another cluster id`);
    return wrongClusterId(ctx, `${kind} from ${client} of cluster id ${describeClusterId(clusterId)} reached ${ctx.self} ` +
      `of cluster ${JSON.stringify(ctx.cluster)}, id ${JSON.stringify(ourId)}`);
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
