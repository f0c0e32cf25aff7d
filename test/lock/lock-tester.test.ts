// Proves the lock tester end to end: the `synod lock-tester` command passes against three real
// `synod lock-server` processes; its checker reports double grants, releases of unheld locks and
// fencing tokens that do not increase (in memory); clients set up wrong on purpose (one owner for
// all) fail the run on the service's owner-taken refusal, with no double grant; the
// gRPC callback subscriber finds the primary and reports the end of its stream; and tokens
// strictly increase across a primary killed with SIGKILL between two grants.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeProcess, cliPath, eventually, sleep, withTimeout, killAll } from '../../tools/harness/node-process.js';
import { freePortPairs } from '../../tools/harness/ports.js';
import { StatusReader } from '../../tools/harness/status.js';
import { defaultClusterName } from '../../src/env/cluster-name.js';
import type { NodeStatus } from '../../src/node/status.js';
import { GrpcLockClient } from '../../src/apps/lock/grpc-lock-client.js';
import { LockChecker } from '../../src/apps/lock/lock-checker.js';
import { runLockTester } from '../../src/apps/lock/lock-tester.js';
import { TesterClient } from '../../src/apps/lock/lock-tests.js';
import { GrpcCallbackSubscriber } from '../../src/apps/lock/grpc-callback-subscriber.js';
import { RsmClient } from '../../src/client/rsm-client.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { realClock } from '../../src/runtime/real-clock.js';
import { silentLogger } from '../../src/env/logger.js';
import type { Json } from '../../src/rsm/app.js';

/** How long the lock tester command may run (test 2 alone holds a lock six times for a second). */
const testerRunTimeoutMs = 25_000;
/** How long a step of the failover test may take (a failover is about a second). */
const stepTimeoutMs = 15_000;

/** Runs `synod lock-tester ARGS…`; resolves with its exit code and output. */
function runTesterCommand(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, 'lock-tester', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`synod lock-tester did not finish within ${testerRunTimeoutMs} ms:\n${stdout}\n${stderr}`));
    }, testerRunTimeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('the checker reports a grant of a held lock, a release of an unheld one, and tokens that do not increase', () => {
  // Feeds the checker a history that breaks each rule once, and one that keeps them all.
  const good = new LockChecker();
  good.granted('a', { client: 'c0', user: 'u0' }, 3);
  good.released('a', { client: 'c0', user: 'u0' });
  good.granted('a', { client: 'c0', user: 'u1' }, 3); // a local handover: same grant, same token
  good.released('a', { client: 'c0', user: 'u1' });
  good.granted('a', { client: 'c1', user: 'u0' }, 7);
  good.released('a', { client: 'c1', user: 'u0' });
  assert.deepEqual(good.violations, []);

  const seen: string[] = [];
  const bad = new LockChecker((m) => seen.push(m));
  bad.granted('a', { client: 'c0', user: 'u0' }, 5);
  bad.granted('a', { client: 'c1', user: 'u0' }, 6); // double grant
  bad.released('a', { client: 'c1', user: 'u0' });
  bad.released('a', { client: 'c1', user: 'u0' }); // not held by anyone now
  bad.granted('a', { client: 'c2', user: 'u0' }, 6); // another client, the same token
  bad.released('a', { client: 'c2', user: 'u0' });
  bad.granted('a', { client: 'c2', user: 'u0' }, 4); // backwards
  assert.equal(bad.ok, false);
  assert.deepEqual(seen, bad.violations);
  assert.deepEqual(bad.violations, [
    'mutual exclusion violated: lock "a" granted to c1/u0 (token 6) while c0/u0 holds it (token 5)',
    'release of lock "a" by c1/u0, which does not hold it (nobody does)',
    'fencing token did not increase when the lock client changed: lock "a" granted to c2/u0 with token 6, the token c1/u0 held it with',
    'fencing token went backwards: lock "a" granted to c2/u0 with token 4 after c2/u0 held it with token 6',
  ]);
});

