/**
 * What `synod status` and `synod control` do, as functions (the CLI parses arguments and prints;
 * the demo and tests may call these directly):
 * - `queryStatus`: one node's `NodeStatus` through its node service (`synod.node.Node`, the
 *   node's main port), finding the cluster name on its own when none is given;
 * - `findClusterName`: a cluster's name, from the first of its nodes that answers;
 * - `formatStatus`: that status as a few aligned lines and the view history;
 * - `controlNode`: one request to a node's test control service (`synod.control.Control`, on
 *   loopback at the node's port + 1 by convention), naming the node's cluster and cluster id,
 *   which it reads from the node's status first.
 * Every failure is an `AdminError` whose message says what went wrong and what to check.
 */
import * as grpc from '@grpc/grpc-js';
import type { NodeId } from '../env/types.js';
import { formatApp } from '../config/app-identity.js';
import { controlService } from '../node/control-server.js';
import { type NodeStatus, nodeServiceCodec } from '../node/status.js';
import { defaultControlAddress } from '../node/synod-node.js';
import { RpcError, UnaryClient } from '../runtime/grpc-client.js';
import { askStatus, discoverCluster, statusOf } from '../client/discovery.js';
import { channelCredentials, hostOf } from '../runtime/tls-credentials.js';
import type { ClientTls } from '../runtime/tls-files.js';
import { WrongClusterError } from '../client/errors.js';

/** Deadline of one status or control call. */
export const adminCallDeadlineMs = 5000;

/** A status or control request failed; `message` is meant for an operator. */
export class AdminError extends Error {
  override readonly name = 'AdminError';
  /** The gRPC status of the failed call, if it got that far. */
  readonly code: grpc.status | null;
  constructor(message: string, code: grpc.status | null = null) {
    super(message);
    this.code = code;
  }
}

/** The control address by convention (loopback, port + 1), or a description of it when the port has no successor. */
function controlAddressOf(address: string): string {
  try {
    return defaultControlAddress(address);
  } catch {
    return '127.0.0.1:PORT+1';
  }
}

/**
 * The node whose test control service listens at `controlAddress` by convention: the same host,
 * the port before it (a node started with --control serves its control service on loopback,
 * port + 1, and listens on its own address; `--node` names it when that is not loopback).
 */
export function nodeAddressOf(controlAddress: string): NodeId {
  const colon = controlAddress.lastIndexOf(':');
  const port = Number(controlAddress.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port) || port < 2) throw new AdminError(`control address ${controlAddress} has no port before it: name the node with --node HOST:PORT`);
  return `${controlAddress.slice(0, colon)}:${port - 1}`;
}

/** The credentials of a client's calls: TLS when given, else plaintext. */
function credentialsOf(tls: ClientTls | undefined): grpc.ChannelCredentials | undefined {
  return tls === undefined ? undefined : channelCredentials(tls);
}

/** What went wrong with a call to `address`, for an operator; `what` names the service asked. */
function explain(err: unknown, address: string, what: 'node' | 'control'): AdminError {
  if (!(err instanceof RpcError)) return new AdminError(`${address}: ${(err as Error).message}`);
  // grpc-js ends a connection failure with an empty "Resolution note:"; leave it out.
  const said = `${grpc.status[err.code] ?? err.code}: ${err.details.replace(/\s*Resolution note:\s*$/, '')}`;
  const service = what === 'node' ? 'node service (synod.node.Node)' : 'test control service (synod.control.Control)';
  switch (err.code) {
    case grpc.status.UNAVAILABLE:
      if (/ is isolated$/.test(err.details)) {
        return new AdminError(`${address} is isolated by its test control service and answers nobody (${said}); ` +
          `its control service still answers: \`synod control ${controlAddressOf(address)} partition 0\` heals it`, err.code);
      }
      return new AdminError(`cannot reach the ${service} at ${address}: ${said}` +
        (what === 'node'
          ? ' (is a node running there? give the node\'s own address, not its control port)'
          : ' (is the node running, started with --control? give its control address, by default 127.0.0.1 and the node\'s port + 1)'), err.code);
    case grpc.status.DEADLINE_EXCEEDED:
      return new AdminError(`no answer from the ${service} at ${address} within ${adminCallDeadlineMs} ms (${said})`, err.code);
    case grpc.status.UNIMPLEMENTED:
      return new AdminError(`${address} does not serve the ${service} (${said})` +
        (what === 'node'
          ? ': is it a node\'s own address? (port + 1 is its control service)'
          : ': is it a control address? (by default 127.0.0.1 and a node\'s port + 1; the node must run with --control)'), err.code);
    default:
      return new AdminError(`the ${service} at ${address} refused: ${said}`, err.code);
  }
}


/**
 * Asks one node of a known cluster for its status, again and again over one connection (for
 * tools that watch a node). Reconnects quickly (every `reconnectMs` at most) after the node was
 * down, so a restarted node is seen as soon as it serves. Rejects with an `AdminError`.
 */
