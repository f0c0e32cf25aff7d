import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RsmClient } from '../../src/client/rsm-client.js';
import { BusyError, DeadlineExceededError, InvalidArgumentError } from '../../src/client/errors.js';
import type { ClientTransport } from '../../src/env/transport.js';
import type { NodeId } from '../../src/env/types.js';
import { limits } from '../../src/options.js';
import type { Json } from '../../src/rsm/app.js';
import { realClock } from '../../src/runtime/real-clock.js';

export interface FloodOptions {
  readonly members: readonly NodeId[];
  /** The abuser's connection(s) to the cluster. */
  readonly transport: ClientTransport;
  /** Concurrent calls (each its own `RsmClient`, one call at a time). */
  readonly clients: number;
  /**
   * Client ids they share, round robin: 1 = one abusive client id making `clients` calls at once
   * (a fair share must hold it), `clients` = as many abusers as calls.
   */
  readonly ids: number;
  /** The test app's procedure each call runs, with arguments padded to `bytes` (it must ignore `pad`). Default `get`. */
  readonly proc?: string;
  /** Size of each call's arguments as JSON text. Default `limits.maxRequestBytes` (the largest accepted). */
  readonly bytes?: number;
  /** Each call's deadline. Default 10000 ms. */
  readonly deadlineMs?: number;
}

/**
 * The flooding clients wait this long for one replica's answer before trying another. Longer
 * than `ClientOptions.attemptTimeoutMs`: with dozens of megabyte calls sharing one connection,
 * each takes a while to arrive, and a client that gave up after half a second would re-send
 * every call to the next replica and flood itself instead of the cluster.
 */
const floodAttemptTimeoutMs = 5000;

/** What the flood's calls came to. */
export interface FloodReport {
  readonly executed: number;
  /** Calls that ended at their deadline, having last heard BUSY or RESOURCE_EXHAUSTED: the node shed them. */
  readonly shed: number;
  /** Calls refused as a client's reuse of its own numbers (ids shared by concurrent clients do that). */
  readonly refused: number;
  /** Any other error, by name (a deadline with the last error seen before it). */
  readonly other: Record<string, number>;
}

/** Sequence numbers of one flooding client lie this far apart from the next one's under the same id. */
const seqSpacing = 1_000_000_000;

/**
 * A flood of large requests against a cluster of the test app, for the fairness test and the
 * memory benchmark: `clients` concurrent callers, each calling again as soon as its last call
 * ended, until `stop()`. Callers under one id number their calls in disjoint ranges, so their
 * requests are distinct and each is held by the primary (and then executes, or is refused as
 * stale). Arguments are `{ key, pad }` with `pad` filling them to `bytes`.
 */
export class Flood {
  readonly #clients: RsmClient[] = [];
  readonly #loops: Array<Promise<void>> = [];
  readonly #counts = { executed: 0, shed: 0, refused: 0, other: {} as Record<string, number> };
  #running = true;

  constructor(opts: FloodOptions) {
    const bytes = opts.bytes ?? limits.maxRequestBytes;
    const args: Json = { key: 'flood', pad: '' };
    const overhead = JSON.stringify(args).length;
    const padded: Json = { key: 'flood', pad: 'f'.repeat(Math.max(0, bytes - overhead)) };
    const base = Date.now() * 1000;
    for (let k = 0; k < opts.clients; k++) {
      const client = new RsmClient({
        members: opts.members,
        transport: opts.transport,
        clock: realClock,
        clientId: `flood-${k % opts.ids}`,
        firstSeq: base + Math.floor(k / opts.ids) * seqSpacing,
        options: { attemptTimeoutMs: floodAttemptTimeoutMs },
      });
      this.#clients.push(client);
      this.#loops.push(this.#loop(client, opts.proc ?? 'get', padded, opts.deadlineMs ?? 10_000));
    }
  }

  async #loop(client: RsmClient, proc: string, args: Json, deadlineMs: number): Promise<void> {
    while (this.#running) {
      try {
        await client.invoke(proc, args, { deadlineMs });
        this.#counts.executed++;
      } catch (err) {
        if (err instanceof DeadlineExceededError && err.lastError instanceof BusyError) this.#counts.shed++;
        else if (err instanceof InvalidArgumentError) this.#counts.refused++;
        else {
          const last = err instanceof DeadlineExceededError && err.lastError !== null ? ` after ${err.lastError.name}` : '';
          const name = `${(err as Error).name}${last}`;
          this.#counts.other[name] = (this.#counts.other[name] ?? 0) + 1;
        }
      }
    }
  }

  /** Stops every caller (calls under way end with `ClientClosedError`, not counted) and reports. */
  async stop(): Promise<FloodReport> {
    this.#running = false;
    for (const c of this.#clients) c.close();
    await Promise.all(this.#loops);
    const { ClientClosedError: _closed, ...other } = this.#counts.other;
    return { ...this.#counts, other };
  }
}

/** A `Flood` running in a process of its own (`flood-process.ts`). */
export interface FloodProcess {
  readonly pid: number | undefined;
  /** SIGTERM, then its report (rejects if it exited otherwise). */
  stop(): Promise<FloodReport>;
}

/** Starts `flood-process.js` against `cluster` with `opts` (all but the transport, which it makes itself). */
export function spawnFlood(cluster: string, opts: Omit<FloodOptions, 'transport' | 'proc'>): FloodProcess {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'flood-process.js');
  const args = [script, '--cluster', cluster, '--members', opts.members.join(','), '--clients', String(opts.clients), '--ids', String(opts.ids),
    ...(opts.bytes === undefined ? [] : ['--bytes', String(opts.bytes)]),
    ...(opts.deadlineMs === undefined ? [] : ['--deadline-ms', String(opts.deadlineMs)])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    pid: child.pid,
    async stop() {
      child.kill('SIGTERM');
      const code = await exited;
      if (code !== 0) throw new Error(`the flood process exited with ${code}: ${err}`);
      return JSON.parse(out.trim()) as FloodReport;
    },
  };
}
