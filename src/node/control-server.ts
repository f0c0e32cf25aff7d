import * as grpc from '@grpc/grpc-js';
import { InvalidMessageError } from '../env/errors.js';
import { clusterMetadata } from '../runtime/grpc-status.js';
import { statusViewsTail } from './status.js';
import { describeClusterName } from '../runtime/grpc-peers.js';
import { describeClusterId } from '../runtime/grpc-server.js';
import type { Logger } from '../env/logger.js';
import type { NodeId } from '../env/types.js';
import { type Fields, array, members, nodeId, uint } from '../env/validate.js';
import { limits } from '../options.js';
import type { PaxosLayer } from '../paxos/paxos-layer.js';
import type { ConfigLayer } from '../config/config-layer.js';
import type { GrpcTransport } from '../runtime/grpc-transport.js';
import { addCheckedService } from '../runtime/grpc-undecodable.js';
import { type Breakpoints, isBreakpointNumber } from './breakpoints.js';
import { TlsAuth } from '../runtime/tls-auth.js';
import { serverCredentials } from '../runtime/tls-credentials.js';
import type { NodeTls } from '../runtime/tls-files.js';

export const controlService = 'synod.control.Control';

export interface ControlTargets {
  readonly self: NodeId;
  /** The node's cluster name: every request must name it. */
  readonly cluster: string;
  /** The node's cluster id (null: not learned yet): every request must name it (empty while null). */
  readonly clusterId: () => string | null;
  readonly incarnation: string;
  readonly transport: GrpcTransport;
  readonly breakpoints: Breakpoints;
  readonly paxos: PaxosLayer;
  /** Absent in a node that runs Paxos alone (layer tests). */
  readonly config: ConfigLayer | null;
  /** Runs `fn` as a task of the node's executor and returns its result (cores are touched only there). */
  readonly inNode: <T>(fn: () => T) => T;
  readonly logger: Logger;
  /**
   * The node's mutual TLS: the control server presents the node's certificate and takes calls only
   * from a certificate of the cluster CA or the client CA (`TlsAuth.operator`). Absent: plaintext.
   */
  readonly tls?: NodeTls | null;
}

type Handler = (request: Fields) => Fields;

/**
 * A control request named another cluster (or id) than the node's: it was meant for another
 * node, maybe a process of another cluster on a reused port. Answered FAILED_PRECONDITION, with
 * the node's cluster name and id in the trailing metadata (as the transport's refusals).
 */
export class ControlClusterMismatchError extends Error {
  override readonly name = 'ControlClusterMismatchError';
  constructor(
    readonly node: NodeId,
    readonly cluster: string,
    readonly clusterId: string | null,
    readonly request: { readonly cluster: unknown; readonly clusterId: unknown },
  ) {
    super(`control request for cluster ${describeClusterName(request.cluster)} (id ${describeClusterId(request.clusterId)}) ` +
      `reached ${node} of cluster ${JSON.stringify(cluster)} (id ${clusterId === null ? '(none yet)' : JSON.stringify(clusterId)}); ` +
      '`synod control` reads both from the node\'s status');
  }
}

/**
 * At most this many entries in a Partition's `services`: a node opens three channels (Paxos,
 * config, RSM), so 16 leaves room for repeats and later channels while bounding the request.
 */
const maxPartitionServices = 16;

/** A refused service name is echoed in the error up to this many characters (a request may carry any string). */
const maxEchoedServiceLength = 100;

/** How long `close` lets calls in progress finish before it cuts them off. */
const closeGraceMs = 500;

/**
 * The test control service (design §7) of one node, on its own gRPC server and port, so that a
 * node cut off by a partition stays controllable. Every request must name the node's cluster and
 * cluster id (`ControlClusterMismatchError`, FAILED_PRECONDITION, logged at warn). Bad requests
 * get INVALID_ARGUMENT naming the field, and a `Propose` whose value the node's Paxos would not
 * propose (`PaxosLayer.proposalProblem`: the view rules) INVALID_ARGUMENT naming the rule; nothing
 * here can crash the node.
 */
export class ControlServer {
  readonly #server: grpc.Server;
  readonly #targets: ControlTargets;

  private constructor(server: grpc.Server, targets: ControlTargets) {
    this.#server = server;
    this.#targets = targets;
  }

