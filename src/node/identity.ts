import { existsSync, readFileSync } from 'node:fs';
import { mkdirDurable, writeFileDurable } from '../runtime/durable-fs.js';
import { join } from 'node:path';
import type { NodeId } from '../env/types.js';
import { type AppIdentity, appNameProblem, appVersionProblem, compatibleApps, describeMismatch, formatApp } from '../config/app-identity.js';

/** The data directory belongs to another node or another cluster: starting would corrupt both. */
export class DataDirMismatchError extends Error {
  override readonly name = 'DataDirMismatchError';
  constructor(
    readonly dataDir: string,
    readonly field: 'me' | 'first' | 'cluster',
    readonly stored: string,
    readonly given: string,
  ) {
    super(`data directory ${dataDir} was created with --${field} ${stored}, but this node was started with ` +
      `--${field} ${given}. Start it with the same --me, --first and --cluster as before, or give it a fresh --data-dir.`);
  }
}

/**
 * The data directory was created by a node running another app (or an incompatible version of
 * it, see `compatibleApps`): its logs hold that app's state and requests, which this app cannot
 * replay.
 */
export class DataDirAppMismatchError extends Error {
  override readonly name = 'DataDirAppMismatchError';
  constructor(
    readonly dataDir: string,
    readonly stored: AppIdentity | null,
    readonly given: AppIdentity | null,
  ) {
    super(`data directory ${dataDir} was created by a node running ${formatApp(stored)}, but this node runs ` +
      `${formatApp(given)} (${describeMismatch(stored, given)}). Start it with ${stored === null ? 'no app' : `${stored.name} ` +
      `${stored.version.split('.')[0]}.x`} as before, or give it a fresh --data-dir.`);
  }
}

/** The data directory's identity file cannot be read: refuse to guess whose data this is. */
export class IdentityFileError extends Error {
  override readonly name = 'IdentityFileError';
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`cannot read ${file}: ${reason}. It names the node and cluster this data directory belongs to; ` +
      'restore it, or give the node a fresh --data-dir.');
  }
}

export interface NodeIdentity {
  readonly me: NodeId;
  readonly first: NodeId;
  readonly cluster: string;
  /** The app the node runs (null: none). */
  readonly app: AppIdentity | null;
}

const identityFile = 'identity.json';

/**
 * Binds a data directory to one node address, one first node, one cluster name and one app at
 * the first start, and refuses a later start that names others: replaying a log under the wrong
 * identity would make an acceptor answer for promises it never made, and another app would
 * replay requests it does not understand into a state it cannot read (`compatibleApps`: the same
 * app and version). A file written before identities named the app is accepted and upgraded with
 * the app given now.
 *
 * What this cannot catch: a member whose data directory was wiped (or lost) starts as a brand
 * new node, and its acceptor has forgotten its promises, which can break Paxos' agreement.
 * Never wipe the data directory of a node that is still a member; remove it first.
 *
 * For a data directory without an identity yet, nothing is written here: `firstLife` is true, and
 * the caller `record`s the identity once the node could claim its address (its port is bound),
 * so that a start that fails before it could serve (a port in use) leaves the directory new,
 * and the first node's next start still creates the cluster. Once recorded, every later start
 * is a later life (whatever the process did in memory before it died is gone).
 */
export interface IdentityCheck {
  /** No identity was recorded before: this is the data directory's first life. */
  readonly firstLife: boolean;
  /** Records the identity (durably) if it is new; a no-op otherwise. */
  record(): void;
}

export function checkIdentity(dataDir: string, given: NodeIdentity): IdentityCheck {
  // A directory created now must survive a power loss too (with the promises later kept in it).
  mkdirDurable(dataDir);
  const path = join(dataDir, identityFile);
  if (existsSync(path)) {
    let stored: Record<string, unknown>;
    try {
      const parsed = JSON.parse(readFileSync(path, 'utf8')) as unknown;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
      stored = parsed as Record<string, unknown>;
    } catch (err) {
      throw new IdentityFileError(path, (err as Error).message);
    }
    for (const field of ['me', 'first', 'cluster'] as const) {
      if (stored[field] !== given[field]) throw new DataDirMismatchError(dataDir, field, String(stored[field]), given[field]);
    }
    if (!('app' in stored)) {
      writeIdentity(path, given);
      return { firstLife: false, record: () => {} };
    }
    const app = storedApp(stored['app'], path);
    if (!compatibleApps(app, given.app)) throw new DataDirAppMismatchError(dataDir, app, given.app);
    return { firstLife: false, record: () => {} };
  }
  return { firstLife: true, record: () => writeIdentity(path, given) };
}

function storedApp(v: unknown, path: string): AppIdentity | null {
  if (v === null) return null;
  const o = typeof v === 'object' && !Array.isArray(v) ? v as Record<string, unknown> : {};
  const problem = appNameProblem(o['name']) ?? appVersionProblem(o['version']);
  if (problem !== null) throw new IdentityFileError(path, `its app is not a name and a version (${problem})`);
  return { name: o['name'] as string, version: o['version'] as string };
}

/** Writes the identity file durably (`writeFileDurable`: temp file, fsync, rename, fsync of the directory). */
function writeIdentity(path: string, identity: NodeIdentity): void {
  const app = identity.app === null ? null : { name: identity.app.name, version: identity.app.version };
  writeFileDurable(path, `${JSON.stringify({ me: identity.me, first: identity.first, cluster: identity.cluster, app })}\n`);
}
