/**
 * Finding a cluster from a few of its addresses: which cluster name its nodes answer to, and
 * who its members are now. `connect()` runs this once before it makes its client, so that a user
 * gives only addresses (the name is found) and a wrong name fails at once, naming both, instead
 * of being retried until a deadline.
 */
import { defaultClusterName } from '../env/cluster-name.js';
import * as grpc from '@grpc/grpc-js';
import type { NodeId } from '../env/types.js';
import { type NodeStatus, nodeServiceCodec } from '../node/status.js';
import { RpcError, UnaryClient } from '../runtime/grpc-client.js';
import { DiscoveryError, InvalidArgumentError, WrongClusterError } from './errors.js';
import { address } from '../env/validate.js';
import { channelCredentials } from '../runtime/tls-credentials.js';
import type { ClientTls } from '../runtime/tls-files.js';

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
  /** Mutual TLS (`loadClientTls`); absent: plaintext. */
  readonly tls?: ClientTls;
}

/** Statuses a node refuses a client's credentials with (mutual TLS, runtime/tls-auth.ts). */
const credentialRefusals: ReadonlySet<grpc.status> = new Set([grpc.status.UNAUTHENTICATED, grpc.status.PERMISSION_DENIED]);

/**
 * Asks every seed at once for its status (the node service, `synod.node.Node`), round after round
 * until `deadlineMs`, and takes the first that answers. A node that refuses the name asked for
 * as another cluster's names its own: without an expected name, discovery adopts it; with one,
 * a round in which no seed answered and one named another cluster fails with
 * `WrongClusterError`; one in which no seed answered and one refused the client's credentials
 * (UNAUTHENTICATED, PERMISSION_DENIED: mutual TLS) fails at once with `DiscoveryError` saying
 * so. An address that is not `host:port` fails at once (`InvalidArgumentError`); past the deadline, `DiscoveryError` with what each seed said last.
 */
export async function discoverCluster(seeds: readonly NodeId[], opts: DiscoveryOptions): Promise<Discovered> {
  if (seeds.length === 0) throw new InvalidArgumentError('members', 'give at least one address of the cluster');
  for (const [i, seed] of seeds.entries()) {
    try {
      address(seed, `members[${i}]`);
    } catch (err) {
      throw new InvalidArgumentError('members', (err as Error).message.replace(/^invalid message: /, ''));
    }
  }
  const started = performance.now();
  const lastError = new Map<NodeId, string>();
  const credentials = opts.tls === undefined ? undefined : channelCredentials(opts.tls);
  const clients = new Map(seeds.map((s) => [s, new UnaryClient(nodeServiceCodec.service, s, {}, credentials)]));
  try {
    for (;;) {
      const left = opts.deadlineMs - (performance.now() - started);
      if (left <= 0) throw new DiscoveryError(seeds, lastError);
      const deadlineMs = Math.min(left, opts.attemptTimeoutMs);
      const round = await firstAnswer(seeds.map((seed) => askStatus(clients.get(seed)!, seed, opts.cluster, deadlineMs)
        .then(({ status, cluster }) => ({ cluster, node: seed, members: status.members }))));
      if (round.found !== undefined) return round.found;
      for (const [i, err] of round.errors.entries()) {
        if (err instanceof WrongClusterError) throw err;
        lastError.set(seeds[i]!, err instanceof RpcError ? `${grpc.status[err.code] ?? err.code}: ${err.details}` : String(err));
      }
      // A node that refused this client's credentials (mutual TLS) will refuse them again: no retry.
      if (round.errors.some((err) => err instanceof RpcError && credentialRefusals.has(err.code))) throw new DiscoveryError(seeds, lastError);
      await new Promise((resolve) => setTimeout(resolve, opts.retryMs));
    }
  } finally {
    for (const c of clients.values()) c.close();
  }
}

/** The first of `attempts` to succeed, as soon as it does; or, once every one failed, their errors in order. */
function firstAnswer<T>(attempts: Array<Promise<T>>): Promise<{ found?: T; errors: unknown[] }> {
  return new Promise((resolve) => {
    const errors: unknown[] = new Array(attempts.length);
    let failed = 0;
    attempts.forEach((attempt, i) => {
      attempt.then(
        (found) => resolve({ found, errors }),
        (err: unknown) => {
          errors[i] = err;
          if (++failed === attempts.length) resolve({ errors });
        },
      );
    });
  });
}

/**
 * One node's status through its node service, and the cluster name that worked. With `expected`,
 * the call names it, and a node of another cluster is a `WrongClusterError`. Without, the call
 * first names `synod@<address>` (right for a first node under the default name) and, if the node
 * refuses it as another cluster's, asks once more under the name the refusal gives. Other
 * failures reject with the call's `RpcError`.
 */
export async function askStatus(
  client: UnaryClient,
  address: NodeId,
  expected: string | undefined,
  deadlineMs: number,
): Promise<{ readonly status: NodeStatus; readonly cluster: string }> {
  const first = expected ?? defaultClusterName(address);
  try {
    return { status: await statusOf(client, first, deadlineMs), cluster: first };
  } catch (err) {
    if (!(err instanceof RpcError) || err.cluster === undefined) throw err;
    if (expected !== undefined) throw new WrongClusterError(address, expected, err.cluster);
    return { status: await statusOf(client, err.cluster, deadlineMs), cluster: err.cluster };
  }
}

/** One status call to a node of cluster `cluster`; rejects with the call's `RpcError`. */
export async function statusOf(client: UnaryClient, cluster: string, deadlineMs: number): Promise<NodeStatus> {
  const reply = await client.call('Call', { cluster, ...nodeServiceCodec.encodeRequest({ kind: 'status' }) }, deadlineMs);
  return nodeServiceCodec.decodeAnswer(reply);
}
