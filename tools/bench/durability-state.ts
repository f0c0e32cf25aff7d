import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { RsmClient } from '../../src/client/rsm-client.js';
import { silentLogger } from '../../src/env/logger.js';
import { isServing } from '../../src/node/status.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { realClock } from '../../src/runtime/real-clock.js';
import { type NodeProcess, eventually } from '../harness/node-process.js';
import { table } from './durability-writes.js';
import type { TestAppCluster } from './test-cluster.js';

const MB = 1_000_000;

/**
 * Each filling write appends one item of this many characters to the test app's list: large, so
 * that ~100 MB takes a few hundred requests, and well below `limits.maxRequestBytes` (1 MiB).
 */
export const fillValueBytes = 256 * 1024;
/** Filling writes in flight at once (one client each). */
const fillClients = 8;
/** Deadline of one filling write (a quarter MiB, replicated to two backups and made durable). */
const fillDeadlineMs = 30_000;
/** How long a cluster restarted whole may take to serve a write again, at any state size measured. */
const servesAgainTimeoutMs = 180_000;
/** How long a joiner may take to copy the state and serve: ~100 MB at a few MB/s, with room. */
const joinTimeoutMs = 300_000;
/** Deadline of one probing write while the restarted cluster comes back (retried until `servesAgainTimeoutMs`). */
const probeDeadlineMs = 2_000;
/** How often the joiner's status is asked while it copies. */
const joinPollMs = 50;

export interface StateFigures {
  /** Bytes of items appended through the client path (the app's state, roughly). */
  readonly filledBytes: number;
  /** The first node's durable files before the restart: its snapshot, and its log generations. */
  readonly snapshotBytes: number;
  readonly logBytes: number;
  /** From respawning the killed processes (all three at once) until each answered its control service (after replay); the slowest. */
  readonly processUpMs: number;
  /** From respawning until each logged its restored state ('rsm: durable state restored'); the slowest. NaN if no node logged it. */
  readonly restoredMs: number;
  /**
   * Each node's local RSM replay: from its 'paxos: replayed durable state' (the Paxos log is read
   * first) until 'rsm: durable state restored' (snapshot read and decoded, log read, records
   * executed again); the slowest. Without the process start-up that `restoredMs` includes.
   */
  readonly replayMs: number;
  /** From respawning until the cluster executed a write again. */
  readonly servesMs: number;
  /** The joiner: bytes of state it copied, and from its first 'rsm: syncing' until 'rsm: state copied'. */
  readonly transferBytes: number;
  readonly transferMs: number;
  /** The joiner: from its spawn until it is a normal replica of a view that lists it. */
  readonly joinMs: number;
}

/**
 * One state size on `cluster` (three test-app nodes logging at info, fresh): fills the state to
 * about `bytes` through the client path (appends of `fillValueBytes`, default options: what is
 * not yet in a snapshot is in the log), SIGKILLs all three nodes and starts them again on their
 * data directories (a power cut), times replay and the first write served, then starts a fourth
 * node that joins and copies the whole state, and times the copy.
 */
export async function measureState(cluster: TestAppCluster, bytes: number, progress: (line: string) => void): Promise<StateFigures> {
  const label = `${(bytes / MB).toFixed(0)} MB`;
  const transport = new GrpcClientTransport({ cluster: cluster.cluster, logger: silentLogger });
  try {
    progress(`state ${label}: filling through the client path (${Math.ceil(bytes / fillValueBytes)} appends of ${fillValueBytes / 1024} KiB, ${fillClients} at a time)`);
    const filledBytes = await fill(cluster, transport, bytes);
    const files = durableFiles(cluster.nodes[0]!);

    progress(`state ${label}: SIGKILL of all three nodes, then all three started again on their data directories`);
    for (const n of cluster.nodes) await n.kill('SIGKILL');
    const logOffsets = cluster.nodes.map((n) => logSize(n));
    const spawnedAt = Date.now();
    const upMs = await Promise.all(cluster.nodes.map(async (n) => {
      await n.restart();
      return Date.now() - spawnedAt;
    }));
    const probe = new RsmClient({ members: cluster.members, transport, clock: realClock });
    try {
      await eventually(() => probe.invoke('add', { key: 'restarted', by: 1 }, { deadlineMs: probeDeadlineMs }), servesAgainTimeoutMs,
        `the cluster serves again after a full restart at ${label}`);
    } finally {
      probe.close();
    }
    const servesMs = Date.now() - spawnedAt;
    const lines = cluster.nodes.map((n, i) => logLines(n, logOffsets[i]!));
    const at = (l: LogLine[], msg: string): number => l.find((line) => line.msg === msg)?.timeMs ?? NaN;
    const restoredMs = Math.max(...lines.map((l) => at(l, 'rsm: durable state restored') - spawnedAt));
    const replayMs = Math.max(...lines.map((l) => at(l, 'rsm: durable state restored') - at(l, 'paxos: replayed durable state')));

    progress(`state ${label}: a fourth node joins and copies the state`);
    const transfer = await joinAndCopy(cluster);
    return { filledBytes, ...files, processUpMs: Math.max(...upMs), restoredMs, replayMs, servesMs, ...transfer };
  } finally {
    await transport.close();
  }
}

