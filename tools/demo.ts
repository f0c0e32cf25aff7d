/**
 * npm run demo — synod's main job on embedded defaults: a local 3-node cluster on free loopback
 * ports, a series of views decided by Paxos over gRPC, one node killed with SIGKILL while the
 * other two go on, then restarted: it replays its log and catches up. Prints what happens and a
 * summary table; removes every process and file it made, also on failure or Ctrl-C.
 *
 * (This shows the Paxos layer, which is what exists today; it grows into the lock-service
 * failover demo as the config, RSM and lock layers land.)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeProcess, eventually } from '../src/harness/node-process.js';
import { freePortPairs } from '../src/harness/ports.js';

/** How long the demo waits for any one step before it gives up. */
const stepTimeoutMs = 10_000;
/** How often it polls a node's status while waiting (the resolution of the times it prints). */
const pollMs = 5;

interface Status { highest_known?: number; decided?: Array<{ members?: string[] }> }

const root = mkdtempSync(join(tmpdir(), 'synod-demo-'));
const nodes: NodeProcess[] = [];
const t0 = Date.now();
const say = (line: string): void => void process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(2).padStart(6)}s] ${line}\n`);

async function cleanup(): Promise<void> {
  for (const n of nodes) {
    n.closeClient();
    await n.kill('SIGKILL');
  }
  rmSync(root, { recursive: true, force: true });
}

process.on('SIGINT', () => {
  void cleanup().then(() => process.exit(130));
});

const status = (n: NodeProcess): Promise<Status> => n.control<Status>('PaxosStatus', {});
const known = async (n: NodeProcess): Promise<number> => (await status(n)).highest_known ?? 0;
const name = (n: NodeProcess): string => `node ${nodes.indexOf(n) + 1} (${n.address})`;

async function decide(proposer: NodeProcess, instance: number, members: NodeProcess[], learners: NodeProcess[]): Promise<number> {
  const started = Date.now();
  await proposer.control('Propose', { instance, members: members.map((m) => m.address) });
  for (const n of learners) {
    await eventually(async () => ((await known(n)) >= instance ? true : undefined), stepTimeoutMs, `${name(n)} learns view ${instance}`, pollMs);
  }
  const ms = Date.now() - started;
  say(`view ${instance} = [${members.map((m) => nodes.indexOf(m) + 1).join(', ')}] decided by ${name(proposer)}, learned by ${learners.length} nodes in ${ms} ms`);
  return ms;
}

/** The highest view the node's last start replayed from its durable log, read from its log file. */
function replayedUpTo(logFile: string): number {
  const lines = readFileSync(logFile, 'utf8').split('\n').filter((l) => l.includes('replayed durable log'));
  const last = lines.at(-1);
  return last === undefined ? 0 : (JSON.parse(last) as { highestKnown: number }).highestKnown;
}

async function main(): Promise<void> {
  const ports = await freePortPairs(3);
  const first = `127.0.0.1:${ports[0]}`;
  for (const [i, port] of ports.entries()) {
    nodes.push(new NodeProcess({ port, first, dataDir: join(root, `n${i + 1}`), logFile: join(root, `n${i + 1}.log`), logLevel: 'info' }));
  }
  const [a, b, c] = nodes as [NodeProcess, NodeProcess, NodeProcess];
  say(`starting 3 nodes in ${root}`);
  await Promise.all(nodes.map((n) => n.start()));
  say('all nodes up; view 1 is [1] by definition (the first node)');

  const timings: number[] = [];
  timings.push(await decide(a, 2, [a, b, c], nodes));
  timings.push(await decide(b, 3, [a, b, c], nodes));
  timings.push(await decide(c, 4, [a, b, c], nodes));

  say(`killing ${name(b)} with SIGKILL`);
  await b.kill('SIGKILL');
  timings.push(await decide(a, 5, [a, c], [a, c]));
  timings.push(await decide(c, 6, [a, c, b], [a, c]));

  say(`restarting ${name(b)} on the same address and data directory`);
  const restarted = Date.now();
  await b.start();
  say(`${name(b)} is back: it replayed views 1..${replayedUpTo(join(root, 'n2.log'))} from its own log ` +
    '(what it had learned before the crash)');
  await eventually(async () => ((await known(b)) >= 6 ? true : undefined), stepTimeoutMs, `${name(b)} catches up`, pollMs);
  const catchUpMs = Date.now() - restarted;
  say(`${name(b)} learned the views decided while it was down from its peers: in step ${catchUpMs} ms after the restart began`);

  process.stdout.write('\nsummary\n');
  process.stdout.write(`  ${'node'.padEnd(24)} ${'views known'.padEnd(12)} latest view\n`);
  for (const n of nodes) {
    const s = await status(n);
    const latest = s.decided?.[(s.highest_known ?? 1) - 1]?.members ?? [];
    process.stdout.write(`  ${name(n).padEnd(24)} ${String(s.highest_known).padEnd(12)} [${latest.map((m) => nodes.findIndex((x) => x.address === m) + 1).join(', ')}]\n`);
  }
  const sorted = [...timings].sort((x, y) => x - y);
  process.stdout.write(`\n  views decided: ${timings.length}; decide-and-learn time median ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted.at(-1)} ms\n`);
  process.stdout.write(`  restarted node back in step: ${catchUpMs} ms (process start included)\n`);
  process.stdout.write('\ndemo passed\n');
}

main().then(
  () => cleanup(),
  async (err: unknown) => {
    process.stderr.write(`demo failed: ${(err as Error).stack ?? String(err)}\n`);
    for (const n of nodes) process.stderr.write(`--- ${n.address} output tail ---\n${n.output.slice(-2000)}\n`);
    await cleanup();
    process.exitCode = 1;
  },
);
