import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { EtcdCluster } from './throughput-etcd-cluster.js';
import { EtcdSide } from './throughput-etcd.js';
import { measureRow, median } from './throughput-measure.js';
import { type MeasuredRow, type PlannedRow, type RowGroup, dataRows, lockRows, replicaRow, tlsRows } from './throughput-rows.js';
import { type SynodSettings, SynodSide } from './throughput-synod.js';
import { failover } from './throughput-timing.js';

/**
 * `npm run bench -- throughput [--vs etcd]` (issue 15): synod's throughput, latency and CPU cost per
 * operation through the real client path, beside a local etcd's in the same run when asked. Nothing
 * is asserted about speed; the figures and the goals are printed (throughput-report.ts).
 * See docs/benchmarks.md.
 */

export interface ThroughputOptions {
  readonly windowMs: number;
  readonly rounds: number;
  readonly failoverRounds: number;
  readonly skip: ReadonlySet<RowGroup>;
  /** Whether to start a 5-node cluster for the 3-against-5 row. */
  readonly replicas5: boolean;
  /** The etcd executable to compare with; null: synod alone. */
  readonly etcd: string | null;
  readonly synod: SynodSettings;
  /** Also measure a mutual-TLS cluster against the plaintext one (`--tls`, the `tls` rows). */
  readonly tls: boolean;
  readonly progress: (line: string) => void;
}

export const throughputDefaults = { windowMs: 2000, rounds: 2, failoverRounds: 5 } as const;

/** One system's failover rounds (ms from SIGKILL of the leader/primary to the first ok write). */
export interface FailoverFigures {
  readonly system: 'synod' | 'etcd';
  readonly driver: string;
  readonly roundsMs: readonly number[];
  readonly medianMs: number;
  readonly minMs: number;
  readonly maxMs: number;
}

export interface ThroughputResult {
  readonly windowMs: number;
  readonly rounds: number;
  readonly rows: readonly MeasuredRow[];
  readonly failover: readonly FailoverFigures[];
  readonly etcd: boolean;
  /** The 1-minute load average when the run began and ended (the machine is shared). */
  readonly loadAverage: { readonly start: number; readonly end: number };
}

/** What this bench started and has not stopped yet: stopped by `closeThroughputBench` (failure, Ctrl-C). */
const open = new Set<() => Promise<void>>();

/** Registers `close` until it ran; returns a function that runs it once and deregisters it. */
function owned(close: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | null = null;
  const once = (): Promise<void> => {
    open.delete(once);
    done ??= close();
    return done;
  };
  open.add(once);
  return once;
}

/** Stops every cluster and removes every directory the bench made, newest first. */
export async function closeThroughputBench(): Promise<void> {
  for (const close of [...open].reverse()) await close();
}

