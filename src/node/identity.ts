import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { fsyncDir, mkdirDurable } from '../runtime/durable-fs.js';
import { join } from 'node:path';
import type { NodeId } from '../env/types.js';

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
}

const identityFile = 'identity.json';

/**
 * Binds a data directory to one node address, one first node and one cluster name at the first
 * start, and refuses a later start that names others: replaying a log under the wrong identity
 * would make an acceptor answer for promises it never made.
 *
 * What this cannot catch: a member whose data directory was wiped (or lost) starts as a brand
 * new node, and its acceptor has forgotten its promises, which can break Paxos' agreement.
 * Never wipe the data directory of a node that is still a member; remove it first.
 */
/** Returns true when the identity was created now: this is the data directory's first life. */
export function checkIdentity(dataDir: string, given: NodeIdentity): boolean {
  // A directory created now must survive a power loss too (with the promises later kept in it).
  mkdirDurable(dataDir);
  const path = join(dataDir, identityFile);
  if (existsSync(path)) {
    let stored: Partial<NodeIdentity>;
    try {
      stored = JSON.parse(readFileSync(path, 'utf8')) as Partial<NodeIdentity>;
    } catch (err) {
      throw new IdentityFileError(path, (err as Error).message);
    }
    for (const field of ['me', 'first', 'cluster'] as const) {
      if (stored[field] !== given[field]) throw new DataDirMismatchError(dataDir, field, String(stored[field]), given[field]);
    }
    return false;
  }
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ me: given.me, first: given.first, cluster: given.cluster })}\n`);
  const fd = openSync(tmp, 'r');
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, path);
  fsyncDir(dataDir);
  return true;
}
