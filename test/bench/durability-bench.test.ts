// `npm run bench -- durability` works end to end in its smallest configuration (not a speed
// assertion), and its memory-only baseline really keeps no replicated state on disk.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runScript } from '../../tools/harness/cli-run.js';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RsmClient } from '../../src/client/rsm-client.js';
import { silentLogger } from '../../src/env/logger.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { realClock } from '../../src/runtime/real-clock.js';
import { TestAppCluster } from '../../tools/bench/test-cluster.js';

/** The compiled bench entry (this file runs from dist/test/bench/). */
const benchPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'tools', 'bench.js');
/** The benchmark is killed past this (the describe's own timeout is longer). */
const benchRunTimeoutMs = 170_000;

/** The RSM's files in a data directory (`rsm.snapshot`, `rsm-<gen>.log`). */
const rsmFiles = (dir: string): string[] => readdirSync(dir).filter((f) => /^rsm(\.snapshot|-\d+\.log)$/.test(f));

/** The command lines of running processes (Linux /proc) that name one of `dirs` (a node's --data-dir is inside its cluster's). */
function processesNaming(dirs: readonly string[]): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue; // gone meanwhile
    }
    if (dirs.some((d) => cmdline.includes(d))) found.push(`${pid}: ${cmdline}`);
  }
  return found;
}

describe('the memory-only baseline (synod node --test-memory-only-rsm)', { timeout: 60_000 }, () => {
  let cluster: TestAppCluster;
  let transport: GrpcClientTransport;

  before(async () => {
    cluster = await TestAppCluster.start('warn', ['--test-memory-only-rsm']);
    transport = new GrpcClientTransport({ cluster: cluster.cluster, logger: silentLogger });
  });

  after(async () => {
    await transport?.close();
    await cluster?.close();
  });

  test('serves writes, writes no RSM file on any node, and warns on stderr and in its log', async () => {
    const client = new RsmClient({ members: cluster.members, transport, clock: realClock });
    try {
      for (let i = 1; i <= 5; i++) assert.equal(await client.invoke('add', { key: 'k', by: 1 }, { deadlineMs: 10_000 }), i);
    } finally {
      client.close();
    }
    for (const n of cluster.nodes) {
      assert.deepEqual(rsmFiles(n.dataDir), [], `${n.dataDir} holds RSM files`);
      assert.match(n.output, /WARNING: --test-memory-only-rsm/, `${n.address} printed no warning`);
    }
  });
});

describe('npm run bench -- durability, smallest configuration', { timeout: 180_000 }, () => {
  test('prints every figure, exits 0, and leaves no process or file behind', async () => {
    const args = ['durability', '--window-ms', '200', '--rounds', '1', '--in-flight', '2', '--sizes-mb', '1'];
    const { code, stdout, stderr } = await runScript(benchPath, args, benchRunTimeoutMs);
    const said = `stdout:\n${stdout}\nstderr:\n${stderr}`;
    assert.equal(code, 0, said);

    // Each phase said what it does, and each cluster where its files were.
    for (const phase of [/writes: round 1\/1, durable/, /writes: round 1\/1, memory-only/, /state 1 MB: SIGKILL of all three/, /state 1 MB: a fourth node joins/]) {
      assert.match(stderr, phase, said);
    }
    const dirs = [...stderr.matchAll(/files in (\S+?)\)/g)].map((m) => m[1]!);
    assert.equal(dirs.length, 3, `three clusters (durable, memory-only, 1 MB), each naming its directory\n${said}`);
    for (const dir of dirs) assert.ok(!existsSync(dir), `${dir} is still there`);
    const left = processesNaming(dirs);
    assert.deepEqual(left, [], `node processes of the bench still run: ${left.join('; ')}`);

    // Every write figure is a positive number on both sides, with its ratio.
    for (const figure of ['1 in flight: p50 ms', '1 in flight: p99 ms', '1 in flight: ops/s', '2 in flight: ops/s', '2 in flight: p50 ms', '2 in flight: p99 ms']) {
      const row = stdout.split('\n').find((l) => l.trim().startsWith(figure));
      assert.ok(row !== undefined, `no row ${figure}\n${said}`);
      const [durable, memory, ratio] = row.trim().slice(figure.length).trim().split(/\s+/);
      for (const v of [durable, memory, ratio!.replace(/x$/, '')]) assert.ok(Number(v) > 0, `${figure}: ${row}`);
    }
    assert.match(stdout, /goal, sequential p50 latency ratio <= 1\.3: [\d.]+x, (met|NOT met)\n/, said);
    assert.match(stdout, /goal, 2-in-flight throughput ratio >= 0\.8: [\d.]+x, (met|NOT met)\n/, said);

    // The state row: about 1 MB filled and on disk, restart and copy timed, the whole state copied.
    const state = stdout.split('\n').find((l) => /^\s+1\.\d\s/.test(l));
    assert.ok(state !== undefined, `no 1 MB state row\n${said}`);
    const cells = state.trim().split(/\s+/);
    // state, snapshot, '+', log, replay, restored, up, serves, copied, copy ms, MB/s, join ms
    assert.equal(cells.length, 12, state);
    assert.ok(Number(cells[1]) + Number(cells[3]) >= 1, `the first node's disk holds the state: ${state}`);
    assert.ok(Number(cells[4]) >= 0, `replay ms of ${state}`);
    for (const i of [5, 6, 7, 9, 10, 11]) assert.ok(Number(cells[i]) > 0, `column ${i} of ${state}`);
    assert.ok(Number(cells[8]) >= 1, `the joiner copied the whole state: ${state}`);
  });
});
