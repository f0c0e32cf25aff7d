import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeProcess, eventually } from './node-process.js';
import { freePortPairs } from './ports.js';
import { StatusReader } from './status.js';
import { defaultClusterName } from '../../src/env/cluster-name.js';
import type { NodeStatus } from '../../src/node/status.js';
import type { ObserveOptions } from '../../src/options/observe.js';
import type { RsmOptions } from '../../src/options/rsm.js';
import type { ConfigOptions } from '../../src/options/config.js';

/** How long a fresh three-node cluster may take until every replica is normal in one view. */
const clusterUpTimeoutMs = 20_000;

/**
 * Three real `synod node --app test` processes, each serving metrics, health and the status page
 * on its own HTTP port (`--metrics-address`): what the ops endpoint's tests and the status page's
 * browser test run against.
 */
export class OpsCluster {
  readonly root: string;
  readonly nodes: NodeProcess[];
  /** `host:port` of each node's ops endpoint, by node address. */
  readonly opsAddress = new Map<string, string>();
  readonly cluster: string;
  readonly status: StatusReader;

  private constructor(root: string, nodes: NodeProcess[], cluster: string) {
    this.root = root;
    this.nodes = nodes;
    this.cluster = cluster;
    this.status = new StatusReader(cluster);
  }

  /** Starts three nodes with these tunables and waits until all are normal replicas of one three-member view. */
  static async start(
    tunables: { observe?: Partial<ObserveOptions>; rsm?: Partial<RsmOptions>; config?: Partial<ConfigOptions> } = {}, logLevel = 'info',
  ): Promise<OpsCluster> {
    const root = mkdtempSync(join(tmpdir(), 'synod-ops-'));
    // Pairs: each node takes its port and port + 1 (control); the last three pairs' ports are the ops endpoints.
    const ports = await freePortPairs(6);
    const first = `127.0.0.1:${ports[0]}`;
    const optionsFile = join(root, 'options.json');
    writeFileSync(optionsFile, JSON.stringify(tunables));
    const nodes = ports.slice(0, 3).map((port, i) => new NodeProcess({ port, first, dataDir: join(root, `n${i + 1}`), logLevel }));
    const c = new OpsCluster(root, nodes, defaultClusterName(first));
    try {
      for (const [i, n] of nodes.entries()) {
        const ops = `127.0.0.1:${ports[3 + i]}`;
        c.opsAddress.set(n.address, ops);
        await n.start(['--app', 'test', '--metrics-address', ops, '--options', optionsFile]);
      }
      await c.settled(3, clusterUpTimeoutMs);
    } catch (err) {
      await c.close();
      throw err;
    }
    return c;
  }

  /** Waits until the running nodes are `count` normal replicas of one view, and returns their statuses. */
  async settled(count: number, timeoutMs: number): Promise<NodeStatus[]> {
    const running = this.nodes.filter((n) => n.running);
    return eventually(async () => {
      const all = await Promise.all(running.map((n) => this.status.status(n.address).catch(() => null)));
      if (all.some((s) => s === null)) return undefined;
      const ok = all as NodeStatus[];
      return ok.every((s) => s.replicaStatus === 'normal' && s.members.length === count && s.vid === ok[0]!.vid && s.primary !== null) ? ok : undefined;
    }, timeoutMs, `${count} replicas normal in one view`, 50);
  }

  /** GET `path` from the ops endpoint of `node`. */
  async get(node: string, path: string): Promise<{ readonly status: number; readonly body: string; readonly type: string }> {
    const res = await fetch(`http://${this.opsAddress.get(node)}${path}`, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: await res.text(), type: res.headers.get('content-type') ?? '' };
  }

  async close(): Promise<void> {
    await this.status.close();
    for (const n of this.nodes) {
      n.closeClient();
      await n.kill('SIGKILL');
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}
