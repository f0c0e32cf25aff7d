/**
 * Fuzz batches against three real node processes of an app (`synod lock-server` by default, or
 * `synod node --app kv|test`), through real gRPC: one cluster for the whole run, one batch per
 * seed. A batch's cases come from its seed alone, so a seed sends the same input again (not with
 * the same timing: real processes are not deterministic; the `digest` printed is of the input).
 * Beside the fuzzing, two well-behaved clients (ordinary `RsmClient`s over gRPC) run the app's
 * workload (lock cycles, counters, or puts and gets of a KV key). After each batch the oracle: no
 * process died, the nodes serve one quiet view with equal executed state, the clients are served
 * again, and their history is linearizable in the app's model. Genuine peer messages come from a simulated twin of
 * the cluster (same node ids, same app), since real processes offer no tap.
 */
import { RsmClient } from '../../src/client/rsm-client.js';
import { silentLogger } from '../../src/env/logger.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { realClock } from '../../src/runtime/real-clock.js';
import type { Json } from '../../src/rsm/app.js';
import { checkLinearizable } from '../lincheck/check.js';
import { HistoryRecorder } from '../lincheck/recorder.js';
import { SimCluster } from '../sim/cluster.js';
import { Prng } from '../sim/prng.js';
import { eventually, sleep } from '../harness/node-process.js';
import { type FuzzAppName, fuzzApps } from './apps.js';
import { type CaseEnv, type Family, type FuzzCase, forgeFamilies, safeFamilies } from './case-model.js';
import { drawCases } from './cases.js';
import type { CapturedEnvelope } from './envelopes.js';
import { type GoodLoop, goodMark } from './good-client.js';
import { wireWords } from './messages.js';
import { type CaseOutcome, judge, tally } from './oracle.js';
import { RealCluster } from './real-cluster.js';
import { RawClients, sendCase } from './real-inject.js';
import { WireSchema } from './schema.js';
import { serviceTarget, serviceTargets } from './services.js';
import { type BatchResult, capture, servedBy } from './sim-target.js';

export interface RealRunOptions {
  readonly seeds: readonly number[];
  readonly cases: number;
  readonly families: readonly Family[];
  /** Keep the run directory (node logs and data) even when every batch passed. */
  readonly keep: boolean;
  /** The app the nodes run (default the lock service). */
  readonly app?: FuzzAppName;
}

/** Bounds of a real batch, in milliseconds. */
export const realBatchBounds = {
  /** Cases in flight at once. */
  parallel: 8,
  quietWithinMs: 20_000,
  unitsAfter: 3,
  servedWithinMs: 20_000,
  clientDeadlineMs: 5000,
};

/** Runs one batch per seed against one real cluster, reporting each as it ends. */
export async function runRealBatches(opts: RealRunOptions, report: (r: BatchResult) => void): Promise<void> {
  const app = opts.app ?? 'lock';
  const cluster = await RealCluster.start(app);
  const clients = new RawClients();
  const transport = new GrpcClientTransport({ cluster: cluster.cluster, logger: silentLogger });
  let failed = false;
  try {
    const captured = twinCapture(cluster.addresses, app);
    const clusterId = await cluster.clusterId();
    process.stdout.write(`real cluster ${cluster.cluster}${clusterId === null ? '' : ` (id ${clusterId})`}: ${cluster.addresses.join(' ')} (run directory ${cluster.dir})\n`);
    for (const seed of opts.seeds) {
      const r = await runRealBatch(cluster, clients, transport, captured, clusterId, seed, opts);
      failed ||= !r.ok;
      report(r);
    }
  } finally {
    clients.close();
    await transport.close();
    await cluster.close(opts.keep || failed);
    if (opts.keep || failed) process.stdout.write(`run directory kept: ${cluster.dir}\n`);
  }
}

