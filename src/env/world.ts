import type { Clock } from './clock.js';
import type { DurableLog } from './durable-log.js';
import type { Executor } from './executor.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { Random } from './random.js';
import type { SnapshotFile } from './snapshot-file.js';
import type { Transport } from './transport.js';
import type { NodeId } from './types.js';

/**
 * Everything one node process gets from the outside world. Production builds it from gRPC,
 * files, real timers and pino (`runtime/`); the simulator from its simulated network, disks and
 * virtual clock (`sim/`). The layers of a node are wired to one `NodeWorld` and nothing else.
 */
export interface NodeWorld {
  readonly self: NodeId;
  /** The node's serial task queue: every input to its cores enters through it. */
  readonly executor: Executor;
  readonly clock: Clock;
  readonly random: Random;
  /** Bound to the node id already. */
  readonly logger: Logger;
  readonly transport: Transport;
  /** Where the layers count what happens (see `Metrics`); absent: `noMetrics` (the simulator, tests). */
  readonly metrics?: Metrics;
  /** The node's durable log named `name` (one per layer that persists, e.g. `paxos`). */
  durableLog(name: string): DurableLog;
  /** Whether the node's storage holds a durable log named `name` (one opened by an earlier process, say). */
  hasLog(name: string): boolean;
  /**
   * Deletes the durable log named `name`, durably (its directory entry is gone once this
   * returns); nothing if there is none. Only for a log no handle of this process writes to any
   * more (a generation a snapshot replaced).
   */
  removeLog(name: string): void;
  /** The node's snapshot file named `name` (see `SnapshotFile`; one per layer that keeps one, e.g. `rsm`). */
  snapshotFile(name: string): SnapshotFile;
  /**
   * Stops the node at once, as a crash would (a crash breakpoint fired, or the disk failed):
   * production exits the process, the simulator marks the node crashed.
   */
  halt(reason: string): void;
}

/** The part of a node's world that holds its durable files: what a store (`GenerationalStore`) is given. */
export type NodeStorage = Pick<NodeWorld, 'durableLog' | 'hasLog' | 'removeLog' | 'snapshotFile'>;
