import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GrpcLockClient } from '../../src/apps/lock/grpc-lock-client.js';
import { type SynodClient, connect } from '../../src/client/connect.js';
import { RsmClient } from '../../src/client/rsm-client.js';
import { silentLogger } from '../../src/env/logger.js';
import type { ClientOptions, TransportOptions } from '../../src/options.js';
import type { NodeOptionsFile } from '../../src/cli/options-file.js';
import type { Json } from '../../src/rsm/app.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { realClock } from '../../src/runtime/real-clock.js';
import { eventually, sleep } from '../harness/node-process.js';
import { TestAppCluster } from './test-cluster.js';
import { type ClientTls, loadClientTls } from '../../src/runtime/tls-files.js';
import { type Call, type Contender, warmedCallers } from './throughput-measure.js';
import { callDeadlineMs, failover } from './throughput-timing.js';

/**
 * The synod side of `npm run bench -- throughput`: a local cluster of real node processes (the
 * test app, or the lock service), durable as by default, driven through the real client path
 * (`connect()`, `RsmClient`, `GrpcLockClient` over gRPC).
 */

/**
 * What the benchmark passes through to synod unchanged, so one build can be compared with itself
 * under other settings (e.g. a transport variant): every node's options (the districts of
 * `synod node --options FILE`) and every client's options. Empty: every default.
 */
export interface SynodSettings {
  readonly node?: NodeOptionsFile;
  readonly client?: Partial<ClientOptions>;
  readonly transport?: Partial<TransportOptions>;
}

/** A write of the test app: counter `key` up by one. */
const write = (key: string): [string, Json] => ['add', { key, by: 1 }];

export class SynodSide {
  readonly #cluster: TestAppCluster;
  readonly #settings: SynodSettings;
  /** Unique owner names across rows (a lock owner is bound to the client that first used it). */
  #owners = 0;

  /** What this side's clients present and check (undefined: plaintext). */
  readonly #tls: ClientTls | undefined;

  private constructor(cluster: TestAppCluster, settings: SynodSettings) {
    this.#cluster = cluster;
    this.#settings = settings;
    this.#tls = cluster.certs === null ? undefined : loadClientTls(cluster.certs.client(1));
  }

  /**
   * Starts `size` nodes of `app` ('test' or 'lock'), each given `settings.node` through an options
   * file written into `workDir` (the benchmark's own directory, removed with it), and waits until
   * all serve one view. `tls`: the nodes and every client of this side with mutual TLS.
   */
  static async start(app: 'test' | 'lock', size: number, settings: SynodSettings, workDir: string, tls = false): Promise<SynodSide> {
    const extra: string[] = [];
    if (settings.node !== undefined) {
      const optionsFile = join(workDir, `synod-options-${app}-${size}.json`);
      writeFileSync(optionsFile, JSON.stringify(settings.node));
      extra.push('--options', optionsFile);
    }
    const cluster = await TestAppCluster.start('warn', extra, ['--app', app], size, tls);
    return new SynodSide(cluster, settings);
  }

  get members(): readonly string[] {
    return this.#cluster.members;
  }

  get root(): string {
    return this.#cluster.root;
  }

  /** The pids of the running nodes. */
  pids(): number[] {
    return this.#cluster.nodes.flatMap((n) => (n.pid === undefined ? [] : [n.pid]));
  }

  /** One `connect()` client, `inFlight` calls of `proc` at once on it (it may queue them: that is measured too). */
  oneClient(label: string, inFlight: number, call: (i: number) => [string, Json]): Contender {
    return {
      label,
      open: async () => {
        const client = await this.#connect();
        const calls = Array.from({ length: inFlight }, (_, i): Call => async () => {
          const [proc, args] = call(i);
          await client.invoke(proc, args, { deadlineMs: callDeadlineMs });
        });
        return warmedCallers(calls, () => this.pids(), () => client.close());
      },
    };
  }

