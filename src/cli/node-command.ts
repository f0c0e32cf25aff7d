import { builtinApps } from '../apps/registry.js';
import { JoinRefusedError } from '../config/app-identity.js';
import { type NodeApp, SynodNode, defaultControlAddress } from '../node/synod-node.js';
import { createLogger } from '../runtime/logging.js';
import type { RsmMutations } from '../rsm/replica.js';
import { AppModuleLoadError, loadAppModule } from './app-module.js';
import { readNodeOptions } from './options-file.js';
import { nodeTlsFiles, nodeTlsOptions, nodeTlsUsage } from './tls-flags.js';
import {
  type Command, type OptionSpec, UsageError, checkedAddress, clusterOption, fail, logLevelOption, noMorePositionals, parse,
  positiveInteger,
} from './args.js';

const nodeExitStatus = `  Exit status: 0 after SIGTERM or SIGINT (a graceful stop); 1 when the node refuses to start or
  the cluster refuses it (a data directory of another node, cluster or app, a corrupt log, a port
  in use, another app than the cluster's at join, an app module that does not load); 2 for usage
  errors.`;

const commonFlags = `  --first names the cluster's first node (view 1) for a new data directory: the node whose --me it
  is creates the cluster with a new cluster id, unless --join names live members (a first node
  whose data directory was lost rejoins that way, as a new member). A data directory keeps its
  cluster's first node, name and id; on a restart of an intact one --first is only a contact. A
  wiped node restarts with the same --first as before (the cluster's first node) and --join. --join
  adds contacts (any live members) to ask when joining. --cluster names the cluster of a new data
  directory (default synod@<first>); afterwards it may be left out, and another name is refused.
  --control serves the test control service on 127.0.0.1, the node's port + 1 (or on
  --control-address, with a warning when that is not loopback): never in production; every
  control request must name the node's cluster and cluster id. --session-timeout-ms applies to
  apps with callbacks: an owner holding or waiting for something that has had no callback stream
  for that long is expired (default 5000, CallbackOptions). --options FILE sets any of the node's
  tunables from a JSON object of districts (paxos, config, rsm, callbacks, transport, leases, observe, feeds), each an
  object of options named as in docs/operations.md, e.g. {"config": {"suspectAfterMissed": 10}};
  an unknown name or a value of the wrong type is a usage error. --session-timeout-ms wins over
  the file's callbacks.sessionTimeoutMs. --metrics-address HOST:PORT serves Prometheus metrics
  (/metrics), /healthz, /readyz (200 only while the node is a normal replica of a serving view)
  and the live status page (/status, /status.json) over HTTP (default: off; see
  docs/operations.md). The gRPC health service (grpc.health.v1) is on the node's port always. --client-retention-ms, --max-clients,
  --client-evictable-after-ms and --client-table-sweep-ms bound the client table (defaults 6 h,
  100000, 5 min, 10 s; RsmOptions; they win over the file's rsm values); the serving primary's
  values are the ones in force.
${nodeTlsUsage}`;

export const nodeUsage = `  synod node --me HOST:PORT --first HOST:PORT [--join HOST:PORT[,HOST:PORT...]] --data-dir DIR
             [--app NAME | --app-module PATH[#EXPORT]] [--cluster NAME] [--control] [--control-address HOST:PORT]
             [--session-timeout-ms MS] [--options FILE] [--client-retention-ms MS] [--max-clients N]
             [--client-evictable-after-ms MS] [--client-table-sweep-ms MS] [--metrics-address HOST:PORT]
             [--log-level debug|info|warn|error|silent] [--log-file FILE]
             [--tls-cert FILE --tls-key FILE --tls-ca FILE [--tls-client-ca FILE]]
  Runs one node. Without an app it runs Paxos and config only. --app runs a replica of a
  built-in app (${Object.keys(builtinApps).join(', ')}); --app-module runs one of your own: PATH, relative to the working
  directory, is imported, and its default export (or the export named EXPORT) must be an app
  made with defineApp. The app's name and version are part of the cluster: a node with
  another app is refused when it asks to join, and a data directory keeps the app it was
  created with.
${commonFlags}
${nodeExitStatus}`;

