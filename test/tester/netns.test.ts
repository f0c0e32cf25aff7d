// Proves `npm run tester -- --netns` inside `npm test` when this machine allows it (root, network
// namespaces, iptables with the statistic match): a real split by iptables between namespaces —
// the primary alone on the minority side — passes; a run interrupted with Ctrl-C leaves no
// namespace and no process behind; and the namespaces of a dead run are swept at the next start.
// Elsewhere each test skips and says why. The four netns scenarios are `npm run test:netns`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep, withTimeout } from '../../tools/harness/node-process.js';
import { listNamespaces, netnsPrefix, netnsUnsupportedReason, run, sweepDeadRuns } from '../../tools/tester/netns/network.js';

const testerPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'tools', 'rsm-tester.js');

/** Why these tests cannot run here (null: they can); printed when they skip. */
const unsupported = netnsUnsupportedReason();
if (unsupported !== null) process.stdout.write(`# netns tests skipped: ${unsupported}\n`);
const skip = unsupported === null ? false : `needs network namespaces: ${unsupported}`;

/** How long one netns scenario run may take here, start and clean-up included (it takes ~12 s idle). */
const runTimeoutMs = 60_000;

/** Starts the tester with `args` in a process group of its own; collects its output. */
function startTester(args: readonly string[]): { child: ChildProcess; output: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [testerPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exit };
}

/** The run id the tester printed (`network: namespaces synod-t<pid>-<hex>-br …`). */
function runIdOf(output: string): string {
  const id = new RegExp(`network: namespaces ${netnsPrefix}(\\d+-[0-9a-f]+)-br`).exec(output)?.[1];
  assert.ok(id !== undefined, `no network line in:\n${output}`);
  return id;
}

/** Live processes whose command line mentions `text` (Linux /proc). */
function processesMentioning(text: string): number[] {
  return readdirSync('/proc').filter((e) => /^\d+$/.test(e)).filter((e) => {
    try {
      return readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(text);
    } catch {
      return false; // gone meanwhile
    }
  }).map(Number);
}

test('a split by iptables between network namespaces, the primary alone on the minority side: the majority takes over, the figures are printed, nothing is left', { skip }, async () => {
  const t = startTester(['--netns', '1']);
  const code = await withTimeout(t.exit, runTimeoutMs, 'the netns run did not end');
  const out = t.output();
  assert.equal(code, 0, out);
  assert.match(out, /scenario {2}1: two-sided split 1\|2 .* PASS/);
  assert.match(out, /\[netns 1\] primary n1 cut off: n2 primary of \[n2,n3\] after \d+ ms; throughput \d+ ops\/s/);
  assert.match(out, /^1 passed, 0 failed$/m);
  const id = runIdOf(out);
  assert.deepEqual(listNamespaces().filter((ns) => ns.includes(id)), [], 'the run removed its namespaces');
});

test('a netns run interrupted by Ctrl-C removes its namespaces and leaves no node process', { skip }, async () => {
  const t = startTester(['--netns', '0']);
  // Interrupt once the nodes run: n1 has a process in its namespace.
  const id = await withTimeout((async () => {
    for (;;) {
      const m = /network: namespaces/.test(t.output()) ? runIdOf(t.output()) : undefined;
      if (m !== undefined && listNamespaces().includes(`${netnsPrefix}${m}-n1`) &&
        run('ip', ['netns', 'pids', `${netnsPrefix}${m}-n1`]).trim() !== '') return m;
      await sleep(100);
    }
  })(), runTimeoutMs, 'the nodes did not start');
  process.kill(-t.child.pid!, 'SIGINT'); // the whole process group, as a terminal's Ctrl-C does
  const code = await withTimeout(t.exit, runTimeoutMs, 'the interrupted run did not exit');
  assert.equal(code, 130, t.output());
  assert.deepEqual(listNamespaces().filter((ns) => ns.includes(id)), [], `namespaces left behind:\n${t.output()}`);
  assert.deepEqual(processesMentioning('10.213.0.11:7000'), [], 'a node process outlived the run');
});

test('the namespaces of a dead run are removed at the next start, a live run\'s are kept', { skip }, async () => {
  // A pid that surely belongs to no process: one that just exited.
  const gone = spawn(process.execPath, ['-e', '']);
  const deadPid = await new Promise<number>((resolve) => gone.once('exit', () => resolve(gone.pid!)));
  const dead = `${netnsPrefix}${deadPid}-dead-n1`;
  const live = `${netnsPrefix}${process.pid}-live-n1`;
  run('ip', ['netns', 'add', dead]);
  run('ip', ['netns', 'add', live]);
  try {
    const swept = sweepDeadRuns();
    assert.ok(swept.includes(dead), `swept ${swept.join(' ')}`);
    assert.ok(!swept.includes(live));
    const now = listNamespaces();
    assert.ok(!now.includes(dead) && now.includes(live), now.join(' '));
  } finally {
    for (const ns of [dead, live]) if (listNamespaces().includes(ns)) run('ip', ['netns', 'del', ns]);
  }
});
