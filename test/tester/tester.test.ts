// Proves the real-process tester harness inside `npm test`: a fast subset of its scenarios passes
// against real `synod lock-server` processes (startup, a backup killed, killed and restarted, a
// partitioned primary back in the fifth view, a restarted member still listed), and the restart
// scenarios (whole-cluster SIGKILL and SIGTERM, a cluster of one restarted, a member restarted on
// a wiped data directory); under
// supervision, dead nodes come back by themselves; the harness's checks bite on wrong
// expectations and on a death nobody planned; and an interrupted run leaves no process and no
// directory behind. The whole tester is `npm run tester` (README).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NodeProcess } from '../../tools/harness/node-process.js';
import { sleep } from '../../tools/harness/node-process.js';
import { runScenarios } from '../../tools/tester/runner.js';
import type { Scenario } from '../../tools/tester/scenarios.js';

const testerPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'tools', 'rsm-tester.js');

/** How long the interrupted tester may take to exit after SIGINT (it kills its nodes and removes its directory synchronously). */
const interruptExitTimeoutMs = 10_000;

/** Pids of live processes whose command line mentions `text` (Linux /proc). */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** The parent of process `pid` (field 4 of /proc/PID/stat), or null when it is gone. */
function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

test('the fast scenarios pass: 0, 1, 3, 16 and 20', async () => {
  const lines: string[] = [];
  const r = await runScenarios({ numbers: [0, 1, 3, 16, 20], write: (l) => lines.push(l) });
  assert.equal(r.failed, 0, lines.join('\n'));
  assert.deepEqual(r.results.map((x) => x.number), [0, 1, 3, 16, 20]);
  assert.equal(lines.at(-1), '5 passed, 0 failed');
  assert.match(lines.at(-2)!, /^total time \d+\.\d s$/);
  for (const l of lines.slice(0, 5)) assert.match(l, /^scenario +\d+: .+ \.\.\. PASS \(\d+\.\d s\)$/);
  assert.equal(existsSync(r.dir), false, 'the run directory is removed');
});

test('durable state on real processes: whole-cluster SIGKILL and SIGTERM restarts and a restarted cluster of one serve again with every lock; a wiped member is re-added as a new one (21-25)', async () => {
  // Scenarios 21-25 (tools/tester/scenarios/restarts.ts): each node restarted on its data directory, the cluster serving by itself; then n3 on a wiped one.
  const lines: string[] = [];
  const numbers = [21, 22, 23, 24, 25];
  const r = await runScenarios({ numbers, write: (l) => lines.push(l) });
  assert.equal(r.failed, 0, lines.join('\n'));
  assert.deepEqual(r.results.map((x) => x.number), numbers);
  assert.equal(lines.at(-1), `${numbers.length} passed, 0 failed`);
});

test('under --supervise a killed primary and a node killed by a breakpoint are restarted by the supervisor and rejoin', async () => {
  // Scenario 2 under supervision expects the dead primary back as a backup ([n2,n3,n1]); 12 waits for the supervisor's restart.
  const lines: string[] = [];
  const notes: string[] = [];
  const r = await runScenarios({ numbers: [2, 12], supervise: true, write: (l) => lines.push(l), note: (l) => notes.push(l) });
  assert.equal(r.failed, 0, `${lines.join('\n')}\n${notes.join('\n')}`);
  assert.equal(notes.filter((n) => /supervisor: restarted n1/.test(n)).length, 2, notes.join('\n'));
  assert.equal(lines.at(-1), '2 passed, 0 failed');
  assert.match(lines.at(-2)!, /^total time .* \(supervised\)$/);
});

test('the harness fails a scenario whose view expectation is wrong, and one where a node dies unplanned', async () => {
  // The checks must bite: a wrong primary, a wrong history, and a process killed behind the harness's back.
  const wrongPrimary: Scenario = {
    number: 90, name: 'expects n3 as the new primary', nodes: 3,
    async run(c) {
      await c.grow();
      const [A, B, C] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
      await c.kill(A);
      await c.expectView([B, C], { history: [...c.growth(), [B, C]], primary: C });
    },
  };
  const wrongHistory: Scenario = {
    number: 91, name: 'expects the backup removed first', nodes: 3,
    async run(c) {
      await c.grow();
      const [A, B, C] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
      await c.kill(C);
      await c.expectView([A, B], { history: [[A], [A, C], [A, B]] });
    },
  };
  const unplanned: Scenario = {
    number: 92, name: 'a node dies behind the harness\'s back', nodes: 2,
    async run(c) {
      await c.grow();
      await c.nodes[1]!.kill('SIGKILL');
      await sleep(200);
    },
  };
  const lines: string[] = [];
  const r = await runScenarios({ scenarios: [wrongPrimary, wrongHistory, unplanned], write: (l) => lines.push(l) });
  assert.equal(r.failed, 3, lines.join('\n'));
  assert.match(lines[0]!, /^scenario 90: .* FAIL .*the primary is n2, expected n3/);
  assert.match(lines[1]!, /^scenario 91: .* FAIL .*view history \[n1\] \[n1,n2\].* differs from the expected \[n1\] \[n1,n3\] \[n1,n2\] at view 2/);
  assert.match(lines[2]!, /^scenario 92: .* FAIL .*n2 died unexpectedly \(signal SIGKILL\)/);
  assert.equal(lines.at(-1), '0 passed, 3 failed');
  assert.equal(existsSync(r.dir), false);
});

test('an interrupted run kills every node process and removes its directory', async () => {
  // SIGINT in the middle of scenario 8 (the lock tester against three nodes).
  const child = spawn(process.execPath, [testerPath, '8'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // Wait until the three nodes run (their data directories exist), then interrupt.
  let dir: string | undefined;
  for (let i = 0; i < 200 && dir === undefined; i++) {
    await sleep(50);
    // Only this tester's own nodes: another tester may run on the machine at the same time.
    const candidates = processesMentioning('synod-tester-').filter((pid) => parentOf(pid) === child.pid).flatMap((pid) => {
      const m = /(\/[^\0]*synod-tester-[^/\0]+)\//.exec(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
      return m === null ? [] : [m[1]!];
    });
    const mine = candidates.find((d) => existsSync(join(d, 's08', 'n3')));
    if (mine !== undefined) dir = mine;
  }
  assert.ok(dir !== undefined, `the tester did not start three nodes: ${output}`);
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), interruptExitTimeoutMs);
  const code = await exited;
  clearTimeout(timer);
  assert.equal(code, 130, output);
  assert.match(output, /interrupted by SIGINT: every node process killed; removed /);
  assert.equal(existsSync(dir), false, `${dir} is left behind`);
  for (let i = 0; i < 40 && processesMentioning(dir).length > 0; i++) await sleep(50);
  assert.deepEqual(processesMentioning(dir), [], 'node processes of the interrupted run are still alive');
});
