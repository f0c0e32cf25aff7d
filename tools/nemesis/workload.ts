import { setTimeout as delay } from 'node:timers/promises';
import { type Logger, silentLogger } from '../../src/env/logger.js';
import type { NodeId } from '../../src/env/types.js';
import { GrpcLockClient } from '../../src/apps/lock/grpc-lock-client.js';
import { LockChecker } from '../../src/apps/lock/lock-checker.js';
import { LockClientClosedError } from '../../src/apps/lock/lock-errors.js';
import type { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { Prng } from '../sim/prng.js';
import type { LockHistoryRecorder } from './recorder.js';
import {
  acquireTimeoutMs, holdMs, lockCallDeadlineMs, statCallDeadlineMs, statChance, stopClientsTimeoutMs, thinkMs, twoLockChance,
} from './timing.js';

export interface LockWorkloadConfig {
  readonly cluster: string;
  readonly members: readonly NodeId[];
  /** Shared by every client; the caller closes it. */
  readonly transport: GrpcClientTransport;
  readonly clients: number;
  readonly locks: number;
  /** Seeds each user's own random stream (`seed + i + 1`), apart from the fault schedule's. */
  readonly seed: number;
  /** Every client's `RsmClient` reports its calls here (attached before its first call). */
  readonly recorder: LockHistoryRecorder;
  /** Deadline of every server call (acquire, release, stat); default `lockCallDeadlineMs`. */
  readonly callDeadlineMs?: number;
  readonly logger?: Logger;
}

/** One user of one lock client: its client, its progress, and why it stopped early, if it did. */
interface User {
  readonly name: string;
  readonly client: GrpcLockClient;
  readonly prng: Prng;
  cycles: number;
  /** Set when the user stopped for good before the end (stuck acquire, an error). */
  failure: string | null;
  loop: Promise<void> | null;
}

/**
 * The nemesis's clients: `clients` real caching lock clients (`GrpcLockClient`), owners `c1` …,
 * one user each, contending for `locks` locks (`L1` …). A user loops: it picks one lock, or two in
 * name order (so users never deadlock), acquires them through its lock client (which caches
 * grants and gives them back on revoke; the server's FIFO queues order the waiters), holds them a
 * few milliseconds, releases them, and now and then asks the service for a lock's state (`stat`,
 * straight through the client's `RsmClient`). Every server call of every client is recorded by
 * the `LockHistoryRecorder`.
 *
 * Every local grant and release is also reported, as it happens, to a `LockChecker` (the lock
 * tester's): two users holding one lock at once, or a fencing token going back, is a violation
 * (`holderViolations`). All clients live in this process, so the order it sees is real time; it
 * covers what the history cannot, a lock client handing out a cached grant on its own.
 *
 * The lock client waits for a lock for ever; a user that waited `acquireTimeoutMs` stops and is
 * reported (a liveness failure), and so does one whose call failed in a way a lock user never
 * sees in a correct run.
 */
export class LockWorkload {
  readonly lockNames: readonly string[];
  readonly #users: User[];
  readonly #statDeadlineMs: number;
  readonly #holders = new LockChecker();
  #localGrants = 0;
  #running = false;

  constructor(config: LockWorkloadConfig) {
    this.#statDeadlineMs = config.callDeadlineMs ?? statCallDeadlineMs;
    this.lockNames = Array.from({ length: config.locks }, (_, i) => `L${i + 1}`);
    this.#users = Array.from({ length: config.clients }, (_, i) => {
      const name = `c${i + 1}`;
      const client = new GrpcLockClient({
        cluster: config.cluster,
        members: config.members,
        owner: name,
        transport: config.transport,
        logger: config.logger ?? silentLogger,
        lockClient: { callDeadlineMs: config.callDeadlineMs ?? lockCallDeadlineMs },
      });
      client.rsm.observe(config.recorder.observerFor(name)); // before its first call
      return { name, client, prng: new Prng(config.seed + i + 1), cycles: 0, failure: null, loop: null };
    });
  }

  start(): void {
    this.#running = true;
    for (const u of this.#users) u.loop = this.#work(u);
  }

  /** Cycles (acquire, hold, release) completed by every user. */
  get cycles(): number {
    return this.#users.reduce((sum, u) => sum + u.cycles, 0);
  }

  /** Cycles completed per user, by name. */
  cyclesByUser(): Map<string, number> {
    return new Map(this.#users.map((u) => [u.name, u.cycles]));
  }

  /** Two local holders of one lock at once, or a fencing token going back, as sentences (empty: none). */
  holderViolations(): readonly string[] {
    return [...this.#holders.violations];
  }

  /** Local grants the holder check saw (each user's acquires that resolved). */
  get localGrants(): number {
    return this.#localGrants;
  }

  /** Users that stopped before the end, with why. */
  failures(): string[] {
    return this.#users.filter((u) => u.failure !== null).map((u) => `${u.name}: ${u.failure}`);
  }

  /**
   * Stops the users after the cycle they are in (waiting at most `stopClientsTimeoutMs`; a user
   * still waiting for a lock then is cut off by `close`). Their clients keep running until `close`.
   */
  async stop(): Promise<void> {
    this.#running = false;
    const loops = this.#users.map((u) => u.loop ?? Promise.resolve());
    const timeout = new AbortController();
    await Promise.race([Promise.all(loops), delay(stopClientsTimeoutMs, undefined, { signal: timeout.signal }).catch(() => {})]);
    timeout.abort();
  }

  /**
   * Closes every client without giving back what its owner holds (no `expire`: the model does not
   * model it; the cluster is thrown away after the run anyway). Calls in progress end with
   * `ClientClosedError`.
   */
  async close(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#users.map((u) => u.client.close()));
  }

  async #work(u: User): Promise<void> {
    const user = 'user';
    while (this.#running) {
      const locks = u.prng.chance(twoLockChance) && this.lockNames.length > 1
        ? u.prng.shuffle(this.lockNames).slice(0, 2).sort()
        : [u.prng.pick(this.lockNames)];
      const hold = u.prng.between(holdMs.minMs, holdMs.maxMs);
      const think = u.prng.between(thinkMs.minMs, thinkMs.maxMs);
      const stat = u.prng.chance(statChance) ? u.prng.pick(this.lockNames) : null;
      const held: string[] = [];
      try {
        for (const lock of locks) {
          const outcome = await acquireWithin(u.client, lock, user, acquireTimeoutMs);
          if (outcome === 'timeout') {
            u.failure = `waited more than ${acquireTimeoutMs} ms for lock ${lock}${held.length > 0 ? ` (holding ${held.join(', ')})` : ''}; the user stopped`;
            return;
          }
          this.#holders.granted(lock, { client: u.name, user }, outcome.token);
          this.#localGrants++;
          held.push(lock);
        }
        await delay(hold);
        for (const lock of held.reverse()) {
          // Reported before the call: the lock client may hand the lock on before it resolves.
          this.#holders.released(lock, { client: u.name, user });
          await u.client.lock.release(lock, user);
        }
        u.cycles++;
        if (stat !== null) {
          try {
            await u.client.rsm.invoke('stat', { lock: stat }, { deadlineMs: this.#statDeadlineMs });
          } catch {
            // an unknown outcome (deadline) or a closed client: recorded as such; nothing to act on
          }
        }
      } catch (err) {
        if (err instanceof LockClientClosedError || !this.#running) return; // closed at the end
        u.failure = `${(err as Error).name}: ${(err as Error).message}; the user stopped`;
        return;
      }
      await delay(think);
    }
  }
}

/** `client.lock.acquire(lock, user)`'s grant, or 'timeout' if it did not resolve within `timeoutMs` (it keeps waiting). */
async function acquireWithin(client: GrpcLockClient, lock: string, user: string, timeoutMs: number): Promise<{ token: number } | 'timeout'> {
  const timer = new AbortController();
  try {
    return await Promise.race([
      client.lock.acquire(lock, user),
      delay(timeoutMs, 'timeout' as const, { signal: timer.signal }),
    ]);
  } finally {
    timer.abort();
  }
}
