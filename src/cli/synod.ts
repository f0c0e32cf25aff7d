#!/usr/bin/env node
/**
 * synod command line.
 *
 *   synod node --me HOST:PORT --first HOST:PORT --data-dir DIR [--cluster NAME] [--app NAME]
 *              [--control] [--control-address HOST:PORT]
 *              [--log-level debug|info|warn|error|silent] [--log-file FILE]
 *       Runs one node; with --app, a replica of that built-in app (test, lock). --control serves the test control service on the node's port + 1
 *       (or on --control-address). Never use it in production.
 *
 *   synod lock-server --first HOST:PORT --me HOST:PORT --data-dir DIR [--cluster NAME] [--control]
 *              [--control-address HOST:PORT] [--session-timeout-ms MS]
 *              [--log-level debug|info|warn|error|silent] [--log-file FILE]
 *       Runs one node of the replicated lock service: `synod node --app lock`. Lock clients call
 *       it through the client service (synod.rsm.Client) and keep a callback stream
 *       (synod.rsm.Callbacks) open to the primary; an owner holding or waiting for a lock that
 *       has had no stream for --session-timeout-ms (default 5000, `CallbackOptions`) is expired.
 *
 *   synod lock-tester HOST:PORT[,HOST:PORT…] [TEST] [--cluster NAME]
 *       Runs the lock tester (src/apps/lock/lock-tester.ts) against a running lock service: TEST 1 to
 *       5, default all. --cluster defaults to synod@<the first address given>, the nodes' default
 *       when that address is their --first. Prints a line per test and one final verdict line;
 *       exits 0 only when every test passed, 1 otherwise.
 *
 *   synod status HOST:PORT [--json] [--cluster NAME]
 *       Shows what the node at HOST:PORT (its own port) believes, through its node service: node,
 *       incarnation, view and members, primary, config and replica status, last executed
 *       viewstamp, completeness, and every view it knows. --json prints the status object
 *       (`NodeStatus`, src/node/status.ts) as JSON. Without --cluster, the call first names the
 *       cluster synod@HOST:PORT and, if the node refuses it as another cluster's, asks once more
 *       with the name the node gave in its refusal; with --cluster, a refusal is an error.
 *       Exits 0 with the status, 1 when the node cannot be reached or refuses.
 *
 *   synod control HOST:PORT breakpoint N | breakpoint off [N] | partition 1 | partition 0
 *                 | partition-from PEER[,PEER...]
 *       Drives the test control service at HOST:PORT (the node's port + 1 unless the node was
 *       given --control-address; only nodes started with --control serve it): arm crash
 *       breakpoint N (1-4, design §7) or disarm one or all; isolate the node from every peer
 *       and client (1) or heal every partition (0); cut it off from the named peers only.
 *       Prints the service's answer; exits 0, 1 when the service cannot be reached or refuses.
 *
 * Every node running an app with callbacks (the lock app, with either command) serves the
 * callback service; --session-timeout-ms applies to both commands.
 *
 * Exit status of `node` and `lock-server`: 0 after SIGTERM/SIGINT (graceful stop), 1 when the
 * node refuses to start (a data directory of another node, a corrupt log, a port in use); 2 for
 * usage errors (every command).
 */
import { parseArgs } from 'node:util';
import type { LogLevel } from '../runtime/logging.js';
import { createLogger } from '../runtime/logging.js';
import { SynodNode, defaultClusterName, defaultControlAddress } from '../node/synod-node.js';
import { address } from '../env/validate.js';
import { builtinAppServices, builtinApps } from '../apps/registry.js';
import type { RsmMutations } from '../rsm/replica.js';

