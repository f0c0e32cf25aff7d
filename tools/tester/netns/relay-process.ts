/**
 * The delaying relay of delay-relay.ts as a process, started by `NetnsFaults.delay` in a node's
 * namespace:
 *
 *   node dist/tools/tester/netns/relay-process.js --delay-ms 50 --route LOCALPORT=HOST:PORT …
 *
 * Listens on 127.0.0.1:LOCALPORT for each route, then drops to uid/gid `relayUid` (what the
 * REDIRECT rule exempts), and prints `ready`. Exits on SIGTERM, or when its standard input
 * closes (the tester that started it died).
 */
import { parseArgs } from 'node:util';
import { relay, relayUid } from './delay-relay.js';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'delay-ms': { type: 'string' }, route: { type: 'string', multiple: true } }, strict: true });
  const delayMs = Number(values['delay-ms']);
  if (!Number.isFinite(delayMs) || delayMs < 0) throw new Error(`--delay-ms must be a number of milliseconds, got ${values['delay-ms']}`);
  for (const route of values.route ?? []) {
    const m = /^(\d+)=([\d.]+):(\d+)$/.exec(route);
    if (m === null) throw new Error(`--route must be LOCALPORT=HOST:PORT, got ${route}`);
    await relay(Number(m[1]), { host: m[2]!, port: Number(m[3]) }, delayMs);
  }
  // Listening is done; from here on the relay's own connections must escape the REDIRECT rule.
  if (process.setgid === undefined || process.setuid === undefined) throw new Error('needs POSIX uids (Linux)');
  process.setgid(relayUid);
  process.setuid(relayUid);
  process.on('SIGTERM', () => process.exit(0));
  process.stdin.on('end', () => process.exit(0)).resume();
  process.stdout.write('ready\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`delay-relay: ${(err as Error).message}\n`);
  process.exit(1);
});
