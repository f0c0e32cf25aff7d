/**
 * What every `synod` command shares: the shape of a command, the two ways a command ends early
 * (a usage error, which the dispatcher prints with that command's usage, and `fail`), and the
 * argument checks (addresses, positive integers, cluster names, log levels).
 */
import { parseArgs } from 'node:util';
import { address } from '../env/validate.js';
import type { LogLevel } from '../runtime/logging.js';

/** One `synod` command. */
export interface Command {
  readonly name: string;
  /** Its usage: the synopsis lines, what it does, its exit status. Printed by `--help` and with usage errors. */
  readonly usage: string;
  /** Runs it; a bad argument throws `UsageError`. Resolves once the command's work is started or done. */
  run(args: string[]): Promise<void>;
}

/** The command line is wrong: the dispatcher prints the message and the command's usage, exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Exit status of a usage error, for every command. */
export const usageExitCode = 2;

/** Writes `synod: message` to standard error and exits with `code`. */
export function fail(message: string, code: number): never {
  process.stderr.write(`synod: ${message}\n`);
  process.exit(code);
}

export type OptionSpec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;
export type OptionValues = Record<string, string | boolean | string[] | undefined>;

/** Parses `args` against `options` (strictly); every parse error is a `UsageError`. */
export function parse(args: string[], options: OptionSpec): { values: OptionValues; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args, options, strict: true, allowPositionals: true });
    return { values: values as OptionValues, positionals };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Refuses positionals beyond the first `allowed`. */
export function noMorePositionals(positionals: readonly string[], allowed: number): void {
  if (positionals.length > allowed) throw new UsageError(`unexpected arguments: ${positionals.slice(allowed).join(' ')}`);
}

/** A `host:port` address given as `what` (a flag or a word); missing or malformed is a usage error. */
export function checkedAddress(value: string | undefined, what: string): string {
  if (value === undefined) throw new UsageError(`${what} is required`);
  try {
    return address(value, what);
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/^invalid message: /, ''));
  }
}

/** A positive integer flag (milliseconds, counts); anything else is a usage error. */
export function positiveInteger(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new UsageError(`${flag} must be a positive integer`);
  }
  return Number(value);
}

/** Longest cluster name accepted (it travels in every message). */
export const maxClusterNameLength = 128;

/** `--cluster NAME` when given; an empty or overlong name is a usage error. */
export function clusterOption(value: string | undefined): string | undefined {
  if (value !== undefined && (value.length === 0 || value.length > maxClusterNameLength)) {
    throw new UsageError(`--cluster must be 1 to ${maxClusterNameLength} characters`);
  }
  return value;
}

export const logLevels: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

/** `--log-level`, default info. */
export function logLevelOption(value: string | undefined): LogLevel {
  const level = (value ?? 'info') as LogLevel;
  if (!logLevels.includes(level)) throw new UsageError(`--log-level must be one of ${logLevels.join(', ')}`);
  return level;
}
