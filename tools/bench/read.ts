import { TestAppCluster } from './test-cluster.js';
import { type ReadFigures, type ReadTarget, compareReads, describeReads } from './read-paths.js';
import { replicatedReadsModule } from './replicated-reads-apps.js';

/**
 * `npm run bench -- read` (and the `stat` rows of `npm run bench -- lock`): what answering reads
 * as queries saves. The serving primary answers a query of a client its table knows from its own
 * state, at once under its lease or after one confirm round shared by every query waiting for it
 * (src/rsm/read-gate.ts); the same read declared as a handler is replicated to every backup and
 * recorded like a write. Nothing is asserted about speed. See docs/benchmarks.md.
 */

export interface ReadBenchOptions {
  /** How long each measured window lasts. */
  readonly windowMs: number;
  /** Windows per path and number in flight. */
  readonly rounds: number;
  readonly progress: (line: string) => void;
}

export const readDefaults = { windowMs: 2000, rounds: 2 } as const;
/** The read bench's numbers in flight: one read at a time, and many clients at once. */
export const readInFlight = [1, 64] as const;
/** The lock bench's `stat` rows: many clients at once. */
export const statInFlight = [64] as const;

/** Every cluster this bench started and has not closed: closed by `closeReadBench` (failure, Ctrl-C). */
const open = new Set<TestAppCluster>();

async function started(progress: (line: string) => void, what: string, appArgs: readonly string[]): Promise<TestAppCluster> {
  const c = await TestAppCluster.start('warn', [], appArgs);
  open.add(c);
  progress(`${what}: 3 nodes up: ${c.members.join(', ')} (files in ${c.root})`);
  return c;
}

async function closed(c: TestAppCluster): Promise<void> {
  open.delete(c);
  await c.close();
}

export async function closeReadBench(): Promise<void> {
  const all = [...open];
  open.clear();
  for (const c of all) await c.close();
}

/**
 * Two 3-node clusters, one of the built-in test app (`get` a query) and one of its variant with
 * `get` a handler, both up throughout; `get` of one counter at each of `readInFlight`. Prints the
 * table and the ratios on stdout, and returns the rows.
 */
export async function benchRead(o: ReadBenchOptions): Promise<ReadFigures[]> {
  const query = await started(o.progress, 'query path (test app)', ['--app', 'test']);
  const replicated = await started(o.progress, 'replicated path (test app, reads as handlers)', ['--app-module', `${replicatedReadsModule}#testAppReplicatedReads`]);
  try {
    const rows = await compareReads(query, replicated, { proc: 'get', args: { key: 'bench' }, inFlight: readInFlight, ...o });
    process.stdout.write(`\n${describeReads(`reads (test app get), local 3-node clusters, ${o.rounds} round${o.rounds === 1 ? '' : 's'} of ${o.windowMs} ms per path and row, alternating`, rows)}`);
    return rows;
  } finally {
    await closed(query);
    await closed(replicated);
  }
}

/**
 * The lock service's `stat` at each of `statInFlight`: as a query on `lockServer` (the lock
 * bench's running cluster), and as a handler on a cluster of the lock app's variant started here.
 * The lock is one nobody holds. Prints the table and the ratios on stdout.
 */
export async function benchLockStat(lockServer: ReadTarget, o: ReadBenchOptions): Promise<ReadFigures[]> {
  const replicated = await started(o.progress, 'replicated stat (lock app, stat as a handler)', ['--app-module', `${replicatedReadsModule}#lockAppReplicatedStat`]);
  try {
    const rows = await compareReads(lockServer, replicated, { proc: 'stat', args: { lock: 'bench-stat' }, inFlight: statInFlight, ...o });
    process.stdout.write(`\n${describeReads(`lock service stat, query (lock server) vs replicated, ${o.rounds} round${o.rounds === 1 ? '' : 's'} of ${o.windowMs} ms per path and row, alternating`, rows)}`);
    return rows;
  } finally {
    await closed(replicated);
  }
}
