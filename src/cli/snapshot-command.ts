import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { builtinApps } from '../apps/registry.js';
import { formatApp } from '../config/app-identity.js';
import type { App } from '../rsm/app.js';
import { formatViewstamp } from '../rsm/viewstamp.js';
import { maxHeaderBytes } from './snapshot-file.js';
import { AppModuleLoadError, loadAppModule } from './app-module.js';
import { clientTlsOf, clientTlsOptions, clientTlsUsage } from './tls-flags.js';
import { type Command, UsageError, checkedAddress, clusterOption, fail, noMorePositionals, parse, positiveInteger } from './args.js';

export const snapshotUsage = `  synod snapshot save HOST:PORT FILE [--cluster NAME] [--timeout-ms MS] [--tls-ca FILE [--tls-cert FILE --tls-key FILE]]
  synod snapshot save --from-data-dir DIR FILE [--app NAME | --app-module PATH[#EXPORT]]
  synod snapshot restore FILE --data-dir DIR --me HOST:PORT [--app NAME | --app-module PATH[#EXPORT]] [--cluster NAME]
  save HOST:PORT FILE: asks the node at HOST:PORT (any member) where the serving primary is and
  saves a consistent copy of the replicated state (client table and the app's state, at one
  viewstamp, with the cluster id and the app) from it to FILE, through the node's snapshot
  service on its main port. FILE is written beside itself and renamed into place once whole and
  on disk, with a checksum; a failed save leaves FILE as it was. Progress goes to standard error.
  --timeout-ms bounds the whole save (default 60000; a view change is waited out).
${clientTlsUsage}
  save --from-data-dir DIR FILE: FORCE RECOVERY, for when a majority of the cluster is gone for
  good. Reads the state a STOPPED node left in DIR (its snapshot and log, replayed as the node
  would; DIR is only read) and saves it to FILE. It may lose acknowledged requests: those the
  node did not hold (executed after its last durable record, or in views it was not a member
  of). Use the most advanced survivor (the highest "last executed" in synod status before it
  stopped, or try each and compare the viewstamps printed).
  restore FILE --data-dir DIR --me HOST:PORT: seeds a NEW cluster from FILE: checks the file
  (format, checksum, the app), makes a new cluster id, and writes DIR as the data directory of
  the new cluster's first node, HOST:PORT, holding FILE's state (the client table and the app's
  state, e.g. the lock service's fencing counter, as they were). DIR must not exist or be empty;
  nothing existing is touched. Then start it: synod node --me HOST:PORT --first HOST:PORT
  --data-dir DIR --app NAME (or synod lock-server ...); other nodes join it as usual, with fresh
  data directories. --app defaults to the built-in app FILE names; --cluster names the new
  cluster (default synod@HOST:PORT).
  Exit status: 0 done; 1 refused or failed (a damaged or truncated file, another app's state, an
  occupied data directory, a node that cannot be reached), with a message naming the file and
  what is wrong; 2 for usage errors.`;

/** The app named by --app / --app-module, or else the built-in app called `fallback`. */
async function appFor(values: Record<string, unknown>, fallback: AppNamed, where: string): Promise<App<unknown>> {
  const name = values['app'] as string | undefined;
  const module = values['app-module'] as string | undefined;
  if (name !== undefined && module !== undefined) throw new UsageError('--app and --app-module exclude each other: give one');
  if (module !== undefined) {
    try {
      return await loadAppModule(module);
    } catch (err) {
      if (err instanceof AppModuleLoadError) fail(err.message, 1);
      throw err;
    }
  }
  if (name === undefined && typeof fallback === 'object' && fallback !== null) fail(fallback.unreadable, 1);
  const chosen = name ?? (typeof fallback === 'string' ? fallback : null);
  const builtin = chosen === null ? undefined : builtinApps[chosen];
  if (builtin === undefined) {
    throw new UsageError(name !== undefined
      ? `unknown --app ${name}; built in: ${Object.keys(builtinApps).join(', ')} (your own: --app-module)`
      : `${where} names no built-in app${fallback === null ? '' : ` (it holds ${fallback})`}: give --app-module PATH of its app`);
  }
  return builtin.app;
}

/**
 * What a backup file's header line or a data directory's identity names as its app: the name,
 * null when it names none, or why it cannot be read or parsed (without --app or --app-module that
 * is the error, exit 1; with one, the real checks say what is wrong).
 */
type AppNamed = string | null | { readonly unreadable: string };

