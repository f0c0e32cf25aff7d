/**
 * Making directory entries durable. A file's data survives a power loss once it is fsynced, but
 * its name lives in the directory that holds it, and that entry survives only once the directory
 * is fsynced too; the same goes for a freshly created directory, whose entry lives in its parent.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { invariant } from '../env/errors.js';

/** Fsyncs the directory `dir`, making the entries created, renamed or removed in it durable. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * `mkdir -p dir`, durably: every directory this call creates is fsynced into its parent, so that
 * a power loss cannot take away a directory (and with it the files later made durable inside
 * it). Directories that already existed are left alone: whoever created them was responsible.
 * Returns the directories it created, outermost first (empty when `dir` already existed).
 */
export function mkdirDurable(dir: string): string[] {
  const first = mkdirSync(dir, { recursive: true });
  if (first === undefined) return [];
  const created: string[] = [];
  const outermost = resolve(first);
  for (let d = resolve(dir); d !== outermost; d = dirname(d)) {
    // mkdirSync returned an ancestor of `dir`, so the walk up reaches it before the root.
    invariant(dirname(d) !== d, () => `mkdir ${dir} reported ${first}, which is not among its ancestors`);
    created.unshift(d);
  }
  created.unshift(outermost);
  // Each new directory's entry is in its parent; the parent of the outermost one existed before.
  for (const d of created) fsyncDir(dirname(d));
  return created;
}

/**
 * Replaces (or creates) the file at `path` with `data`, atomically and durably: written and
 * fsynced as `<path>.tmp`, renamed into place, and its directory fsynced. A crash leaves either
 * the old file or the new one whole (and at worst a stale `.tmp`, overwritten next time).
 */
export function writeFileDurable(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, data);
  const fd = openSync(tmp, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  fsyncDir(dirname(resolve(path)));
}
