import * as grpc from '@grpc/grpc-js';
import type { Fields } from '../env/validate.js';
import { type PeerStreamMethod, noticeOf, peerService, peerStreamMethod } from './grpc-peer-frames.js';
import type { Refusal, ServerContext } from './grpc-server.js';
import { UndecodableRequest } from './grpc-undecodable.js';
import type { PeerCaller } from './tls-auth.js';

/** At most one line a second about refused streams (each says how many it covers). */
const refusalLogIntervalMs = 1000;

/**
 * Hands one frame's envelope to its channel: the checks of a unary `Deliver` (and delivery when
 * it passes), or the refusal it would have been answered with (`GrpcChannels.receiveFrame`).
 */
export type FrameReceiver = (service: string, envelope: Buffer, caller: PeerCaller) => Refusal | null;

type PeerCall = grpc.ServerDuplexStream<Fields | UndecodableRequest, Fields>;

/**
 * The receiving side of peer streams: serves `synod.peer.Peer/Stream` on the transport's server.
 * A stream is refused at open with UNAVAILABLE while the node is closing, and RESOURCE_EXHAUSTED
 * when `maxPeerStreams` are open (warn, at most a line a second); otherwise it is accepted at once
 * (response headers, which tell the sender the peer is up). Each frame is handed to the
 * `FrameReceiver` in arrival order, synchronously, so nothing queues on this side; a refused one
 * (or one whose bytes are no `Frame`) is answered with a notice naming its number, code and
 * details, and the stream goes on. Notices obey the stream's backpressure: while the sender does
 * not read them, further ones are dropped (debug), never queued. The sender's half-close is
 * answered OK; `closeAll()` ends every stream UNAVAILABLE. Internal to `src/runtime`.
 */
export class PeerStreamServer {
  readonly #ctx: ServerContext;
  readonly #receive: FrameReceiver;
  readonly #open = new Set<PeerCall>();
  #refusedStreams = 0;
  #lastRefusalLogAt = -Infinity;

  constructor(ctx: ServerContext, receive: FrameReceiver) {
    this.#ctx = ctx;
    this.#receive = receive;
    ctx.claim(peerService, 'peer stream service');
    const method = peerStreamMethod();
    ctx.server.addService({ Stream: checkedFrames(method) }, { Stream: (call: PeerCall) => this.#accept(call) });
  }

  /** Peer streams open now (for tests and status displays). */
  get open(): number {
    return this.#open.size;
  }

  /** Ends every open stream UNAVAILABLE (the node is closing); their senders open new ones when it is back. */
  closeAll(): void {
    for (const call of this.#open) call.emit('error', { code: grpc.status.UNAVAILABLE, details: `${this.#ctx.self} is shutting down` });
    this.#open.clear();
  }

  #accept(call: PeerCall): void {
    const { self, log, options } = this.#ctx;
    if (this.#ctx.closing()) {
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: `${self} is shutting down` });
      return;
    }
    // Mutual TLS: only a node's certificate opens a peer stream; each frame's `from` is checked against it.
    const caller = this.#ctx.auth.peer(call, peerService);
    if (!caller.ok) {
      call.emit('error', { code: caller.code, details: caller.details });
      return;
    }
    if (this.#open.size >= options.maxPeerStreams) {
      this.#refusedStreams++;
      const now = performance.now();
      if (now - this.#lastRefusalLogAt >= refusalLogIntervalMs) {
        log.warn({ client: call.getPeer(), refused: this.#refusedStreams, maxPeerStreams: options.maxPeerStreams }, 'peer stream refused: too many open');
        this.#refusedStreams = 0;
        this.#lastRefusalLogAt = now;
      }
      call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: `${self} holds ${options.maxPeerStreams} peer streams already` });
      return;
    }
    this.#open.add(call);
    call.sendMetadata(new grpc.Metadata());
    let waitingForDrain = false;
    let noticesDropped = 0;
    const notify = (notice: Fields): void => {
      if (waitingForDrain) {
        noticesDropped++;
        log.debug({ client: call.getPeer(), noticesDropped }, 'refusal notice dropped: the sender does not read them');
        return;
      }
      if (!call.write(notice)) waitingForDrain = true;
    };
    call.on('drain', () => void (waitingForDrain = false));
    call.on('data', (frame: Fields | UndecodableRequest) => {
      if (!this.#open.has(call)) return;
      if (frame instanceof UndecodableRequest) {
        log.warn({ service: peerService, client: call.getPeer(), reason: frame.reason }, 'frame refused: its bytes are not a message of its type');
        notify(noticeOf(0, '', grpc.status.INVALID_ARGUMENT, frame.details));
        return;
      }
      const seq = typeof frame['seq'] === 'number' ? frame['seq'] : 0;
      const service = typeof frame['service'] === 'string' ? frame['service'] : '';
      const envelope = Buffer.isBuffer(frame['envelope']) ? frame['envelope'] : Buffer.alloc(0);
      const refusal = this.#receive(service, envelope, caller);
      if (refusal !== null) notify(noticeOf(seq, service, refusal.code, refusal.details));
    });
    const forget = (): void => void this.#open.delete(call);
    call.on('end', () => {
      // The sender half-closed (it is closing): every frame before it was handled above.
      if (this.#open.delete(call)) call.end();
    });
    call.on('error', forget);
    call.on('cancelled', forget);
    call.on('close', forget);
  }
}

/**
 * The method with a deserializer that never throws: bytes that are no `Frame` become an
 * `UndecodableRequest`, refused by a notice, where grpc-js would end the whole stream INTERNAL.
 */
function checkedFrames(method: PeerStreamMethod): grpc.MethodDefinition<unknown, unknown> {
  return {
    ...method,
    requestDeserialize: (bytes: Buffer) => {
      try {
        return method.requestDeserialize(bytes);
      } catch (err) {
        return new UndecodableRequest('Frame', err instanceof Error ? err.message : String(err));
      }
    },
  } as grpc.MethodDefinition<unknown, unknown>;
}
