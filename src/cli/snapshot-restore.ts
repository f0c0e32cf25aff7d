/**
 * `synod snapshot restore`: seeds a new cluster's first node from a backup file.
 *
 * What the restored data directory holds, and why the node then serves that state:
 * - `identity.json` (`checkIdentity(...).record()`): this node is the cluster's first node
 *   (`first = me`), a new cluster id, the app. Recorded, so the node's first start is a later
 *   life of the directory (`firstLife` false).
 * - `rsm.snapshot`, in the format the replica's store writes (`RsmStore`: `encodeSnapshotFile`
 *   inside the checksummed snapshot file, `FileSnapshot`), naming log generation 0 and synced
 *   view 1, with the state stream re-stamped at viewstamp (0, 0): the same situation as a first
 *   node that created its cluster (genesis: the initial state at (0, 0), the state of view 1) and
 *   restarted before anyone joined, except that the state is the backup's. The old cluster's
 *   viewstamps mean nothing in the new one, and the new view 1 numbers its requests 1.1, 1.2, …
 *   after (0, 0) (a replay refuses a log whose first record does not follow its snapshot).
 * - no Paxos log: view 1 is `[first]` by construction.
 * At start (`NodeStack`): Paxos knows view 1 = [me]; config finds itself the only member of its
 * view after a restart and carries on; the replica restores the snapshot (its state complete in
 * view 1: synced there, a member since) and serves as primary. The client table (at-most-once
 * for the clients that come back) and the app's state (e.g. the lock service's fencing counter)
 * are the backup's, untouched; only the viewstamp changes.
 *
 * Nothing is written into the target directory until everything is checked: the files are
 * made in a sibling staging directory, which is renamed into place at the end (an empty
 * target directory is replaced; one that holds anything is refused up front).
 */
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { NodeId } from '../env/types.js';
import { silentLogger } from '../env/logger.js';
import { InvalidMessageError } from '../env/errors.js';
import { type AppIdentity, compatibleApps, formatApp } from '../config/app-identity.js';
import { checkIdentity } from '../node/identity.js';
import type { App } from '../rsm/app.js';
import { AppGuard } from '../rsm/app-guard.js';
import { encodeSnapshotFile } from '../rsm/durable-records.js';
import { rsmStoreName } from '../rsm/rsm-layer.js';
import { type DecodedState, SnapshotReader, encodeWhole } from '../rsm/snapshot-format.js';
import { crc32 } from '../runtime/crc32.js';
import { fsyncDir, mkdirDurable, writeFileDurable } from '../runtime/durable-fs.js';
import { snapshotHeader, snapshotHeaderBytes } from '../runtime/file-snapshot.js';
import { type BackupHeader, BackupFileError, readBackupFile } from './snapshot-file.js';

/** The target data directory already holds something: restoring there could mix two nodes' data. */
export class DataDirOccupiedError extends Error {
  override readonly name = 'DataDirOccupiedError';
  constructor(readonly dataDir: string, readonly what: string) {
    super(`--data-dir ${dataDir} ${what}; restore seeds a new node and never touches existing data: give a new (or empty) directory`);
  }
}

/** The backup holds another app's state than the one the restored node will run. */
export class BackupAppMismatchError extends Error {
  override readonly name = 'BackupAppMismatchError';
  constructor(readonly file: string, readonly stored: AppIdentity, readonly given: AppIdentity) {
    super(`${file} holds the state of ${formatApp(stored)}, but the node would run ${formatApp(given)}: ` +
      `restore it with --app ${stored.name} (or the --app-module of a compatible version)`);
  }
}

export interface RestoreRequest {
  readonly file: string;
  readonly dataDir: string;
  readonly me: NodeId;
  /** The new cluster's name; default `synod@<me>`, as a new first node's. */
  readonly cluster?: string;
  readonly app: App<unknown>;
}

export interface Restored {
  readonly header: BackupHeader;
  readonly clusterId: string;
  readonly cluster: string;
  readonly clients: number;
}

/** Checks everything, then writes the new data directory; throws (writing nothing there) on any problem. */
export function restoreSnapshot(req: RestoreRequest): Restored {
  const dataDir = resolve(req.dataDir);
  checkEmpty(dataDir);
  const { header, state } = readBackupFile(req.file);
  const given: AppIdentity = { name: req.app.name, version: req.app.version };
  if (!compatibleApps(header.app, given)) throw new BackupAppMismatchError(req.file, header.app, given);
  const decoded = decodeState(req.file, state);
  const app = new AppGuard(req.app, silentLogger).unmarshal(decoded.app);
  if (!app.ok) throw new BackupFileError(req.file, `the app ${formatApp(given)} cannot unmarshal the state it holds: ${String(app.reason)}`);

  const restamped = encodeWhole({ vid: 0, seqno: 0 }, decoded.table, decoded.app);
  // The restored node is the new cluster's first member: normal in view 1.
  const payload = encodeSnapshotFile({ gen: 0, syncedVid: 1 }, restamped);
  const contents = new Uint8Array(snapshotHeaderBytes + payload.length);
  contents.set(snapshotHeader(payload.length, crc32(payload)), 0);
  contents.set(payload, snapshotHeaderBytes);

  mkdirDurable(dirname(dataDir));
  const staging = join(dirname(dataDir), `.${basename(dataDir)}.restoring-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  try {
    const identity = checkIdentity(staging, { me: req.me, first: req.me, cluster: req.cluster, app: given, newClusterId: randomUUID });
    writeFileDurable(join(staging, `${rsmStoreName}.snapshot`), contents);
    identity.record();
    fsyncDir(staging);
    checkEmpty(dataDir); // again: nothing may have appeared meanwhile
    renameSync(staging, dataDir);
    fsyncDir(dirname(dataDir));
    return { header, clusterId: identity.identity.clusterId!, cluster: identity.identity.cluster, clients: decoded.table.size };
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
}

/** Refuses a path that is a file, or a directory holding anything. */
function checkEmpty(dataDir: string): void {
  if (!existsSync(dataDir)) return;
  if (!statSync(dataDir).isDirectory()) throw new DataDirOccupiedError(dataDir, 'is not a directory');
  const held = readdirSync(dataDir);
  if (held.length > 0) {
    throw new DataDirOccupiedError(dataDir, `already holds ${held.includes('identity.json') ? 'a node\'s data' : 'files'} (${held.slice(0, 5).join(', ')}${held.length > 5 ? ', …' : ''})`);
  }
}

/** The state stream of a backup, read back whole and checked entry by entry. */
export function decodeState(file: string, state: Uint8Array): DecodedState {
  try {
    const reader = new SnapshotReader(Math.max(state.length, 1));
    reader.push(state);
    return reader.result();
  } catch (err) {
    if (!(err instanceof InvalidMessageError)) throw err;
    throw new BackupFileError(file, `its state stream is damaged: ${err.message}`);
  }
}
