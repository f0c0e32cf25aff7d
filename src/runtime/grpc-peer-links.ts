import type { Logger } from '../env/logger.js';
import type { NodeId } from '../env/types.js';
import type { TransportOptions } from '../options.js';
import { PeerLink, type PeerLinkContext, type PeerLinkStats } from './grpc-peer-link.js';
import { peerStreamMethod } from './grpc-peer-frames.js';
import type { PeerClients } from './grpc-peers.js';

/**
 * The sending side of peer streams (`TransportOptions.peerMessages: 'stream'`): one `PeerLink`
 * (two streams: control and bulk lanes) per peer this node sends to, at most `maxPeerClients` of them, least recently
 * used first (as `PeerClients` keeps its connections): one more ends the streams of the least
 * recently used link, whose next send opens a new one. Internal to `src/runtime`.
 */
export class PeerLinks {
  readonly #ctx: PeerLinkContext;
  readonly #links = new Map<NodeId, PeerLink>();
  #closed = false;

  constructor(log: Logger, options: TransportOptions, peers: PeerClients) {
    this.#ctx = { log, options, peers, method: peerStreamMethod() };
  }

  /** Sends one channel's serialized envelope to `to` over its stream. Never throws. */
  send(to: NodeId, service: string, envelope: Buffer): void {
    if (this.#closed) return;
    let link = this.#links.get(to);
    if (link !== undefined) {
      this.#links.delete(to);
    } else {
      link = new PeerLink(to, this.#ctx);
      this.#evictBeyond(this.#ctx.options.maxPeerClients - 1);
    }
    this.#links.set(to, link);
    link.send(service, envelope);
  }

  /** `peer` sent this node a message: see `PeerLink.heardFrom`. */
  heardFrom(peer: NodeId): void {
    this.#links.get(peer)?.heardFrom();
  }

  /** Every link's figures, least recently used first. */
  stats(): PeerLinkStats[] {
    return [...this.#links.values()].map((link) => link.stats());
  }

  /** Ends every stream (see `PeerLink.close`); sends after it do nothing. Resolves when all are over. */
  async close(): Promise<void> {
    this.#closed = true;
    const links = [...this.#links.values()];
    this.#links.clear();
    await Promise.all(links.map((link) => link.close()));
  }

  #evictBeyond(keep: number): void {
    for (const [peer, link] of this.#links) {
      if (this.#links.size <= keep) return;
      this.#links.delete(peer);
      void link.close();
      this.#ctx.log.debug({ peer, maxPeerClients: this.#ctx.options.maxPeerClients }, 'peer stream closed (least recently used)');
    }
  }
}