export class NodeStatusClient {
  readonly address: NodeId;
  readonly #cluster: string;
  readonly #client: UnaryClient;

  constructor(address: NodeId, cluster: string, opts: { reconnectMs?: number; tls?: ClientTls } = {}) {
    const reconnectMs = opts.reconnectMs ?? 100;
    this.address = address;
    this.#cluster = cluster;
    this.#client = new UnaryClient(nodeServiceCodec.service, address, {
      'grpc.initial_reconnect_backoff_ms': Math.min(reconnectMs, 20),
      'grpc.max_reconnect_backoff_ms': reconnectMs,
    }, credentialsOf(opts.tls));
  }

  async status(deadlineMs = adminCallDeadlineMs): Promise<NodeStatus> {
    try {
      return await statusOf(this.#client, this.#cluster, deadlineMs);
    } catch (err) {
      throw explain(err, this.address, 'node');
    }
  }

  close(): void {
    this.#client.close();
  }
}

/**
 * Asks the node at `address` (its main port) for its status. Every call to a node names a
 * cluster and a node of another cluster refuses it (FAILED_PRECONDITION naming both). With
 * `cluster` given, that one is used and a refusal is an error. Without it, the first attempt uses
 * `synod@<address>` (right when `address` is the cluster's first node, the nodes' default), and
 * a refusal is answered by one more attempt with the cluster name the refusal names.
 * Resolves with the status and the cluster name that worked; rejects with an `AdminError`.
 */
export async function queryStatus(address: NodeId, opts: { cluster?: string; tls?: ClientTls } = {}): Promise<{ status: NodeStatus; cluster: string }> {
  const client = new UnaryClient(nodeServiceCodec.service, address, {}, credentialsOf(opts.tls));
  try {
    return await askStatus(client, address, opts.cluster, adminCallDeadlineMs);
  } catch (err) {
    if (err instanceof WrongClusterError) {
      throw new AdminError(`${address} is a node of cluster ${JSON.stringify(err.actual)}, not ${JSON.stringify(err.expected)}` +
        ` (drop --cluster, or give --cluster ${JSON.stringify(err.actual)})`, grpc.status.FAILED_PRECONDITION);
    }
    throw explain(err, address, 'node');
  } finally {
    client.close();
  }
}

/**
 * The name of the cluster the nodes at `addresses` belong to, found as `connect()` finds it
 * (`discoverCluster`: every address at once, the first to answer) within `adminCallDeadlineMs`.
 * Rejects with an `AdminError` naming what each address said when none answered.
 */
export async function findClusterName(addresses: readonly NodeId[], tls?: ClientTls): Promise<string> {
  try {
    return (await discoverCluster(addresses, { deadlineMs: adminCallDeadlineMs, attemptTimeoutMs: adminCallDeadlineMs, retryMs: 200, tls })).cluster;
  } catch (err) {
    throw new AdminError(`cannot find the cluster's name (give --cluster NAME): ${(err as Error).message}`);
  }
}

/** `[a, b, c]` */
function list(members: readonly string[]): string {
  return `[${members.join(', ')}]`;
}

/** `+x` / `-x`: how view `next` differs from `prev` (empty for the first view). */
function change(prev: readonly string[] | undefined, next: readonly string[]): string {
  if (prev === undefined) return 'created';
  const added = next.filter((m) => !prev.includes(m)).map((m) => `+${m}`);
  const removed = prev.filter((m) => !next.includes(m)).map((m) => `-${m}`);
  return [...added, ...removed].join(' ');
}

/**
 * A node's status for people: a few aligned lines (node, its member id, cluster, view and its
 * member ids, primary, config and replica status, last executed, completeness), then the newest views it knows (at most 32), oldest first, with
 * what changed from the one before.
 */
