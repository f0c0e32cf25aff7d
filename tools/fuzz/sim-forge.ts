/**
 * Phase two of a simulator batch: forged peer messages (the `forge` family). Paxos and the
 * replication protocol trust their peers, so what the replicas agree on after a Byzantine peer
 * spoke is not the oracle's business (the protocol checkers' verdicts are counted, not failed);
 * mutual TLS is what keeps such a peer out. What must hold even then: no node stops (no broken
 * invariant, no halt), every refusal is typed, and every node survives a restart afterwards (a
 * node never persists what it would crash on when it reads it back).
 */
import type { SimCluster } from '../sim/cluster.js';
import type { CaseEnv, FuzzCase } from './case-model.js';
import { type CaseOutcome, judge } from './oracle.js';
import { simBatchBounds } from './sim-target.js';

export interface ForgeResult {
  readonly cases: number;
  readonly findings: readonly string[];
  /** Protocol checkers' verdicts on the forged input (expected of a Byzantine peer; not failures). */
  readonly checkerVerdicts: number;
}

/** Failures that mean a node stopped or could not start, as opposed to a checker's verdict. */
const nodeFailure = /stopped by an error|failed to start|service threw|undecodable/;

/** How long each node must stay up after its restart. */
const restartUpMs = 3000;

export function simForgePhase(cluster: SimCluster<unknown>, env: CaseEnv, cases: readonly FuzzCase[],
  inject: (cases: readonly FuzzCase[]) => CaseOutcome[]): ForgeResult {
  const { sim } = cluster;
  const findings: string[] = [];
  const failuresBefore = sim.failures.length;
  const incarnations = new Map(cluster.nodes.map((n) => [n.id, n.incarnation]));
  const outcomes = inject(cases);
  cluster.runFor(Math.max(simBatchBounds.minWindowMs, cases.length * simBatchBounds.windowPerCaseMs) + simBatchBounds.drainMs);
  for (const c of cases) {
    const broken = judge(c, outcomes[c.id]!);
    if (broken !== null) findings.push(`case ${c.id} [${c.family} → ${env.wire.nodes[c.to]}] ${c.label}: ${broken}`);
  }
  for (const n of cluster.nodes) {
    if (n.status !== 'up' || n.incarnation !== incarnations.get(n.id)) findings.push(`${n.id} went down under forged peer messages (status ${n.status})`);
  }
  // Each node in turn restarts from its disk: what the forged input made it persist must not stop it.
  for (const n of cluster.nodes) {
    if (n.status !== 'down') n.crash('restart check');
    n.start();
    const incarnation = n.incarnation;
    cluster.runFor(restartUpMs);
    if (n.status !== 'up' || n.incarnation !== incarnation) findings.push(`${n.id} did not stay up after a restart that followed forged peer messages`);
  }
  const later = sim.failures.slice(failuresBefore);
  findings.push(...later.filter((f) => nodeFailure.test(f)).map((f) => f.split('\n')[0]!));
  return { cases: cases.length, findings, checkerVerdicts: later.filter((f) => !nodeFailure.test(f)).length };
}