const usage = `usage:
  synod node --me HOST:PORT --first HOST:PORT --data-dir DIR [--cluster NAME] [--app NAME]
             [--control] [--control-address HOST:PORT]
             [--session-timeout-ms MS] [--log-level debug|info|warn|error|silent] [--log-file FILE]
  synod lock-server --first HOST:PORT --me HOST:PORT --data-dir DIR [--cluster NAME] [--control]
             [--control-address HOST:PORT] [--session-timeout-ms MS]
             [--log-level debug|info|warn|error|silent] [--log-file FILE]
  synod lock-tester HOST:PORT[,HOST:PORT...] [TEST] [--cluster NAME]
  synod status HOST:PORT [--json] [--cluster NAME]
  synod control CONTROL-HOST:PORT breakpoint 1|2|3|4 | breakpoint off [N]
                | partition 1 | partition 0 | partition-from PEER[,PEER...]`;

const logLevels: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

/** Longest cluster name accepted (it travels in every message). */
const maxClusterNameLength = 128;

function fail(message: string, code: number): never {
  process.stderr.write(`synod: ${message}\n`);
  process.exit(code);
}

function usageError(message: string): never {
  return fail(`${message}\n${usage}`, 2);
}

type OptionSpec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;
type OptionValues = Record<string, string | boolean | string[] | undefined>;

/** Parses `args` against `options`; every parse error is a usage error (exit 2), not a crash. */
function parse(args: string[], options: OptionSpec): OptionValues {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values as OptionValues;
  } catch (err) {
    return usageError((err as Error).message);
  }
}

function checkedAddress(value: string | undefined, flag: string): string {
  if (value === undefined) usageError(`${flag} is required`);
  try {
    return address(value, flag);
  } catch (err) {
    return usageError((err as Error).message.replace(/^invalid message: /, ''));
  }
}

/** A positive integer flag (milliseconds, counts); anything else is a usage error. */
function positiveInteger(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) usageError(`${flag} must be a positive integer`);
  return Number(value);
}

/**
 * `--test-mutate NAME` (repeatable, undocumented in the usage: for tests only): switches on a
 * test-only RSM mutation that breaks the protocol on purpose, so that a test can prove its
 * checker catches the breakage on real processes. Only with the control service (a test node).
 */
function parseTestMutations(names: string[] | undefined, control: boolean): RsmMutations | undefined {
  if (names === undefined || names.length === 0) return undefined;
  if (!control) usageError('--test-mutate needs --control (test nodes only)');
  const known: Record<string, keyof RsmMutations> = {
    'reply-before-all-acks': 'replyBeforeAllAcks',
    'execute-out-of-order': 'executeOutOfOrder',
    'no-client-table': 'noClientTable',
  };
  const mutations: { -readonly [K in keyof RsmMutations]: boolean } = {};
  for (const name of names) {
    const key = known[name];
    if (key === undefined) usageError(`unknown --test-mutate ${name}; known: ${Object.keys(known).join(', ')}`);
    mutations[key] = true;
  }
  return mutations;
}

/**
 * `synod node`, and `synod lock-server` (`fixedApp` = 'lock': the same node, without --app).
 */
