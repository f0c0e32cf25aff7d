/**
 * The five classic tests of a caching lock service, and the lock client they drive (its grants
 * and releases reported to the run's `LockChecker`).
 */
import type { GrpcLockClient } from './grpc-lock-client.js';
import type { LockChecker } from './lock-checker.js';
import type { LockTesterOptions } from './lock-tester.js';

/** A lock client of a test, whose acquires and releases the checker sees. */
export class TesterClient {
  readonly #name: string;
  readonly #client: GrpcLockClient;
  readonly #checker: LockChecker;

  constructor(name: string, client: GrpcLockClient, checker: LockChecker) {
    this.#name = name;
    this.#client = client;
    this.#checker = checker;
  }

  get name(): string {
    return this.#name;
  }

  get owner(): string {
    return this.#client.owner;
  }

  async acquire(lock: string, user: string): Promise<number> {
    const { token } = await this.#client.lock.acquire(lock, user);
    this.#checker.granted(lock, { client: this.#name, user }, token);
    return token;
  }

  release(lock: string, user: string): Promise<void> {
    this.#checker.released(lock, { client: this.#name, user });
    return this.#client.lock.release(lock, user);
  }

  /** Closes the client and gives back what its owner holds at the server (`GrpcLockClient.close`). */
  close(): Promise<void> {
    return this.#client.close({ giveBack: true });
  }
}

/** What a test gets: its clients, made on demand and closed after it. */
export interface LockTestContext {
  /** A new lock client named `t<test>.c<index>` (index counts from 0 per test). */
  client(): TesterClient;
  readonly options: LockTesterOptions;
}

export interface LockTest {
  readonly number: number;
  readonly name: string;
  run(ctx: LockTestContext): Promise<void>;
}


const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `rounds` acquire/release pairs of `lock` by `user` of `client`. */
async function cycle(client: TesterClient, user: string, lock: string, rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await client.acquire(lock, user);
    await client.release(lock, user);
  }
}

/** The five classic tests. */
export const lockTests: readonly LockTest[] = [
  {
    number: 1,
    name: 'one client acquires and releases a twice, then a and b nested',
    async run(ctx) {
      const c = ctx.client();
      await cycle(c, 'u0', 'a', 2);
      await c.acquire('a', 'u0');
      await c.acquire('b', 'u0');
      await c.release('b', 'u0');
      await c.release('a', 'u0');
    },
  },
  {
    number: 2,
    name: 'six clients each acquire a, hold it one second, release',
    async run(ctx) {
      const clients = Array.from({ length: 6 }, () => ctx.client());
      await Promise.all(clients.map(async (c) => {
        await c.acquire('a', 'u0');
        await sleep(ctx.options.holdMs);
        await c.release('a', 'u0');
      }));
    },
  },
  {
    number: 3,
    name: 'six clients each acquire and release a ten times',
    async run(ctx) {
      const clients = Array.from({ length: 6 }, () => ctx.client());
      await Promise.all(clients.map((c) => cycle(c, 'u0', 'a', ctx.options.rounds)));
    },
  },
  {
    number: 4,
    name: 'two users sharing one client each acquire and release a ten times',
    async run(ctx) {
      const c = ctx.client();
      await Promise.all(['u0', 'u1'].map((u) => cycle(c, u, 'a', ctx.options.rounds)));
    },
  },
  {
    number: 5,
    name: 'five users on one client and one on another each acquire and release a ten times',
    async run(ctx) {
      const c0 = ctx.client();
      const c1 = ctx.client();
      await Promise.all([
        ...['u0', 'u1', 'u2', 'u3', 'u4'].map((u) => cycle(c0, u, 'a', ctx.options.rounds)),
        cycle(c1, 'u0', 'a', ctx.options.rounds),
      ]);
    },
  },
];
