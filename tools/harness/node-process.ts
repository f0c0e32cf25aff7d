import { type ChildProcess, type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { RpcError, UnaryClient } from '../../src/runtime/grpc-client.js';
import type { DevCerts } from '../../src/cli/dev-certs.js';
import { channelCredentials } from '../../src/runtime/tls-credentials.js';
import { loadClientTls } from '../../src/runtime/tls-files.js';
import { controlService } from '../../src/node/control-server.js';

/** The compiled CLI (dist/src/cli/synod.js; this module runs from dist/tools/harness/), run as a real process. */
export const cliPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'synod.js');

/** How much of a node's output is kept for failure messages (the tail). */
const maxKeptOutputChars = 200_000;

/**
 * Reconnect backoff of the harness's control connection to a node: gRPC's own default (1 s
 * initial) would make every start or restart look a second slower than it is, since the first
 * attempts are refused while the process is still loading.
 */
const controlReconnectBackoffInitialMs = 50;
const controlReconnectBackoffMaxMs = 200;

/** How long a node may take to start answering its control service. */
export const nodeStartTimeoutMs = 10_000;

/** How a process ended: its exit code, or the signal that ended it. */
export interface NodeExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The pid of the process that exited. */
  readonly pid: number | undefined;
}

/**
 * One real node process, spawned from `dist/`, that can be killed and restarted on the same
 * address and data directory. Its output is kept for failure messages.
 */
export class NodeProcess {
  readonly address: string;
  readonly controlAddress: string;
  readonly dataDir: string;
  readonly first: string;
  /** Where the node writes its log (appended to by every life); undefined: its standard output, kept in `output`. */
  readonly logFile: string | undefined;
  output = '';
  #child: ChildProcess | null = null;
  #exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | null = null;
  #control: UnaryClient | null = null;
  #paused = false;
  /** The extra arguments of the last `start`, reused by `restart`. */
  #lastArgs: string[] = [];
  readonly #exitListeners: Array<(exit: NodeExit) => void> = [];
  readonly #detached: boolean;

  readonly #logArgs: string[];
  /** The program and arguments the node command runs under (e.g. `ip netns exec NS`); empty: none. */
  readonly #launcher: readonly string[];
  /** How the node is told to serve its control service (on loopback by default, on `host` otherwise). */
  readonly #controlArgs: readonly string[];

  /**
   * @param logFile where the node writes its log (default: its standard output, kept in `output`)
   * @param logLevel default `debug`
   */
  readonly #entry: string[];
  /** The development certificates the node runs with (null: plaintext). */
  readonly #tls: DevCerts | null;

  /**
   * @param entry the program and its leading arguments (default: the synod CLI's `node` command);
   *   the node flags (--me, --first, --data-dir, --control, logging) follow them
   * @param ownProcessGroup spawn the node in a process group of its own (default false), so that a
   *   Ctrl-C in the terminal reaches only the harness, which then stops its nodes itself
   * @param host the node's IP address (default 127.0.0.1); on another host its control service
   *   listens there too (`--control-address`), since the harness cannot reach its loopback
   * @param launcher a command that runs the node command, which it must exec in place (the pid
   *   stays the node's, so signals reach it), e.g. `['ip', 'netns', 'exec', NS]`; default none
   * @param tls run the node with mutual TLS and client authentication from these development
   *   certificates (`makeDevCerts`, which must have made one for this node's address); the
   *   harness's control client presents client certificate 1
   */
  constructor(opts: {
    port: number; first: string; dataDir: string; logFile?: string; logLevel?: string; entry?: string[]; ownProcessGroup?: boolean;
    host?: string; launcher?: readonly string[]; tls?: DevCerts;
  }) {
    this.#entry = opts.entry ?? [cliPath, 'node'];
    this.#detached = opts.ownProcessGroup ?? false;
    const host = opts.host ?? '127.0.0.1';
    this.address = `${host}:${opts.port}`;
    this.controlAddress = `${host}:${opts.port + 1}`;
    this.#launcher = opts.launcher ?? [];
    this.#controlArgs = host === '127.0.0.1' ? ['--control'] : ['--control-address', this.controlAddress];
    this.first = opts.first;
    this.dataDir = opts.dataDir;
    this.logFile = opts.logFile;
    this.#tls = opts.tls ?? null;
    this.#logArgs = ['--log-level', opts.logLevel ?? 'debug', ...(opts.logFile === undefined ? [] : ['--log-file', opts.logFile])];
  }

