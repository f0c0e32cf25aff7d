import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Etcd3 } from 'etcd3';
import { connect } from '../../src/client/connect.js';
import { type FanoutFigures, type FanoutSample, etcdFanout, fanoutWindow, poolFanout, synodFanout, writerInFlight } from './kv-fanout.js';
import { type KvRow, etcdContender, kvRows, loadEtcd, loadSynod, rangeKeys, synodContender } from './kv-contenders.js';
import { TestAppCluster } from './test-cluster.js';
import { EtcdCluster, etcdOnPath } from './throughput-etcd-cluster.js';
import { type Contender, type Figures, measureRow } from './throughput-measure.js';

/**
 * `npm run bench -- kv` (issue 16): the KV store's throughput through the real client path — put,
 * get, range of a 100-key prefix, compare-and-put txn, each at `inFlight` calls at once from one
 * client — and its watch fan-out (one writer, `watchers` watchers of one prefix: events delivered
 * per second, p50/p99 delay from a put's acknowledgement to its receipt). With `etcd` on PATH (and
 * no `--etcd off`), a local 3-member etcd beside a 3-node `synod node --app kv` cluster in the
 * same run, their windows alternating (the first contender of each round rotates), with ratios.
 * Nothing about speed is asserted: the figures are printed (and written with `--json FILE`).
 */

export const kvUsage = '       kv [--window-ms MS] [--rounds N] [--in-flight N] [--watchers N] [--etcd on|off] [--json FILE]';

export const kvDefaults = { windowMs: 2000, rounds: 2, inFlight: 64, watchers: 100 } as const;

export interface KvBenchResult {
  readonly windowMs: number;
  readonly rounds: number;
  readonly inFlight: number;
  readonly watchers: number;
  readonly etcd: boolean;
  readonly rows: readonly { readonly row: KvRow; readonly synod: Figures; readonly etcd: Figures | null }[];
  readonly fanout: { readonly synod: FanoutFigures; readonly etcd: FanoutFigures | null };
  readonly loadAverage: { readonly start: number; readonly end: number };
}

/** What the bench started and has not stopped: stopped by `closeKvBench` (a failure, Ctrl-C). */
const open = new Set<() => Promise<void>>();

export async function closeKvBench(): Promise<void> {
  for (const close of [...open]) {
    open.delete(close);
    await close().catch(() => {});
  }
}

export async function benchKv(opts: { windowMs: number; rounds: number; inFlight: number; watchers: number; etcd: string | null; progress: (line: string) => void }): Promise<KvBenchResult> {
  const startLoad = loadavg()[0]!;
  const workDir = mkdtempSync(join(tmpdir(), 'synod-kv-bench-'));
  const removeDir = async (): Promise<void> => rmSync(workDir, { recursive: true, force: true });
  open.add(removeDir);
  opts.progress('starting 3 synod node --app kv processes');
  const synod = await TestAppCluster.start('warn', [], ['--app', 'kv'], 3);
  const closeSynod = (): Promise<void> => synod.close();
  open.add(closeSynod);
  const synodPids = (): number[] => synod.nodes.flatMap((n) => (n.pid === undefined ? [] : [n.pid]));
  const connectSynod = () => connect({ members: synod.members });
  let etcd: EtcdCluster | null = null;
  if (opts.etcd !== null) {
    opts.progress('starting 3 etcd members');
    etcd = await EtcdCluster.start(opts.etcd, workDir, 3);
    const e = etcd;
    open.add(() => e.close());
  }
  try {
    const loader = await connectSynod();
    await loadSynod(loader);
    await loader.close();
    if (etcd !== null) {
      const client = new Etcd3({ hosts: etcd.hosts });
      await loadEtcd(client);
      client.close();
    }
    const rows: { row: KvRow; synod: Figures; etcd: Figures | null }[] = [];
    for (const row of kvRows) {
      const contenders: Contender[] = [synodContender(row, opts.inFlight, connectSynod, synodPids)];
      if (etcd !== null) contenders.push(etcdContender(row, opts.inFlight, etcd.hosts, () => etcd!.pids()));
      const measured = await measureRow(row, contenders, opts.windowMs, opts.rounds, opts.progress);
      rows.push({ row, synod: measured.get('synod')!, etcd: measured.get('etcd') ?? null });
    }
    const sides = [synodFanout(connectSynod), ...(etcd === null ? [] : [etcdFanout(etcd.hosts)])];
    const samples = new Map<string, FanoutSample[]>(sides.map((s) => [s.label, []]));
    for (let round = 0; round < opts.rounds; round++) {
      for (const [i] of sides.entries()) {
        const side = sides[(i + round) % sides.length]!;
        const s = await fanoutWindow(side, opts.watchers, opts.windowMs, `f/${round}/${side.label}/`);
        samples.get(side.label)!.push(s);
        opts.progress(`fan-out: round ${round + 1}/${opts.rounds}, ${side.label}: ${s.puts} puts, ${(s.events / (s.elapsedMs / 1000)).toFixed(0)} events/s`);
      }
    }
    return {
      windowMs: opts.windowMs, rounds: opts.rounds, inFlight: opts.inFlight, watchers: opts.watchers, etcd: etcd !== null, rows,
      fanout: { synod: poolFanout(samples.get('synod')!), etcd: etcd === null ? null : poolFanout(samples.get('etcd')!) },
      loadAverage: { start: startLoad, end: loadavg()[0]! },
    };
  } finally {
    await closeKvBench();
  }
}

