import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UnaryClient } from '../runtime/grpc-client.js';
import { controlService } from '../node/control-server.js';

/** The compiled CLI (dist/src/cli/synod.js), run as a real process. */
export const cliPath = join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'synod.js');

/** How much of a node's output is kept for failure messages (the tail). */
const maxKeptOutputChars = 200_000;

/** How long a node may take to start answering its control service. */
export const nodeStartTimeoutMs = 10_000;

/**
 * One real node process, spawned from `dist/`, that can be killed and restarted on the same
 * address and data directory. Its output is kept for failure messages.
 */
export class NodeProcess {
  readonly address: string;
  readonly controlAddress: string;
  readonly dataDir: string;
  readonly first: string;
  output = '';
  #child: ChildProcess | null = null;
  #exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | null = null;
  #control: UnaryClient | null = null;

  readonly #logArgs: string[];

  /**
   * @param logFile where the node writes its log (default: its standard output, kept in `output`)
   * @param logLevel default `debug`
   */
  readonly #entry: string[];

  /**
   * @param entry the program and its leading arguments (default: the synod CLI's `node` command);
   *   the node flags (--me, --first, --data-dir, --control, logging) follow them
   */
  constructor(opts: { port: number; first: string; dataDir: string; logFile?: string; logLevel?: string; entry?: string[] }) {
    this.#entry = opts.entry ?? [cliPath, 'node'];
    this.address = `127.0.0.1:${opts.port}`;
    this.controlAddress = `127.0.0.1:${opts.port + 1}`;
    this.first = opts.first;
    this.dataDir = opts.dataDir;
    this.#logArgs = ['--log-level', opts.logLevel ?? 'debug', ...(opts.logFile === undefined ? [] : ['--log-file', opts.logFile])];
  }

  #keep(chunk: Buffer): void {
    this.output = (this.output + chunk.toString()).slice(-maxKeptOutputChars);
  }

  get running(): boolean {
    return this.#child !== null;
  }

  /** Spawns the process; resolves once its control service answers. */
  async start(extraArgs: string[] = []): Promise<void> {
    if (this.#child !== null) throw new Error(`${this.address} is already running`);
    const child = spawn(process.execPath, [
      ...this.#entry, '--me', this.address, '--first', this.first, '--data-dir', this.dataDir,
      '--control', ...this.#logArgs, ...extraArgs,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    child.stdout.on('data', (d: Buffer) => this.#keep(d));
    child.stderr.on('data', (d: Buffer) => this.#keep(d));
    this.#exit = new Promise((resolve) => child.once('exit', (code, signal) => {
      if (this.#child === child) this.#child = null;
      resolve({ code, signal });
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
    const child = spawn(process.execPath, [
      ...this.#entry, '--me', this.address, '--first', this.first, '--data-dir', this.dataDir,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    clearTimeout(timer);
    return { code, output };
  }

  /** Sends `signal` and waits for the process to be gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.#child;
    if (child === null) return;
    child.kill(signal);
    await this.#exit;
  }

  /** Resolves when the process exits by itself (e.g. a crash breakpoint fired). */
  async exited(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const exit = this.#exit;
    if (exit === null) throw new Error('never started');
    return withTimeout(exit, timeoutMs, `${this.address} did not exit`);
  }

  control<R = Record<string, unknown>>(method: string, request: Record<string, unknown>, deadlineMs = 2000): Promise<R> {
    this.#control ??= new UnaryClient(controlService, this.controlAddress);
    return this.#control.call<R>(method, request, deadlineMs);
  }

  closeClient(): void {
    this.#control?.close();
    this.#control = null;
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
