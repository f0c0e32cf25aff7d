/**
 * The real-process tester harness (design §7, issue 6):
 *
 *   npm run tester -- [NUMBER|FROM-TO …] [--supervise] [--keep] [--verbose] [--log-level LEVEL] [--tls]
 *   npm run tester -- --netns [NUMBER|FROM-TO …] [--keep] [--verbose] [--log-level LEVEL]
 *
 * Runs the scenarios (default all, 0 to 20) against `synod lock-server` processes spawned from
 * dist/ on free loopback ports, one fresh cluster per scenario, in one temporary directory (a
 * subdirectory per scenario, with each node's data directory and log file). Prints one line per
 * scenario (number, name, PASS or FAIL with the reason, time) and then `N passed, M failed`; exits
 * 0 only when every scenario passed, 1 otherwise, 2 for usage errors.
 *
 *   --supervise   restart every node process that dies, like an init system, unless the scenario
 *                 kills it on purpose and wants it down; scenarios where a node dies and is
 *                 brought back then rely on the supervisor instead of restarting it themselves
 *   --keep        leave the temporary directory behind (its path is printed), for the node logs
 *   --verbose     print each scenario's steps as they happen
 *   --log-level   the nodes' log level (debug, info, warn, error; default info)
 *   --tls         run every cluster with mutual TLS and client authentication, from development
 *                 certificates made per scenario in its directory (`synod certs`' code)
 *   --netns       run the netns scenarios instead (numbered 0 to 3 on their own): each node in a
 *                 network namespace of its own on a bridge, faults made with iptables and link
 *                 state (root only; exits 77 where it cannot run; tools/tester/netns/run.ts)
 *
 * No process or directory is left behind: every node is killed after its scenario, and on
 * SIGINT, SIGTERM or SIGHUP (or any other exit) every node still running is killed and the
 * directory removed (unless --keep). The timeouts are named constants in tools/tester/timing.ts.
 */
import { parseArgs } from 'node:util';
import { abortOnInterrupt } from './tester/run-dir.js';
import { abortRun, runScenarios } from './tester/runner.js';
import { scenarios } from './tester/scenarios.js';
import { innerLayout, netnsScenarioCount, netnsScenarioList, runNetnsInside, runNetnsOuter } from './tester/netns/run.js';

const usage = `usage: npm run tester -- [NUMBER|FROM-TO ...] [--supervise] [--keep] [--verbose] [--log-level debug|info|warn|error] [--tls]
       npm run tester -- --netns [NUMBER|FROM-TO ...] [--keep] [--verbose] [--log-level debug|info|warn|error]
scenarios:
${scenarios.map((s) => `  ${String(s.number).padStart(2)}  ${s.name} (${s.nodes} nodes)`).join('\n')}
netns scenarios (--netns, root only; 3 nodes each):
${netnsScenarioList().join('\n')}`;

function usageError(message: string): never {
  process.stderr.write(`rsm-tester: ${message}\n${usage}\n`);
  process.exit(2);
}

function parseNumbers(positionals: string[], count: number): number[] | undefined {
  if (positionals.length === 0) return undefined;
  const last = count - 1;
  const numbers: number[] = [];
  for (const p of positionals) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(p);
    if (m === null) usageError(`not a scenario number or range: ${p}`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (from > last || to > last || to < from) usageError(`scenarios are 0 to ${last}; got ${p}`);
    for (let n = from; n <= to; n++) numbers.push(n);
  }
  return numbers;
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: process.argv.slice(2),
      options: {
        supervise: { type: 'boolean' },
        keep: { type: 'boolean' },
        verbose: { type: 'boolean' },
        'log-level': { type: 'string' },
        tls: { type: 'boolean' },
        netns: { type: 'boolean' },
        // Internal: this process is the inner run of --netns, inside the clients' namespace.
        'netns-inside': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    return usageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    process.stdout.write(`${usage}\n`);
    return;
  }
  const logLevel = values['log-level'] ?? 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) usageError(`--log-level must be debug, info, warn or error, got ${logLevel}`);
  const netns = values.netns === true || values['netns-inside'] === true;
  if (netns && values.supervise === true) usageError('--netns does not take --supervise');
  const numbers = parseNumbers(positionals, netns ? netnsScenarioCount : scenarios.length);
  if (values.netns === true) {
    // The outer process: the network around an inner run of this same command.
    const inner = process.argv.slice(2).filter((a) => a !== '--netns');
    process.exit(await runNetnsOuter(inner, (line) => void process.stdout.write(`${line}\n`)));
  }

  abortOnInterrupt(abortRun, '');
  // Whatever ends the process (an uncaught error included), no node outlives it.
  process.on('exit', () => abortRun());
  process.on('unhandledRejection', (reason) => {
    process.stderr.write(`rsm-tester: unhandled rejection (ignored): ${(reason as Error)?.stack ?? String(reason)}\n`);
  });

  const runOptions = {
    numbers,
    supervise: values.supervise === true,
    keep: values.keep === true,
    logLevel,
    tls: values.tls === true,
    ...(values.verbose === true ? { note: (line: string) => void process.stdout.write(`${line}\n`) } : {}),
  };
  const layout = innerLayout();
  if (values['netns-inside'] === true && layout === null) usageError('--netns-inside is internal to --netns');
  const result = values['netns-inside'] === true ? await runNetnsInside(layout!, numbers, runOptions) : await runScenarios(runOptions);
  process.exit(result.failed === 0 ? 0 : 1);
}

main().catch((err: unknown) => {
  process.stderr.write(`rsm-tester: ${(err as Error).stack ?? String(err)}\n`);
  abortRun();
  process.exit(1);
});
