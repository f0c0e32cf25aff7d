/**
 * What a simulated node's process sees of the world (`NodeWorld`): a clock of its own (offset and
 * drifting rate: drifting-clock.ts), a transport over the simulated network (one-way channels, request/answer
 * services, client connections, server streams: sim-streams.ts), durable logs on the node's
 * simulated disk, an executor and `halt`. Channel envelopes carry the cluster id the node's disk
 * holds (`SimDisk.identity`), judged on arrival by `SimNode.receive` as production's are; calls and
 * streams carry none (the simulator's clients are machines without one), nor do the channels of
 * a machine without an identity (a bare layer under test). Separate from `SimNode`, which owns the process's life
 * (start, crash, pause): this is the wiring one incarnation gets, and every callback it hands out
 * goes through that incarnation's guard, so nothing of a dead process ever runs.
 */
import type { Clock } from '../../src/env/clock.js';
import { Executor } from '../../src/env/executor.js';
import type { ClientStream, ServerStream, StreamCodec, StreamHandlers } from '../../src/env/streams.js';
import { type AnswerChannel, type CallFailure, type Channel, type ClientTransport, ReturnAddress, type ServiceCodec, type Transport, type WireCodec } from '../../src/env/transport.js';
import type { NodeId } from '../../src/env/types.js';
import type { NodeWorld } from '../../src/env/world.js';
import { maySend } from '../../src/env/cluster-id.js';
import { type SimDisk, simDiskStorage } from './disk.js';
import type { Simulation } from './simulation.js';
import type { WireServerStream } from './sim-streams.js';

/** How a simulated node takes in the messages of one service (decode, then hand over). */
export interface Receiver {
  readonly decode: (wire: Record<string, unknown>) => unknown;
  readonly receive: (from: NodeId, msg: unknown) => void;
  /**
   * A channel between nodes, whose envelopes carry the sender's cluster id and are judged by
   * `judgeClusterId` with this `admitsNewcomers`; absent for services (calls and their answers).
   */
  readonly channel?: { readonly admitsNewcomers: boolean };
}

/** What one incarnation of a node's process is wired to. */
export interface NodeWorldDeps {
  readonly sim: Simulation;
  readonly id: NodeId;
  /** The node's disk: it outlives the process. */
  readonly disk: SimDisk;
  /** Wraps a callback of this incarnation: dropped once it is gone, held while the node is paused. */
  readonly guard: (fn: () => void) => () => void;
  /** Takes in the messages of `service` for this incarnation; opening a service twice throws. */
  readonly register: (service: string, receiver: Receiver) => void;
  /** Crashes the node for `reason` if this incarnation still runs there (a later one is left alone). */
  readonly crashIfCurrent: (reason: string) => void;
}

/** Answers of a request/response service travel to the client under this name. */
function answersOf(service: string): string {
  return `${service}#answers`;
}

