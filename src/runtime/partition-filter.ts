import type { NodeId } from '../env/types.js';

/**
 * Which peers one node may currently exchange messages with: the fault injection behind the test
 * control service's partition and heal (design §7). It holds no I/O, so the simulator can use it
 * (or mirror it) per node and get the same semantics as the gRPC transport:
 * - a blocked peer's messages are dropped in both directions, sent and received;
 * - `isolate()` blocks every peer; `blockPeers(ids)` adds `ids` to the blocked set (so two calls
 *   split this node from the union of both sets); `heal()` lifts both;
 * - a node never blocks itself: a message to oneself always arrives, as on a real host whose
 *   network cable was pulled.
 */
export class PartitionFilter {
  readonly #self: NodeId;
  #isolated = false;
  readonly #peers = new Set<NodeId>();

  constructor(self: NodeId) {
    this.#self = self;
  }

  /** Cuts this node off from every peer. */
  isolate(): void {
    this.#isolated = true;
  }

  /** Cuts this node off from `ids` (in addition to what is already blocked). */
  blockPeers(ids: Iterable<NodeId>): void {
    for (const id of ids) if (id !== this.#self) this.#peers.add(id);
  }

  /** Restores traffic with every peer. */
  heal(): void {
    this.#isolated = false;
    this.#peers.clear();
  }

  /** Whether messages to and from `peer` are dropped now. */
  blocked(peer: NodeId): boolean {
    return peer !== this.#self && (this.#isolated || this.#peers.has(peer));
  }

  /** For status displays: what is blocked now. */
  describe(): { readonly isolated: boolean; readonly peers: readonly NodeId[] } {
    return { isolated: this.#isolated, peers: [...this.#peers].sort() };
  }
}
