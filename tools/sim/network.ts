import type { NodeId } from '../../src/env/types.js';
import type { Prng } from './prng.js';

/** How the simulated network treats messages between different nodes (self-delivery is perfect). */
export interface NetworkProfile {
  /** One-way delay, uniform in [minDelayMs, maxDelayMs]; varying delays reorder messages. */
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  /**
   * Probability that a message is slow instead (a retransmission, a stalled connection, a GC
   * pause): its delay is then uniform in [maxDelayMs, slowDelayMs]. Tail latency is what opens
   * the windows in which stale messages meet restarted nodes.
   */
  readonly slowRate: number;
  readonly slowDelayMs: number;
  /** Probability that a message is lost. */
  readonly dropRate: number;
  /** Probability that a message is delivered twice (the copy with its own delay). */
  readonly duplicateRate: number;
  /**
   * After a node restarts, each peer reaches it again only after a random delay up to this long,
   * or as soon as the restarted node sends that peer a message: production peers keep a gRPC
   * channel per peer that reconnects with backoff (capped by
   * `TransportOptions.reconnectBackoffMaxMs`), and replace it when the peer is heard from.
   */
  readonly reconnectDelayMaxMs: number;
}

export const calmNetwork: NetworkProfile = {
  minDelayMs: 0.2,
  maxDelayMs: 2,
  slowRate: 0,
  slowDelayMs: 2,
  dropRate: 0,
  duplicateRate: 0,
  reconnectDelayMaxMs: 0,
};

/**
 * A random network for one run, drawn from `shape` (a generator of the run's seed): LAN-like
 * delays with some slow messages, loss up to `maxDropRate` in most runs, a little duplication,
 * and in half the runs a reconnect delay after restarts.
 */
export function drawNetwork(shape: Prng, maxDropRate: number): NetworkProfile {
  const maxDelayMs = shape.uniform(0.5, 10);
  return {
    minDelayMs: 0.1,
    maxDelayMs,
    slowRate: shape.uniform(0, 0.05),
    slowDelayMs: maxDelayMs + shape.uniform(20, 300),
    dropRate: shape.chance(0.3) ? 0 : shape.uniform(0, maxDropRate),
    duplicateRate: shape.uniform(0, 0.05),
    reconnectDelayMaxMs: shape.chance(0.5) ? 0 : shape.uniform(100, 1000),
  };
}

/** What the network needs from the simulation. */
export interface NetworkHost {
  readonly now: number;
  readonly rng: Prng;
  schedule(delayMs: number, fn: () => void): void;
  trace(line: string): void;
  /** Hands a wire message to `to`'s receiver for `service` if `to` is up (holds it while paused). */
  deliver(to: NodeId, service: string, from: NodeId, wire: Record<string, unknown>): void;
}

/**
 * The simulated network: delay, loss, duplication, reordering, and partitions that come and go.
 * A partition is a set of cut node pairs; a message crossing a cut pair is dropped, whether the
 * cut existed when it was sent or appeared while it was in flight.
 */
export class SimNetwork {
  profile: NetworkProfile;
  readonly #host: NetworkHost;
  readonly #cut = new Set<string>();
  /** Cuts that `heal` does not lift (`holdCut`), by pair, with how many holds each. */
  readonly #held = new Map<string, number>();
  sent = 0;
  dropped = 0;
  /** Per `sender>receiver` pair: the sender's messages are lost until this virtual time (after the receiver restarted). */
  readonly #unreachableUntil = new Map<string, number>();
  /** Every node that has ever sent or been sent a message (to know a restarted node's peers). */
  readonly #known = new Set<NodeId>();
  /** Observers of every message at the moment it is sent (before any loss): checkers' eyes. */
  readonly taps: Array<(from: NodeId, to: NodeId, service: string, msg: unknown) => void> = [];
  /** A scenario's own losses (never drawn): a message any of these returns true for is dropped. */
  readonly blocks: Array<(from: NodeId, to: NodeId, service: string, msg: unknown) => boolean> = [];
  /**
   * Slow nodes (a scenario's choice, never drawn): every message to or from one of them takes
   * this much longer, on top of the profile's delay. Draws nothing from the run's generator.
   */
  readonly extraDelayMs = new Map<NodeId, number>();

