import { existsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../env/logger.js';
import { type Metrics, noMetrics } from '../env/metrics.js';
import type { NodeStorage } from '../env/world.js';
import { fsyncDir } from './durable-fs.js';
import { FileLog } from './file-log.js';
import { FileSnapshot, type SnapshotFs } from './file-snapshot.js';

export interface DataDirStorageOptions {
  readonly logger: Logger;
  /** Test-only seam of the snapshot files (`FileSnapshot`'s `fs`). */
  readonly snapshotFs?: SnapshotFs;
  /** Hears every log opened (the production world closes them all when the node stops). */
  readonly onLog?: (log: FileLog) => void;
  /** Where flush and snapshot timings go (default `noMetrics`). */
  readonly metrics?: Metrics;
}

/**
 * A node's durable files in the directory `dir`, as one layout for every reader and writer of a
 * data directory (the node itself, force recovery, benchmarks, crash tests): log `name` is
 * `<name>.log` (`FileLog`), snapshot file `name` is `<name>.snapshot` (`FileSnapshot`); a removed
 * log's directory entry is made durable before `removeLog` returns.
 */
export function dataDirStorage(dir: string, opts: DataDirStorageOptions): NodeStorage {
  const logPath = (name: string): string => join(dir, `${name}.log`);
  const metrics = opts.metrics ?? noMetrics;
  return {
    durableLog(name) {
      const log = new FileLog(logPath(name), {
        logger: opts.logger.child({ log: name }),
        onFlushed: (seconds) => metrics.observe('synod_fsync_duration_seconds', seconds, { log: storeLabel(name) }),
      });
      opts.onLog?.(log);
      return log;
    },
    hasLog: (name) => existsSync(logPath(name)),
    removeLog(name) {
      if (!existsSync(logPath(name))) return;
      unlinkSync(logPath(name));
      fsyncDir(dir);
    },
    snapshotFile: (name) => new FileSnapshot(join(dir, `${name}.snapshot`), {
      logger: opts.logger.child({ snapshot: name }),
      ...(opts.snapshotFs === undefined ? {} : { fs: opts.snapshotFs }),
      onWritten: (bytes, seconds) => {
        metrics.observe('synod_snapshot_size_bytes', bytes, { store: storeLabel(name) });
        metrics.observe('synod_snapshot_duration_seconds', seconds, { store: storeLabel(name) });
      },
    }),
  };
}

/** A metrics label for a log or snapshot: its store's name without the generation (`rsm-12` is `rsm`), so labels stay few. */
function storeLabel(name: string): string {
  return name.replace(/-\d+$/, '');
}