async function runRealBatch(cluster: RealCluster, clients: RawClients, transport: GrpcClientTransport, captured: readonly CapturedEnvelope[],
  clusterId: string | null, seed: number, opts: RealRunOptions): Promise<BatchResult> {
  const started = performance.now();
  const caseRng = new Prng(seed ^ 0x0f0220aa);
  const app = fuzzApps[opts.app ?? 'lock'];
  const env: CaseEnv = {
    schema: WireSchema.load(),
    wire: {
      nodes: cluster.addresses, strangers: ['127.0.0.1:1', '10.0.0.1:7001', 'ghost'], cluster: cluster.cluster,
      otherClusters: ['synod@10.0.0.1:7001', 'zz-another-cluster', `${cluster.cluster}.old`], anyTypes: false, words: wireWords,
      clusterId,
    },
    app: app.target, real: true, served: servedBy(app, serviceTargets.map((t) => t.service)), captured,
  };
  const findings: string[] = [];
  const recorder = new HistoryRecorder(app.workload.calls);
  const goodRng = new Prng(seed ^ 0x600d);
  const goodClients = [1, 2].map((k) => new RsmClient({
    clientId: `wellbehaved${goodMark}${k}-${seed}`, members: cluster.addresses, transport, clock: realClock, observer: recorder,
  }));
  const sched = { after: (ms: number, fn: () => void) => void setTimeout(fn, ms) };
  const loops: GoodLoop[] = goodClients.map((c) => app.workload.start(c, sched, goodRng, realBatchBounds.clientDeadlineMs));

  const cases = drawCases(env, opts.families.filter((f) => safeFamilies.includes(f)), opts.cases, caseRng);
  const outcomes = await sendAll(cluster, clients, env, cases);
  for (const c of cases) {
    const broken = judge(c, outcomes[c.id]!);
    if (broken !== null) findings.push(`case ${c.id} [${c.family} → ${c.toPrimary ? 'primary' : cluster.addresses[c.to]}] ${c.label}: ${broken}`);
  }
  const sentMs = performance.now() - started;
  findings.push(...cluster.takeDeaths().map((d) => `a node died: ${d}`));
  await cluster.heal();
  await checkQuiet(cluster, findings, 'after the fuzzing');
  const before = loops.map((l) => l.completed);
  try {
    await eventually(async () => (loops.every((l, i) => l.completed - before[i]! >= realBatchBounds.unitsAfter) ? true : undefined),
      realBatchBounds.servedWithinMs, 'well-behaved clients served', 20);
  } catch {
    findings.push(`a well-behaved client was not served after the fuzzing: ${loops.map((l, i) => l.completed - before[i]!).join(', ')} ${app.workload.unit} in ${realBatchBounds.servedWithinMs} ms`);
  }
  for (const l of loops) l.stop();
  await eventually(async () => (loops.every((l) => l.idle) && recorder.running === 0 ? true : undefined), 30_000, 'clients idle', 20).catch(() => undefined);
  for (const c of goodClients) c.close();
  const history = recorder.history();
  const verdict = checkLinearizable(history, app.workload.model, { timeBudgetMs: 20_000 });
  if (verdict.verdict === 'violation') findings.push(`the well-behaved clients' history (${history.length} operations) is not linearizable: ${verdict.explanation}`);

  const forge = opts.families.filter((f) => forgeFamilies.includes(f));
  let forged = 0;
  if (forge.length > 0) {
    const forgeCases = drawCases(env, forge, Math.ceil(opts.cases / 2), caseRng);
    forged = forgeCases.length;
    findings.push(...await forgePhase(cluster, clients, env, forgeCases));
  }
  return {
    seed, ok: findings.length === 0, findings, digest: inputDigest(cases),
    stats: {
      app: app.target.name, cases: cases.length + forged, ...tally(outcomes), good: history.length, ...(forged > 0 ? { forged } : {}),
      casesPerS: Math.round(cases.length / (sentMs / 1000)), wallMs: Math.round(performance.now() - started),
    },
  };
}

/** Sends every case, `parallel` at a time; the outcomes by case id. */
async function sendAll(cluster: RealCluster, clients: RawClients, env: CaseEnv, cases: readonly FuzzCase[]): Promise<CaseOutcome[]> {
  const outcomes: CaseOutcome[] = cases.map(() => ({ kind: 'silent', detail: 'not sent' }));
  let primary = await cluster.primary();
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < cases.length; i = next++) {
      const c = cases[i]!;
      if (i % 50 === 0) primary = (await cluster.primary().catch(() => null)) ?? primary;
      const node = cluster.nodes[c.toPrimary ? Math.max(0, cluster.addresses.indexOf(primary ?? '')) : c.to]!;
      const address = serviceTarget(c.service).role === 'control' ? node.controlAddress : node.address;
      outcomes[c.id] = await sendCase(clients, env.schema.method(c.service, c.method), c, address, cluster.cluster);
    }
  };
  await Promise.all(Array.from({ length: realBatchBounds.parallel }, worker));
  return outcomes;
}

async function checkQuiet(cluster: RealCluster, findings: string[], when: string): Promise<void> {
  try {
    await eventually(() => cluster.quiet(), realBatchBounds.quietWithinMs, 'a quiet view', 100);
  } catch (err) {
    const statuses = await Promise.all(cluster.nodes.map((n) => cluster.status.status(n.address).then(
      (s) => `${n.address}: v${s.vid} [${s.members.join(',')}] ${s.replicaStatus ?? '-'} last ${JSON.stringify(s.lastExecuted)} in flight ${s.inFlight}`,
      (e: unknown) => `${n.address}: ${(e as Error).message}`)));
    findings.push(`the nodes did not serve one quiet view ${when} within ${realBatchBounds.quietWithinMs} ms (${(err as Error).message}): ${statuses.join('; ')}`);
  }
}