function appNamed(path: string, what: 'backup' | 'data-dir'): AppNamed {
  const file = what === 'backup' ? path : join(path, 'identity.json');
  let text: string;
  try {
    const fd = openSync(file, 'r');
    try {
      const head = Buffer.alloc(maxHeaderBytes);
      text = head.subarray(0, readSync(fd, head, 0, head.length, 0)).toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    return { unreadable: `cannot read ${what === 'backup' ? 'the snapshot file' : 'the data directory\'s identity'} ${file}: ${(err as Error).message}` };
  }
  try {
    const app = (JSON.parse(what === 'backup' ? text.split('\n')[0]! : text) as { app?: { name?: unknown } }).app;
    return typeof app?.name === 'string' ? app.name : null;
  } catch (err) {
    return { unreadable: `${file} is damaged: its ${what === 'backup' ? 'header line' : 'content'} is not JSON (${(err as Error).message})` };
  }
}

async function runSave(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    'from-data-dir': { type: 'string' }, cluster: { type: 'string' }, 'timeout-ms': { type: 'string' },
    app: { type: 'string' }, 'app-module': { type: 'string' }, ...clientTlsOptions,
  });
  const dataDir = values['from-data-dir'] as string | undefined;
  for (const flag of dataDir === undefined ? ['app', 'app-module'] : ['cluster', 'timeout-ms', 'tls-ca', 'tls-cert', 'tls-key']) {
    if (values[flag] !== undefined) {
      throw new UsageError(`--${flag} applies to ${dataDir === undefined ? 'save --from-data-dir DIR' : 'save HOST:PORT'} only`);
    }
  }
  if (dataDir !== undefined) {
    const file = positionals[0];
    if (file === undefined) throw new UsageError('give the FILE to write');
    noMorePositionals(positionals, 1);
    const app = await appFor(values, appNamed(dataDir, 'data-dir'), `--from-data-dir ${dataDir}`);
    const { readOfflineState } = await import('./snapshot-offline.js');
    const { writeBackupFile } = await import('./snapshot-file.js');
    let s;
    try {
      s = readOfflineState(dataDir, app);
      writeBackupFile(file, { clusterId: s.clusterId, app: s.app, vs: s.vs, node: s.me, source: 'data-dir', savedAt: new Date().toISOString() }, s.state);
    } catch (err) {
      return fail((err as Error).message, 1);
    }
    process.stderr.write(`synod: FORCE RECOVERY: saved what ${s.me} held when it stopped, at viewstamp ${formatViewstamp(s.vs)} ` +
      `(last synced view ${s.syncedVid ?? 'none'}). Requests acknowledged after that, or in views this node was not a member of, ` +
      'are NOT in this snapshot and will be lost if it is restored: if any other survivor holds a later viewstamp, save from it instead.\n');
    process.stdout.write(`saved ${file}: cluster ${s.clusterId}, ${formatApp(s.app)}, viewstamp ${formatViewstamp(s.vs)}, ${s.state.length} state bytes, from the data directory of ${s.me}\n`);
    return;
  }
  const node = checkedAddress(positionals[0], 'the node\'s address (HOST:PORT)');
  const file = positionals[1];
  if (file === undefined) throw new UsageError('give the FILE to write after the node\'s address');
  noMorePositionals(positionals, 2);
  const cluster = clusterOption(values['cluster'] as string | undefined);
  const deadlineMs = positiveInteger(values['timeout-ms'] as string | undefined, '--timeout-ms');
  const tls = clientTlsOf(values);
  const { saveSnapshot } = await import('./snapshot-save.js');
  try {
    const h = await saveSnapshot(node, file, { cluster, deadlineMs, tls, progress: (line) => process.stderr.write(`synod: ${line}\n`) });
    process.stdout.write(`saved ${file}: cluster ${h.clusterId}, ${formatApp(h.app)}, viewstamp ${formatViewstamp(h.vs)}, ${h.stateBytes} state bytes, from the primary ${h.node}\n`);
  } catch (err) {
    return fail((err as Error).message, 1);
  }
}

async function runRestore(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    'data-dir': { type: 'string' }, me: { type: 'string' }, cluster: { type: 'string' }, app: { type: 'string' }, 'app-module': { type: 'string' },
  });
  const file = positionals[0];
  if (file === undefined) throw new UsageError('give the snapshot FILE to restore');
  noMorePositionals(positionals, 1);
  const dataDir = values['data-dir'] as string | undefined;
  if (dataDir === undefined) throw new UsageError('--data-dir is required');
  const me = checkedAddress(values['me'] as string | undefined, '--me');
  const cluster = clusterOption(values['cluster'] as string | undefined);
  const app = await appFor(values, appNamed(file, 'backup'), file);
  const { restoreSnapshot } = await import('./snapshot-restore.js');
  let r;
  try {
    r = restoreSnapshot({ file, dataDir, me, cluster, app });
  } catch (err) {
    return fail((err as Error).message, 1);
  }
  const h = r.header;
  process.stdout.write(`restored ${file} (cluster ${h.clusterId}, ${formatApp(h.app)}, viewstamp ${formatViewstamp(h.vs)}, ${r.clients} clients) ` +
    `into ${dataDir}: a new cluster ${JSON.stringify(r.cluster)} with id ${r.clusterId}, first node ${me}.\n` +
    `start it: synod node --me ${me} --first ${me} --data-dir ${dataDir} ` +
    `${values['app-module'] === undefined ? `--app ${app.name}` : `--app-module ${values['app-module'] as string}`}\n`);
}

async function runSnapshot(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'save') return runSave(rest);
  if (sub === 'restore') return runRestore(rest);
  throw new UsageError(sub === undefined ? 'give save or restore' : `unknown snapshot command ${sub}; give save or restore`);
}

export const snapshotCommand: Command = { name: 'snapshot', usage: snapshotUsage, run: runSnapshot };
