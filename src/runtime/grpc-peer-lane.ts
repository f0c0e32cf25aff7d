import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../env/logger.js';
import type { NodeId } from '../env/types.js';
import type { Fields } from '../env/validate.js';
import type { TransportOptions } from '../options.js';
import { type PeerClients, errorText } from './grpc-peers.js';
import { type PeerStreamMethod, describeNotice } from './grpc-peer-frames.js';
import { networkCodes, statusName } from './grpc-status.js';
import { LaneDrops } from './grpc-peer-drops.js';

/** How grpc-js words a refusal to receive a message above the receiver's limit (any other RESOURCE_EXHAUSTED: too many streams). */
const receivedTooLarge = /Received message larger than max/;

/** The metadata entry naming a stream's lane (proto/peer.proto). */
export const laneMetadataKey = 'synod-peer-lane';

/** Which of a peer link's two streams: `control` for small frames, `bulk` for large ones (`PeerLink`). */
export type LaneName = 'control' | 'bulk';

/** What one lane of a peer link has done so far (`PeerLinkStats.lanes`). */
export interface PeerLaneStats {
  /** `open`: a stream is open (it may still be connecting); `idle`: none, the next send opens one; `backoff`: none, sends are dropped until the backoff ends. */
  readonly state: 'open' | 'idle' | 'backoff';
  /** Streams opened for this lane. */
  readonly streamsOpened: number;
  /** Frames handed to a stream. */
  readonly framesWritten: number;
  /** Frames waiting for the stream to drain, and their bytes. */
  readonly queuedFrames: number;
  readonly queuedBytes: number;
  /** Bytes handed to grpc-js and not yet written out; with `queuedBytes` at most `queueBytes` (one frame aside). */
  readonly unflushedBytes: number;
  /** This lane's bound: `peerControlQueueBytes` or `peerQueueBytes`. */
  readonly queueBytes: number;
  /** Messages dropped, and their bytes: above `queueBytes` (`full`), or while no stream could be opened or lost from the queue when one broke (`down`). */
  readonly droppedFull: number;
  readonly droppedDown: number;
  readonly droppedBytes: number;
  /** Frames the peer refused (a notice came back). */
  readonly refusedFrames: number;
}

/** What a link needs from the transport that owns it. */
export interface PeerLinkContext {
  readonly log: Logger;
  readonly options: TransportOptions;
  readonly peers: PeerClients;
  readonly method: PeerStreamMethod;
}

/**
 * One lane of the sending side of a (this node, `peer`) pair (`PeerLink`): one long-lived
 * `synod.peer.Peer/Stream` carrying the frames `PeerLink` routes to it, in the order it got them.
 *
 * Invariants: at most one stream is open; `queuedBytes + unflushedBytes` stays at most
 * `queueBytes`, except that one frame is always taken when nothing waits; frames are written
 * to the stream in send order and the queue only holds frames while the stream asked to wait
 * ('drain'). A stream that breaks loses what it had not delivered (the queue included): messages
 * may be lost, protocols retransmit. The next send after it opens a new one, at once if the broken
 * one had been accepted, otherwise after a backoff (`reconnectBackoffInitialMs` doubling up to
 * `reconnectBackoffMaxMs`) during which sends are dropped, as unary calls to a peer that is down
 * fail at once. Being heard from by the peer ends the backoff.
 */
export class PeerLane {
  readonly peer: NodeId;
  readonly lane: LaneName;
  /** Most bytes this lane holds (one frame aside): `peerControlQueueBytes` or `peerQueueBytes`. */
  readonly queueBytes: number;
  readonly #ctx: PeerLinkContext;
  #call: grpc.ClientDuplexStream<Buffer, Fields> | null = null;
  /** Counts streams, so that a callback of a broken stream cannot touch the state of its successor. */
  #generation = 0;
  #accepted = false;
  #nextSeq = 1;
  #waitingForDrain = false;
  /** Frames waiting for 'drain', oldest first, from `#head` on (a shifting array would be quadratic). */
  #queue: Buffer[] = [];
  #head = 0;
  #queuedBytes = 0;
  #unflushedBytes = 0;
  /** `performance.now()` before which no stream is opened. */
  #retryAt = 0;
  #backoffMs: number;
  #closed = false;
  #ended: Promise<void> | undefined;
  #streamsOpened = 0;
  #framesWritten = 0;
  #refused = 0;
  readonly #drops: LaneDrops;