/**
 * Forged peer messages (see sim-forge.ts for why the oracle is narrower): no process dies, every
 * refusal is typed, and each node, restarted from its disk afterwards, runs and serves again.
 */
async function forgePhase(cluster: RealCluster, clients: RawClients, env: CaseEnv, cases: readonly FuzzCase[]): Promise<string[]> {
  const findings: string[] = [];
  const outcomes = await sendAll(cluster, clients, env, cases);
  for (const c of cases) {
    const broken = judge(c, outcomes[c.id]!);
    if (broken !== null) findings.push(`case ${c.id} [${c.family} → ${cluster.addresses[c.to]}] ${c.label}: ${broken}`);
  }
  await sleep(500);
  // A crash breakpoint armed through the control service kills its node on purpose (design §7:
  // a power of `control-effects`, not a finding); such a node is started again first, so that the
  // restarts below each find the other two serving.
  for (const d of cluster.takeDeaths()) if (!breakpointStop.test(d)) findings.push(`a node died under forged peer messages: ${d}`);
  await cluster.heal();
  for (const n of cluster.nodes.filter((x) => !x.running)) {
    try {
      await cluster.restart(n);
    } catch (err) {
      findings.push(`${n.address}, stopped by a breakpoint, did not start again: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  if (cluster.nodes.some((n) => !n.running)) return findings;
  await checkQuiet(cluster, findings, 'after nodes a breakpoint stopped started again');
  // One node at a time, each back in a quiet view of all three before the next: the app's state
  // lives in memory, so restarting the nodes faster than they re-sync would lose it (a whole-cluster
  // restart forgets the state by design until state is durable), which is not what this checks.
  for (const n of cluster.nodes) {
    try {
      await cluster.restart(n);
    } catch (err) {
      findings.push(`${n.address} did not start again after forged peer messages: ${(err as Error).message.split('\n')[0]}`);
      continue;
    }
    await checkQuiet(cluster, findings, `after forged peer messages and a restart of ${n.address}`);
  }
  return findings;
}

/** How a node says a crash breakpoint stopped it (its halt reason, `synod: stopping: breakpoint N: …`, in its output). */
const breakpointStop = /stopping: breakpoint \d/;

/** Genuine peer messages of the cluster's simulated twin: the same node ids and app, a second of the app's traffic. */
export function twinCapture(ids: readonly string[], appName: FuzzAppName = 'lock'): CapturedEnvelope[] {
  const app = fuzzApps[appName].app;
  const twin = new SimCluster<unknown>({ seed: 1, ids, app, callbacks: app.callbacks === undefined ? undefined : {} });
  const captured = capture(twin);
  twin.start();
  twin.runFor(3000);
  const client = twin.addClient(`twin${goodMark}`);
  for (let i = 0; i < 20; i++) client.submit(...twinCall(appName, i), { deadlineMs: 2000 }, () => undefined);
  twin.runFor(2000);
  for (const n of twin.nodes) n.crash('end of capture');
  return [...captured];
}

/** The twin's i-th call: lock cycles, counter adds, or KV puts and reads. */
function twinCall(app: FuzzAppName, i: number): [string, Json] {
  switch (app) {
    case 'lock': return [i % 2 === 0 ? 'acquire' : 'release', { lock: 'twin', owner: 'twin' }];
    case 'test': return ['add', { key: 'twin', by: 1 }];
    case 'kv': return i % 2 === 0 ? ['put', { key: 'twin', value: `v${i}` }] : ['get', { key: 'twin' }];
  }
}

/** A digest of a batch's input (64-bit FNV-1a over each case's label and size): the same seed, the same digest. */
function inputDigest(cases: readonly FuzzCase[]): string {
  let h = 0xcbf29ce484222325n;
  const mix = (s: string): void => {
    for (let i = 0; i < s.length; i++) h = ((h ^ BigInt(s.charCodeAt(i))) * 0x100000001b3n) & 0xffffffffffffffffn;
  };
  for (const c of cases) mix(`${c.family}|${c.service}|${c.method}|${c.to}|${c.label}|${c.payload.form === 'bytes' ? c.payload.bytes.length : JSON.stringify(Object.keys(c.payload.fields))};`);
  return h.toString(16).padStart(16, '0');
}
