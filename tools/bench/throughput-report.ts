import { table } from './durability-writes.js';
import type { Figures } from './throughput-measure.js';
import type { MeasuredRow } from './throughput-rows.js';
import { manyInFlight } from './throughput-rows.js';
import type { ThroughputResult } from './throughput.js';

/**
 * What `npm run bench -- throughput` prints and writes: a table per row with the ratios, the
 * issue's goals each met or not, and every figure as JSON. The chart is throughput-svg.ts.
 */

/** One of issue 15's goals, judged on this run's figures; `met` null: not measured in this run. */
export interface Goal {
  readonly goal: string;
  readonly figure: string;
  readonly met: boolean | null;
}

/** A ratio measured in this run, oriented so that above 1 is better for synod (for the chart). */
export interface Ratio {
  readonly name: string;
  readonly value: number;
  /** The goal for it, when it has one (same orientation). */
  readonly goal?: number;
}

const fig = (row: MeasuredRow | undefined, key: string): Figures | undefined => row?.entries.find((e) => e.key === key)?.figures;
const rowOf = (r: ThroughputResult, id: string): MeasuredRow | undefined => r.rows.find((row) => row.id === id);
const x = (v: number): string => `${Number.isFinite(v) ? v.toFixed(2) : 'n/a'}x`;
const ms = (v: number): string => v.toFixed(v < 10 ? 2 : 1);

function rowText(row: MeasuredRow): string {
  const header = ['system', 'driver', 'ops', 'ops/s', 'p50 ms', 'p99 ms', 'CPU µs/op', 'client', 'servers'];
  const cells = row.entries.map((e) => [
    e.key, e.driver, String(e.figures.ops), e.figures.opsPerSec.toFixed(0), ms(e.figures.p50Ms), ms(e.figures.p99Ms),
    e.figures.cpuUsPerOp.toFixed(0), e.figures.clientCpuUsPerOp.toFixed(0), e.figures.serversCpuUsPerOp.toFixed(0),
  ]);
  const lines: string[] = [];
  const compare = (a: string, b: string, what: string): void => {
    const fa = fig(row, a);
    const fb = fig(row, b);
    if (fa === undefined || fb === undefined) return;
    lines.push(`  ${what}: ops/s ${x(fa.opsPerSec / fb.opsPerSec)}, p50 ${x(fa.p50Ms / fb.p50Ms)}, p99 ${x(fa.p99Ms / fb.p99Ms)}, CPU µs/op ${x(fa.cpuUsPerOp / fb.cpuUsPerOp)}\n`);
  };
  for (const e of row.entries) {
    const g = e.figures.grants;
    if (g !== null) lines.push(`  ${e.key}: ${g.count} cycles under a new grant (hand-overs when contended), ${g.perSec.toFixed(1)}/s, their acquire p50 ${ms(g.p50Ms)} ms, p99 ${ms(g.p99Ms)} ms\n`);
  }
  const sg = fig(row, 'synod')?.grants;
  const eg = fig(row, 'etcd')?.grants;
  if (sg != null && eg != null) lines.push(`  synod / etcd, new grants: per second ${x(sg.perSec / eg.perSec)}, acquire p99 ${x(sg.p99Ms / eg.p99Ms)}\n`);
  compare('synod', 'etcd', row.group === 'locks' ? 'synod / etcd, all cycles' : 'synod (one client) / etcd');
  compare('synodPerCall', 'etcd', 'synod (a client per call) / etcd');
  compare('synod5', 'synod3', '5 / 3 replicas (one client)');
  compare('synod5PerCall', 'synod3PerCall', '5 / 3 replicas (a client per call)');
  compare('synodTls', 'synod', 'mutual TLS / plaintext');
  return `\n${row.title}\n${table(header, cells)}${lines.join('')}`;
}

function failoverText(r: ThroughputResult): string {
  if (r.failover.length === 0) return '';
  const cells = r.failover.map((f) => [f.system, f.driver, String(f.roundsMs.length), f.medianMs.toFixed(0), f.minMs.toFixed(0), f.maxMs.toFixed(0)]);
  const s = r.failover.find((f) => f.system === 'synod');
  const e = r.failover.find((f) => f.system === 'etcd');
  const ratio = s !== undefined && e !== undefined ? `  synod / etcd, median: ${x(s.medianMs / e.medianMs)}\n` : '';
  return `\nSIGKILL of the primary (synod) / leader (etcd) → first ok write, 3 members\n${table(['system', 'driver', 'rounds', 'median ms', 'min ms', 'max ms'], cells)}${ratio}`;
}

