import { RsmClient } from '../../src/client/rsm-client.js';
import type { ClientTransport } from '../../src/env/transport.js';
import type { NodeId } from '../../src/env/types.js';
import { realClock } from '../../src/runtime/real-clock.js';
import { sleep } from '../harness/node-process.js';
import { callDeadlineMs, loadThinkMs } from './timing.js';

/** What the background load did: how much, what went wrong, and the longest pause in its progress. */
export interface LoadReport {
  /** Acquire/release pairs completed, by all clients. */
  readonly cycles: number;
  /** Everything that broke the load's expectations, as sentences (empty when all went well). */
  readonly errors: readonly string[];
  /** The longest time (ms) in which no client completed an operation: the outage a fault caused. */
  readonly longestStallMs: number;
}

/**
 * A steady stream of replicated requests while a scenario injects faults: `clients` lock clients
 * (plain `RsmClient`s, each its own owner and its own lock, so never contended) acquire their lock
 * and release it again, over and over. It checks what every answer means for the lock service:
 * an acquire of a free lock is granted, with a fencing token above every token this client saw
 * before (tokens come from one counter of the whole service), and the release of that grant
 * succeeds — a release executed twice after a failover would be refused as `not-held`, so this
 * also watches at-most-once execution across view changes.
 */
export class LockLoad {
  readonly #clients: RsmClient[];
  readonly #errors: string[] = [];
  readonly #completions: number[] = [];
  #running = false;
  #workers: Promise<void>[] = [];
  #cycles = 0;

  constructor(opts: { transport: ClientTransport; members: readonly NodeId[]; clients: number; prefix: string }) {
    this.#clients = Array.from({ length: opts.clients }, (_, i) => new RsmClient({
      members: opts.members,
      transport: opts.transport,
      clock: realClock,
      clientId: `${opts.prefix}-c${i}`,
    }));
  }

  /** Operations completed so far (acquires and releases). */
  get operations(): number {
    return this.#completions.length;
  }

  /** Operations completed after `atMs` (a `performance.now()` time). */
  operationsSince(atMs: number): number {
    return this.#completions.filter((t) => t > atMs).length;
  }

  start(): this {
    this.#running = true;
    this.#workers = this.#clients.map((client, i) => this.#work(client, `load-${i}`));
    return this;
  }

  /** Stops the clients after their current operation, and reports. */
  async stop(): Promise<LoadReport> {
    this.#running = false;
    await Promise.all(this.#workers);
    for (const c of this.#clients) c.close();
    let longestStallMs = 0;
    for (let i = 1; i < this.#completions.length; i++) {
      longestStallMs = Math.max(longestStallMs, this.#completions[i]! - this.#completions[i - 1]!);
    }
    return { cycles: this.#cycles, errors: [...this.#errors], longestStallMs: Math.round(longestStallMs) };
  }

  /** Closes the clients at once (a scenario that failed); operations in flight end with an error nobody reads. */
  abort(): void {
    this.#running = false;
    for (const c of this.#clients) c.close();
  }

  async #work(client: RsmClient, lock: string): Promise<void> {
    const owner = client.clientId;
    let lastToken = 0;
    while (this.#running) {
      try {
        const grant = (await client.invoke('acquire', { lock, owner }, { deadlineMs: callDeadlineMs })) as { granted?: boolean; token?: number };
        this.#completions.push(performance.now());
        if (grant.granted !== true || typeof grant.token !== 'number') {
          this.#errors.push(`${owner}: acquire of the uncontended lock ${lock} was not granted: ${JSON.stringify(grant)}`);
          return;
        }
        if (grant.token <= lastToken) {
          this.#errors.push(`${owner}: fencing token ${grant.token} of ${lock} is not above the token ${lastToken} it got before`);
        }
        lastToken = grant.token;
        const released = await client.invoke('release', { lock, owner, token: grant.token }, { deadlineMs: callDeadlineMs });
        this.#completions.push(performance.now());
        if (JSON.stringify(released) !== JSON.stringify({ released: true })) {
          this.#errors.push(`${owner}: release of ${lock} answered ${JSON.stringify(released)}`);
        }
        this.#cycles++;
      } catch (err) {
        if (!this.#running) return; // aborted
        this.#errors.push(`${owner}: ${(err as Error).name}: ${(err as Error).message}`);
        return;
      }
      await sleep(loadThinkMs);
    }
  }
}
