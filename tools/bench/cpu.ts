import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * CPU time spent by this process and by other processes (cluster nodes) over a measured window,
 * read from outside the nodes (Linux /proc), so a node under load cannot delay or distort it.
 */

/**
 * Clock ticks per second of /proc/<pid>/stat's utime and stime (the kernel's USER_HZ). Asked of
 * `getconf` once; 100 when that fails, which is what Linux uses on every common platform.
 */
const ticksPerSec = ((): number => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    if (Number.isInteger(n) && n > 0) return n;
  } catch {
    // no getconf: fall back to Linux's usual value
  }
  return 100;
})();

/** The resolution of `processCpuUs`: one clock tick, in µs. */
export const cpuTickUs = 1e6 / ticksPerSec;

/**
 * User plus system CPU time of `pid` (all its threads) so far, µs; null when the process is gone.
 * /proc/<pid>/stat's command name (field 2) is in parentheses and may hold spaces, so fields are
 * counted from after its closing parenthesis: utime and stime are fields 14 and 15.
 */
export function processCpuUs(pid: number): number | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): field N is fields[N - 3].
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`/proc/${pid}/stat is not as expected: ${text}`);
  return (utime + stime) * cpuTickUs;
}

/** CPU used over a window: this process (the clients) and the servers whose pids were given. */
export interface CpuSpent {
  readonly clientUs: number;
  readonly serversUs: number;
}

/**
 * Starts counting CPU time now, for this process and for `pids`; the function returned tells what
 * each spent since. A server that exited meanwhile counts only up to its last reading (the
 * benchmark never kills a server inside a measured window).
 */
export function startCpuCount(pids: readonly number[]): () => CpuSpent {
  const client = process.cpuUsage();
  const before = pids.map((pid) => processCpuUs(pid));
  return () => {
    const used = process.cpuUsage(client);
    let serversUs = 0;
    pids.forEach((pid, i) => {
      const now = processCpuUs(pid);
      const then = before[i];
      if (now !== null && then !== null && then !== undefined) serversUs += now - then;
    });
    return { clientUs: used.user + used.system, serversUs };
  };
}