/** The goals on this run's figures, one-client figures for synod (the "from one client"). */
export function goalsOf(r: ThroughputResult): Goal[] {
  const na = (goal: string, why: string): Goal => ({ goal, figure: `not measured (${why})`, met: null });
  const vs = (id: string): { s: Figures; e: Figures; per?: Figures } | null => {
    const row = rowOf(r, id);
    const s = fig(row, 'synod');
    const e = fig(row, 'etcd');
    return s === undefined || e === undefined ? null : { s, e, per: fig(row, 'synodPerCall') };
  };
  const perCall = (per: Figures | undefined, e: Figures): string =>
    (per === undefined ? '' : `; a client per call: ${x(per.opsPerSec / e.opsPerSec)} ops/s, p99 ${x(per.p99Ms / e.p99Ms)}`);
  const goals: Goal[] = [];
  const noEtcd = r.etcd ? 'row skipped' : 'needs --vs etcd';
  const seq = vs('sequential');
  const g1 = 'sequential write p50 <= 0.5x etcd\'s';
  goals.push(seq === null ? na(g1, noEtcd) : { goal: g1, figure: `${ms(seq.s.p50Ms)} ms against ${ms(seq.e.p50Ms)} ms: ${x(seq.s.p50Ms / seq.e.p50Ms)}`, met: seq.s.p50Ms <= 0.5 * seq.e.p50Ms });
  const w = vs(`writes-${manyInFlight}`);
  const g2 = `writes at ${manyInFlight} in flight >= 2x etcd's throughput, p99 no worse (one client)`;
  goals.push(w === null ? na(g2, noEtcd) : {
    goal: g2, figure: `${x(w.s.opsPerSec / w.e.opsPerSec)} ops/s, p99 ${x(w.s.p99Ms / w.e.p99Ms)}${perCall(w.per, w.e)}`,
    met: w.s.opsPerSec >= 2 * w.e.opsPerSec && w.s.p99Ms <= w.e.p99Ms,
  });
  const q = vs(`queries-${manyInFlight}`);
  const g3 = `queries at ${manyInFlight} in flight >= 2x etcd's linearizable reads (one client)`;
  goals.push(q === null ? na(g3, noEtcd) : { goal: g3, figure: `${x(q.s.opsPerSec / q.e.opsPerSec)} ops/s${perCall(q.per, q.e)}`, met: q.s.opsPerSec >= 2 * q.e.opsPerSec });
  const l = vs('locks-contended');
  const g4 = 'contended lock hand-overs >= 5x etcd\'s cycles, acquire p99 <= 0.2x etcd\'s (hand-overs: cycles under a new grant)';
  const lg = l === null ? null : { s: l.s.grants, e: l.e.grants };
  goals.push(lg === null || lg.s === null || lg.e === null ? na(g4, noEtcd) : {
    goal: g4, figure: `${lg.s.perSec.toFixed(1)} against ${lg.e.perSec.toFixed(1)} hand-overs/s: ${x(lg.s.perSec / lg.e.perSec)}, acquire p99 ${x(lg.s.p99Ms / lg.e.p99Ms)}` +
      ` (every cycle, the client's cache included: ${x(l!.s.opsPerSec / l!.e.opsPerSec)} cycles/s, acquire p99 ${x(l!.s.p99Ms / l!.e.p99Ms)})`,
    met: lg.s.perSec >= 5 * lg.e.perSec && lg.s.p99Ms <= 0.2 * lg.e.p99Ms,
  });
  const f = r.failover.find((e) => e.system === 'synod');
  const g5 = 'failover (kill -9 → first ok write, default settings) median <= 0.5 s';
  goals.push(f === undefined ? na(g5, 'row skipped') : { goal: g5, figure: `median ${f.medianMs.toFixed(0)} ms of ${f.roundsMs.length}`, met: f.medianMs <= 500 });
  const rep = rowOf(r, 'replicas');
  const three = fig(rep, 'synod3');
  const five = fig(rep, 'synod5');
  const g6 = 'cost per operation from 3 to 5 replicas within 1.5x (CPU µs/op and p50, one client)';
  if (three === undefined || five === undefined) goals.push(na(g6, 'row skipped or --replicas-5 off'));
  else {
    const cpu = five.cpuUsPerOp / three.cpuUsPerOp;
    const p50 = five.p50Ms / three.p50Ms;
    const p3 = fig(rep, 'synod3PerCall');
    const p5 = fig(rep, 'synod5PerCall');
    const per = p3 === undefined || p5 === undefined ? '' : `; a client per call: CPU ${x(p5.cpuUsPerOp / p3.cpuUsPerOp)}, p50 ${x(p5.p50Ms / p3.p50Ms)}`;
    goals.push({ goal: g6, figure: `CPU µs/op ${x(cpu)}, p50 ${x(p50)}${per}`, met: cpu <= 1.5 && p50 <= 1.5 });
  }
  return goals;
}

