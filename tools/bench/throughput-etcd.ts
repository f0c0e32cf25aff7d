import { Etcd3, EtcdLockFailedError, type Watcher } from 'etcd3';
import { sleep } from '../harness/node-process.js';
import type { EtcdCluster } from './throughput-etcd-cluster.js';
import { type Call, type Contender, warmedCallers } from './throughput-measure.js';
import { callDeadlineMs, failover } from './throughput-timing.js';

/**
 * The etcd side of `npm run bench -- throughput --vs etcd`: the same workloads as synod's, through
 * the `etcd3` npm client with its defaults (every call may go to any member; etcd forwards writes
 * to its leader), each call given the same deadline as synod's calls.
 */

/**
 * The longest a lock client waits for the lock key's deletion before trying again anyway. The
 * wait is registered before each try, so a deletion is never missed; this only bounds a watch
 * event that comes late.
 */
const lockRetryMaxWaitMs = 1000;

/** The deadline every measured etcd call carries (etcd3 sets none by default). */
const deadline = (): { deadline: number } => ({ deadline: Date.now() + callDeadlineMs });

export class EtcdSide {
  readonly cluster: EtcdCluster;

  constructor(cluster: EtcdCluster) {
    this.cluster = cluster;
  }

  #client(): Etcd3 {
    return new Etcd3({ hosts: this.cluster.hosts });
  }

  /** One `Etcd3` client with `inFlight` puts of key `w-i` at once. */
  puts(label: string, inFlight: number): Contender {
    return this.#oneClient(label, inFlight, (client, i) => async () => {
      await client.put(`w-${i}`).value('1').options(deadline());
    });
  }

  /** One `Etcd3` client with `inFlight` gets of one key at once: linearizable, etcd's default. */
  gets(label: string, inFlight: number): Contender {
    return this.#oneClient(label, inFlight, (client) => async () => {
      await client.get('bench-q').options(deadline()).string();
    });
  }

  #oneClient(label: string, inFlight: number, call: (client: Etcd3, i: number) => Call): Contender {
    return {
      label,
      open: async () => {
        const client = this.#client();
        const calls = Array.from({ length: inFlight }, (_, i) => call(client, i));
        return warmedCallers(calls, () => this.cluster.pids(), async () => client.close());
      },
    };
  }

  /**
   * `clients` `Etcd3` clients on `locks` locks (client i on lock i mod `locks`), each cycle the
   * etcd3 `Lock` recipe: acquire (lease grant, then a create-if-absent transaction; it fails at once
   * when the lock is held, and then revokes its lease) and release (lease revoke). A client that
   * failed waits for the key's deletion (a watch), then tries again. Records the acquire latency,
   * from the first try to the one that succeeded, and the grant (its lease: every cycle a new one).
   */
  locks(label: string, clients: number, locks: number): Contender {
    return {
      label,
      open: async () => {
        const run = `${Date.now()}`;
        const etcds = Array.from({ length: clients }, () => this.#client());
        const watchers: Watcher[] = [];
        const close = async (): Promise<void> => {
          await Promise.all(watchers.map((w) => w.cancel()));
          for (const e of etcds) e.close();
        };
        try {
          const calls = await Promise.all(etcds.map(async (client, i): Promise<Call> => {
            const key = `bench-lock-${run}-${i % locks}`;
            const deletions = new DeletionWaits();
            const watcher = await client.watch().key(key).create();
            watchers.push(watcher);
            watcher.on('delete', () => deletions.wake());
            return async () => {
              const began = performance.now();
              for (;;) {
                const deleted = deletions.next();
                try {
                  const lock = await client.lock(key).options(deadline()).acquire();
                  const latencyMs = performance.now() - began;
                  const lease = await lock.leaseId();
                  await lock.release();
                  return { latencyMs, grant: `${key}#${lease}` };
                } catch (err) {
                  if (!(err instanceof EtcdLockFailedError)) throw err;
                  await atMost(deleted, lockRetryMaxWaitMs);
                }
              }
            };
          }));
          return await warmedCallers(calls, () => this.cluster.pids(), close);
        } catch (err) {
          await close();
          throw err;
        }
      },
    };
  }

  /**
   * One failover, as synod's: puts from one client for a calm period, SIGKILL of the leader, then
   * puts with the same client until one succeeds (each with the bench's long deadline: etcd3 sets
   * none by default and retries on other members itself); the ms from the signal to that success.
   * Then restarts the killed member and waits until the cluster is whole.
   */
  async failover(client: Etcd3): Promise<number> {
    await this.cluster.healthy();
    const calmUntil = performance.now() + failover.calmMs;
    while (performance.now() < calmUntil) await client.put('failover').value('1').options(deadline());
    const leader = await this.cluster.healthy();
    const killedAt = performance.now();
    await this.cluster.kill(leader);
    for (;;) {
      try {
        await client.put('failover').value('1').options({ deadline: Date.now() + failover.stepTimeoutMs });
        break;
      } catch (err) {
        if (performance.now() - killedAt > failover.stepTimeoutMs) throw new Error(`no put succeeded within ${failover.stepTimeoutMs} ms of the kill: ${String(err)}`);
        await sleep(failover.retryPauseMs);
      }
    }
    const ms = performance.now() - killedAt;
    await this.cluster.restart(leader);
    return ms;
  }

  /** A client for `failover`, with etcd3's defaults (the caller closes it). */
  failoverClient(): Etcd3 {
    return this.#client();
  }


}

/** Waits for `p`, but at most `ms` (the timer is cleared either way: a busy loop leaves none behind). */
async function atMost(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([p, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Wakes everything waiting for the next deletion of a key; a wait taken before a deletion is woken by it. */
class DeletionWaits {
  #wake: (() => void) | null = null;
  #next: Promise<void> | null = null;

  /** A promise of the next deletion from now. */
  next(): Promise<void> {
    this.#next ??= new Promise((resolve) => (this.#wake = resolve));
    return this.#next;
  }

  wake(): void {
    const wake = this.#wake;
    this.#next = null;
    this.#wake = null;
    wake?.();
  }
}