export function formatStatus(s: NodeStatus, cluster?: string): string {
  const role = s.primary === null ? '' : s.primary === s.node ? 'primary' : s.members.includes(s.node) ? 'backup' : 'not a member';
  const rows: Array<[string, string]> = [
    ['node', `${s.node}${role === '' ? '' : ` (${role})`}`],
    // How views list this node: its address and its data directory's disk id (a wiped directory gets a new one).
    ['member', s.member],
    ['incarnation', s.incarnation],
    ...(cluster === undefined ? [] : [['cluster', cluster] as [string, string]]),
    ['cluster id', s.clusterId ?? '(none yet: joining)'],
    ['app', s.app === null ? '(none: Paxos and config only)' : formatApp(s.app)],
    ['view', s.vid === 0 ? '(none yet: starting)' : `${s.vid} ${list(s.members)}`],
    ['member ids', s.vid === 0 ? '(none yet: starting)' : list(s.memberIds)],
    ['primary', s.primary ?? (s.app === null ? '(no app, no primary)' : '(none)')],
    ['config', s.configStatus],
  ];
  if (s.app !== null) {
    rows.push(
      ['replica', s.replicaStatus ?? '(none)'],
      ['last executed', s.lastExecuted === null ? '(holds no state)' : `${s.lastExecuted.vid}.${s.lastExecuted.seqno} (vid.seqno)`],
      ['state complete', s.stateComplete ? 'yes' : 'no'],
      ['refusing', s.refusing ? 'yes: no member holds a complete state' : 'no'],
      ['in flight', String(s.inFlight)],
    );
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  const lines = rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`);
  lines.push(s.views.length < s.viewsDecided ? `views (the newest ${s.views.length} of ${s.viewsDecided})` : `views (${s.views.length})`);
  const vidWidth = Math.max(1, ...s.views.map((v) => String(v.vid).length));
  const listWidth = Math.max(0, ...s.views.map((v) => list(v.members).length));
  s.views.forEach((v, i) => {
    const mark = v.vid === s.vid ? ' <- current' : '';
    lines.push(`  ${String(v.vid).padStart(vidWidth)}  ${list(v.members).padEnd(listWidth)}  ${change(s.views[i - 1]?.members, v.members)}${mark}`);
  });
  return `${lines.join('\n')}\n`;
}

/**
 * The cluster name and id of the node at `node`, from its status (`queryStatus`), or, when the
 * node is isolated (it answers no status call), from its refusal, which names both. Rejects with
 * an `AdminError` that says where synod control looked (`guessed`: at the control port − 1).
 */
async function clusterOfNode(node: NodeId, cluster: string | undefined, guessed: boolean, tls: ClientTls | undefined): Promise<{ cluster: string; clusterId: string }> {
  const client = new UnaryClient(nodeServiceCodec.service, node, {}, credentialsOf(tls));
  const where = `synod control reads the node's cluster name and id from its status at ${node}` +
    `${guessed ? ', the control port - 1; --node HOST:PORT names the node' : ''}`;
  try {
    const { status, cluster: found } = await askStatus(client, node, cluster, adminCallDeadlineMs);
    return { cluster: found, clusterId: status.clusterId ?? '' };
  } catch (err) {
    if (err instanceof RpcError && err.code === grpc.status.UNAVAILABLE && err.named !== undefined &&
      (cluster === undefined || cluster === err.named.cluster)) {
      return { cluster: err.named.cluster, clusterId: err.named.clusterId ?? '' };
    }
    if (err instanceof WrongClusterError) {
      throw new AdminError(`${node} is a node of cluster ${JSON.stringify(err.actual)}, not ${JSON.stringify(err.expected)} (${where})`,
        grpc.status.FAILED_PRECONDITION);
    }
    const explained = explain(err, node, 'node');
    throw new AdminError(`${explained.message} (${where})`, explained.code);
  } finally {
    client.close();
  }
}

/** One request to a test control service. */
export type ControlAction =
  | { readonly kind: 'breakpoint'; readonly breakpoint: 1 | 2 | 3 | 4 }
  | { readonly kind: 'disarm'; readonly breakpoint?: 1 | 2 | 3 | 4 }
  | { readonly kind: 'isolate' }
  | { readonly kind: 'heal' }
  | { readonly kind: 'partition-from'; readonly peers: readonly NodeId[] };

/**
 * Sends `action` to the test control service at `controlAddress`; resolves with the service's
 * answer (e.g. `armed: [4]`, `isolated`, `healed`, `cut off from …`); rejects with an
 * `AdminError`. Every control request names the node's cluster and cluster id, and the service
 * refuses another: both are read first from the status of the node (`opts.node`, by default the
 * control address's port − 1, `nodeAddressOf`), under `opts.cluster` when given (else found as
 * `queryStatus` finds it). A control service of another cluster (or id) than that node's refuses.
 */
export async function controlNode(controlAddress: string, action: ControlAction, opts: { node?: NodeId; cluster?: string; tls?: ClientTls } = {}): Promise<string> {
  const node = opts.node ?? nodeAddressOf(controlAddress);
  const identity = await clusterOfNode(node, opts.cluster, opts.node === undefined, opts.tls);
  // With TLS the control service presents the node's certificate, which names the node's host,
  // not necessarily the control address's (loopback): check it against the node's.
  const client = new UnaryClient(controlService, controlAddress,
    opts.tls === undefined ? {} : { 'grpc.ssl_target_name_override': hostOf(node) }, credentialsOf(opts.tls));
  const [method, fields]: [string, Record<string, unknown>] =
    action.kind === 'breakpoint' ? ['Breakpoint', { breakpoint: action.breakpoint }]
    : action.kind === 'disarm' ? ['Breakpoint', { breakpoint: action.breakpoint ?? 0, disarm: true }]
    : action.kind === 'isolate' ? ['Partition', { isolate: true }]
    : action.kind === 'heal' ? ['Heal', {}]
    : ['Partition', { peers: [...action.peers] }];
  const request = { ...fields, cluster: identity.cluster, cluster_id: identity.clusterId };
  try {
    const reply = await client.call<{ detail?: string }>(method, request, adminCallDeadlineMs);
    return reply.detail ?? '';
  } catch (err) {
    throw explain(err, controlAddress, 'control');
  } finally {
    client.close();
  }
}
