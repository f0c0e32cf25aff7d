import { invariant } from '../env/errors.js';
import type { NodeId } from '../env/types.js';

/** What is cut with one peer: every channel, or only the channels of these gRPC services. */
type PeerCut = 'every channel' | ReadonlySet<string>;

/**
 * Which peers one node may currently exchange messages with, and on which channels: the fault
 * injection behind the test control service's partition and heal (design §7). It holds no I/O, so
 * the simulator can use it (or mirror it) per node and get the same semantics as the gRPC transport:
 * - a blocked peer's messages are dropped in both directions, sent and received;
 * - `isolate()` blocks every peer on every channel; `blockPeers(ids)` adds `ids` to the blocked
 *   set on every channel, `blockPeers(ids, services)` on the channels of those services only (so
 *   two calls cut the union of both); `heal()` lifts all of it;
 * - a node never blocks itself: a message to oneself always arrives, as on a real host whose
 *   network cable was pulled.
 * Cutting some channels only is for tests that need one protocol's traffic gone while the others
 * flow (e.g. the RSM's state transfer between two members whose Paxos and config still talk).
 */
export class PartitionFilter {
  readonly #self: NodeId;
  #isolated = false;
  readonly #peers = new Map<NodeId, PeerCut>();

  constructor(self: NodeId) {
    this.#self = self;
  }

  /** Cuts this node off from every peer. */
  isolate(): void {
    this.#isolated = true;
  }

  /**
   * Cuts this node off from `ids` (in addition to what is already blocked): on every channel, or
   * with `services` (not empty) on the channels of those gRPC services only.
   */
  blockPeers(ids: Iterable<NodeId>, services?: Iterable<string>): void {
    const some = services === undefined ? null : [...services];
    invariant(some === null || some.length > 0, 'blockPeers: an empty list of services cuts nothing; leave it out to cut every channel');
    for (const id of ids) {
      if (id === this.#self) continue;
      const now = this.#peers.get(id);
      if (some === null || now === 'every channel') this.#peers.set(id, 'every channel');
      else this.#peers.set(id, new Set([...(now ?? []), ...some]));
    }
  }

  /** Restores traffic with every peer. */
  heal(): void {
    this.#isolated = false;
    this.#peers.clear();
  }

  /**
   * Whether messages to and from `peer` are dropped now: on the channel of `service`, or, without
   * it, on every channel.
   */
  blocked(peer: NodeId, service?: string): boolean {
    if (peer === this.#self) return false;
    if (this.#isolated) return true;
    const cut = this.#peers.get(peer);
    if (cut === undefined) return false;
    return cut === 'every channel' || (service !== undefined && cut.has(service));
  }

  /** Whether the node is cut off from every peer now. */
  get isolated(): boolean {
    return this.#isolated;
  }
}