  constructor(peer: NodeId, lane: LaneName, queueBytes: number, ctx: PeerLinkContext) {
    this.peer = peer;
    this.lane = lane;
    this.queueBytes = queueBytes;
    this.#ctx = ctx;
    this.#backoffMs = ctx.options.reconnectBackoffInitialMs;
    this.#drops = new LaneDrops(ctx.log, { to: peer, lane, queueBytes });
  }

  /** Sends one channel's envelope (already serialized) to the peer. Never throws. */
  send(service: string, envelope: Buffer): void {
    if (this.#closed) return;
    const { log, options, method } = this.#ctx;
    const call = this.#stream();
    if (call === null) {
      this.#drops.count('down', envelope.length);
      return;
    }
    let frame: Buffer;
    try {
      frame = method.requestSerialize({ seq: this.#nextSeq, service, envelope });
    } catch (err) {
      log.error({ to: this.peer, service, err }, 'send dropped: cannot serialize the frame');
      return;
    }
    if (frame.length > options.maxMessageBytes) {
      // As grpc-js words it for a unary call over the limit: nothing leaves, the sender says so.
      log.warn({ to: this.peer, service, code: 'RESOURCE_EXHAUSTED', bytes: frame.length, maxMessageBytes: options.maxMessageBytes },
        'send refused: message too large');
      return;
    }
    this.#nextSeq++;
    const pending = this.#queuedBytes + this.#unflushedBytes;
    if (pending > 0 && pending + frame.length > this.queueBytes) {
      this.#drops.count('full', frame.length);
      return;
    }
    if (this.#waitingForDrain) {
      this.#queue.push(frame);
      this.#queuedBytes += frame.length;
      return;
    }
    this.#write(call, frame);
  }

  /** The peer sent this node a message, so it is up: a stream that failed may be tried again at once. */
  heardFrom(): void {
    if (this.#call !== null) return;
    this.#retryAt = 0;
    this.#backoffMs = this.#ctx.options.reconnectBackoffInitialMs;
  }

  stats(): PeerLaneStats {
    const state = this.#call !== null ? 'open' : performance.now() < this.#retryAt ? 'backoff' : 'idle';
    return {
      state,
      streamsOpened: this.#streamsOpened,
      framesWritten: this.#framesWritten,
      queuedFrames: this.#queue.length - this.#head,
      queuedBytes: this.#queuedBytes,
      unflushedBytes: this.#unflushedBytes,
      queueBytes: this.queueBytes,
      ...this.#drops.stats(),
      refusedFrames: this.#refused,
    };
  }

  /**
   * Ends the stream cleanly (half-closes it; the peer answers OK once it read every frame), and
   * cancels it if the peer has not answered within `closeGraceMs`. Sends after it do nothing.
   * Idempotent; resolves when the stream is over.
   */
  close(): Promise<void> {
    this.#ended ??= this.#close();
    return this.#ended;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    const call = this.#call;
    if (call === null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        call.cancel();
        resolve();
      }, this.#ctx.options.closeGraceMs);
      call.on('status', () => {
        clearTimeout(timer);
        resolve();
      });
      this.#dropQueue();
      call.end();
    });
    this.#reset();
  }

  /** The open stream, opening one if none is and no backoff runs; null: none can be had now. */
  #stream(): grpc.ClientDuplexStream<Buffer, Fields> | null {
    const { log, peers, method } = this.#ctx;
    if (this.#call !== null) {
      // Marks the connection used, so that `maxPeerClients` evicts the peers least recently sent to, as with unary calls.
      peers.get(this.peer);
      return this.#call;
    }
    if (performance.now() < this.#retryAt) return null;
    let client: grpc.Client;
    try {
      client = peers.get(this.peer);
    } catch (err) {
      // An address gRPC cannot even parse: the peer is unreachable, which send tolerates.
      log.warn({ to: this.peer, err: errorText(err) }, 'send dropped: cannot create a client for this address');
      this.#backOff();
      return null;
    }
    // The frames are serialized by `send` (to count their bytes), so grpc-js passes them on as they are.
    // The lane, for the receiver's diagnostics (it treats both alike).
    const metadata = new grpc.Metadata();
    metadata.set(laneMetadataKey, this.lane);
    const call = client.makeBidiStreamRequest(method.path, (frame: Buffer) => frame, method.responseDeserialize, metadata);
    const generation = ++this.#generation;
    this.#call = call;
    this.#accepted = false;
    this.#nextSeq = 1;
    this.#streamsOpened++;
    peers.track(call);
    const current = (): boolean => generation === this.#generation;
    call.on('metadata', () => {
      if (!current()) return;
      // The peer's server took the stream: it is up, so a later break is retried at once.
      this.#accepted = true;
      this.#backoffMs = this.#ctx.options.reconnectBackoffInitialMs;
    });
    call.on('data', (notice: Fields) => {
      if (current()) this.#noticed(notice);
    });
    call.on('drain', () => {
      if (current()) this.#drained(call);
    });
    // grpc-js reports a failed stream twice (`error`, then `status`); the first counts.
    call.on('error', (err: grpc.ServiceError) => {
      if (current()) this.#broke(call, err);
    });
    call.on('status', (status: grpc.StatusObject) => {
      if (current()) this.#broke(call, status);
    });
    return call;
  }

  #write(call: grpc.ClientDuplexStream<Buffer, Fields>, frame: Buffer): void {
    const generation = this.#generation;
    this.#unflushedBytes += frame.length;
    this.#framesWritten++;
    const ok = call.write(frame, () => {
      if (generation === this.#generation) this.#unflushedBytes -= frame.length;
    });
    if (!ok) this.#waitingForDrain = true;
  }

  #drained(call: grpc.ClientDuplexStream<Buffer, Fields>): void {
    this.#waitingForDrain = false;
    while (!this.#waitingForDrain && this.#head < this.#queue.length) {
      const frame = this.#queue[this.#head]!;
      this.#queue[this.#head++] = Buffer.alloc(0);
      this.#queuedBytes -= frame.length;
      this.#write(call, frame);
    }
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  /** A refusal the peer reported: logged as a refused unary call is. */
  #noticed(notice: Fields): void {
    this.#refused++;
    const { code, fields } = describeNotice(notice, this.peer);
    const { log, options } = this.#ctx;
    // Lost messages are normal (protocols retransmit); anything else means the two nodes
    // disagree about identity or wire format, or a message is too big: an operator must see it.
    if (networkCodes.has(code)) log.debug(fields, 'send failed');
    else if (code === grpc.status.RESOURCE_EXHAUSTED) log.warn({ ...fields, maxMessageBytes: options.maxMessageBytes }, 'send refused: message too large');
    else log.warn(fields, 'send refused by peer');
  }

  #broke(call: grpc.ClientDuplexStream<Buffer, Fields>, status: grpc.StatusObject | grpc.ServiceError): void {
    const { log, options } = this.#ctx;
    const fields = { to: this.peer, lane: this.lane, code: statusName(status.code), details: status.details, unflushedBytes: this.#unflushedBytes };
    if (status.code === grpc.status.OK || networkCodes.has(status.code)) log.debug(fields, 'peer stream ended');
    // The peer's grpc-js refused a frame above its own limit (this node's is larger): it logs nothing.
    else if (status.code === grpc.status.RESOURCE_EXHAUSTED && receivedTooLarge.test(status.details)) log.warn({ ...fields, maxMessageBytes: options.maxMessageBytes }, 'send refused: message too large');
    else log.warn(fields, 'peer stream refused by peer');
    this.#dropQueue();
    this.#reset();
    if (this.#accepted) {
      this.#retryAt = 0;
    } else {
      this.#backOff();
    }
    call.cancel();
  }

  #backOff(): void {
    const max = this.#ctx.options.reconnectBackoffMaxMs;
    // Jitter, so that the peers of a node that restarts do not all dial it at the same instant.
    this.#retryAt = performance.now() + this.#backoffMs * (0.8 + 0.4 * Math.random());
    this.#backoffMs = Math.min(this.#backoffMs * 2, max);
  }

  #dropQueue(): void {
    for (let i = this.#head; i < this.#queue.length; i++) this.#drops.count('down', this.#queue[i]!.length);
    this.#queue = [];
    this.#head = 0;
    this.#queuedBytes = 0;
  }

  /** Forgets the stream; callbacks of its writes and events no longer count. */
  #reset(): void {
    if (this.#call !== null) this.#ctx.peers.done(this.#call);
    this.#call = null;
    this.#generation++;
    this.#unflushedBytes = 0;
    this.#waitingForDrain = false;
  }
}