/** Appends items until at least `bytes` were appended; resolves the bytes appended. */
async function fill(cluster: TestAppCluster, transport: GrpcClientTransport, bytes: number): Promise<number> {
  // Random base64 (incompressible, no JSON escapes), made once; each item starts with its number.
  const body = randomBytes(Math.ceil((fillValueBytes * 3) / 4)).toString('base64').slice(0, fillValueBytes - 16);
  const items = Math.ceil(bytes / fillValueBytes);
  let next = 0;
  let appended = 0;
  const clients = Array.from({ length: fillClients }, () => new RsmClient({ members: cluster.members, transport, clock: realClock }));
  try {
    await Promise.all(clients.map(async (c) => {
      for (let i = next++; i < items; i = next++) {
        const item = `${String(i).padStart(15, '0')}:${body}`;
        await c.invoke('append', { item }, { deadlineMs: fillDeadlineMs });
        appended += item.length;
      }
    }));
  } finally {
    for (const c of clients) c.close();
  }
  return appended;
}

/** A fourth node joins; resolves once it serves, with what its log says about the copy. */
async function joinAndCopy(cluster: TestAppCluster): Promise<Pick<StateFigures, 'transferBytes' | 'transferMs' | 'joinMs'>> {
  const spawnedAt = Date.now();
  const joiner = await cluster.join('info');
  await eventually(async () => {
    const s = await cluster.status.status(joiner.address);
    return isServing(s) && s.members.includes(joiner.address) ? true : undefined;
  }, joinTimeoutMs, `the joiner ${joiner.address} serves`, joinPollMs);
  const joinMs = Date.now() - spawnedAt;
  const lines = logLines(joiner, 0);
  const syncing = lines.find((l) => l.msg === 'rsm: syncing');
  const copied = lines.filter((l) => l.msg === 'rsm: state copied').at(-1);
  if (syncing === undefined || copied === undefined) {
    throw new Error(`the joiner's log (${logPath(joiner)}) does not say when it started syncing and when its copy ended`);
  }
  return { transferBytes: Number(copied.fields['bytes']), transferMs: copied.timeMs - syncing.timeMs, joinMs };
}

/** The sizes of a node's RSM files: `rsm.snapshot`, and the log generations `rsm-<gen>.log`. */
function durableFiles(n: NodeProcess): { snapshotBytes: number; logBytes: number } {
  let snapshotBytes = 0;
  let logBytes = 0;
  for (const name of readdirSync(n.dataDir)) {
    if (name === 'rsm.snapshot') snapshotBytes += statSync(join(n.dataDir, name)).size;
    else if (/^rsm-\d+\.log$/.test(name)) logBytes += statSync(join(n.dataDir, name)).size;
  }
  return { snapshotBytes, logBytes };
}

/** The node's log file (the cluster's convention: `<dataDir>.log`). */
function logPath(n: NodeProcess): string {
  return `${n.dataDir}.log`;
}

function logSize(n: NodeProcess): number {
  try {
    return statSync(logPath(n)).size;
  } catch {
    return 0;
  }
}

interface LogLine {
  readonly msg: string;
  readonly timeMs: number;
  readonly fields: Record<string, unknown>;
}

/** The node's log lines (pino JSON, ISO times) from byte `offset` on; lines that are not JSON are skipped. */
function logLines(n: NodeProcess, offset: number): LogLine[] {
  const text = readFileSync(logPath(n)).subarray(offset).toString('utf8');
  const lines: LogLine[] = [];
  for (const raw of text.split('\n')) {
    if (raw === '') continue;
    try {
      const fields = JSON.parse(raw) as Record<string, unknown>;
      lines.push({ msg: String(fields['msg']), timeMs: Date.parse(String(fields['time'])), fields });
    } catch {
      // a line cut by the SIGKILL
    }
  }
  return lines;
}

/** The figures as text, one row per state size. */
export function describeStates(rows: ReadonlyArray<StateFigures>): string {
  const mb = (b: number): string => (b / MB).toFixed(1);
  const ms = (t: number): string => (Number.isNaN(t) ? '-' : t.toFixed(0));
  const cells = rows.map((r) => [
    mb(r.filledBytes), `${mb(r.snapshotBytes)} + ${mb(r.logBytes)}`, ms(r.replayMs), ms(r.restoredMs), ms(r.processUpMs), ms(r.servesMs),
    mb(r.transferBytes), ms(r.transferMs), ((r.transferBytes / MB) / (r.transferMs / 1000)).toFixed(1), ms(r.joinMs),
  ]);
  return 'restart and state transfer, local 3-node test-app cluster, default options (MB = 10^6 bytes)\n' +
    table(['state MB', 'disk MB (snap + log)', 'replay ms', 'restored ms', 'up ms', 'serves ms', 'copied MB', 'copy ms', 'copy MB/s', 'join ms'], cells);
}
