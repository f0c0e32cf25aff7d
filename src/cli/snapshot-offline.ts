/**
 * `synod snapshot save --from-data-dir DIR FILE`: force recovery's first step. Reads the
 * replicated state a stopped node left in its data directory, exactly as that node would at its
 * next start (`RsmStore.load`, then `ReplicatedState.restore`: the newest snapshot and the log
 * behind it, replayed), and returns it as the state stream a backup file holds.
 *
 * The survivor's directory is never written: loading may cut a torn log tail or remove a stale
 * temporary file or an old log generation, so the RSM's files are copied to a temporary
 * directory first and loaded there.
 *
 * What it cannot know: whether this node held every acknowledged request. A replica holds what
 * it executed; a request acknowledged in a view it was not a member of (it had been removed),
 * or after its last durable record, is not in its state. Only the most advanced survivor's
 * state is the cluster's, and only a state that was complete (see `completeIn`) surely holds
 * everything acknowledged; the command says so.
 */
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../env/logger.js';
import { type AppIdentity, compatibleApps, formatApp } from '../config/app-identity.js';
import type { App } from '../rsm/app.js';
import { AppGuard } from '../rsm/app-guard.js';
import { ReplicatedState } from '../rsm/execution.js';
import { rsmStoreName } from '../rsm/rsm-layer.js';
import { RsmStore } from '../rsm/rsm-store.js';
import type { Viewstamp } from '../rsm/viewstamp.js';
import { rsmOptions } from '../options.js';
import { legacyClusterId } from '../node/identity.js';
import { dataDirStorage } from '../runtime/data-dir-storage.js';
import { BackupAppMismatchError } from './snapshot-restore.js';

/** The data directory given cannot be read as a node's: `message` names it and what is wrong. */
export class DataDirReadError extends Error {
  override readonly name = 'DataDirReadError';
  constructor(readonly dataDir: string, readonly reason: string) {
    super(`--from-data-dir ${dataDir}: ${reason}`);
  }
}

export interface OfflineState {
  readonly me: string;
  readonly clusterId: string;
  readonly app: AppIdentity;
  readonly vs: Viewstamp;
  /** The last view this state was the state of (its replica normal there); null: never. */
  readonly syncedVid: number | null;
  readonly state: Uint8Array;
}

/** Reads the state of the stopped node whose data directory is `dataDir`, running `app`; throws naming what is wrong. */
export function readOfflineState(dataDir: string, app: App<unknown>): OfflineState {
  const identity = readIdentityFile(dataDir);
  const given: AppIdentity = { name: app.name, version: app.version };
  if (identity.app !== null && !compatibleApps(identity.app, given)) throw new BackupAppMismatchError(dataDir, identity.app, given);
  const files = readdirSync(dataDir).filter((f) => f === `${rsmStoreName}.snapshot` || (f.startsWith(`${rsmStoreName}-`) && f.endsWith('.log')));
  if (files.length === 0) throw new DataDirReadError(dataDir, 'holds no replicated state (no rsm.snapshot, no rsm-<gen>.log): a node without an app, or one that never held a state');
  const copy = mkdtempSync(join(tmpdir(), 'synod-force-recovery-'));
  let store: RsmStore | null = null;
  try {
    for (const f of files) copyFileSync(join(dataDir, f), join(copy, f));
    store = new RsmStore({ name: rsmStoreName, logger: silentLogger, world: dataDirStorage(copy, { logger: silentLogger }) });
    let durable;
    try {
      durable = store.load();
    } catch (err) {
      throw new DataDirReadError(dataDir, `its replicated state is damaged: ${(err as Error).message}`);
    }
    const o = rsmOptions(undefined);
    const held = new ReplicatedState(new AppGuard(app, silentLogger), silentLogger, {}, false,
      { retentionMs: o.clientRetentionMs, maxClients: o.maxClients, evictableAfterMs: o.clientEvictableAfterMs },
      { requests: 1, bytes: 1 }); // nothing is served from here: keep no recent requests
    try {
      held.restore(durable, o.maxStateTransferBytes);
    } catch (err) {
      throw new DataDirReadError(dataDir, `its replicated state cannot be rebuilt: ${(err as Error).message}`);
    }
    const record = held.snapshotRecord('compaction');
    if (record === null || held.last === null) {
      throw new DataDirReadError(dataDir, `holds no replicated state ${held.last === null ? '(nothing was ever executed or copied here)' : `(${formatApp(given)} cannot marshal it)`}`);
    }
    return { me: identity.me, clusterId: identity.clusterId, app: given, vs: held.last, syncedVid: held.syncedVid, state: record.state };
  } finally {
    // Nothing was appended, so closing flushes nothing; its handles go with the process. A
    // rejection must not surface later as an unhandled one after the command succeeded.
    void store?.close().catch(() => {});
    rmSync(copy, { recursive: true, force: true });
  }
}

function readIdentityFile(dataDir: string): { me: string; clusterId: string; app: AppIdentity | null } {
  const path = join(dataDir, 'identity.json');
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new DataDirReadError(dataDir, `no readable identity.json (${(err as Error).message}): not a node's data directory`);
  }
  const app = o['app'] as { name?: unknown; version?: unknown } | null | undefined;
  return {
    me: String(o['me'] ?? ''),
    clusterId: typeof o['clusterId'] === 'string' ? o['clusterId'] : legacyClusterId(String(o['cluster'] ?? '')),
    app: app === null || app === undefined || typeof app.name !== 'string' || typeof app.version !== 'string' ? null : { name: app.name, version: app.version },
  };
}
