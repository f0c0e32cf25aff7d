/**
 * Server streams over the simulated network (`Transport.serveStream`, `ClientTransport.openStream`
 * in the simulator), with the semantics of src/env/streams.ts and the ways a TCP connection
 * fails: each direction of a stream is ordered (a message never overtakes an earlier one, and
 * none is lost or doubled while the stream lasts), delayed as the network's messages are, held
 * while the path is cut (retransmitted every `retransmitMs`); a crash resets the connection (the
 * other end hears it after one delay, if the path is up); a cut or a paused process is noticed
 * by keepalive (the client after `clientKeepaliveTimeMs` + `clientKeepaliveTimeoutMs`, the server
 * after `keepaliveTimeMs` + `keepaliveTimeoutMs`, as `TransportOptions` sets them for gRPC).
 * Bounded as production is: `maxStreams` per server node, `maxQueuedStreamMessages` per stream.
 * Wire level: node-world.ts applies the codecs and the process guards.
 */
import type { ServerStreamEnd, StreamEnd } from '../../src/env/streams.js';
import type { NodeId } from '../../src/env/types.js';
import type { Fields } from '../../src/env/validate.js';
import { type TransportOptions, transportOptions } from '../../src/options.js';

/** While the path between a stream's ends is cut, its next item waits and is tried again this often (as TCP retransmits). */
export const retransmitMs = 200;

/** What the streams need of the simulation. */
export interface StreamHost {
  readonly now: number;
  scheduleAt(timeMs: number, fn: () => void): void;
  log(line: string): void;
  readonly network: { isCut(a: NodeId, b: NodeId): boolean; drawDelay(): number };
  /** The node's process state; undefined for an unknown address. */
  status(node: NodeId): 'up' | 'down' | 'paused' | undefined;
}

/** The client's end, as node-world.ts wires it: each call runs under the client process's guard. */
export interface ClientSide {
  accepted(): void;
  /** A message; `received()` once the process took it in (the server's send buffer shrinks then). */
  message(wire: Fields, received: () => void): void;
  ended(end: StreamEnd): void;
}

/** The server's end of one stream, at wire level. */
export interface WireServerStream {
  readonly peer: string;
  readonly open: boolean;
  accept(): void;
  send(wire: Fields): boolean;
  end(reason: ServerStreamEnd): void;
  onEnded(listener: (end: StreamEnd) => void): void;
}

/** A served service at a node: called with each stream that reached it (node-world.ts guards it). */
export type Acceptor = (request: Fields, stream: WireServerStream) => void;

/** One direction of a stream: items leave in order, each after a network delay, held while the path is cut. */
class Pump {
  readonly #host: StreamHost;
  readonly #from: NodeId;
  readonly #to: NodeId;
  readonly #queue: Array<{ readonly dueMs: number; readonly run: () => void }> = [];
  #lastDueMs = 0;
  #armed = false;

  constructor(host: StreamHost, from: NodeId, to: NodeId) {
    this.#host = host;
    this.#from = from;
    this.#to = to;
  }

  push(run: () => void): void {
    const dueMs = Math.max(this.#lastDueMs, this.#host.now + this.#host.network.drawDelay());
    this.#lastDueMs = dueMs;
    this.#queue.push({ dueMs, run });
    if (!this.#armed) this.#arm(dueMs);
  }

  #arm(atMs: number): void {
    this.#armed = true;
    this.#host.scheduleAt(atMs, () => this.#tick());
  }

  #tick(): void {
    this.#armed = false;
    const head = this.#queue[0];
    if (head === undefined) return;
    if (this.#host.network.isCut(this.#from, this.#to)) return this.#arm(this.#host.now + retransmitMs);
    this.#queue.shift();
    head.run();
    const next = this.#queue[0];
    if (next !== undefined) this.#arm(Math.max(next.dueMs, this.#host.now));
  }
}

type ServerPhase = 'connecting' | 'pending' | 'accepted' | 'ended';

/** One stream, both ends. */
class SimStream implements WireServerStream {
  readonly id: number;
  readonly client: NodeId;
  readonly server: NodeId;
  readonly toServer: Pump;
  readonly toClient: Pump;
  /** The client's end while it may still hear something (null once it heard the end, closed, or died). */
  clientSide: ClientSide | null;
  phase: ServerPhase = 'connecting';
  readonly #streams: SimStreams;
  #listener: ((end: StreamEnd) => void) | null = null;
  #end: StreamEnd | null = null;
  /** Messages sent and not yet taken in by the client. */
  #unreceived = 0;

