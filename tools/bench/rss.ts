import { readFileSync } from 'node:fs';

/** A process's resident memory, as Linux reports it in /proc/<pid>/status. */
export interface Resident {
  /** Resident set size now (VmRSS), bytes. */
  readonly rssBytes: number;
  /** The highest resident set size of the process's life so far (VmHWM), bytes. */
  readonly peakBytes: number;
}

/**
 * Reads `pid`'s resident memory from /proc (Linux only: the memory benchmark measures a node
 * process from outside, without asking the node, so a node under load cannot delay or distort
 * the figure). Throws when the process is gone or /proc is missing.
 */
export function residentOf(pid: number): Resident {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text);
    if (m === null) throw new Error(`/proc/${pid}/status has no ${field} line`);
    return Number(m[1]) * 1024;
  };
  return { rssBytes: kib('VmRSS'), peakBytes: kib('VmHWM') };
}

/** Samples `pid`'s resident memory every `everyMs` until stopped; keeps the highest sample. */
export class RssSampler {
  readonly #pid: number;
  readonly #timer: NodeJS.Timeout;
  #maxBytes = 0;
  #samples = 0;

  constructor(pid: number, everyMs: number) {
    this.#pid = pid;
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), everyMs);
  }

  #sample(): void {
    try {
      this.#maxBytes = Math.max(this.#maxBytes, residentOf(this.#pid).rssBytes);
      this.#samples++;
    } catch {
      // the process is gone: the caller notices it on its own
    }
  }

  /** Stops sampling; the highest resident set size seen, and how many samples were taken. */
  stop(): { readonly maxBytes: number; readonly samples: number } {
    clearInterval(this.#timer);
    this.#sample();
    return { maxBytes: this.#maxBytes, samples: this.#samples };
  }
}
