// A/B of how messages between nodes travel (TransportOptions.peerMessages): one long-lived stream
// per peer pair against one unary gRPC call per message. Two local 3-node clusters of the test
// app, one per setting, both running throughout; `inFlight` RsmClients (one call each) write the
// test app's `add` for `windowMs` against one cluster, then the other, alternating which goes first
// each round. Run: node dist/tools/bench/peer-messages.js [--window-ms MS] [--rounds N] [--in-flight N]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { RsmClient } from '../../src/client/rsm-client.js';
import { silentLogger } from '../../src/env/logger.js';
import type { PeerMessages } from '../../src/options.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { realClock } from '../../src/runtime/real-clock.js';
import { percentile, table } from './durability-writes.js';
import { TestAppCluster } from './test-cluster.js';

/** Deadline of one write: far above any healthy latency, so a miss fails the run instead of vanishing. */
const writeDeadlineMs = 10_000;

export interface PeerMessagesFigures {
  readonly mode: PeerMessages;
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Each round's ops/s, to show the spread. */
  readonly rounds: number[];
}

class Writers {
  readonly #transport: GrpcClientTransport;
  readonly #clients: RsmClient[];
  readonly latencies: number[] = [];
  readonly rounds: number[] = [];
  elapsedMs = 0;

  constructor(readonly mode: PeerMessages, cluster: TestAppCluster, inFlight: number) {
    this.#transport = new GrpcClientTransport({ cluster: cluster.cluster, logger: silentLogger });
    this.#clients = Array.from({ length: inFlight }, () => new RsmClient({ members: cluster.members, transport: this.#transport, clock: realClock }));
  }

  #write(i: number): Promise<unknown> {
    return this.#clients[i]!.invoke('add', { key: `w-${i}`, by: 1 }, { deadlineMs: writeDeadlineMs });
  }

  async warmUp(): Promise<void> {
    await Promise.all(this.#clients.map(async (_, i) => {
      for (let n = 0; n < 5; n++) await this.#write(i);
    }));
  }

  /** Every client writes in a loop for `windowMs`; the window ends when its last write ended. */
  async window(windowMs: number): Promise<number> {
    const start = performance.now();
    const before = this.latencies.length;
    await Promise.all(this.#clients.map(async (_, i) => {
      while (performance.now() < start + windowMs) {
        const began = performance.now();
        await this.#write(i);
        this.latencies.push(performance.now() - began);
      }
    }));
    const elapsed = performance.now() - start;
    this.elapsedMs += elapsed;
    const opsPerSec = (this.latencies.length - before) / (elapsed / 1000);
    this.rounds.push(opsPerSec);
    return opsPerSec;
  }

  figures(): PeerMessagesFigures {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return { mode: this.mode, opsPerSec: sorted.length / (this.elapsedMs / 1000), p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), rounds: this.rounds };
  }

  async close(): Promise<void> {
    for (const c of this.#clients) c.close();
    await this.#transport.close();
  }
}

async function clusterWith(mode: PeerMessages): Promise<TestAppCluster> {
  // The setting reaches each node through its options file (`synod node --options`), as an operator would set it.
  const dir = mkdtempSync(join(tmpdir(), 'synod-peer-messages-'));
  const file = join(dir, 'options.json');
  writeFileSync(file, JSON.stringify({ transport: { peerMessages: mode } }));
  try {
    return await TestAppCluster.start('warn', ['--options', file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function comparePeerMessages(o: { windowMs: number; rounds: number; inFlight: number; progress: (line: string) => void }): Promise<PeerMessagesFigures[]> {
  const clusters = [await clusterWith('stream'), await clusterWith('unary')];
  const writers = [new Writers('stream', clusters[0]!, o.inFlight), new Writers('unary', clusters[1]!, o.inFlight)];
  try {
    for (const w of writers) await w.warmUp();
    for (let round = 0; round < o.rounds; round++) {
      for (const w of round % 2 === 0 ? writers : [...writers].reverse()) {
        const opsPerSec = await w.window(o.windowMs);
        o.progress(`round ${round + 1}/${o.rounds}, ${w.mode}: ${opsPerSec.toFixed(0)} ops/s with ${o.inFlight} in flight`);
      }
    }
    return writers.map((w) => w.figures());
  } finally {
    for (const w of writers) await w.close();
    for (const c of clusters) await c.close();
  }
}

export function describePeerMessages(f: readonly PeerMessagesFigures[], o: { windowMs: number; rounds: number; inFlight: number }): string {
  const [stream, unary] = f as [PeerMessagesFigures, PeerMessagesFigures];
  const row = (name: string, get: (x: PeerMessagesFigures) => number, digits: number): string[] =>
    [name, get(stream).toFixed(digits), get(unary).toFixed(digits), `${(get(stream) / get(unary)).toFixed(2)}x`];
  return `writes (test app add), ${o.inFlight} RsmClients with one call each, local 3-node clusters, ${o.rounds} rounds of ${o.windowMs} ms, alternating\n` +
    table(['figure', 'stream', 'unary', 'stream/unary'], [
      row('ops/s', (x) => x.opsPerSec, 0), row('p50 ms', (x) => x.p50Ms, 2), row('p99 ms', (x) => x.p99Ms, 2),
    ]) + `  rounds, ops/s: stream ${stream.rounds.map((r) => r.toFixed(0)).join(' ')}; unary ${unary.rounds.map((r) => r.toFixed(0)).join(' ')}\n`;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { 'window-ms': { type: 'string' }, rounds: { type: 'string' }, 'in-flight': { type: 'string' } } });
  const o = { windowMs: Number(values['window-ms'] ?? 2000), rounds: Number(values['rounds'] ?? 3), inFlight: Number(values['in-flight'] ?? 64) };
  const figures = await comparePeerMessages({ ...o, progress: (line) => console.error(line) });
  console.log(describePeerMessages(figures, o));
  process.exit(0);
}
