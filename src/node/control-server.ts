import * as grpc from '@grpc/grpc-js';
import { InvalidMessageError } from '../env/errors.js';
import type { Logger } from '../env/logger.js';
import type { NodeId } from '../env/types.js';
import { type Fields, array, members, nodeId, uint } from '../env/validate.js';
import { limits } from '../options.js';
import type { PaxosLayer } from '../paxos/paxos-layer.js';
import type { ConfigLayer } from '../config/config-layer.js';
import type { GrpcTransport } from '../runtime/grpc-transport.js';
import { addCheckedService } from '../runtime/grpc-undecodable.js';
import { type Breakpoints, isBreakpointNumber } from './breakpoints.js';

export const controlService = 'synod.control.Control';

export interface ControlTargets {
  readonly self: NodeId;
  readonly incarnation: string;
  readonly transport: GrpcTransport;
  readonly breakpoints: Breakpoints;
  readonly paxos: PaxosLayer;
  /** Absent in a node that runs Paxos alone (layer tests). */
  readonly config: ConfigLayer | null;
  /** Runs `fn` as a task of the node's executor and returns its result (cores are touched only there). */
  readonly inNode: <T>(fn: () => T) => T;
  readonly logger: Logger;
}

type Handler = (request: Fields) => Fields;

/** How long `close` lets calls in progress finish before it cuts them off. */
const closeGraceMs = 500;

/**
 * The test control service (design §7) of one node, on its own gRPC server and port, so that a
 * node cut off by a partition stays controllable. Bad requests get INVALID_ARGUMENT naming the
 * field; nothing here can crash the node.
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
    const impl: grpc.UntypedServiceImplementation = {};
    for (const [name, handle] of Object.entries(handlers)) {
      impl[name] = (call: grpc.ServerUnaryCall<Fields, Fields>, callback: grpc.sendUnaryData<Fields>) => {
        try {
          callback(null, handle(call.request));
        } catch (err) {
          const invalid = err instanceof InvalidMessageError;
          targets.logger.warn({ method: name, err: (err as Error).message }, 'control: request refused');
          callback({
            code: invalid ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL,
            details: (err as Error).message,
          });
        }
      };
    }
    addCheckedService(server, controlService, impl, targets.logger);
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
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
        views: core.views().map((v) => ({ vid: v.vid, members: [...v.members] })),
      };
    });
  }

  #partition(r: Fields): Fields {
    const t = this.#targets;
    if (r['isolate'] === true) {
      t.transport.isolate();
      t.logger.warn({}, 'control: node isolated from every peer');
      return { detail: 'isolated' };
    }
    const peers = array(r['peers'], 'peers', limits.maxMembers).map((p, i) => nodeId(p, `peers[${i}]`));
    if (peers.length === 0) throw new InvalidMessageError('peers', 'name peers to cut off, or set isolate');
    t.transport.blockPeers(peers);
    t.logger.warn({ peers }, 'control: node cut off from peers');
    return { detail: `cut off from ${peers.join(',')}` };
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

  #propose(r: Fields): Fields {
    const instance = uint(r['instance'], 'instance', 2, limits.maxInstance);
    const value = members(r['members'], 'members');
    const t = this.#targets;
    return { outcome: t.inNode(() => t.paxos.propose(instance, value)) };
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
