import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, closeSync, constants, mkdirSync, openSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { eventually } from '../harness/node-process.js';
import { freePortPairs } from '../harness/ports.js';

/**
 * A local etcd cluster of real `etcd` processes for `npm run bench -- throughput --vs etcd`: every
 * member on free loopback ports (client port p, peer port p + 1), its data directory and log file
 * under a directory the caller owns, every option at etcd's default (so fsync on every commit, as
 * etcd always does). Members can be SIGKILLed and restarted on their data directory.
 */

/** How long a fresh cluster, or one member restarted, may take until every member answers and one leads. */
const healthyTimeoutMs = 30_000;
/** Deadline of one status call to one member (a stopped member answers none). */
const statusDeadlineMs = 1000;

/** The `etcd` executable on PATH, or null (then the bench prints how to install it). */
export function etcdOnPath(): string | null {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const file = join(dir, 'etcd');
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

interface Member {
  readonly name: string;
  readonly clientUrl: string;
  readonly args: readonly string[];
  readonly logFile: string;
  /** An etcd3 client of this member alone, for its status. */
  readonly status: Etcd3;
  child: ChildProcess | null;
  exited: Promise<void> | null;
}

export class EtcdCluster {
  readonly #members: Member[];
  readonly #binary: string;

  private constructor(binary: string, members: Member[]) {
    this.#binary = binary;
    this.#members = members;
  }

  /** Starts `size` members under `dir` and waits until all answer and agree on a leader. */
  static async start(binary: string, dir: string, size: number): Promise<EtcdCluster> {
    const ports = await freePortPairs(size);
    const names = ports.map((_, i) => `e${i + 1}`);
    const initial = ports.map((p, i) => `${names[i]}=http://127.0.0.1:${p + 1}`).join(',');
    const members = ports.map((p, i): Member => {
      const clientUrl = `http://127.0.0.1:${p}`;
      const peerUrl = `http://127.0.0.1:${p + 1}`;
      const dataDir = join(dir, names[i]!);
      mkdirSync(dataDir, { recursive: true });
      return {
        name: names[i]!,
        clientUrl,
        logFile: join(dir, `${names[i]}.log`),
        args: [
          '--name', names[i]!, '--data-dir', dataDir,
          '--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl,
          '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl,
          // Only read for a new data directory; a restarted member finds its cluster in its own.
          '--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', `bench-${process.pid}-${ports[0]}`,
        ],
        status: new Etcd3({ hosts: clientUrl }),
        child: null,
        exited: null,
      };
    });
    const c = new EtcdCluster(binary, members);
    try {
      for (const m of members) c.#spawn(m);
      await c.healthy();
    } catch (err) {
      await c.close();
      throw err;
    }
    return c;
  }

  get hosts(): string[] {
    return this.#members.map((m) => m.clientUrl);
  }

  pids(): number[] {
    return this.#members.flatMap((m) => (m.child?.pid === undefined ? [] : [m.child.pid]));
  }

  #spawn(m: Member): void {
    const log = openSync(m.logFile, 'a');
    const child = spawn(this.#binary, [...m.args], { stdio: ['ignore', log, log] });
    closeSync(log);
    m.child = child;
    m.exited = new Promise((resolve) => child.once('exit', () => {
      if (m.child === child) m.child = null;
      resolve();
    }));
  }

  /** The member's id and the leader's id it reports, or null when it does not answer. */
  async #status(m: Member): Promise<{ id: string; leader: string } | null> {
    if (m.child === null) return null;
    try {
      const s = await m.status.maintenance.status({ deadline: Date.now() + statusDeadlineMs });
      return { id: String(s.header.member_id), leader: String(s.leader) };
    } catch {
      return null;
    }
  }

  /** The index of the member every running member names as leader (rejects if they never agree). */
  async healthy(): Promise<number> {
    return eventually(async () => {
      const all = await Promise.all(this.#members.map((m) => this.#status(m)));
      if (all.some((s) => s === null)) return undefined;
      const leader = all[0]!.leader;
      if (leader === '0' || !all.every((s) => s!.leader === leader)) return undefined;
      const i = all.findIndex((s) => s!.id === leader);
      return i < 0 ? undefined : i;
    }, healthyTimeoutMs, 'every etcd member answering with one leader');
  }

  /** SIGKILLs member `i` and waits until it is gone. */
  async kill(i: number): Promise<void> {
    const m = this.#members[i]!;
    m.child?.kill('SIGKILL');
    await m.exited;
  }

  /** Starts member `i` again on its data directory and waits until the cluster is whole. */
  async restart(i: number): Promise<void> {
    this.#spawn(this.#members[i]!);
    await this.healthy();
  }

  /** The tail of every member's log (for a failure message). */
  logTails(): string {
    return this.#members.map((m) => {
      let text = '';
      try {
        text = readFileSync(m.logFile, 'utf8').slice(-2000);
      } catch {
        // no log yet
      }
      return `--- etcd ${m.name} log tail ---\n${text}`;
    }).join('\n');
  }

  /** Kills every member and closes the status clients (the caller removes the directory). */
  async close(): Promise<void> {
    for (const m of this.#members) {
      m.status.close();
      m.child?.kill('SIGKILL');
      await m.exited;
    }
  }
}
