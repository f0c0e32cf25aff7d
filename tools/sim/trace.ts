/**
 * A run's trace: one line per event that shapes the run (deliveries, drops, faults, decisions).
 * Every line feeds a running digest (64-bit FNV-1a over the text); two runs with equal digests
 * took the same path. Lines are kept only when the trace is printed (`--seed` replays).
 */
export class Trace {
  readonly lines: string[] | null;
  #h1 = 0x811c9dc5;
  #h2 = 0x050c5d1f;
  #count = 0;

  constructor(keepLines: boolean) {
    this.lines = keepLines ? [] : null;
  }

  get count(): number {
    return this.#count;
  }

  /**
   * Records one line at virtual time `timeMs`. A `note` (the nodes' log lines) is kept for
   * reading but does not feed the digest, so that asking for logs never changes a run's digest.
   */
  add(timeMs: number, line: string, note = false): void {
    const text = `${timeMs.toFixed(3)} ${line}`;
    if (note) {
      this.lines?.push(text);
      return;
    }
    this.#count++;
    let h1 = this.#h1;
    let h2 = this.#h2;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x01000193) ^ (h1 >>> 7);
    }
    h1 = Math.imul(h1 ^ 10, 0x01000193);
    this.#h1 = h1 >>> 0;
    this.#h2 = h2 >>> 0;
    this.lines?.push(text);
  }

  /** Digest of every line so far, as 16 hex digits. */
  digest(): string {
    return this.#h1.toString(16).padStart(8, '0') + this.#h2.toString(16).padStart(8, '0');
  }
}