  constructor(streams: SimStreams, id: number, client: NodeId, server: NodeId, clientSide: ClientSide) {
    this.#streams = streams;
    this.id = id;
    this.client = client;
    this.server = server;
    this.clientSide = clientSide;
    this.toServer = new Pump(streams.host, client, server);
    this.toClient = new Pump(streams.host, server, client);
  }

  get peer(): string {
    return this.client;
  }

  get open(): boolean {
    return this.phase === 'pending' || this.phase === 'accepted';
  }

  accept(): void {
    if (this.phase !== 'pending') return;
    this.phase = 'accepted';
    this.toClient.push(() => {
      this.#trace('accepted');
      this.clientSide?.accepted();
    });
  }

  send(wire: Fields): boolean {
    if (!this.open) return false;
    this.accept();
    const max = this.#streams.options.maxQueuedStreamMessages;
    if (this.#unreceived >= max) {
      this.end({ kind: 'overloaded', detail: `more than ${max} messages wait unread (maxQueuedStreamMessages)` });
      return false;
    }
    this.#unreceived++;
    this.toClient.push(() => {
      this.#trace('message');
      this.clientSide?.message(wire, () => this.#unreceived--);
    });
    return true;
  }

  end(reason: ServerStreamEnd): void {
    if (!this.open) return;
    this.serverEnded(reason);
    this.toClient.push(() => this.clientEnded(reason));
  }

  onEnded(listener: (end: StreamEnd) => void): void {
    if (this.#listener !== null) throw new Error('one end listener per stream');
    this.#listener = listener;
    if (this.#end !== null) this.#notify(this.#end);
  }

  /** The server's end is over (its listener hears `end` as an event of its own). */
  serverEnded(end: StreamEnd): void {
    if (this.phase === 'ended') return;
    const heard = this.phase !== 'connecting';
    this.phase = 'ended';
    if (!heard) return;
    this.#trace(`server end ${end.kind}`);
    this.#end = end;
    if (this.#listener !== null) this.#notify(end);
  }

  /** The client hears the end (once; nothing after it). */
  clientEnded(end: StreamEnd): void {
    const side = this.clientSide;
    if (side === null) return;
    this.clientSide = null;
    this.#trace(`client end ${end.kind}`);
    side.ended(end);
  }

  #notify(end: StreamEnd): void {
    const listener = this.#listener!;
    const host = this.#streams.host;
    host.scheduleAt(host.now, () => listener(end));
  }

  #trace(what: string): void {
    this.#streams.host.log(`stream#${this.id} ${this.server}>${this.client} ${what}`);
  }
}

/**
 * Every stream of one simulation, and the stream services each node serves. Node-world.ts opens
 * and serves through it; the simulation tells it when a process dies (`processGone`).
 */
export class SimStreams {
  readonly host: StreamHost;
  readonly options: TransportOptions;
  readonly #streams = new Map<number, SimStream>();
  /** Per node, the services its current process serves. */
  readonly #served = new Map<NodeId, Map<string, Acceptor>>();
  #count = 0;

  constructor(host: StreamHost, options?: Partial<TransportOptions>) {
    this.host = host;
    this.options = transportOptions(options);
  }

  /** `node`'s current process serves `service`; each service once per process. */
  serve(node: NodeId, service: string, acceptor: Acceptor): void {
    let services = this.#served.get(node);
    if (services === undefined) {
      services = new Map();
      this.#served.set(node, services);
    }
    if (services.has(service)) throw new Error(`stream service ${service} served twice on ${node}`);
    services.set(service, acceptor);
  }

  /** `client` opens a stream of `service` at `server`; a server that is down refuses it at once, as a closed port would. */
  open(client: NodeId, server: NodeId, service: string, request: Fields, side: ClientSide): { close(): void } {
    this.#forgetEnded();
    const s = new SimStream(this, ++this.#count, client, server, side);
    this.#streams.set(s.id, s);
    this.host.log(`stream#${s.id} ${client}>${server} open ${service}`);
    const status = this.host.status(server);
    if (status === undefined || status === 'down') {
      s.phase = 'ended';
      this.host.scheduleAt(this.host.now, () => s.clientEnded({ kind: 'unreachable', detail: `${server}: connection refused` }));
    } else {
      s.toServer.push(() => this.#arrived(s, service, request));
      this.#watch(s, 'client');
    }
    return {
      close: () => {
        if (s.clientSide === null) return;
        s.clientSide = null;
        this.host.log(`stream#${s.id} ${client}>${server} close`);
        s.toServer.push(() => s.serverEnded({ kind: 'cancelled', detail: `the client ${client} closed the stream` }));
      },
    };
  }

  /** `node`'s process died: its streams' other ends hear a reset, and it serves nothing until its next process does. */
  processGone(node: NodeId): void {
    this.#served.delete(node);
    for (const s of this.#streams.values()) {
      if (s.client === node && s.clientSide !== null) {
        s.clientSide = null;
        s.toServer.push(() => s.serverEnded({ kind: 'cancelled', detail: `the connection to ${node} was reset` }));
      }
      if (s.server === node && s.phase !== 'ended') {
        s.phase = 'ended';
        s.toClient.push(() => s.clientEnded({ kind: 'unreachable', detail: `the connection to ${node} was reset` }));
      }
    }
    this.#forgetEnded();
  }

  /** The open request reached the server's machine. */
  #arrived(s: SimStream, service: string, request: Fields): void {
    if (s.clientSide === null || s.phase !== 'connecting') return; // the client left, or the server died, meanwhile
    const refuse = (end: StreamEnd): void => {
      s.phase = 'ended';
      s.toClient.push(() => s.clientEnded(end));
    };
    if (this.host.status(s.server) === 'down') return refuse({ kind: 'unreachable', detail: `${s.server}: connection refused` });
    const acceptor = this.#served.get(s.server)?.get(service);
    if (acceptor === undefined) return refuse({ kind: 'unavailable', detail: `${s.server} does not serve ${service} (yet)` });
    const open = [...this.#streams.values()].filter((o) => o.server === s.server && o.open).length;
    if (open >= this.options.maxStreams) {
      return refuse({ kind: 'overloaded', detail: `${s.server} holds ${open} streams (maxStreams ${this.options.maxStreams})` });
    }
    s.phase = 'pending';
    this.#watch(s, 'server');
    acceptor(request, s);
  }

  /**
   * Keepalive of one end: every keepalive interval, if the other end's process is not running or
   * the path is cut, and still so after the keepalive timeout, this end hears the stream ended.
   */
  #watch(s: SimStream, end: 'client' | 'server'): void {
    const o = this.options;
    const [everyMs, timeoutMs] = end === 'client' ? [o.clientKeepaliveTimeMs, o.clientKeepaliveTimeoutMs] : [o.keepaliveTimeMs, o.keepaliveTimeoutMs];
    const live = (): boolean => (end === 'client' ? s.clientSide !== null : s.open);
    const other = end === 'client' ? s.server : s.client;
    const silent = (): boolean => this.host.network.isCut(s.client, s.server) || this.host.status(other) !== 'up';
    const tick = (): void => {
      if (!live()) return;
      if (!silent()) return this.host.scheduleAt(this.host.now + everyMs, tick);
      this.host.scheduleAt(this.host.now + timeoutMs, () => {
        if (!live()) return;
        if (!silent()) return tick();
        const detail = `no keepalive answer from ${other} within ${timeoutMs} ms`;
        if (end === 'client') s.clientEnded({ kind: 'unreachable', detail });
        else s.serverEnded({ kind: 'cancelled', detail });
        this.#forgetEnded();
      });
    };
    this.host.scheduleAt(this.host.now + everyMs, tick);
  }

  /** Drops the streams both of whose ends are over (their pumps may still run out what was queued). */
  #forgetEnded(): void {
    for (const [id, s] of this.#streams) if (s.clientSide === null && s.phase === 'ended') this.#streams.delete(id);
  }
}
