import { type WriteBenchOptions, compareWrites, describeWrites } from './durability-writes.js';
import { type StateFigures, describeStates, measureState } from './durability-state.js';
import { TestAppCluster } from './test-cluster.js';

export interface DurabilityBenchOptions extends WriteBenchOptions {
  /** The state sizes of the restart and transfer part, in bytes (empty: that part is skipped). */
  readonly stateSizesBytes: readonly number[];
}

/** The defaults of `npm run bench -- durability`: the figures (64 in flight; 1 MB and 100 MB). */
export const durabilityDefaults = { windowMs: 2000, rounds: 3, inFlight: 64, stateSizesMb: [1, 100] } as const;

/**
 * The flag that keeps a node's replicated state in memory only (the benchmark's baseline; a
 * hidden test-only flag of `synod node`, refused without the control service, which the harness
 * always turns on).
 */
const memoryOnlyFlag = '--test-memory-only-rsm';

/** Every cluster this bench started and has not closed: closed by `closeDurabilityBench` (failure, Ctrl-C). */
const open = new Set<TestAppCluster>();

async function started(logLevel: string, extraArgs: readonly string[] = []): Promise<TestAppCluster> {
  const c = await TestAppCluster.start(logLevel, extraArgs);
  open.add(c);
  return c;
}

async function closed(c: TestAppCluster): Promise<void> {
  open.delete(c);
  await c.close();
}

/** Kills every node process this bench left running and removes its files. */
export async function closeDurabilityBench(): Promise<void> {
  const all = [...open];
  open.clear();
  for (const c of all) await c.close();
}

/**
 * `npm run bench -- durability`: what durable replicated state costs, and how fast it comes back
 * and moves (issue 13). Three parts, each on fresh local 3-node clusters of the test app:
 * 1. writes, durable against memory-only (`compareWrites`): two clusters of the same build, one
 *    started with `--test-memory-only-rsm`, measured in alternation; ratios and the goal;
 * 2. and 3., for each state size (`measureState`): a full SIGKILL restart (replay, time until a
 *    write is served again), then a joiner that copies the whole state (MB/s).
 * Progress goes to stderr, figures to stdout. Nothing is asserted about speed.
 */
export async function benchDurability(o: DurabilityBenchOptions): Promise<void> {
  o.progress(`writes: starting a durable and a memory-only (${memoryOnlyFlag}) 3-node cluster`);
  const durable = await started('warn');
  const memory = await started('warn', [memoryOnlyFlag]);
  o.progress(`writes: durable ${durable.members.join(', ')} (files in ${durable.root}); memory-only ${memory.members.join(', ')} (files in ${memory.root})`);
  const writes = await compareWrites(durable, memory, o);
  await closed(durable);
  await closed(memory);
  process.stdout.write(`\n${describeWrites(writes)}`);

  const rows: StateFigures[] = [];
  for (const bytes of o.stateSizesBytes) {
    // Logging at info: the restart and copy times are read from the nodes' own log lines.
    const cluster = await started('info');
    o.progress(`state ${(bytes / 1e6).toFixed(0)} MB: cluster ${cluster.members.join(', ')} (files in ${cluster.root})`);
    rows.push(await measureState(cluster, bytes, o.progress));
    await closed(cluster);
  }
  if (rows.length > 0) process.stdout.write(`\n${describeStates(rows)}`);
}

/** `--sizes-mb 1,100` as bytes; null when it is not a list of positive numbers. */
export function parseSizesMb(text: string): number[] | null {
  const sizes = text.split(',').map((s) => Number(s.trim()));
  return sizes.every((n) => Number.isFinite(n) && n > 0) ? sizes.map((n) => Math.round(n * 1e6)) : null;
}