  #keep(chunk: Buffer): void {
    this.output = (this.output + chunk.toString()).slice(-maxKeptOutputChars);
  }

  get running(): boolean {
    return this.#child !== null;
  }

  /** The pid of the running process (undefined when none runs). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Whether the process is stopped by `pause` (SIGSTOP) and not resumed yet. */
  get paused(): boolean {
    return this.#paused;
  }

  /**
   * Calls `listener` every time a process of this node exits, however it ended (killed by the
   * harness, a crash breakpoint, a crash), after `running` turned false.
   */
  onExit(listener: (exit: NodeExit) => void): void {
    this.#exitListeners.push(listener);
  }

  /** Spawns the process; resolves once its control service answers. */
  async start(extraArgs: string[] = []): Promise<void> {
    if (this.#child !== null) throw new Error(`${this.address} is already running`);
    this.#lastArgs = extraArgs;
    const child = this.#spawn([
      ...this.#entry, '--me', this.address, '--first', this.first, '--data-dir', this.dataDir,
      ...this.#controlArgs, ...this.#logArgs, ...this.tlsArgs(), ...extraArgs,
    ], this.#detached);
    this.#child = child;
    this.#paused = false;
    child.stdout.on('data', (d: Buffer) => this.#keep(d));
    child.stderr.on('data', (d: Buffer) => this.#keep(d));
    this.#exit = new Promise((resolve) => child.once('exit', (code, signal) => {
      if (this.#child === child) {
        this.#child = null;
        this.#paused = false;
      }
      resolve({ code, signal });
      for (const listener of this.#exitListeners) listener({ code, signal, pid: child.pid });
    }));
    const deadline = Date.now() + nodeStartTimeoutMs;
    for (;;) {
      try {
        await this.control('PaxosStatus', {}, 500);
        return;
      } catch (err) {
        if (this.#child !== child) throw new Error(`${this.address} exited while starting:\n${this.output}`);
        if (Date.now() > deadline) throw new Error(`${this.address} did not start in ${nodeStartTimeoutMs} ms: ${String(err)}\n${this.output}`);
        await sleep(50);
      }
    }
  }

  /** Spawns the process and waits for it to exit by itself (for refused starts). */
  async runToExit(timeoutMs: number): Promise<{ code: number | null; output: string }> {
    const child = this.#spawn([
      ...this.#entry, '--me', this.address, '--first', this.first, '--data-dir', this.dataDir, ...this.tlsArgs(),
    ], false);
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    clearTimeout(timer);
    return { code, output };
  }

  /** Spawns `node args…`, under the launcher if there is one. */
  #spawn(args: string[], detached: boolean): ChildProcessByStdio<null, Readable, Readable> {
    const [program, ...launcherArgs] = [...this.#launcher, process.execPath];
    return spawn(program!, [...launcherArgs, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached });
  }

  /** Starts the process again on the same address and data directory, with the last `start`'s arguments. */
  restart(): Promise<void> {
    return this.start(this.#lastArgs);
  }

  /**
   * Sends `signal` and waits for the process to be gone. A paused process is resumed after the
   * signal (SIGKILL aside, a stopped process only acts on a signal once it runs again).
   */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.#child;
    if (child === null) return;
    child.kill(signal);
    if (this.#paused && signal !== 'SIGKILL') child.kill('SIGCONT');
    await this.#exit;
  }

  /** SIGKILL without waiting: for exit handlers, which cannot wait. */
  killNow(): void {
    this.#child?.kill('SIGKILL');
  }

  /** Stops the process with SIGSTOP: it keeps its sockets and memory but runs no code until `resume`. */
  pause(): void {
    const child = this.#child;
    if (child === null) throw new Error(`${this.address} is not running`);
    child.kill('SIGSTOP');
    this.#paused = true;
  }

  /** Lets a paused process run on (SIGCONT). */
  resume(): void {
    const child = this.#child;
    if (child === null) throw new Error(`${this.address} is not running`);
    child.kill('SIGCONT');
    this.#paused = false;
  }

  /** Resolves when the process exits by itself (e.g. a crash breakpoint fired). */
  async exited(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const exit = this.#exit;
    if (exit === null) throw new Error('never started');
    return withTimeout(exit, timeoutMs, `${this.address} did not exit`);
  }

  /**
   * One request to the node's test control service, naming the node's cluster and cluster id as
   * every control request must: read from the node's own `identity.json` (the harness runs on the
   * node's machine), so a joiner's requests name the id once it learned one. Rejects while the
   * node has written no identity yet (it is starting). A refusal for another id (the node learned
   * its id between the read and the call) is tried once more with the id read again.
   */
  async control<R = Record<string, unknown>>(method: string, request: Record<string, unknown>, deadlineMs = 2000): Promise<R> {
    this.#control ??= new UnaryClient(controlService, this.controlAddress, {
      'grpc.initial_reconnect_backoff_ms': controlReconnectBackoffInitialMs,
      'grpc.max_reconnect_backoff_ms': controlReconnectBackoffMaxMs,
    }, this.#tls === null ? undefined : channelCredentials(loadClientTls(this.#tls.client(1))));
    const client = this.#control;
    const call = (): Promise<R> => {
      const identity = this.identity();
      return client.call<R>(method, { ...request, cluster: identity.cluster, cluster_id: identity.clusterId }, deadlineMs);
    };
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof RpcError) || err.code !== grpc.status.FAILED_PRECONDITION) throw err;
      return call();
    }
  }

  /** The cluster name and id (empty: none learned yet) the node's data directory records. */
  identity(): { cluster: string; clusterId: string } {
    const stored = JSON.parse(readFileSync(join(this.dataDir, 'identity.json'), 'utf8')) as { cluster?: unknown; clusterId?: unknown };
    if (typeof stored.cluster !== 'string') throw new Error(`${this.dataDir}/identity.json names no cluster`);
    return { cluster: stored.cluster, clusterId: typeof stored.clusterId === 'string' ? stored.clusterId : '' };
  }

  /** The node's TLS flags (none without TLS). */
  tlsArgs(): string[] {
    if (this.#tls === null) return [];
    const f = this.#tls.node(this.address);
    return ['--tls-cert', f.cert, '--tls-key', f.key, '--tls-ca', f.ca, ...(f.clientCa === undefined ? [] : ['--tls-client-ca', f.clientCa])];
  }

  closeClient(): void {
    this.#control?.close();
    this.#control = null;
  }
}

/** Ends a test's node processes (SIGKILL, their control clients closed); `nodes` may be unset when `before` failed early. */
export async function killAll(nodes: readonly NodeProcess[] | undefined): Promise<void> {
  for (const n of nodes ?? []) {
    n.closeClient();
    await n.kill('SIGKILL');
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `probe` every `pollMs` until it returns a value that is not undefined, or fails after `timeoutMs`. */
export async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string, pollMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${last === undefined ? '' : ` (last error: ${String(last)})`}`);
    await sleep(pollMs);
  }
}
