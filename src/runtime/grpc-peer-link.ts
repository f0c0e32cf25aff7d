import type { NodeId } from '../env/types.js';
import { type LaneName, PeerLane, type PeerLaneStats, type PeerLinkContext } from './grpc-peer-lane.js';

export type { LaneName, PeerLaneStats, PeerLinkContext } from './grpc-peer-lane.js';

/**
 * What one peer link has done so far (`GrpcTransport.peerStats()`), for tests and status
 * displays: each of `PeerLaneStats`' counts summed over the two lanes (`queuedBytes` with
 * `unflushedBytes` then at most the sum of both lanes' bounds), and each lane's own figures in `lanes`.
 */
export interface PeerLinkStats extends Omit<PeerLaneStats, 'state' | 'queueBytes'> {
  readonly peer: NodeId;
  /** `open`: a lane has a stream open; else `backoff` while a lane backs off; else `idle`. */
  readonly state: 'open' | 'idle' | 'backoff';
  /** Each lane's figures: `control` (frames up to `peerControlFrameBytes`) and `bulk` (the rest). */
  readonly lanes: Readonly<Record<LaneName, PeerLaneStats>>;
}

/** Figures summed over the lanes. */
const summed = ['streamsOpened', 'framesWritten', 'queuedFrames', 'queuedBytes', 'unflushedBytes', 'droppedFull', 'droppedDown', 'droppedBytes', 'refusedFrames'] as const;

/**
 * The sending side of one (this node, `peer`) pair: two lanes (`PeerLane`), each one long-lived
 * `synod.peer.Peer/Stream` with its own queue bound, backoff and reconnects. A message whose
 * serialized envelope is at most `peerControlFrameBytes` goes by the `control` lane (bound
 * `peerControlQueueBytes`), a larger one by the `bulk` lane (bound `peerQueueBytes`), so a
 * heartbeat, ack or lease grant never waits behind (nor is dropped for) megabytes of state
 * chunks or invoke batches queued for the same peer. Each lane keeps the order of its own frames;
 * across lanes a later message may overtake an earlier one, even of the same channel (a small
 * invoke batch passing a large one): the `Transport` contract allows reordering, and every
 * protocol tolerates it (invokes are buffered by seqno, state chunks are pulled by offset).
 * A lane opens its stream at its first send, so a peer only sent small messages holds one.
 */
export class PeerLink {
  readonly peer: NodeId;
  readonly #ctx: PeerLinkContext;
  readonly #lanes: Readonly<Record<LaneName, PeerLane>>;
  #closed = false;
  #ended: Promise<void> | undefined;

  constructor(peer: NodeId, ctx: PeerLinkContext) {
    this.peer = peer;
    this.#ctx = ctx;
    this.#lanes = {
      control: new PeerLane(peer, 'control', ctx.options.peerControlQueueBytes, ctx),
      bulk: new PeerLane(peer, 'bulk', ctx.options.peerQueueBytes, ctx),
    };
  }

  /** Sends one channel's envelope (already serialized) to the peer, by the lane its size picks. Never throws. */
  send(service: string, envelope: Buffer): void {
    if (this.#closed) return;
    const lane = envelope.length <= this.#ctx.options.peerControlFrameBytes ? 'control' : 'bulk';
    this.#lanes[lane].send(service, envelope);
  }

  /** The peer sent this node a message, so it is up: a lane whose stream failed may try again at once. */
  heardFrom(): void {
    this.#lanes.control.heardFrom();
    this.#lanes.bulk.heardFrom();
  }

  stats(): PeerLinkStats {
    const lanes = { control: this.#lanes.control.stats(), bulk: this.#lanes.bulk.stats() };
    const states = [lanes.control.state, lanes.bulk.state];
    const state = states.includes('open') ? 'open' : states.includes('backoff') ? 'backoff' : 'idle';
    const sums = Object.fromEntries(summed.map((key) => [key, lanes.control[key] + lanes.bulk[key]])) as Record<(typeof summed)[number], number>;
    return { peer: this.peer, state, ...sums, lanes };
  }

  /** Ends both lanes' streams (see `PeerLane.close`); sends after it do nothing. Idempotent; resolves when both are over. */
  close(): Promise<void> {
    this.#closed = true;
    this.#ended ??= Promise.all([this.#lanes.control.close(), this.#lanes.bulk.close()]).then(() => {});
    return this.#ended;
  }
}