  constructor(host: NetworkHost, profile: NetworkProfile = calmNetwork) {
    this.#host = host;
    this.profile = profile;
  }

  send(from: NodeId, to: NodeId, service: string, msg: unknown, wire: Record<string, unknown>, summary: string): void {
    const host = this.#host;
    this.sent++;
    for (const tap of this.taps) tap(from, to, service, msg);
    this.#known.add(from);
    this.#known.add(to);
    // Hearing from the restarted node makes the peer reconnect at once.
    this.#unreachableUntil.delete(`${to}>${from}`);
    if (from === to) {
      host.schedule(0, () => host.deliver(to, service, from, wire));
      return;
    }
    const p = this.profile;
    if (this.blocks.some((b) => b(from, to, service, msg))) {
      this.dropped++;
      host.trace(`drop ${from}>${to} ${summary} (blocked by the scenario)`);
      return;
    }
    if (this.isCut(from, to) || host.rng.chance(p.dropRate) || (this.#unreachableUntil.get(`${from}>${to}`) ?? 0) > host.now) {
      this.dropped++;
      host.trace(`drop ${from}>${to} ${summary}`);
      return;
    }
    const copies = host.rng.chance(p.duplicateRate) ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      const delay = this.drawDelay() + (this.extraDelayMs.get(from) ?? 0) + (this.extraDelayMs.get(to) ?? 0);
      host.schedule(delay, () => {
        if (this.isCut(from, to)) {
          this.dropped++;
          host.trace(`drop ${from}>${to} ${summary} (cut in flight)`);
          return;
        }
        host.trace(`deliver ${from}>${to} ${summary}`);
        host.deliver(to, service, from, wire);
      });
    }
  }

  /** One message's delay between two nodes, drawn from the profile (a slow one now and then). */
  drawDelay(): number {
    const p = this.profile;
    const rng = this.#host.rng;
    return rng.chance(p.slowRate) ? rng.uniform(p.maxDelayMs, p.slowDelayMs) : rng.uniform(p.minDelayMs, p.maxDelayMs);
  }

  /** `node` restarted: each peer's channel to it needs a while to reconnect (or until `node` speaks to it). */
  restarted(node: NodeId): void {
    if (this.profile.reconnectDelayMaxMs <= 0) return;
    for (const peer of [...this.#known].sort()) {
      if (peer === node) continue;
      const delay = this.#host.rng.uniform(0, this.profile.reconnectDelayMaxMs);
      this.#unreachableUntil.set(`${peer}>${node}`, this.#host.now + delay);
    }
  }

  isCut(a: NodeId, b: NodeId): boolean {
    return a !== b && (this.#cut.has(pairKey(a, b)) || (this.#held.get(pairKey(a, b)) ?? 0) > 0);
  }

  /**
   * Cuts every pair with one node in `side` and the other in `others` until the returned function
   * lifts it: `heal` leaves such a cut alone (a workload's own disturbance that must last its whole
   * time, whatever other faults heal meanwhile). Cuts held twice need lifting twice.
   */
  holdCut(side: readonly NodeId[], others: readonly NodeId[]): () => void {
    const keys = side.flatMap((a) => others.filter((b) => b !== a).map((b) => pairKey(a, b)));
    for (const k of keys) this.#held.set(k, (this.#held.get(k) ?? 0) + 1);
    this.#host.trace(`held cut [${side.join(',')}] | [${others.join(',')}]`);
    let lifted = false;
    return () => {
      if (lifted) return;
      lifted = true;
      for (const k of keys) this.#held.set(k, (this.#held.get(k) ?? 1) - 1);
      this.#host.trace(`held cut lifted [${side.join(',')}] | [${others.join(',')}]`);
    };
  }

  /** Cuts every pair with one node in `side` and the other in `others`. */
  split(side: readonly NodeId[], others: readonly NodeId[]): void {
    for (const a of side) for (const b of others) if (a !== b) this.#cut.add(pairKey(a, b));
    this.#host.trace(`partition [${side.join(',')}] | [${others.join(',')}]`);
  }

  heal(): void {
    if (this.#cut.size === 0) return;
    this.#cut.clear();
    this.#host.trace('heal');
  }

  get partitioned(): boolean {
    return this.#cut.size > 0 || [...this.#held.values()].some((n) => n > 0);
  }
}

function pairKey(a: NodeId, b: NodeId): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}
