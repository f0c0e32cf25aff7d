/**
 * npm run demo — synod's main job on embedded defaults: a local 3-node cluster on free loopback
 * ports. Nodes join one by one into views decided by Paxos over gRPC; a member is killed with
 * SIGKILL and the survivors remove it (the detection and view-change time is printed); it is
 * restarted and rejoins; then the first node dies and the others go on. Prints every step and a
 * summary table; removes every process and file it made, also on failure or Ctrl-C.
 *
 * (This shows the Paxos and config layers, which are what exist today; it grows into the
 * lock-service failover demo as the RSM and lock layers land.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeProcess, eventually } from '../src/harness/node-process.js';
import { freePortPairs } from '../src/harness/ports.js';

/** How long the demo waits for any one step before it gives up. */
const stepTimeoutMs = 10_000;
/** How often it polls the nodes while waiting (the resolution of the times it prints). */
const pollMs = 5;

interface Status { vid?: number; members?: string[]; status?: string; views?: Array<{ vid?: number; members?: string[] }> }

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

const status = (n: NodeProcess): Promise<Status> => n.control<Status>('Status', {});
const num = (address: string): number => nodes.findIndex((n) => n.address === address) + 1;
const name = (n: NodeProcess): string => `node ${nodes.indexOf(n) + 1}`;
const show = (members: readonly string[] | undefined): string => `[${(members ?? []).map(num).join(', ')}]`;

/** Waits until every node in `on` is a member of a view listing exactly `members`; returns the ms it took. */
async function viewBecomes(members: NodeProcess[], on: NodeProcess[]): Promise<number> {
  const started = Date.now();
  const want = JSON.stringify(members.map((m) => m.address));
  for (const n of on) {
    await eventually(async () => {
      const s = await status(n);
      return s.status === 'member' && JSON.stringify(s.members) === want ? true : undefined;
    }, stepTimeoutMs, `${name(n)} sees ${show(members.map((m) => m.address))}`, pollMs);
  }
  const vid = (await status(on[0]!)).vid;
  say(`view ${vid} = ${show(members.map((m) => m.address))} on ${on.map(name).join(', ')}`);
  return Date.now() - started;
}

async function main(): Promise<void> {
  const ports = await freePortPairs(3);
  const first = `127.0.0.1:${ports[0]}`;
  for (const [i, port] of ports.entries()) {
    nodes.push(new NodeProcess({ port, first, dataDir: join(root, `n${i + 1}`), logFile: join(root, `n${i + 1}.log`), logLevel: 'info' }));
  }
  const [a, b, c] = nodes as [NodeProcess, NodeProcess, NodeProcess];
  say(`cluster files in ${root}; node 1 (${a.address}) is the first node`);
  for (const [i, n] of nodes.entries()) {
    await n.start();
    say(`${name(n)} (${n.address}) started${i === 0 ? ': view 1 is [1] by definition' : '; asking to join'}`);
    if (i > 0) await viewBecomes(nodes.slice(0, i + 1), nodes.slice(0, i + 1));
  }

  say(`killing ${name(c)} with SIGKILL`);
  await c.kill('SIGKILL');
  const removal = await viewBecomes([a, b], [a, b]);
  say(`the survivors removed ${name(c)} ${removal} ms after the kill (failure detection + one Paxos round)`);

  say(`restarting ${name(c)} on the same address and data directory`);
  const restarted = Date.now();
  await c.start();
  await viewBecomes([a, b, c], [a, b, c]);
  const rejoin = Date.now() - restarted;
  say(`${name(c)} is a member again ${rejoin} ms after its restart began (process start included)`);

  say(`killing the first node, ${name(a)}, with SIGKILL`);
  await a.kill('SIGKILL');
  const firstRemoval = await viewBecomes([b, c], [b, c]);
  say(`the others removed it ${firstRemoval} ms after the kill and go on without it`);

  process.stdout.write('\nsummary (what every live node believes)\n');
  process.stdout.write(`  ${'node'.padEnd(8)} ${'view'.padEnd(6)} ${'members'.padEnd(12)} history\n`);
  for (const n of [b, c]) {
    const s = await status(n);
    const history = (s.views ?? []).map((v) => show(v.members)).join(' ');
    process.stdout.write(`  ${name(n).padEnd(8)} ${String(s.vid).padEnd(6)} ${show(s.members).padEnd(12)} ${history}\n`);
  }
  process.stdout.write(`\n  member removed after SIGKILL: ${removal} ms; first node removed: ${firstRemoval} ms; restarted node back: ${rejoin} ms\n`);
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