export const lockServerUsage = `  synod lock-server --me HOST:PORT --first HOST:PORT [--join HOST:PORT[,HOST:PORT...]] --data-dir DIR
             [--cluster NAME] [--control] [--control-address HOST:PORT] [--session-timeout-ms MS] [--options FILE]
             [--client-retention-ms MS] [--max-clients N] [--client-evictable-after-ms MS] [--client-table-sweep-ms MS]
             [--metrics-address HOST:PORT] [--log-level debug|info|warn|error|silent] [--log-file FILE]
             [--tls-cert FILE --tls-key FILE --tls-ca FILE [--tls-client-ca FILE]]
  Runs one node of the replicated lock service: synod node --app lock. Lock clients call it
  through the client service (synod.rsm.Client) and keep a callback stream (synod.rsm.Callbacks)
  open to the primary.
${commonFlags}
${nodeExitStatus}`;

/**
 * `--test-mutate NAME` (repeatable, left out of the usage: for tests only): switches on a
 * test-only RSM mutation that breaks the protocol on purpose, so that a test can prove its
 * checker catches the breakage on real processes. Only with the control service (a test node).
 */
function parseTestMutations(names: string[] | undefined, control: boolean): RsmMutations | undefined {
  if (names === undefined || names.length === 0) return undefined;
  if (!control) throw new UsageError('--test-mutate needs --control (test nodes only)');
  const known: Record<string, keyof RsmMutations> = {
    'reply-before-all-acks': 'replyBeforeAllAcks',
    'execute-out-of-order': 'executeOutOfOrder',
    'no-client-table': 'noClientTable',
    'no-expired-refusal': 'noExpiredRefusal',
  };
  const mutations: { -readonly [K in keyof RsmMutations]: boolean } = {};
  for (const name of names) {
    const key = known[name];
    if (key === undefined) throw new UsageError(`unknown --test-mutate ${name}; known: ${Object.keys(known).join(', ')}`);
    mutations[key] = true;
  }
  return mutations;
}

/**
 * `--test-memory-only-rsm` (left out of the usage: for the durability benchmark only, `npm run
 * bench -- durability`): the replicated state is kept in memory only, as before it was durable,
 * so the benchmark can measure what durability costs on the same build. Like `--test-mutate` it
 * needs the control service (a test node), and it says so loudly on stderr: a node started with
 * it loses every acknowledged request when its processes die.
 */
function parseMemoryOnlyRsm(given: boolean, control: boolean): boolean {
  if (!given) return false;
  if (!control) throw new UsageError('--test-memory-only-rsm needs --control (test nodes only)');
  process.stderr.write('WARNING: --test-memory-only-rsm: this node keeps the replicated state in memory only; ' +
    'acknowledged requests are lost when its processes die. For benchmarks, never in production.\n');
  return true;
}

/** The app named by --app or --app-module (they exclude each other), or undefined for none. */
async function chooseApp(app: string | undefined, appModule: string | undefined): Promise<NodeApp<unknown> | undefined> {
  if (app !== undefined && appModule !== undefined) throw new UsageError('--app and --app-module exclude each other: give one');
  if (app !== undefined) {
    const builtin = builtinApps[app];
    if (builtin === undefined) throw new UsageError(`unknown --app ${app}; built in: ${Object.keys(builtinApps).join(', ')} (your own: --app-module)`);
    return builtin;
  }
  if (appModule === undefined) return undefined;
  try {
    return { app: await loadAppModule(appModule) };
  } catch (err) {
    if (err instanceof AppModuleLoadError) fail(err.message, 1);
    throw err;
  }
}

