// Proves that Paxos decides over real gRPC between real processes, and that an acceptor killed
// with SIGKILL honours, after its restart, the promise and the accepted value it gave before.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeProcess, eventually } from '../../tools/harness/node-process.js';
import { freePortPairs } from '../../tools/harness/ports.js';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The nodes run the Paxos layer alone (test/paxos/paxos-node-main.ts), so that only this test proposes. */
const entry = [join(dirname(fileURLToPath(import.meta.url)), 'paxos-node-main.js')];

interface Members { members?: string[] }
interface Status {
  highest_known?: number;
  decided?: Members[];
  slot?: { promised?: { round?: number; node?: string }; accepted_n?: { round?: number; node?: string }; accepted_value?: Members; decided?: Members };
}

const status = (n: NodeProcess, instance = 0): Promise<Status> => n.control<Status>('PaxosStatus', { instance });
const decidedAt = async (n: NodeProcess, instance: number): Promise<string[] | undefined> => {
  const s = await status(n);
  return s.decided?.[instance - 1]?.members;
};

describe('Paxos between three real node processes', () => {
  let root: string;
  let a: NodeProcess;
  let b: NodeProcess;
  let c: NodeProcess;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'synod-paxos-'));
    const [pa, pb, pc] = await freePortPairs(3);
    const first = `127.0.0.1:${pa}`;
    a = new NodeProcess({ port: pa!, first, dataDir: join(root, 'a'), entry });
    b = new NodeProcess({ port: pb!, first, dataDir: join(root, 'b'), entry });
    c = new NodeProcess({ port: pc!, first, dataDir: join(root, 'c'), entry });
    await Promise.all([a.start(), b.start(), c.start()]);
  });

  after(async () => {
    for (const n of [a, b, c]) {
      n.closeClient();
      await n.kill('SIGKILL');
    }
    rmSync(root, { recursive: true, force: true });
  });

  test('a series of instances is decided over gRPC and learned by every node', async () => {
    const abc = [a.address, b.address, c.address];
    assert.equal((await a.control<{ outcome: string }>('Propose', { instance: 2, members: abc })).outcome, 'started');
    for (const n of [a, b, c]) assert.deepEqual(await eventually(() => decidedAt(n, 2), 5000, `${n.address} learns 2`), abc);
    // Instances 3..8, proposed by each node in turn, each keeping the same three members.
    for (let i = 3; i <= 8; i++) {
      const proposer = [a, b, c][i % 3]!;
      const value = [...abc.slice(i % 3), ...abc.slice(0, i % 3)];
      await proposer.control('Propose', { instance: i, members: value });
      for (const n of [a, b, c]) {
        assert.deepEqual(await eventually(() => decidedAt(n, i), 5000, `${n.address} learns ${i}`), value);
      }
    }
  });

  test('an acceptor killed with SIGKILL honours its promise and accepted value after restart', async () => {
    const k = 9;
    const x = [b.address, a.address, c.address];
    const y = [c.address, b.address, a.address];
    // c cannot hear a, so a's round for instance k reaches only a and b: a majority of three.
    await c.control('Partition', { peers: [a.address] });
    await a.control('Breakpoint', { breakpoint: 4 });
    await a.control('Propose', { instance: k, members: x });
    // Breakpoint 4: a dies after a majority accepted x, before any decide left.
    await a.exited(5000);
    const before = await status(b, k);
    assert.deepEqual(before.slot?.accepted_value?.members, x, 'b accepted x before the crash');
    assert.equal(before.slot?.decided, undefined, 'nobody decided k yet');
    assert.equal((await status(c, k)).slot?.accepted_value, undefined, 'c never saw x');

    await b.kill('SIGKILL');
    await b.start();
    const replayed = await status(b, k);
    assert.deepEqual(replayed.slot?.promised, before.slot?.promised, 'promise replayed from the log');
    assert.deepEqual(replayed.slot?.accepted_n, before.slot?.accepted_n, 'accepted proposal replayed');
    assert.deepEqual(replayed.slot?.accepted_value?.members, x, 'accepted value replayed');

    // c proposes y; its majority is {b, c} (a is dead). b's replayed acceptance forces x.
    await c.control('Heal', {});
    await c.control('Propose', { instance: k, members: y });
    for (const n of [b, c]) assert.deepEqual(await eventually(() => decidedAt(n, k), 5000, `${n.address} learns ${k}`), x);

    // a comes back and learns the decision it started.
    await a.start();
    assert.deepEqual(await eventually(() => decidedAt(a, k), 5000, 'a learns k after restart'), x);
  });

  test('a node whose log is damaged in the middle refuses to start and names the file and offset', async () => {
    await c.kill('SIGTERM');
    const log = join(c.dataDir, 'paxos.log');
    const bytes = readFileSync(log);
    assert.ok(bytes.length > 100, 'the log holds records');
    bytes[30] = (bytes[30] ?? 0) ^ 0xff; // inside the first record, with more records after it
    writeFileSync(log, bytes);
    const { code, output } = await c.runToExit(10_000);
    assert.equal(code, 1);
    assert.match(output, /CorruptLogError|corrupt log/);
    assert.ok(output.includes(log), `the error names ${log}:\n${output}`);
    assert.match(output, /at offset 8\b/);
  });
});
