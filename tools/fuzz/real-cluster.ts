/**
 * The real cluster the fuzzer aims at: three node processes of an app (`synod lock-server`, or
 * `synod node --app kv|test`), with the test control service (the fuzzer's other target), on free
 * loopback ports, each with its data directory and log file in a run directory, and what the
 * oracle asks of them: are they all still running, do they agree in a quiet view. Lock sessions
 * last ten minutes, so that the well-behaved clients (which keep no callback stream) are never
 * expired under the lock model's feet.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultClusterName } from '../../src/env/cluster-name.js';
import type { NodeStatus } from '../../src/node/status.js';
import { NodeProcess, cliPath, eventually, sleep } from '../harness/node-process.js';
import { freePortPairs } from '../harness/ports.js';
import { StatusReader } from '../harness/status.js';
import type { FuzzAppName } from './apps.js';

/** Session timeout of the fuzzed lock servers (see the file comment). */
const sessionTimeoutMs = 600_000;

export class RealCluster {
  readonly nodes: readonly NodeProcess[];
  readonly cluster: string;
  readonly dir: string;
  readonly status: StatusReader;
  /** Exits nobody asked for (a node that died), in order; cleared by `takeDeaths`. */
  #deaths: string[] = [];
  #expectingExit = new Set<NodeProcess>();

  private constructor(nodes: NodeProcess[], cluster: string, dir: string) {
    this.nodes = nodes;
    this.cluster = cluster;
    this.dir = dir;
    this.status = new StatusReader(cluster, undefined, { callDeadlineMs: 2000 });
    for (const n of nodes) {
      n.onExit((exit) => {
        if (this.#expectingExit.has(n)) return;
        this.#deaths.push(`${n.address} exited (code ${exit.code}, signal ${exit.signal})\n${tail(n.output)}`);
      });
    }
  }

  /**
   * Starts three nodes of `app` and waits until they serve one view of all three: `synod
   * lock-server` for the lock service, else `synod node --app <app>` (the KV store with its lease
   * keeper, as the built-in app registry gives it).
   */
  static async start(app: FuzzAppName = 'lock'): Promise<RealCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'synod-fuzz-'));
    const ports = await freePortPairs(3);
    const first = `127.0.0.1:${ports[0]}`;
    const nodes = ports.map((port, i) => new NodeProcess({
      port, first, dataDir: join(dir, `n${i + 1}`), logFile: join(dir, `n${i + 1}.log`), logLevel: 'warn', entry: [cliPath, app === 'lock' ? 'lock-server' : 'node'],
    }));
    const appArgs = app === 'lock' ? ['--session-timeout-ms', String(sessionTimeoutMs)] : ['--app', app];
    const c = new RealCluster(nodes, defaultClusterName(first), dir);
    try {
      for (const n of nodes) await n.start(appArgs);
      await eventually(() => c.quiet(), 20_000, `three ${app} nodes serving`, 50);
    } catch (err) {
      await c.close(false);
      throw err;
    }
    return c;
  }

  get addresses(): string[] {
    return this.nodes.map((n) => n.address);
  }

  /** The exits nobody asked for since the last call. */
  takeDeaths(): string[] {
    const d = this.#deaths;
    this.#deaths = [];
    return d;
  }

  /** Every node's status if all serve one quiet view of all three (same view and executed state, nothing in flight), else undefined. */
  async quiet(): Promise<NodeStatus[] | undefined> {
    const all = await Promise.all(this.nodes.map((n) => this.status.status(n.address)));
    const a = all[0]!;
    const same = (s: NodeStatus): boolean => s.vid === a.vid && JSON.stringify(s.members) === JSON.stringify(a.members) &&
      JSON.stringify(s.lastExecuted) === JSON.stringify(a.lastExecuted);
    return all.every((s) => same(s) && s.members.length === this.nodes.length && s.replicaStatus === 'normal' && !s.refusing && s.inFlight === 0)
      ? all : undefined;
  }

  /** The cluster's id as the first node's status reports it (envelopes must carry it to be heard). */
  async clusterId(): Promise<string | null> {
    return (await this.status.status(this.nodes[0]!.address)).clusterId;
  }

  /** The primary the first node that answers names (null: none known). */
  async primary(): Promise<string | null> {
    for (const n of this.nodes) {
      try {
        return (await this.status.status(n.address)).primary;
      } catch {
        // ask the next one
      }
    }
    return null;
  }

  /** Heals every node's partitions (a control request may have cut a node from a stranger). */
  async heal(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.control('Heal', {}).catch(() => undefined)));
  }

  /** Restarts `n` (SIGKILL, then the same arguments) and waits until it runs; an exit here is asked for. */
  async restart(n: NodeProcess): Promise<void> {
    this.#expectingExit.add(n);
    await n.kill('SIGKILL');
    this.#expectingExit.delete(n);
    await n.restart();
    await sleep(100);
  }

  /** Kills every node and removes the run directory (unless `keep`). */
  async close(keep: boolean): Promise<void> {
    for (const n of this.nodes) this.#expectingExit.add(n);
    await this.status.close();
    for (const n of this.nodes) {
      n.closeClient();
      await n.kill('SIGKILL');
    }
    if (!keep) rmSync(this.dir, { recursive: true, force: true });
  }
}

function tail(output: string): string {
  return output.split('\n').slice(-8).join('\n');
}
