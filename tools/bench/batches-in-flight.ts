// A quick comparison of `RsmOptions.maxInvokeBatchesInFlight` settings: for each, a fresh local
// 3-node cluster of the test app (durable RSM log), 64 `RsmClient`s each writing `add` in a loop
// for a window, reporting ops/s and latency p50/p99. Not a test: nothing is asserted.
//   node dist/tools/bench/batches-in-flight.js [windowMs] [settings…]
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RsmClient } from '../../src/client/rsm-client.js';
import { silentLogger } from '../../src/env/logger.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { realClock } from '../../src/runtime/real-clock.js';
import { percentile } from './durability-writes.js';
import { TestAppCluster } from './test-cluster.js';

const clients = 64;
const writeDeadlineMs = 10_000;

async function measure(setting: number, windowMs: number): Promise<string> {
  const tmp = join(process.env['TMPDIR'] ?? '/tmp', `synod-bif-${process.pid}-${setting}.json`);
  writeFileSync(tmp, JSON.stringify({ rsm: { maxInvokeBatchesInFlight: setting } }));
  const cluster = await TestAppCluster.start('warn', ['--options', tmp]);
  const transport = new GrpcClientTransport({ cluster: cluster.cluster, logger: silentLogger });
  const rsm = Array.from({ length: clients }, () => new RsmClient({ members: cluster.members, transport, clock: realClock }));
  const write = (i: number): Promise<unknown> => rsm[i]!.invoke('add', { key: `w-${i}`, by: 1 }, { deadlineMs: writeDeadlineMs });
  try {
    await Promise.all(rsm.map(async (_, i) => { for (let n = 0; n < 5; n++) await write(i); }));
    const latencies: number[] = [];
    const start = performance.now();
    const end = start + windowMs;
    await Promise.all(rsm.map(async (_, i) => {
      while (performance.now() < end) {
        const began = performance.now();
        await write(i);
        latencies.push(performance.now() - began);
      }
    }));
    const elapsed = (performance.now() - start) / 1000;
    latencies.sort((a, b) => a - b);
    return `maxInvokeBatchesInFlight ${setting}: ${(latencies.length / elapsed).toFixed(0)} ops/s, p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms (${latencies.length} writes)`;
  } finally {
    for (const c of rsm) c.close();
    await transport.close();
    await cluster.close();
  }
}

const windowMs = Number(process.argv[2] ?? 5000);
const settings = process.argv.slice(3).map(Number);
for (const s of settings.length > 0 ? settings : [1, 2, 4]) console.log(await measure(s, windowMs));
