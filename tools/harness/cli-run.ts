/**
 * Runs the `synod` command (the compiled CLI), or another compiled script (a benchmark), as a
 * process and collects what it printed, for tests of the command line and the benchmarks.
 */
import { spawn } from 'node:child_process';
import { cliPath } from './node-process.js';

/** What one run of the command did. */
export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** How long one run may take before it is killed (its exit code is then null). */
export const cliRunTimeoutMs = 15_000;

/** Runs `synod ARGS…` to its end (killed after `cliRunTimeoutMs`). */
export function runSynod(...args: string[]): Promise<CliRun> {
  return runScript(cliPath, args, cliRunTimeoutMs);
}

/** Runs the compiled script at `path` with `args` under this Node to its end; killed after `timeoutMs`. */
export function runScript(path: string, args: readonly string[], timeoutMs: number): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
