/** The outcome of one seeded simulation run. */
export interface RunResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly failures: readonly string[];
  /** Digest of the run's trace: equal digests, same run. */
  readonly digest: string;
  /** Figures worth printing (events, messages, decisions, faults …). */
  readonly stats: Readonly<Record<string, number>>;
  /** The trace's lines, when asked for. */
  readonly trace?: readonly string[];
}

export function formatResult(r: RunResult): string {
  const stats = Object.entries(r.stats).map(([k, v]) => `${k}=${v}`).join(' ');
  return `seed ${r.seed} ${r.ok ? 'pass' : 'FAIL'} digest=${r.digest} ${stats}`;
}
