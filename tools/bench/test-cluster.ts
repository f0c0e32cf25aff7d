import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultClusterName } from '../../src/env/cluster-name.js';
import { silentLogger } from '../../src/env/logger.js';
import type { NodeId } from '../../src/env/types.js';
import type { NodeStatus } from '../../src/node/status.js';
import { NodeProcess, eventually } from '../harness/node-process.js';
import { freePortPairs } from '../harness/ports.js';
import { StatusReader } from '../harness/status.js';
import { type DevCerts, makeDevCerts } from '../../src/cli/dev-certs.js';
import { loadClientTls } from '../../src/runtime/tls-files.js';

/** How long three fresh nodes may take until they serve. */
const servingTimeoutMs = 20_000;

/**
 * Three (or `size`) real node processes of the built-in test app (or of the app `appArgs` name) on free
 * loopback ports, in a temporary directory (data and log files), for benchmarks and real-process
 * tests: started and serving, with a status reader; `close()` kills every process and removes
 * the directory.
 */
export class TestAppCluster {
  readonly root: string;
  readonly nodes: NodeProcess[];
  readonly cluster: string;
  readonly status: StatusReader;
  /** Development certificates the nodes run with (null: plaintext); clients present client 1's. */
  readonly certs: DevCerts | null;

  /** What names each node's app (`--app NAME` or `--app-module PATH#EXPORT`): a joiner runs it too. */
  readonly #appArgs: readonly string[];
  /** How many members `serving()` waits for: the nodes `start` started (joiners come on top). */
  readonly #size: number;

  private constructor(root: string, nodes: NodeProcess[], cluster: string, appArgs: readonly string[], certs: DevCerts | null) {
    this.#appArgs = appArgs;
    this.#size = nodes.length;
    this.root = root;
    this.nodes = nodes;
    this.cluster = cluster;
    this.certs = certs;
    this.status = new StatusReader(cluster, silentLogger, undefined, certs === null ? undefined : loadClientTls(certs.client(1)));
  }

  /**
   * Starts the nodes (logging at `logLevel` to files in the directory, each with `appArgs`, the
   * built-in test app unless they say otherwise, and `extraArgs` after its usual flags) and waits
   * until all `size` (default three) serve one view. The nodes start one after another and each
   * but the first joins through it, one view change per joiner. `tls`: mutual TLS with client
   * authentication, from development certificates made in the directory.
   */
  static async start(logLevel = 'warn', extraArgs: readonly string[] = [], appArgs: readonly string[] = ['--app', 'test'], size = 3, tls = false): Promise<TestAppCluster> {
    const root = mkdtempSync(join(tmpdir(), 'synod-bench-'));
    const ports = await freePortPairs(size);
    const first = `127.0.0.1:${ports[0]}`;
    const certs = tls ? makeDevCerts({ dir: join(root, 'certs'), nodes: ports.map((p) => `127.0.0.1:${p}`), clients: 1 }) : null;
    const nodes = ports.map((port, i) => new NodeProcess({
      port, first, dataDir: join(root, `n${i + 1}`), logFile: join(root, `n${i + 1}.log`), logLevel, tls: certs ?? undefined,
    }));
    const c = new TestAppCluster(root, nodes, defaultClusterName(first), appArgs, certs);
    try {
      for (const n of nodes) await n.start([...appArgs, ...extraArgs]);
      await eventually(async () => ((await c.serving()) ? true : undefined), servingTimeoutMs * Math.max(1, size / 3), `${size} replicas serving one view`, 50);
    } catch (err) {
      await c.close();
      throw err;
    }
    return c;
  }

  /**
   * Starts one more node of the cluster's app (a joiner, on a new data directory beside the others,
   * logging at `logLevel`); it asks the first node to join. `close()` ends it with the rest.
   */
  async join(logLevel = 'warn'): Promise<NodeProcess> {
    const [port] = await freePortPairs(1);
    const i = this.nodes.length + 1;
    const n = new NodeProcess({
      port: port!, first: this.nodes[0]!.first, dataDir: join(this.root, `n${i}`), logFile: join(this.root, `n${i}.log`), logLevel,
    });
    this.nodes.push(n);
    await n.start([...this.#appArgs]);
    return n;
  }

  get members(): NodeId[] {
    return this.nodes.map((n) => n.address);
  }

  /** Every node's status (rejects if one does not answer). */
  statuses(): Promise<NodeStatus[]> {
    return Promise.all(this.nodes.map((n) => this.status.status(n.address)));
  }

  /** Whether all of them are normal replicas of one view of all of them (three, or the `size` started). */
  async serving(): Promise<boolean> {
    const all = await this.statuses();
    return all.every((s) => s.replicaStatus === 'normal' && s.vid === all[0]!.vid && s.members.length === this.#size);
  }

  /** The process of the view's primary, as the first node sees it. */
  async primary(): Promise<NodeProcess> {
    const s = await this.status.status(this.nodes[0]!.address);
    const p = this.nodes.find((n) => n.address === s.primary);
    if (p === undefined) throw new Error(`no primary known: ${JSON.stringify(s)}`);
    return p;
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