/** The world of one incarnation, and its transport (which is also the node's client transport). */
export function makeNodeWorld(deps: NodeWorldDeps): { world: NodeWorld; transport: Transport & ClientTransport } {
  const { sim, id, guard, register } = deps;
  // The incarnation's own clock: its offset and rate are its own (drifting-clock.ts), so nothing
  // may compare its readings with another machine's or with virtual time. Its timers run under
  // this incarnation's guard.
  const clock: Clock = sim.clocks.clockFor({
    get now() {
      return sim.now;
    },
    schedule: (delayMs, fn) => sim.schedule(delayMs, guard(fn)),
  });
  const transport: Transport & ClientTransport = {
    self: id,
    // Channels carry the sender's cluster id, as production's envelopes do; until the node has
    // learned one it speaks only on the join protocol's channel (`maySend`).
    open<M>(codec: WireCodec<M>, receive: (from: NodeId, msg: M) => void): Channel<M> {
      const admitsNewcomers = codec.admitsNewcomers === true;
      register(codec.service, { decode: (w) => codec.decode(w), receive: receive as (from: NodeId, msg: unknown) => void, channel: { admitsNewcomers } });
      return {
        send(to: NodeId, msg: M): void {
          const identity = deps.disk.identity;
          if (identity !== null && !maySend(identity.clusterId, admitsNewcomers)) return;
          const wire = { from: id, to, cluster_id: identity?.clusterId ?? '', ...codec.encode(msg) };
          sim.network.send(id, to, codec.service, msg, wire, summarize(codec.service, msg));
        },
      };
    },
    // A request/response service: requests and answers are one-way messages here. Each
    // request gets a return address of its own, which remembers the client machine that asked;
    // it is answered at most once.
    serve<Req, Ans>(codec: ServiceCodec<Req, Ans>, receive: (from: ReturnAddress, request: Req) => void): AnswerChannel<Ans> {
      let calls = 0;
      const open = new Map<ReturnAddress, NodeId>();
      register(codec.service, {
        decode: (w) => codec.decodeRequest(w),
        receive: (from, request) => {
          const address = new ReturnAddress(`${from} call ${++calls}`);
          open.set(address, from);
          receive(address, request as Req);
        },
      });
      return {
        answer(to: ReturnAddress, answer: Ans): void {
          const client = open.get(to);
          if (client === undefined) return; // answered already
          open.delete(to);
          sim.network.send(id, client, answersOf(codec.service), answer, codec.encodeAnswer(answer), summarize(codec.service, answer));
        },
      };
    },
    connect<Req, Ans>(
      codec: ServiceCodec<Req, Ans>,
      receive: (server: NodeId, answer: Ans) => void,
      failed?: (server: NodeId, failure: CallFailure, request: Req) => void,
    ): Channel<Req> {
      register(answersOf(codec.service), { decode: (w) => codec.decodeAnswer(w), receive: receive as (from: NodeId, msg: unknown) => void });
      return {
        send(server: NodeId, request: Req): void {
          // A server that is down refuses the connection at once, as a closed port would.
          if (sim.nodes.get(server)?.status === 'down' && failed !== undefined) {
            sim.schedule(0, guard(() => failed(server, { kind: 'unreachable', detail: 'connection refused' }, request)));
            return;
          }
          sim.network.send(id, server, codec.service, request, codec.encodeRequest(request), summarize(codec.service, request));
        },
      };
    },
    serveStream<Req, Msg>(codec: StreamCodec<Req, Msg>, accept: (request: Req, stream: ServerStream<Msg>) => void): void {
      sim.streams.serve(id, codec.service, (wire, stream) => guard(() => {
        let request: Req;
        try {
          request = codec.decodeRequest(wire);
        } catch (err) {
          stream.end({ kind: 'invalid-request', detail: (err as Error).message });
          return;
        }
        try {
          accept(request, serverStream(codec, stream));
        } catch (err) {
          sim.fail(`${id}: the ${codec.service} service threw: ${(err as Error).stack ?? String(err)}`);
          stream.end({ kind: 'internal', detail: `${id} failed on this stream` });
        }
      })());
    },
    openStream<Req, Msg>(codec: StreamCodec<Req, Msg>, server: NodeId, request: Req, handlers: StreamHandlers<Msg>): ClientStream {
      let stream: ClientStream | null = null;
      stream = sim.streams.open(id, server, codec.service, codec.encodeRequest(request), {
        accepted: () => guard(() => handlers.accepted())(),
        message: (wire, received) => guard(() => {
          received();
          let message: Msg;
          try {
            message = codec.decodeMessage(wire);
          } catch (err) {
            sim.fail(`${id}: undecodable ${codec.service} stream message from ${server}: ${(err as Error).message}`);
            stream?.close();
            handlers.ended({ kind: 'internal', detail: `a message failed validation: ${(err as Error).message}` });
            return;
          }
          handlers.message(message);
        })(),
        ended: (end) => guard(() => handlers.ended(end))(),
      });
      return stream;
    },
    close: async () => {},
  };
  /** The server's end of a stream, with the codec applied and its end listener under this process's guard. */
  const serverStream = <Msg>(codec: StreamCodec<unknown, Msg>, s: WireServerStream): ServerStream<Msg> => ({
    get peer() {
      return s.peer;
    },
    get open() {
      return s.open;
    },
    accept: () => s.accept(),
    send: (message) => s.send(codec.encodeMessage(message)),
    end: (reason) => s.end(reason),
    onEnded: (listener) => s.onEnded((end) => guard(() => listener(end))()),
  });
  const scheduler = {
    get now() {
      return sim.now;
    },
    rng: sim.rng,
    at: (atMs: number, fn: () => void) => sim.scheduleAt(atMs, guard(fn)),
  };
  const executor = new Executor((err) => {
    sim.fail(`${id} stopped by an error: ${(err as Error).stack ?? String(err)}`);
    sim.schedule(0, () => deps.crashIfCurrent('fatal error'));
  });
  const world: NodeWorld = {
    self: id,
    executor,
    clock,
    random: sim.rng,
    logger: sim.loggerFor(id),
    transport,
    ...simDiskStorage(deps.disk, scheduler, sim.diskProfile),
    halt: (reason: string) => {
      sim.schedule(0, () => deps.crashIfCurrent(`halt: ${reason}`));
      executor.stop();
    },
  };
  return { world, transport };
}

/** A short description of a message for the trace: channel, kind, instance. */
function summarize(service: string, msg: unknown): string {
  const m = msg as { kind?: unknown; instance?: unknown };
  const channel = service.slice(service.lastIndexOf('.') + 1).toLowerCase();
  const instance = typeof m.instance === 'number' ? ` i=${m.instance}` : '';
  return `${channel}.${String(m.kind)}${instance}`;
}