async function runNode(args: string[], fixedApp?: string): Promise<void> {
  const values = parse(args, {
    me: { type: 'string' },
    first: { type: 'string' },
    'data-dir': { type: 'string' },
    cluster: { type: 'string' },
    ...(fixedApp === undefined ? { app: { type: 'string' as const } } : {}),
    control: { type: 'boolean' },
    'control-address': { type: 'string' },
    'session-timeout-ms': { type: 'string' },
    'log-level': { type: 'string' },
    'log-file': { type: 'string' },
    'test-mutate': { type: 'string', multiple: true },
  });
  const me = checkedAddress(values.me as string | undefined, '--me');
  const first = checkedAddress(values.first as string | undefined, '--first');
  const dataDir = (values['data-dir'] as string | undefined) ?? usageError('--data-dir is required');
  const cluster = (values.cluster as string | undefined) ?? defaultClusterName(first);
  if (cluster.length === 0 || cluster.length > maxClusterNameLength) usageError(`--cluster must be 1 to ${maxClusterNameLength} characters`);
  const level = ((values['log-level'] as string | undefined) ?? 'info') as LogLevel;
  if (!logLevels.includes(level)) usageError(`--log-level must be one of ${logLevels.join(', ')}`);
  const controlAddress = values['control-address'] !== undefined
    ? checkedAddress(values['control-address'] as string, '--control-address')
    : values.control === true ? defaultControlAddress(me) : undefined;
  const appName = fixedApp ?? (values.app as string | undefined);
  const app = appName === undefined ? undefined : builtinApps[appName];
  if (appName !== undefined && app === undefined) usageError(`unknown --app ${appName}; built in: ${Object.keys(builtinApps).join(', ')}`);
  const services = appName === undefined ? undefined : builtinAppServices[appName];
  const sessionTimeoutMs = positiveInteger(values['session-timeout-ms'] as string | undefined, '--session-timeout-ms');
  const testMutations = parseTestMutations(values['test-mutate'] as string[] | undefined, controlAddress !== undefined);
  const logFile = values['log-file'] as string | undefined;
  const logger = createLogger({ level, file: logFile, base: { node: me } });
  let node: SynodNode;
  try {
    node = await SynodNode.start({
      me,
      first,
      cluster,
      dataDir,
      logger,
      ...(app === undefined || appName === undefined ? {} : { app: { name: appName, app, ...services } }),
      ...(sessionTimeoutMs === undefined ? {} : { callbacks: { sessionTimeoutMs } }),
      controlAddress,
      testMutations,
    });
  } catch (err) {
    logger.error({ err }, 'node refused to start');
    fail(`node ${me} refused to start: ${(err as Error).message}`, 1);
  }
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    node.close().then(
      () => process.exit(0),
      (err: unknown) => fail(`stop failed: ${(err as Error).message}`, 1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** `synod lock-tester`: exit 0 when every test passed, 1 when one failed, 2 for usage errors. */
async function runLockTesterCommand(args: string[]): Promise<void> {
  let parsed: { values: OptionValues; positionals: string[] };
  try {
    parsed = parseArgs({ args, options: { cluster: { type: 'string' } }, strict: true, allowPositionals: true }) as typeof parsed;
  } catch (err) {
    return usageError((err as Error).message);
  }
  const [list, test, ...extra] = parsed.positionals;
  if (list === undefined) usageError('lock-tester needs the cluster\'s addresses (HOST:PORT[,HOST:PORT...])');
  if (extra.length > 0) usageError(`unexpected arguments: ${extra.join(' ')}`);
  const members = list.split(',').map((a) => checkedAddress(a, 'address'));
  let tests: number[] | undefined;
  if (test !== undefined) {
    if (!/^[1-5]$/.test(test)) usageError(`TEST must be 1 to 5, got ${test}`);
    tests = [Number(test)];
  }
  const cluster = (parsed.values.cluster as string | undefined) ?? defaultClusterName(members[0]!);
  if (cluster.length === 0 || cluster.length > maxClusterNameLength) usageError(`--cluster must be 1 to ${maxClusterNameLength} characters`);
  process.exitCode = 1; // should the run end without a verdict, it did not pass
  const { runLockTester } = await import('../apps/lock/lock-tester.js');
  const result = await runLockTester({ cluster, members, tests });
  process.exit(result.failed === 0 && result.passed > 0 ? 0 : 1);
}

/** `synod status`: exit 0 with the status, 1 when the node cannot be reached or refuses, 2 for usage errors. */
async function runStatusCommand(args: string[]): Promise<void> {
  let parsed: { values: OptionValues; positionals: string[] };
  try {
    parsed = parseArgs({ args, options: { json: { type: 'boolean' }, cluster: { type: 'string' } }, strict: true, allowPositionals: true }) as typeof parsed;
  } catch (err) {
    return usageError((err as Error).message);
  }
  const [target, ...extra] = parsed.positionals;
  if (target === undefined) usageError('status needs the node\'s address (HOST:PORT)');
  if (extra.length > 0) usageError(`unexpected arguments: ${extra.join(' ')}`);
  const node = checkedAddress(target, 'address');
  const cluster = parsed.values.cluster as string | undefined;
  if (cluster !== undefined && (cluster.length === 0 || cluster.length > maxClusterNameLength)) {
    usageError(`--cluster must be 1 to ${maxClusterNameLength} characters`);
  }
  const { queryStatus, formatStatus } = await import('./admin.js');
  let answer;
  try {
    answer = await queryStatus(node, cluster === undefined ? {} : { cluster });
  } catch (err) {
    return fail((err as Error).message, 1);
  }
  process.stdout.write(parsed.values.json === true ? `${JSON.stringify(answer.status, null, 2)}\n` : formatStatus(answer.status, answer.cluster));
}

/** `synod control`: exit 0 with the service's answer, 1 when it cannot be reached or refuses, 2 for usage errors. */
async function runControlCommand(args: string[]): Promise<void> {
  let positionals: string[];
  try {
    positionals = parseArgs({ args, options: {}, strict: true, allowPositionals: true }).positionals;
  } catch (err) {
    return usageError((err as Error).message);
  }
  const [target, verb, arg, ...extra] = positionals;
  if (target === undefined) usageError('control needs the control service\'s address (HOST:PORT, by default the node\'s port + 1)');
  const controlAddress = checkedAddress(target, 'address');
  const breakpointNumber = (text: string): 1 | 2 | 3 | 4 => {
    if (!/^[1-4]$/.test(text)) usageError(`breakpoint must be 1, 2, 3, 4 or off, got ${text}`);
    return Number(text) as 1 | 2 | 3 | 4;
  };
  const { controlNode } = await import('./admin.js');
  type Action = Parameters<typeof controlNode>[1];
  let action: Action;
  const allowedExtra = verb === 'breakpoint' && arg === 'off' ? 1 : 0;
  if (extra.length > allowedExtra) usageError(`unexpected arguments: ${extra.slice(allowedExtra).join(' ')}`);
  switch (verb) {
    case 'breakpoint':
      if (arg === undefined) usageError('breakpoint needs N (1-4) or off');
      if (arg === 'off') {
        action = extra[0] === undefined ? { kind: 'disarm' } : { kind: 'disarm', breakpoint: breakpointNumber(extra[0]) };
      } else {
        action = { kind: 'breakpoint', breakpoint: breakpointNumber(arg) };
      }
      break;
    case 'partition':
      if (arg === '1') action = { kind: 'isolate' };
      else if (arg === '0') action = { kind: 'heal' };
      else usageError(`partition takes 1 (isolate) or 0 (heal), got ${arg ?? 'nothing'}`);
      break;
    case 'partition-from': {
      if (arg === undefined || arg === '') usageError('partition-from needs the peers to cut off (HOST:PORT[,HOST:PORT...])');
      const peers = arg.split(',').map((p) => checkedAddress(p, 'peer'));
      action = { kind: 'partition-from', peers };
      break;
    }
    case undefined:
      return usageError('control needs an action: breakpoint, partition or partition-from');
    default:
      return usageError(`unknown control action ${verb}`);
  }
  try {
    const detail = await controlNode(controlAddress, action);
    process.stdout.write(`${controlAddress}: ${detail}\n`);
  } catch (err) {
    fail((err as Error).message, 1);
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'node':
      return runNode(rest);
    case 'lock-server':
      return runNode(rest, 'lock');
    case 'lock-tester':
      return runLockTesterCommand(rest);
    case 'status':
      return runStatusCommand(rest);
    case 'control':
      return runControlCommand(rest);
    case undefined:
    case '-h':
    case '--help':
      process.stdout.write(`${usage}\n`);
      return;
    default:
      usageError(`unknown command ${command}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => fail((err as Error).stack ?? String(err), 1));
