import { rmSync } from 'node:fs';
import { killEveryNode } from './processes.js';

/**
 * The directory of a run of real node processes in progress (tester, nemesis): what an interrupt
 * must clean up. At most one per process.
 */
export class RunDirectory {
  #current: { dir: string; keep: boolean } | null = null;

  /** The run in `dir` has begun; with `keep`, an abort leaves the directory behind. */
  begin(dir: string, keep: boolean): void {
    this.#current = { dir, keep };
  }

  /** Leave the directory behind whatever happens (e.g. the run failed: its logs are wanted). */
  keep(): void {
    if (this.#current !== null) this.#current = { dir: this.#current.dir, keep: true };
  }

  /** The run ended and cleaned up after itself. */
  end(): void {
    this.#current = null;
  }

  /**
   * Kills every node process (SIGKILL) and removes the directory unless it is kept. Synchronous,
   * for signal and exit handlers; returns the directory, or null when no run is in progress.
   */
  abort(): { dir: string; kept: boolean } | null {
    killEveryNode();
    const current = this.#current;
    if (current === null) return null;
    this.#current = null;
    if (!current.keep) rmSync(current.dir, { recursive: true, force: true });
    return { dir: current.dir, kept: current.keep };
  }
}
