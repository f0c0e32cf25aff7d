import { pino } from 'pino';
import type { Logger } from '../env/logger.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export interface LoggingOptions {
  readonly level?: LogLevel;
  /** File to append to; default standard output. */
  readonly file?: string;
  /** Fields on every line (node id, incarnation). */
  readonly base?: Record<string, unknown>;
}

/**
 * A pino logger for a node process. Writes are synchronous: a node can die at any moment (a
 * crash breakpoint kills it with SIGKILL), and the last lines before that are the ones a person
 * needs; protocol logging volume is small enough that this costs nothing measurable.
 */
export function createLogger(opts: LoggingOptions = {}): Logger {
  const destination = pino.destination({ dest: opts.file ?? 1, sync: true, mkdir: true });
  return pino(
    {
      level: opts.level ?? 'info',
      base: opts.base ?? {},
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
