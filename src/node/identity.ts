import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeId } from '../env/types.js';

/** The data directory belongs to another node or another cluster: starting would corrupt both. */
export class DataDirMismatchError extends Error {
  override readonly name = 'DataDirMismatchError';
  constructor(
    readonly dataDir: string,
    readonly field: 'me' | 'first',
    readonly stored: string,
    readonly given: string,
  ) {
    super(`data directory ${dataDir} belongs to ${field === 'me' ? 'node' : 'a cluster whose first node is'} ` +
      `${stored}, but this node was started with --${field} ${given}. ` +
      'Start it with the same address and --first as before, or give it a fresh --data-dir.');
  }
}

const identityFile = 'identity.json';

/**
 * Binds a data directory to one node id and one cluster (named by its first node) at the first
 * start, and refuses a later start that names another: replaying a log under the wrong identity
 * would make an acceptor answer for promises it never made.
 */
export function checkIdentity(dataDir: string, me: NodeId, first: NodeId): void {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, identityFile);
  if (existsSync(path)) {
    const stored = JSON.parse(readFileSync(path, 'utf8')) as { me?: string; first?: string };
    if (stored.me !== me) throw new DataDirMismatchError(dataDir, 'me', String(stored.me), me);
    if (stored.first !== first) throw new DataDirMismatchError(dataDir, 'first', String(stored.first), first);
    return;
  }
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ me, first })}\n`);
  const fd = openSync(tmp, 'r');
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, path);
  const dir = openSync(dataDir, 'r');
  fsyncSync(dir);
  closeSync(dir);
}