describe('the lock tester against three real lock-server processes', () => {
  let root: string;
  let nodes: NodeProcess[];
  let cluster: string;
  let status: StatusReader;
  const clients: GrpcLockClient[] = [];

  const live = (): NodeProcess[] => nodes.filter((n) => n.running);
  const addresses = (): string[] => live().map((n) => n.address);
  const lockClient = (owner: string): GrpcLockClient => {
    const c = new GrpcLockClient({ cluster, members: addresses(), owner });
    clients.push(c);
    return c;
  };
  /** The serving primary, once every live node agrees on it. */
  const servingPrimary = (): Promise<NodeStatus> => eventually(async () => {
    const all = await Promise.all(live().map((n) => status.status(n.address)));
    const p = all.find((s) => s.node === s.primary && s.replicaStatus === 'normal');
    const agree = all.every((s) => s.primary === p?.node && s.vid === p?.vid && s.replicaStatus === 'normal');
    return p !== undefined && agree && p.members.length === all.length ? p : undefined;
  }, stepTimeoutMs, 'a serving primary', 20);

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'synod-lock-tester-'));
    const ports = await freePortPairs(3);
    const first = `127.0.0.1:${ports[0]}`;
    cluster = defaultClusterName(first);
    nodes = ports.map((port, i) => new NodeProcess({
      port, first, dataDir: join(root, `n${i + 1}`), logLevel: 'info', entry: [cliPath, 'lock-server'],
    }));
    for (const n of nodes) await n.start();
    status = new StatusReader(cluster);
    await servingPrimary();
  });

  after(async () => {
    for (const c of clients) await c.close();
    await status?.close();
    await killAll(nodes);
    rmSync(root, { recursive: true, force: true });
  });

  test('synod lock-tester passes all five tests and exits 0 with one final verdict line', async () => {
    const { code, stdout, stderr } = await runTesterCommand([addresses().join(',')]);
    const lines = stdout.trimEnd().split('\n');
    assert.equal(code, 0, `exit ${code}\n${stdout}\n${stderr}`);
    assert.equal(lines.length, 6, stdout);
    for (const [i, line] of lines.slice(0, 5).entries()) assert.match(line, new RegExp(`^test ${i + 1}: .* \\.\\.\\. ok \\(\\d+\\.\\d\\d s\\)$`));
    assert.equal(lines.at(-1), 'lock tester: 5 passed, 0 failed');
    assert.equal(lines.filter((l) => l.startsWith('lock tester:')).length, 1);
  });

  test('a run whose clients share one owner id fails: the service refuses the owner to every client but the first, and nobody holds a lock twice', async () => {
    // Broken on purpose: every client of test 2 names one owner. Before owners were bound to their
    // client, the server granted `a` to all of them at once (the checker's mutual-exclusion failure).
    const lines: string[] = [];
    const result = await runLockTester({
      cluster, members: addresses(), tests: [2], ownerOf: () => 'one-owner-for-all', options: { holdMs: 300 }, write: (l) => lines.push(l),
    });
    assert.equal(result.failed, 1);
    assert.equal(result.passed, 0);
    assert.deepEqual(result.violations, [], 'no lock was granted twice');
    assert.match(result.results[0]?.error ?? '', /^AppRejectedError: owner-taken: owner one-owner-for-all belongs to another client/);
    assert.match(lines[0]!, /^test 2: .* \.\.\. FAILED \(\d+\.\d\d s\): AppRejectedError: owner-taken/);
    assert.equal(lines.at(-1), 'lock tester: FAILED: 0 passed, 1 failed (test 2)');
    assert.equal(result.verdict, lines.at(-1));
  });

  test('the gRPC subscriber follows a not-primary refusal to the primary, and ends once when the primary guess moves', async () => {
    // Starts at a backup, gets a revoke from the primary, and reports onEnd (once) when the guess names another node.
    const primary = (await servingPrimary()).node;
    const [backup, other] = addresses().filter((a) => a !== primary) as [string, string];
    let guess: string | null = backup;
    const subscriber = new GrpcCallbackSubscriber({ cluster, members: [backup], primary: () => guess });
    const messages: Json[] = [];
    const ends: string[] = [];
    const transport = new GrpcClientTransport({ cluster, logger: silentLogger });
    const rsm = new RsmClient({ members: addresses(), transport, clock: realClock });
    const waiter = new RsmClient({ members: addresses(), transport, clock: realClock });
    subscriber.subscribe({ owner: 'subscriber-test', clientId: rsm.clientId }, (m) => messages.push(m), (reason) => ends.push(reason));
    try {
      const grant = (await rsm.invoke('acquire', { lock: 's', owner: 'subscriber-test' })) as { token: number };
      await waiter.invoke('acquire', { lock: 's', owner: 'subscriber-test-waiter' });
      await eventually(async () => (messages.length > 0 ? true : undefined), stepTimeoutMs, 'the revoke arrives');
      assert.deepEqual(messages[0], { kind: 'revoke', lock: 's', token: grant.token });
      assert.deepEqual(ends, [], 'the stream at the primary stays open');
      guess = other;
      await eventually(async () => (ends.length > 0 ? true : undefined), stepTimeoutMs, 'onEnd after the guess moved');
      assert.deepEqual(ends, [`the primary moved from ${primary} to ${other}`]);
      await sleep(300);
      assert.equal(ends.length, 1, 'onEnd runs once');
    } finally {
      await rsm.invoke('giveBack', { owner: 'subscriber-test' });
      await waiter.invoke('giveBack', { owner: 'subscriber-test-waiter' });
      rsm.close();
      waiter.close();
      await transport.close();
      subscriber.close();
    }
  });

  test('fencing tokens strictly increase across a primary killed with SIGKILL between two grants', async () => {
    // A holds `f`; the primary dies; B's grant (from the new primary) and A's next one carry higher tokens.
    const checker = new LockChecker();
    const a = new TesterClient('A', lockClient('failover-A'), checker);
    const b = new TesterClient('B', lockClient('failover-B'), checker);
    const tokens: number[] = [];
    tokens.push(await withTimeout(a.acquire('f', 'u0'), stepTimeoutMs, 'A acquires f'));

    const primary = await servingPrimary();
    const victim = nodes.find((n) => n.address === primary.node)!;
    await victim.kill('SIGKILL');

    const bGets = b.acquire('f', 'u0');
    await a.release('f', 'u0');
    tokens.push(await withTimeout(bGets, stepTimeoutMs, 'B acquires f from the new primary'));
    const next = await servingPrimary();
    assert.notEqual(next.node, primary.node, 'a new primary serves');
    await b.release('f', 'u0');
    tokens.push(await withTimeout(a.acquire('f', 'u0'), stepTimeoutMs, 'A acquires f again'));
    await a.release('f', 'u0');

    assert.deepEqual(checker.violations, []);
    assert.ok(tokens[0]! < tokens[1]! && tokens[1]! < tokens[2]!, `tokens strictly increase: ${tokens.join(', ')}`);
  });
});