/** `synod node`, and `synod lock-server` (`fixedApp` = 'lock': the same node, without --app). */
async function runNode(args: string[], fixedApp?: string): Promise<void> {
  const spec: OptionSpec = {
    me: { type: 'string' },
    first: { type: 'string' },
    join: { type: 'string' },
    'data-dir': { type: 'string' },
    cluster: { type: 'string' },
    ...(fixedApp === undefined ? { app: { type: 'string' as const }, 'app-module': { type: 'string' as const } } : {}),
    control: { type: 'boolean' },
    'control-address': { type: 'string' },
    'metrics-address': { type: 'string' },
    'session-timeout-ms': { type: 'string' },
    'client-retention-ms': { type: 'string' },
    'max-clients': { type: 'string' },
    'client-evictable-after-ms': { type: 'string' },
    'client-table-sweep-ms': { type: 'string' },
    'log-level': { type: 'string' },
    'log-file': { type: 'string' },
    'options': { type: 'string' },
    'test-mutate': { type: 'string', multiple: true },
    'test-memory-only-rsm': { type: 'boolean' },
    ...nodeTlsOptions,
  };
  const { values, positionals } = parse(args, spec);
  noMorePositionals(positionals, 0);
  const me = checkedAddress(values['me'] as string | undefined, '--me');
  const first = checkedAddress(values['first'] as string | undefined, '--first');
  const dataDir = values['data-dir'] as string | undefined;
  if (dataDir === undefined) throw new UsageError('--data-dir is required');
  const join = values['join'] === undefined ? undefined
    : (values['join'] as string).split(',').map((a) => checkedAddress(a, '--join'));
  // Absent: the data directory's (synod@<first> for a new one); SynodNode resolves it.
  const cluster = clusterOption(values['cluster'] as string | undefined);
  const level = logLevelOption(values['log-level'] as string | undefined);
  const controlAddress = values['control-address'] !== undefined
    ? checkedAddress(values['control-address'] as string, '--control-address')
    : values['control'] === true ? defaultControlAddress(me) : undefined;
  const tls = nodeTlsFiles(values);
  const sessionTimeoutMs = positiveInteger(values['session-timeout-ms'] as string | undefined, '--session-timeout-ms');
  const tunables = values['options'] === undefined ? {} : readNodeOptions(values['options'] as string);
  const table = (flag: string): number | undefined => positiveInteger(values[flag] as string | undefined, `--${flag}`);
  const tableFlags = {
    clientRetentionMs: table('client-retention-ms'),
    maxClients: table('max-clients'),
    clientEvictableAfterMs: table('client-evictable-after-ms'),
    clientTableSweepMs: table('client-table-sweep-ms'),
  };
  // A flag wins over the file; flags not given leave the file's values.
  const rsm = { ...tunables.rsm, ...Object.fromEntries(Object.entries(tableFlags).filter(([, v]) => v !== undefined)) };
  const testMutations = parseTestMutations(values['test-mutate'] as string[] | undefined, controlAddress !== undefined);
  const testMemoryOnlyRsm = parseMemoryOnlyRsm(values['test-memory-only-rsm'] === true, controlAddress !== undefined);
  // Last: every flag is checked before a module of the user's is run.
  const app = await chooseApp(fixedApp ?? (values['app'] as string | undefined), values['app-module'] as string | undefined);
  const logger = createLogger({ level, file: values['log-file'] as string | undefined, base: { node: me } });
  const refused = (err: unknown): never => {
    logger.error({ err }, 'node refused to start');
    return fail(err instanceof JoinRefusedError ? err.message : `node ${me} refused to start: ${(err as Error).message}`, 1);
  };
  let node: SynodNode;
  try {
    node = await SynodNode.start({
      me,
      first,
      join,
      cluster,
      dataDir,
      logger,
      app,
      paxos: tunables.paxos,
      config: tunables.config,
      rsm,
      transport: tunables.transport,
      observe: tunables.observe,
      leases: tunables.leases,
      feeds: tunables.feeds,
      callbacks: sessionTimeoutMs === undefined ? tunables.callbacks : { ...tunables.callbacks, sessionTimeoutMs },
      controlAddress,
      tls,
      metricsAddress: values['metrics-address'] === undefined ? undefined : checkedAddress(values['metrics-address'] as string, '--metrics-address'),
      testMutations,
      testMemoryOnlyRsm,
      // The node closed itself already: it can never be a member of this cluster.
      onJoinRefused: refused,
    });
  } catch (err) {
    return refused(err);
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

export const nodeCommand: Command = { name: 'node', usage: nodeUsage, run: (args) => runNode(args) };
export const lockServerCommand: Command = { name: 'lock-server', usage: lockServerUsage, run: (args) => runNode(args, 'lock') };