const f0 = (n: number): string => n.toFixed(0);
const f1 = (n: number): string => n.toFixed(1);
const ratio = (a: number, b: number | undefined): string => (b === undefined || b === 0 ? '' : `${(a / b).toFixed(2)}x`);

/** The tables: one line per row and system, the ratio synod / etcd beside synod's figure. */
export function describeKv(r: KvBenchResult): string[] {
  const lines = [
    `npm run bench -- kv: ${r.rounds} rounds of ${r.windowMs} ms windows, alternating; ${r.inFlight} calls in flight from one client; 3 nodes each` +
      `${r.etcd ? '; etcd beside synod' : ' (no etcd on PATH: synod alone)'}; load average ${r.loadAverage.start.toFixed(2)} → ${r.loadAverage.end.toFixed(2)}`,
    'row          system   ops/s     p50 ms  p99 ms  cpu µs/op   synod/etcd ops/s',
  ];
  for (const row of r.rows) {
    for (const [system, f] of [['synod', row.synod], ['etcd', row.etcd]] as const) {
      if (f === null) continue;
      lines.push(`${row.row.padEnd(12)} ${system.padEnd(8)} ${f0(f.opsPerSec).padStart(7)} ${f1(f.p50Ms).padStart(8)} ${f1(f.p99Ms).padStart(7)} ${f0(f.cpuUsPerOp).padStart(10)}` +
        `   ${system === 'synod' ? ratio(f.opsPerSec, row.etcd?.opsPerSec) : ''}`);
    }
  }
  lines.push(`watch fan-out: 1 writer (${writerInFlight} puts in flight), ${r.watchers} watchers of one prefix (range row: ${rangeKeys} keys)`);
  lines.push('system   puts    events   events/s  p50 delay ms  p99 delay ms  before ack   synod/etcd events/s, p99');
  for (const [system, f] of [['synod', r.fanout.synod], ['etcd', r.fanout.etcd]] as const) {
    if (f === null) continue;
    const e = r.fanout.etcd;
    lines.push(`${system.padEnd(8)} ${String(f.puts).padStart(5)} ${String(f.events).padStart(9)} ${f0(f.eventsPerSec).padStart(10)} ${f1(f.p50DelayMs).padStart(13)} ${f1(f.p99DelayMs).padStart(13)} ${String(f.beforeAck).padStart(11)}` +
      `   ${system === 'synod' && e !== null ? `${ratio(f.eventsPerSec, e.eventsPerSec)}, ${ratio(f.p99DelayMs, e.p99DelayMs)}` : ''}`);
  }
  return lines;
}

/** `npm run bench -- kv …`: flags checked (a usage error exits 2), the bench run, tables on stdout, progress on stderr. */
export async function kvCommand(argv: readonly string[], usage: string): Promise<void> {
  const bad = (why: string): never => {
    process.stderr.write(`bench: ${why}\n${usage}\n`);
    process.exit(2);
  };
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { 'window-ms': { type: 'string' }, rounds: { type: 'string' }, 'in-flight': { type: 'string' }, watchers: { type: 'string' }, etcd: { type: 'string' }, json: { type: 'string' } },
      strict: true,
    }));
  } catch (err) {
    return bad((err as Error).message);
  }
  const positive = (flag: string, text: string | undefined, fallback: number, max: number): number => {
    if (text === undefined) return fallback;
    const n = Number(text);
    return Number.isSafeInteger(n) && n > 0 && n <= max ? n : bad(`--${flag} must be an integer from 1 to ${max}, got ${JSON.stringify(text)}`);
  };
  if (values.etcd !== undefined && values.etcd !== 'on' && values.etcd !== 'off') bad(`--etcd must be on or off, got ${values.etcd}`);
  const etcd = values.etcd === 'off' ? null : etcdOnPath();
  const result = await benchKv({
    windowMs: positive('window-ms', values['window-ms'], kvDefaults.windowMs, 600_000),
    rounds: positive('rounds', values.rounds, kvDefaults.rounds, 100),
    inFlight: positive('in-flight', values['in-flight'], kvDefaults.inFlight, 256),
    watchers: positive('watchers', values.watchers, kvDefaults.watchers, 1000),
    etcd,
    progress: (line) => void process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`${describeKv(result).join('\n')}\n`);
  if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
}