/** The ratios the chart draws, each oriented so that above 1 is better for synod. */
export function ratiosOf(r: ThroughputResult): Ratio[] {
  const out: Ratio[] = [];
  for (const row of r.rows) {
    const e = fig(row, 'etcd');
    for (const [key, who] of [['synod', 'one client'], ['synodPerCall', 'client per call']] as const) {
      const s = fig(row, key);
      if (s === undefined || e === undefined) continue;
      const goal = (row.id === `writes-${manyInFlight}` || row.id === `queries-${manyInFlight}`) && key === 'synod' ? 2 : undefined;
      if (row.group !== 'locks') out.push({ name: `${row.id} ops/s (${who})`, value: s.opsPerSec / e.opsPerSec, ...(goal === undefined ? {} : { goal }) });
      if (row.id === 'sequential') out.push({ name: 'sequential p50, etcd ÷ synod', value: e.p50Ms / s.p50Ms, goal: 2 });
      // Contended: the hand-overs (new grants); spread: every cycle, a caching client's included.
      if (row.id === 'locks-contended' && s.grants !== null && e.grants !== null) {
        out.push({ name: `${row.id} hand-overs/s`, value: s.grants.perSec / e.grants.perSec, goal: 5 });
        out.push({ name: `${row.id} acquire p99, etcd ÷ synod`, value: e.grants.p99Ms / s.grants.p99Ms, goal: 5 });
      }
      if (row.id === 'locks-spread') out.push({ name: `${row.id} cycles/s`, value: s.opsPerSec / e.opsPerSec });
    }
    const three = fig(row, 'synod3');
    const five = fig(row, 'synod5');
    if (three !== undefined && five !== undefined) {
      out.push({ name: 'CPU µs/op, 3 ÷ 5 replicas', value: three.cpuUsPerOp / five.cpuUsPerOp, goal: 1 / 1.5 });
      out.push({ name: 'p50, 3 ÷ 5 replicas', value: three.p50Ms / five.p50Ms, goal: 1 / 1.5 });
    }
  }
  const s = r.failover.find((f) => f.system === 'synod');
  const e = r.failover.find((f) => f.system === 'etcd');
  if (s !== undefined && e !== undefined) out.push({ name: 'failover median, etcd ÷ synod', value: e.medianMs / s.medianMs });
  return out;
}

export function describeThroughput(r: ThroughputResult): string {
  const met = (g: Goal): string => (g.met === null ? 'n/a' : g.met ? 'met' : 'NOT met');
  const goals = goalsOf(r).map((g) => `  ${met(g).padEnd(7)} ${g.goal}: ${g.figure}\n`).join('');
  return `throughput: ${r.rounds} round${r.rounds === 1 ? '' : 's'} of ${r.windowMs} ms per contender and row, alternating; ` +
    `CPU = this process (the clients) + every server process, from /proc; load average ${r.loadAverage.start.toFixed(2)} at the start, ${r.loadAverage.end.toFixed(2)} at the end\n` +
    r.rows.map(rowText).join('') + failoverText(r) + `\ngoals (issue 15)${r.etcd ? '' : ', without etcd'}:\n${goals}`;
}

/** Every figure of the run, and the goals, as one JSON document. */
export function throughputJson(r: ThroughputResult): string {
  return `${JSON.stringify({ bench: 'throughput', ...r, goals: goalsOf(r), ratios: ratiosOf(r) }, null, 2)}\n`;
}