  /** `inFlight` `RsmClient`s on one gRPC transport, one call in flight each. */
  clientPerCall(label: string, inFlight: number, call: (i: number) => [string, Json]): Contender {
    return {
      label,
      open: async () => {
        const transport = new GrpcClientTransport({ cluster: this.#cluster.cluster, logger: silentLogger, options: this.#settings.transport, tls: this.#tls });
        const clients = Array.from({ length: inFlight }, () => new RsmClient({
          members: this.members, transport, clock: realClock, clusterConfirmed: true, options: this.#settings.client,
        }));
        const calls = clients.map((c, i): Call => async () => {
          const [proc, args] = call(i);
          await c.invoke(proc, args, { deadlineMs: callDeadlineMs });
        });
        return warmedCallers(calls, () => this.pids(), async () => {
          for (const c of clients) c.close();
          await transport.close();
        });
      },
    };
  }

  /**
   * `clients` caching lock clients (`GrpcLockClient`, one user each) on `locks` locks (client i on
   * lock i mod `locks`): each call acquires and releases; the latency recorded is the acquire's, the grant its lock and
   * fencing token (a cycle served from the client's cache runs under its earlier grant).
   */
  locks(label: string, clients: number, locks: number): Contender {
    return {
      label,
      open: async () => {
        const transport = new GrpcClientTransport({ cluster: this.#cluster.cluster, logger: silentLogger, options: this.#settings.transport, tls: this.#tls });
        const run = ++this.#owners;
        const lockClients = Array.from({ length: clients }, (_, i) => new GrpcLockClient({
          cluster: this.#cluster.cluster, members: this.members, owner: `bench-${run}-${i}`, transport, clusterConfirmed: true, rsmClient: this.#settings.client,
        }));
        const calls = lockClients.map((c, i): Call => async () => {
          const lock = `bench-${run}-${i % locks}`;
          const began = performance.now();
          const { token } = await c.lock.acquire(lock, 'u0');
          const latencyMs = performance.now() - began;
          await c.lock.release(lock, 'u0');
          return { latencyMs, grant: `${lock}#${token}` };
        });
        return warmedCallers(calls, () => this.pids(), async () => {
          await Promise.all(lockClients.map((c) => c.close({ giveBack: true })));
          await transport.close();
        });
      },
    };
  }

  /**
   * One failover: writes from one client for a calm period (it knows the primary, the primary holds
   * its lease), SIGKILL of the primary, then writes again with the same client until one succeeds;
   * resolves the ms from the signal to that success. Then restarts the killed node on its data
   * directory and waits until every node serves one view again.
   */
  async failover(client: SynodClient): Promise<number> {
    await this.#serving();
    const calmUntil = performance.now() + failover.calmMs;
    while (performance.now() < calmUntil) await client.invoke(...write('failover'), { deadlineMs: callDeadlineMs });
    const primary = await this.#cluster.primary();
    const killedAt = performance.now();
    await primary.kill('SIGKILL');
    for (;;) {
      try {
        await client.invoke(...write('failover'), { deadlineMs: failover.stepTimeoutMs });
        break;
      } catch (err) {
        if (performance.now() - killedAt > failover.stepTimeoutMs) throw new Error(`no write succeeded within ${failover.stepTimeoutMs} ms of the kill: ${String(err)}`);
        await sleep(failover.retryPauseMs);
      }
    }
    const ms = performance.now() - killedAt;
    await primary.restart();
    await this.#serving();
    return ms;
  }

  /** A `connect()` client with the pass-through options (the caller closes it). */
  #connect(): Promise<SynodClient> {
    const tls = this.#cluster.certs?.client(1);
    return connect({ members: this.members, cluster: this.#cluster.cluster, client: this.#settings.client, transport: this.#settings.transport, tls });
  }

  /** A client for `failover` (the caller closes it). */
  failoverClient(): Promise<SynodClient> {
    return this.#connect();
  }

  #serving(): Promise<true> {
    return eventually(async () => ((await this.#cluster.serving()) ? true : undefined), failover.stepTimeoutMs, 'every node serving one view');
  }



  async close(): Promise<void> {
    await this.#cluster.close();
  }
}

export { write as synodWrite };
