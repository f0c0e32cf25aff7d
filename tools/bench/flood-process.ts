/**
 * A flood of large requests (`Flood`) from a process of its own, as an abusive client would be:
 *
 *   node dist/tools/bench/flood-process.js --cluster NAME --members A,B,C --clients N --ids K [--bytes B] [--deadline-ms MS]
 *
 * Floods until SIGTERM, then prints its `FloodReport` as one JSON line on standard output and
 * exits 0. Run apart from whoever measures: sending megabytes per call keeps this process's event
 * loop busy, which would delay a well-behaved client or a status probe sharing it.
 */
import { parseArgs } from 'node:util';
import { silentLogger } from '../../src/env/logger.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { Flood } from './flood.js';

function positive(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} needs a positive integer, got ${text}`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      cluster: { type: 'string' },
      members: { type: 'string' },
      clients: { type: 'string' },
      ids: { type: 'string' },
      bytes: { type: 'string' },
      'deadline-ms': { type: 'string' },
    },
    strict: true,
  });
  if (values.cluster === undefined || values.members === undefined) throw new Error('--cluster and --members are required');
  const transport = new GrpcClientTransport({ cluster: values.cluster, logger: silentLogger });
  const flood = new Flood({
    members: values.members.split(','),
    transport,
    clients: positive(values.clients, 'clients') ?? 64,
    ids: positive(values.ids, 'ids') ?? 1,
    bytes: positive(values.bytes, 'bytes'),
    deadlineMs: positive(values['deadline-ms'], 'deadline-ms'),
  });
  // Client timers are unref'd: keep the process alive until told to stop.
  const alive = setInterval(() => {}, 1000);
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  const report = await flood.stop();
  clearInterval(alive);
  await transport.close();
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`flood-process: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(2);
});
