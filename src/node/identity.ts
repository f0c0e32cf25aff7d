import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdirDurable, writeFileDurable } from '../runtime/durable-fs.js';
import { join } from 'node:path';
import { type MemberId, type NodeId, memberId } from '../env/types.js';
import { defaultClusterName } from '../env/cluster-name.js';
import { limits } from '../options.js';
import { type AppIdentity, appNameProblem, appVersionProblem, compatibleApps, describeMismatch, formatApp } from '../config/app-identity.js';

/** The data directory belongs to another node or another cluster: starting would corrupt both. */
export class DataDirMismatchError extends Error {
  override readonly name = 'DataDirMismatchError';
  constructor(
    readonly dataDir: string,
    readonly field: 'me' | 'cluster',
    readonly stored: string,
    readonly given: string,
  ) {
    super(`data directory ${dataDir} was created with --${field} ${stored}, but this node was started with ` +
      `--${field} ${given}. ${field === 'me'
      ? 'Start it with the same --me as before, or give it a fresh --data-dir.'
      : 'Start it without --cluster (the data directory keeps the name) or with the same one, or give it a fresh --data-dir.'}`);
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

/** What a data directory belongs to, as `identity.json` keeps it. */
export interface NodeIdentity {
  readonly me: NodeId;
  /** The node that created the cluster (view 1 is `[first]`). */
  readonly first: NodeId;
  readonly cluster: string;
  /**
   * The cluster's id (see `ClusterIdPort`): made by the first node when it created the cluster;
   * null for a joiner that has not learned it yet.
   */
  readonly clusterId: string | null;
  /** The app the node runs (null: none). */
  readonly app: AppIdentity | null;
  /**
   * The data directory's disk id (`MemberId`), made with it: a joiner's data directory gets a
   * random one; null for the cluster's first node (view 1 lists its address alone) and for data
   * directories from before disk ids (their views list them by address).
   */
  readonly disk: string | null;
}

/** The id views list this node by: its address, with its data directory's disk id. */
export function memberOfIdentity(identity: NodeIdentity): MemberId {
  return memberId(identity.me, identity.disk);
}

/** Characters of a new disk id: 48 random bits in hex, unique among a cluster's data directories for practical purposes. */
const diskIdBytes = 6;
const diskIdPattern = /^[0-9a-z]{1,32}$/;

/** What a node was started with, to be checked against (or recorded in) its data directory. */
export interface GivenIdentity {
  readonly me: NodeId;
  /**
   * For a new data directory: the cluster's first node (the creator, this node itself when `me`
   * is it). For one that has an identity: a contact only, any live member.
   */
  readonly first: NodeId;
  /** The cluster's name; absent: the stored one, or for a new data directory `synod@<first>`. */
  readonly cluster?: string;
  readonly app: AppIdentity | null;
  /** Makes a new cluster id (the first node's first life creates the cluster): a random UUID in production. */
  readonly newClusterId: () => string;
  /**
   * Members to ask to join (`--join`). For a new data directory of the first node (`me` is
   * `first`) they mean the cluster exists and this directory replaces a lost one: the node joins
   * it as a new member (a disk id of its own) instead of creating another cluster.
   */
  readonly join?: readonly NodeId[];
}

const identityFile = 'identity.json';

/**
 * The id of a cluster whose data directories were made before clusters had ids: every node of it
 * derives the same one from the cluster's name (no node has to tell the others), and keeps it.
 */
export function legacyClusterId(cluster: string): string {
  return `name:${cluster}`.slice(0, limits.maxClusterIdLength);
}

/**
 * Binds a data directory to one node address, one cluster (first node, name, id) and one app at
 * the first start, and refuses a later start that names another address, cluster name or app:
 * replaying a log under the wrong identity would make an acceptor answer for promises it never
 * made, and another app would replay requests it does not understand into a state it cannot read
 * (`compatibleApps`: the same app and version).
 *
 * The cluster is the data directory's, not the command line's: a later start keeps the stored
 * first node, name and id, and a `--first` that names another node is only a contact (any live
 * member is a good one; `contacts`). A file written before identities named the app is accepted
 * and upgraded with the app given now; one written before clusters had ids gets `legacyClusterId`.
 *
 * A member whose data directory was wiped (or lost) starts with a new one, hence a new disk id:
 * views list it by that id (`MemberId`), so it is another member than the one they list at its
 * address, which is removed before the new one is added; it never answers for the old one's
 * promises or state.
 *
 * For a data directory without an identity yet, nothing is written here: `firstLife` is true, and
 * the caller `record`s the identity once the node could claim its address (its port is bound),
 * so that a start that fails before it could serve (a port in use) leaves the directory new,
 * and the first node's next start still creates the cluster (with a new id). Once recorded,
 * every later start is a later life (whatever the process did in memory before it died is gone).
 */
export interface IdentityCheck {
  /** No identity was recorded before: this is the data directory's first life. */
  readonly firstLife: boolean;
  /** The identity in force: the stored one, or the one `record` writes. */
  readonly identity: NodeIdentity;
  /** Addresses the node was started with that are not its cluster's first node: join contacts. */
  readonly contacts: readonly NodeId[];
  /** Records the identity (durably) if it is new; a no-op otherwise. */
  record(): void;
  /** Records (durably) the cluster id a joiner learned; only while the identity has none. */
  adoptClusterId(id: string): void;
}

export function checkIdentity(dataDir: string, given: GivenIdentity): IdentityCheck {
  // A directory created now must survive a power loss too (with the promises later kept in it).
  mkdirDurable(dataDir);
  const path = join(dataDir, identityFile);
  if (!existsSync(path)) {
    const creates = given.me === given.first && (given.join ?? []).every((c) => c === given.me);
    const identity: NodeIdentity = {
      me: given.me,
      first: given.first,
      cluster: given.cluster ?? defaultClusterName(given.first),
      clusterId: creates ? given.newClusterId() : null,
      app: given.app,
      disk: creates ? null : randomBytes(diskIdBytes).toString('hex'),
    };
    return held(path, identity, true, [], () => writeIdentity(path, identity));
  }
  const stored = readIdentity(path);
  if (stored.me !== given.me) throw new DataDirMismatchError(dataDir, 'me', stored.me, given.me);
  if (given.cluster !== undefined && stored.cluster !== given.cluster) throw new DataDirMismatchError(dataDir, 'cluster', stored.cluster, given.cluster);
  if (stored.app !== undefined && !compatibleApps(stored.app, given.app)) throw new DataDirAppMismatchError(dataDir, stored.app, given.app);
  const identity: NodeIdentity = {
    me: stored.me,
    first: stored.first,
    cluster: stored.cluster,
    clusterId: stored.clusterId === undefined ? legacyClusterId(stored.cluster) : stored.clusterId,
    app: given.app,
    disk: stored.disk ?? null,
  };
  // Older files are upgraded in place: with the app given now, with the derived id, with no disk id.
  if (stored.app === undefined || stored.clusterId === undefined || stored.disk === undefined) writeIdentity(path, identity);
  return held(path, identity, false, given.first === stored.first ? [] : [given.first], () => {});
}

/** The check's result, holding the identity in force (`adoptClusterId` replaces it). */
function held(path: string, initial: NodeIdentity, firstLife: boolean, contacts: readonly NodeId[], record: () => void): IdentityCheck {
  let identity = initial;
  let recorded = !firstLife;
  return {
    firstLife,
    contacts,
    get identity() {
      return identity;
    },
    record() {
      if (recorded) return;
      record();
      recorded = true;
    },
    adoptClusterId(id: string) {
      if (identity.clusterId === id) return;
      if (identity.clusterId !== null) throw new Error(`${path} names cluster id ${identity.clusterId}; refusing to replace it with ${id}`);
      identity = { ...identity, clusterId: id };
      if (recorded) writeIdentity(path, identity);
    },
  };
}

/** A stored identity; `app` and `clusterId` undefined when the file predates them. */
interface StoredIdentity {
  readonly me: string;
  readonly first: string;
  readonly cluster: string;
  readonly clusterId: string | null | undefined;
  readonly app: AppIdentity | null | undefined;
  readonly disk: string | null | undefined;
}

function readIdentity(path: string): StoredIdentity {
  let stored: Record<string, unknown>;
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
    stored = parsed as Record<string, unknown>;
  } catch (err) {
    throw new IdentityFileError(path, (err as Error).message);
  }
  for (const field of ['me', 'first', 'cluster'] as const) {
    const v = stored[field];
    if (typeof v !== 'string' || v.length === 0) throw new IdentityFileError(path, `its ${field} is not a non-empty string`);
  }
  return {
    me: stored['me'] as string,
    first: stored['first'] as string,
    cluster: stored['cluster'] as string,
    clusterId: 'clusterId' in stored ? storedClusterId(stored['clusterId'], path) : undefined,
    app: 'app' in stored ? storedApp(stored['app'], path) : undefined,
    disk: 'disk' in stored ? storedDisk(stored['disk'], path) : undefined,
  };
}

function storedDisk(v: unknown, path: string): string | null {
  if (v === null) return null;
  if (typeof v !== 'string' || !diskIdPattern.test(v)) throw new IdentityFileError(path, 'its disk is not null or 1 to 32 lowercase letters and digits');
  return v;
}

function storedClusterId(v: unknown, path: string): string | null {
  if (v === null) return null;
  if (typeof v !== 'string' || v.length === 0 || v.length > limits.maxClusterIdLength) {
    throw new IdentityFileError(path, `its clusterId is not null or 1 to ${limits.maxClusterIdLength} characters`);
  }
  return v;
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
  writeFileDurable(path, `${JSON.stringify({
    me: identity.me, first: identity.first, cluster: identity.cluster, clusterId: identity.clusterId, app, disk: identity.disk,
  })}\n`);
}