  static async listen(address: string, targets: ControlTargets): Promise<ControlServer> {
    const server = new grpc.Server();
    const control = new ControlServer(server, targets);
    const handlers: Record<string, Handler> = {
      Status: () => control.#status(),
      Partition: (r) => control.#partition(r),
      Heal: () => control.#heal(),
      Breakpoint: (r) => control.#breakpoint(r),
      Propose: (r) => control.#propose(r),
      PaxosStatus: (r) => control.#paxosStatus(r),
    };
    const tls = targets.tls ?? null;
    const auth = new TlsAuth(tls, targets.self, targets.logger);
    const impl: grpc.UntypedServiceImplementation = {};
    for (const [name, handle] of Object.entries(handlers)) {
      impl[name] = (call: grpc.ServerUnaryCall<Fields, Fields>, callback: grpc.sendUnaryData<Fields>) => {
        const denied = auth.operator(call, controlService);
        if (denied !== null) {
          callback({ code: denied.code, details: denied.details });
          return;
        }
        try {
          control.#checkCluster(call.request);
          callback(null, handle(call.request));
        } catch (err) {
          targets.logger.warn({ method: name, client: call.getPeer(), err: (err as Error).message }, 'control: request refused');
          if (err instanceof ControlClusterMismatchError) {
            callback({
              code: grpc.status.FAILED_PRECONDITION,
              details: err.message,
              metadata: clusterMetadata(err.cluster, err.clusterId ?? undefined),
            });
            return;
          }
          callback({
            code: err instanceof InvalidMessageError ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL,
            details: (err as Error).message,
          });
        }
      };
    }
    addCheckedService(server, controlService, impl, targets.logger);
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(address, tls === null ? grpc.ServerCredentials.createInsecure() : serverCredentials(tls), (err) => (err ? reject(err) : resolve())),
    );
    targets.logger.info({ address }, 'control: test control service listening');
    return control;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.tryShutdown(() => resolve());
      setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, closeGraceMs).unref();
    });
  }

  /** Every request names this node's cluster and id (empty while it has none). */
  #checkCluster(r: Fields): void {
    const t = this.#targets;
    const id = t.clusterId();
    const givenId = r['cluster_id'] ?? '';
    if (r['cluster'] !== t.cluster || givenId !== (id ?? '')) {
      throw new ControlClusterMismatchError(t.self, t.cluster, id, { cluster: r['cluster'], clusterId: r['cluster_id'] });
    }
  }

  #status(): Fields {
    const t = this.#targets;
    return t.inNode(() => {
      if (t.config === null) return { node: t.self, incarnation: t.incarnation, status: 'no config layer' };
      const core = t.config.core;
      if (core.vid === 0) return { node: t.self, incarnation: t.incarnation, status: 'starting' };
      return {
        node: t.self,
        incarnation: t.incarnation,
        vid: core.vid,
        members: [...core.members()],
        status: core.status,
        views: core.views(statusViewsTail).map((v) => ({ vid: v.vid, members: [...v.members] })),
        views_decided: core.vid,
      };
    });
  }

  #partition(r: Fields): Fields {
    const t = this.#targets;
    const services = r['services'] === undefined ? [] : this.#channelServices(r['services']);
    if (r['isolate'] === true) {
      if (services.length > 0) throw new InvalidMessageError('services', 'isolate cuts every channel; name peers to cut only some');
      t.transport.isolate();
      t.logger.warn({}, 'control: node isolated from every peer');
      return { detail: 'isolated' };
    }
    const peers = array(r['peers'], 'peers', limits.maxMembers).map((p, i) => nodeId(p, `peers[${i}]`));
    if (peers.length === 0) throw new InvalidMessageError('peers', 'name peers to cut off, or set isolate');
    if (services.length === 0) {
      t.transport.blockPeers(peers);
      t.logger.warn({ peers }, 'control: node cut off from peers');
      return { detail: `cut off from ${peers.join(',')}` };
    }
    t.transport.blockPeers(peers, services);
    t.logger.warn({ peers, services }, 'control: node cut off from peers on some channels');
    return { detail: `cut off from ${peers.join(',')} on ${services.join(',')}` };
  }

  /** `services` of a Partition request: each the gRPC service of a channel this node opened. */
  #channelServices(value: unknown): string[] {
    const open = this.#targets.transport.channelServices;
    return array(value, 'services', maxPartitionServices).map((s, i) => {
      if (typeof s !== 'string' || !open.includes(s)) {
        const shown = typeof s === 'string' ? JSON.stringify(s.slice(0, maxEchoedServiceLength)) : typeof s;
        throw new InvalidMessageError(`services[${i}]`, `${shown} is no peer channel of this node; its channels are ${open.join(', ')}`);
      }
      return s;
    });
  }

  #heal(): Fields {
    this.#targets.transport.heal();
    this.#targets.logger.warn({}, 'control: partition healed');
    return { detail: 'healed' };
  }

  #breakpoint(r: Fields): Fields {
    const n = uint(r['breakpoint'], 'breakpoint', 0, 4);
    const bp = this.#targets.breakpoints;
    if (r['disarm'] === true) {
      bp.disarm(isBreakpointNumber(n) ? n : undefined);
    } else {
      if (!isBreakpointNumber(n)) throw new InvalidMessageError('breakpoint', 'must be 1, 2, 3 or 4');
      bp.arm(n);
    }
    this.#targets.logger.warn({ armed: bp.armed }, 'control: breakpoints changed');
    return { detail: `armed: [${bp.armed.join(',')}]` };
  }

  /** The same checks as any proposal (`proposalProblem`), then the node's own Paxos proposes it. */
  #propose(r: Fields): Fields {
    const instance = uint(r['instance'], 'instance', 2, limits.maxInstance);
    const value = members(r['members'], 'members');
    const t = this.#targets;
    // Nothing may throw inside the node's task (that stops the node): the refusal is thrown here.
    const result = t.inNode((): { outcome: string } | { problem: string } => {
      const problem = t.paxos.proposalProblem(instance, value);
      return problem === null ? { outcome: t.paxos.propose(instance, value) } : { problem };
    });
    if ('problem' in result) throw new InvalidMessageError('members', `not proposed: ${result.problem}`);
    return result;
  }

  #paxosStatus(r: Fields): Fields {
    const t = this.#targets;
    const instance = uint(r['instance'], 'instance', 0, limits.maxInstance);
    return t.inNode(() => {
      const core = t.paxos.core;
      const decided: Fields[] = [];
      for (let i = 1; i <= core.highestKnown; i++) decided.push({ members: [...core.decided(i)!] });
      const reply: Fields = {
        node: t.self,
        incarnation: t.incarnation,
        highest_known: core.highestKnown,
        decided,
        proposing: core.proposingInstance ?? 0,
      };
      if (instance > 0) {
        const s = t.paxos.acceptorStatus(instance);
        reply['slot'] = {
          instance,
          ...(s.promised === null ? {} : { promised: s.promised }),
          ...(s.accepted === null ? {} : { accepted_n: s.accepted.n, accepted_value: { members: [...s.accepted.value] } }),
          ...(s.decided === null ? {} : { decided: { members: [...s.decided] } }),
        };
      }
      return reply;
    });
  }
}
