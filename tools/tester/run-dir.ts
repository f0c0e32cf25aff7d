/**
 * What a command that runs real node processes (the tester, the nemesis) needs around a run: the
 * run's directory and its clean-up on an interrupt, the signal handlers that do it, and a timer
 * that keeps the process alive while only unref'd client timers are pending.
 */
import { rmSync } from 'node:fs';
import { killEveryNode } from './processes.js';

/** Period of the timer that keeps the process alive during a run. */
const keepAliveIntervalMs = 1000;

/**
 * Keeps the process alive until the returned function is called: during a run the process may
 * wait on nothing but its clients, whose timers are unref'd.
 */
export function keepAlive(): () => void {
  const timer = setInterval(() => {}, keepAliveIntervalMs);
  return () => clearInterval(timer);
}

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

/**
 * Makes SIGINT, SIGTERM and SIGHUP abort the run in progress (`abort`: every node process killed,
 * the directory removed unless kept), print `${prefix}interrupted by SIGNAL: …` saying what was
 * done, and exit with 128 + the signal's number, as a shell reports a process killed by it.
 */
export function abortOnInterrupt(abort: () => { dir: string; kept: boolean } | null, prefix: string): void {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
    process.on(signal, () => {
      const aborted = abort();
      const done = aborted === null ? '' : aborted.kept ? `; kept ${aborted.dir}` : `; removed ${aborted.dir}`;
      process.stdout.write(`\n${prefix}interrupted by ${signal}: every node process killed${done}\n`);
      process.exit(code);
    });
  }
}
