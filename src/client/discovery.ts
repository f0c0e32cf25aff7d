/**
 * Finding a cluster from a few of its addresses: which cluster name its nodes answer to, and
 * who its members are now. `connect()` runs this once before it makes its client, so that a user
 * gives only addresses (the name is found) and a wrong name fails at once, naming both, instead
 * of being retried until a deadline.
 */
import * as grpc from '@grpc/grpc-js';
import type { NodeId } from '../env/types.js';
import { type NodeStatus, nodeServiceCodec } from '../node/status.js';
import { RpcError, UnaryClient } from '../runtime/grpc-client.js';
import { DiscoveryError, WrongClusterError } from './errors.js';

/** What discovery learned from the first node that answered. */
export interface Discovered {
  /** The cluster's name (every call names it; nodes refuse another cluster's calls). */
  readonly cluster: string;
  /** The node that answered. */
  readonly node: NodeId;
  /** The members of the view that node is in (empty if it knows none yet). */
  readonly members: readonly NodeId[];
}

export interface DiscoveryOptions {
  /** The name the caller expects; a node of another cluster is then an error, not a hint. */
  readonly cluster?: string;
  /** Give up after this long. */
  readonly deadlineMs: number;
  /** Deadline of one status call. */
  readonly attemptTimeoutMs: number;
  /** Pause between rounds over every seed. */
  readonly retryMs: number;
}

/**
 * The cluster name a node gives in its refusal of another cluster's call
 * (`call from a client of cluster "X" reached HOST:PORT of cluster "Y"` → Y), if it names one.
 */
export function clusterNamedByRefusal(details: string): string | undefined {
  const m = /reached \S+ of cluster ("(?:[^"\\]|\\.)*")$/.exec(details);
  if (m === null) return undefined;
  try {
    const name = JSON.parse(m[1]!) as unknown;
    return typeof name === 'string' && name.length > 0 ? name : undefined;
  } catch {
    return undefined;
  }
}

/** The default cluster name of a cluster whose first node is `first` (what nodes use without `--cluster`). */
export function defaultClusterName(first: NodeId): string {
  return `synod@${first}`;
}

/**
 * Asks the seeds in turn for their status (the node service, `synod.node.Node`) until one
 * answers, round after round until `deadlineMs`. A node that refuses the name asked for as
 * another cluster's names its own: without an expected name, discovery adopts it; with one, it
 * fails at once with `WrongClusterError`. Past the deadline: `DiscoveryError` with what each
 * seed said last.
 */
export async function discoverCluster(seeds: readonly NodeId[], opts: DiscoveryOptions): Promise<Discovered> {
  if (seeds.length === 0) throw new RangeError('connect needs at least one member address');
  const started = performance.now();
  const lastError = new Map<NodeId, string>();
  const clients = new Map(seeds.map((s) => [s, new UnaryClient(nodeServiceCodec.service, s)]));
  try {
    for (;;) {
      for (const seed of seeds) {
        const left = opts.deadlineMs - (performance.now() - started);
        if (left <= 0) throw new DiscoveryError(seeds, lastError);
        let name = opts.cluster ?? defaultClusterName(seed);
        for (let attempt = 0; attempt < 2; attempt++) {
          try {
            const status = await statusOf(clients.get(seed)!, name, Math.min(left, opts.attemptTimeoutMs));
            return { cluster: name, node: seed, members: status.members };
          } catch (err) {
            const named = err instanceof RpcError && err.code === grpc.status.FAILED_PRECONDITION ? clusterNamedByRefusal(err.details) : undefined;
            if (named !== undefined && opts.cluster !== undefined) throw new WrongClusterError(seed, opts.cluster, named);
            lastError.set(seed, err instanceof RpcError ? `${grpc.status[err.code] ?? err.code}: ${err.details}` : String(err));
            if (named === undefined) break;
            name = named; // ask once more under the name the node gave
          }
        }
      }
      await new Promise((resolve) => setTimeout(resolve, opts.retryMs));
    }
  } finally {
    for (const c of clients.values()) c.close();
  }
}

async function statusOf(client: UnaryClient, cluster: string, deadlineMs: number): Promise<NodeStatus> {
  const reply = await client.call('Call', { cluster, ...nodeServiceCodec.encodeRequest({ kind: 'status' }) }, deadlineMs);
  return nodeServiceCodec.decodeAnswer(reply);
}