export async function benchThroughput(o: ThroughputOptions): Promise<ThroughputResult> {
  const loadStart = loadavg()[0]!;
  const workDir = mkdtempSync(join(tmpdir(), 'synod-bench-throughput-'));
  const removeWorkDir = owned(async () => rmSync(workDir, { recursive: true, force: true }));
  const rows: MeasuredRow[] = [];
  const failovers: FailoverFigures[] = [];
  try {
    let etcd: EtcdSide | null = null;
    let closeEtcd: (() => Promise<void>) | null = null;
    if (o.etcd !== null) {
      const cluster = await EtcdCluster.start(o.etcd, join(workDir, 'etcd'), 3);
      closeEtcd = owned(() => cluster.close());
      etcd = new EtcdSide(cluster);
      o.progress(`etcd: 3 members up: ${cluster.hosts.join(', ')} (files in ${workDir}/etcd)`);
    }
    const { side: test3, close: closeTest3 } = await synodCluster('test', 3, o, workDir);
    const run = async (planned: readonly PlannedRow[]): Promise<void> => {
      for (const row of planned.filter((r) => !o.skip.has(r.group))) {
        const figures = await measureRow(row.id, row.entries.map((e) => e.contender), o.windowMs, o.rounds, o.progress);
        rows.push({
          id: row.id, group: row.group, title: row.title,
          entries: row.entries.map(({ key, system, driver, contender }) => ({ key, system, driver, figures: figures.get(contender.label)! })),
        });
      }
    };
    await run(dataRows(test3, etcd));
    if (!o.skip.has('locks')) {
      const { side: lock, close } = await synodCluster('lock', 3, o, workDir);
      await run(lockRows(lock, etcd));
      await close();
    }
    if (!o.skip.has('replicas') && o.replicas5) {
      const { side: test5, close } = await synodCluster('test', 5, o, workDir);
      await run([replicaRow(test3, test5)]);
      await close();
    }
    if (o.tls && !o.skip.has('tls')) {
      const { side: tls3, close } = await synodCluster('test', 3, o, workDir, true);
      await run(tlsRows(test3, tls3));
      await close();
    }
    if (!o.skip.has('failover')) failovers.push(...await failoverRounds(test3, etcd, o));
    await closeTest3();
    await closeEtcd?.();
  } finally {
    await closeThroughputBench();
    await removeWorkDir();
  }
  return { windowMs: o.windowMs, rounds: o.rounds, rows, failover: failovers, etcd: o.etcd !== null, loadAverage: { start: loadStart, end: loadavg()[0]! } };
}

async function synodCluster(app: 'test' | 'lock', size: number, o: ThroughputOptions, workDir: string, tls = false): Promise<{ side: SynodSide; close: () => Promise<void> }> {
  const side = await SynodSide.start(app, size, o.synod, workDir, tls);
  const close = owned(() => side.close());
  o.progress(`synod: ${size} ${app === 'lock' ? 'lock-service' : 'test-app'} nodes${tls ? ' with mutual TLS' : ''} up: ${side.members.join(', ')} (files in ${side.root})`);
  return { side, close };
}

/**
 * `o.failoverRounds` kills of synod's primary and of etcd's leader, alternating (each system's
 * round starts on a whole, settled cluster, and the other system is idle meanwhile).
 */
async function failoverRounds(synod: SynodSide, etcd: EtcdSide | null, o: ThroughputOptions): Promise<FailoverFigures[]> {
  const synodClient = await synod.failoverClient();
  const closeSynodClient = owned(() => synodClient.close());
  const etcdClient = etcd?.failoverClient() ?? null;
  const closeEtcdClient = owned(async () => etcdClient?.close());
  const synodMs: number[] = [];
  const etcdMs: number[] = [];
  try {
    for (let round = 1; round <= o.failoverRounds; round++) {
      const ms = await synod.failover(synodClient);
      synodMs.push(ms);
      o.progress(`failover: round ${round}/${o.failoverRounds}, synod: SIGKILL of the primary → first ok write in ${ms.toFixed(0)} ms`);
      if (etcd !== null && etcdClient !== null) {
        const e = await etcd.failover(etcdClient);
        etcdMs.push(e);
        o.progress(`failover: round ${round}/${o.failoverRounds}, etcd: SIGKILL of the leader → first ok put in ${e.toFixed(0)} ms`);
      }
    }
  } finally {
    await closeSynodClient();
    await closeEtcdClient();
  }
  const figures = (system: 'synod' | 'etcd', driver: string, ms: number[]): FailoverFigures => ({
    system, driver, roundsMs: ms, medianMs: median(ms), minMs: Math.min(...ms), maxMs: Math.max(...ms),
  });
  return [
    figures('synod', `one client (connect()), default options, a failed write retried after ${failover.retryPauseMs} ms`, synodMs),
    ...(etcd === null ? [] : [figures('etcd', `one Etcd3 client, etcd3 defaults (retries, circuit breaker), per-call deadline ${failover.stepTimeoutMs / 1000} s, a failed put retried after ${failover.retryPauseMs} ms`, etcdMs)]),
  ];
}
