import { sleep } from '../harness/node-process.js';
import type { NodeProcess } from '../harness/node-process.js';
import type { NodeStatus } from '../../src/node/status.js';
import type { TesterCluster } from '../tester/cluster.js';
import { statusFreshMs, statusPollMs } from './timing.js';

/** One status read of a node, with when it was answered (`performance.now()`). */
export interface StatusReading {
  readonly status: NodeStatus;
  readonly atMs: number;
}

/**
 * Reads every node's status (`TesterCluster.status`, the node service) every `statusPollMs`, one
 * loop per node, and keeps the latest answer of each: what the fault schedule and the recovery
 * checks ask about, without waiting for a node that does not answer (a stopped process is not
 * asked at all; one that is cut off just keeps its older reading).
 */
export class StatusMonitor {
  readonly #cluster: TesterCluster;
  readonly #latest = new Map<NodeProcess, StatusReading>();
  #running = false;
  #loops: Promise<void>[] = [];

  constructor(cluster: TesterCluster) {
    this.#cluster = cluster;
  }

  start(): void {
    this.#running = true;
    this.#loops = this.#cluster.nodes.map((n) => this.#poll(n));
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
  }

  latest(n: NodeProcess): StatusReading | undefined {
    return this.#latest.get(n);
  }

  /** The highest view any node reported within `statusFreshMs`: the current view, as far as anyone knows. */
  currentVid(): number {
    const now = performance.now();
    let vid = 0;
    for (const r of this.#latest.values()) if (now - r.atMs <= statusFreshMs) vid = Math.max(vid, r.status.vid);
    return vid;
  }

  /** The primary of the current view, as a node of it last reported; null if unknown. */
  primary(): NodeProcess | null {
    const vid = this.currentVid();
    for (const [, r] of this.#latest) {
      if (r.status.vid === vid && r.status.primary !== null) return this.#cluster.nodes.find((n) => n.address === r.status.primary) ?? null;
    }
    return null;
  }

  /**
   * Whether `n` is back: running, not stopped, and its last status, read after `sinceMs`, shows a
   * member of the current view listed in it, a normal replica with a complete state, whose view's
   * primary is not refusing to serve.
   */
  isHealthy(n: NodeProcess, sinceMs = -Infinity): boolean {
    if (!n.running || n.paused) return false;
    const r = this.#latest.get(n);
    if (r === undefined || r.atMs <= sinceMs || performance.now() - r.atMs > statusFreshMs) return false;
    const s = r.status;
    return s.vid === this.currentVid() && s.members.includes(n.address) && s.configStatus === 'member' &&
      s.replicaStatus === 'normal' && s.stateComplete && !s.refusing;
  }

  /**
   * The status every node agrees on once the cluster has settled: every node healthy (read after
   * `sinceMs`), all in one view whose members are exactly all the nodes, with one primary that
   * serves; null while that is not so.
   */
  settled(sinceMs: number): NodeStatus | null {
    const nodes = this.#cluster.nodes;
    if (!nodes.every((n) => this.isHealthy(n, sinceMs))) return null;
    const statuses = nodes.map((n) => this.#latest.get(n)!.status);
    const s0 = statuses[0]!;
    const all = new Set(nodes.map((n) => n.address));
    const ok = statuses.every((s) => s.vid === s0.vid && s.primary === s0.primary && s.members.length === all.size &&
      s.members.every((m) => all.has(m)));
    return ok && s0.primary !== null ? s0 : null;
  }

  async #poll(n: NodeProcess): Promise<void> {
    while (this.#running) {
      if (n.running && !n.paused) {
        try {
          const status = await this.#cluster.status(n);
          this.#latest.set(n, { status, atMs: performance.now() });
        } catch {
          // not answering (down, cut off, starting): the older reading stays, and ages
        }
      }
      await sleep(statusPollMs);
    }
  }
}
