/**
 * `npm run tester -- --netns`: the tester on a network of namespaces, in two processes.
 *
 * The outer process (the one started by the user, in the host's namespace) checks that
 * namespaces work here, removes what dead runs left behind, makes the run's network, and
 * re-executes the tester inside the clients' namespace (`--netns-inside`, the layout passed in
 * the environment), since a process cannot move its own sockets to another namespace. When the
 * inner run ends, however it ends (its exit, Ctrl-C, SIGTERM, an uncaught error of the outer
 * process), the outer process removes every namespace of the run, killing whatever still runs
 * inside. The inner process runs the netns scenarios with the ordinary runner, each node
 * started under `ip netns exec` in its own namespace.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type RunOptions, type RunResult, runScenarios } from '../runner.js';
import { NetnsFaults } from './faults.js';
import { type NetnsLayout, createNetwork, destroyNetwork, listNamespaces, netnsUnsupportedReason, planLayout, sweepDeadRuns } from './network.js';
import { netnsNodePort, netnsScenarios } from './scenarios.js';
import type { Scenario } from '../scenarios.js';

/** The environment variable that carries the layout to the inner process. */
const layoutVariable = 'SYNOD_NETNS_LAYOUT';

/**
 * The exit code of `--netns` where it cannot run (not root, no namespaces, no iptables): 77, the
 * "skipped" code of automake and others, so that CI can tell "cannot run here" from a failure.
 */
export const netnsUnsupportedExitCode = 77;

/** Nodes of the network (every netns scenario runs three). */
const netnsNodes = 3;

/**
 * How long the outer process waits, after forwarding a signal, for the inner one to stop its
 * nodes and remove its directory before it removes the namespaces anyway. 10 s: the inner
 * process's own clean-up is a SIGKILL per node and an rm.
 */
const innerStopTimeoutMs = 10_000;

/** The names and one-line descriptions of the netns scenarios (for the usage text; no network needed). */
export function netnsScenarioList(): string[] {
  // The scenarios touch `faults` only when they run, so none is needed to list them.
  return netnsScenarios(undefined as unknown as NetnsFaults, () => {}).map((s) => `  ${String(s.number).padStart(2)}  ${s.name}`);
}

/** How many netns scenarios there are (numbered 0 to this minus one). */
export const netnsScenarioCount = netnsScenarioList().length;

/**
 * The outer process: makes the network, runs the tester again inside the clients' namespace
 * with `innerArgs`, removes the network. Resolves with the exit code to exit with: the inner
 * run's, 1 if a namespace could not be removed, `netnsUnsupportedExitCode` if it cannot run here.
 */
export async function runNetnsOuter(innerArgs: readonly string[], write: (line: string) => void): Promise<number> {
  const unsupported = netnsUnsupportedReason();
  if (unsupported !== null) {
    write(`rsm-tester --netns: cannot run here: ${unsupported}`);
    return netnsUnsupportedExitCode;
  }
  const swept = sweepDeadRuns();
  if (swept.length > 0) write(`rsm-tester --netns: removed ${swept.length} namespaces left by dead runs: ${swept.join(' ')}`);
  const layout = planLayout(netnsNodes);
  let removed = false;
  const removeNetwork = (): void => {
    if (removed) return;
    removed = true;
    const failed = destroyNetwork(layout);
    if (failed.length > 0) write(`rsm-tester --netns: could not remove: ${failed.join('; ')}`);
  };
  process.on('exit', removeNetwork);
  createNetwork(layout);
  write(`network: namespaces ${layout.bridgeNs} (bridge), ${layout.clientNs} (clients, ${layout.clientAddress}), ` +
    `${layout.nodes.map((n) => `${n.ns} (${n.address})`).join(', ')}`);
  const child = spawn('ip', ['netns', 'exec', layout.clientNs, process.execPath, fileURLToPath(new URL('../../rsm-tester.js', import.meta.url)),
    '--netns-inside', ...innerArgs], { stdio: 'inherit', env: { ...process.env, [layoutVariable]: JSON.stringify(layout) } });
  const exited = new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal === 'SIGINT' ? 130 : 1))));
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      // Passed on, also SIGINT: a terminal's Ctrl-C reaches the inner process anyway (same process
      // group), a `kill -INT` of this one does not; twice is harmless (it exits on the first).
      child.kill(signal);
      const force = setTimeout(() => child.kill('SIGKILL'), innerStopTimeoutMs);
      void exited.then(() => {
        clearTimeout(force);
        removeNetwork();
        process.exit(signal === 'SIGINT' ? 130 : signal === 'SIGTERM' ? 143 : 129);
      });
    });
  }
  const code = await exited;
  removeNetwork();
  const left = listNamespaces().filter((ns) => ns.includes(layout.runId));
  if (left.length > 0) {
    write(`rsm-tester --netns: namespaces left behind: ${left.join(' ')}`);
    return 1;
  }
  return code;
}

/** The layout the outer process passed, or null when this is not an inner run. */
export function innerLayout(): NetnsLayout | null {
  const json = process.env[layoutVariable];
  return json === undefined ? null : (JSON.parse(json) as NetnsLayout);
}

/**
 * The inner process: runs the netns scenarios `numbers` (default all) with the ordinary runner,
 * each node in its namespace of `layout`; every fault is undone before and after each scenario.
 */
export async function runNetnsInside(layout: NetnsLayout, numbers: readonly number[] | undefined, opts: RunOptions): Promise<RunResult> {
  const faults = new NetnsFaults(layout);
  process.on('exit', () => faults.stopRelays());
  const write = opts.write ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const all = netnsScenarios(faults, write);
  const chosen: Scenario[] = (numbers ?? all.map((s) => s.number)).map((n) => {
    const s = all[n]!;
    return {
      ...s,
      async run(c) {
        faults.reset();
        try {
          await s.run(c);
        } finally {
          faults.reset();
        }
      },
    };
  });
  return runScenarios({
    ...opts,
    scenarios: chosen,
    placement: {
      hosts: layout.nodes.map((n) => n.address),
      port: netnsNodePort,
      launcher: (i) => ['ip', 'netns', 'exec', layout.nodes[i]!.ns],
    },
  });
}
