/**
 * A fuzz batch on the simulator: a 3-node cluster of an app (the lock service, the test app or the
 * KV store with its watch feed; `SimCluster` takes no `leases`, so a simulated KV node runs
 * without the lease keeper and its leases never expire: the real target runs the keeper),
 * two well-behaved clients, and the batch's cases injected into the simulated network as if from
 * a peer or a client, at random virtual times. One seed is one batch: the cluster, the clients,
 * the cases and their timing all come from it, so `--seed S` replays a batch exactly (same trace
 * digest). Phase one sends the safe families and checks the whole oracle; phase two, when forge
 * families are on, sends them and checks what holds against a Byzantine peer (see `forgePhase`).
 */
import { InvalidMessageError } from '../../src/env/errors.js';
import type { NodeId } from '../../src/env/types.js';
import { callbacksCodec } from '../../src/rsm/callbacks-wire.js';
import { clientServiceCodec } from '../../src/rsm/codec.js';
import { feedsCodec } from '../../src/rsm/feeds-wire.js';
import { checkLinearizable } from '../lincheck/check.js';
import { HistoryRecorder } from '../lincheck/recorder.js';
import { RsmChecker } from '../sim/checkers/rsm-checker.js';
import { SimCluster, type StackProcess, sameList } from '../sim/cluster.js';
import type { NetworkProfile } from '../sim/network.js';
import { Prng } from '../sim/prng.js';
import type { SimNode } from '../sim/simulation.js';
import { type FuzzApp, type FuzzAppName, fuzzApps } from './apps.js';
import { type CaseEnv, type Family, type FuzzCase, forgeFamilies, fuzzMachine, safeFamilies } from './case-model.js';
import { drawCases } from './cases.js';
import type { CapturedEnvelope } from './envelopes.js';
import { type GoodLoop, goodMark } from './good-client.js';
import { type WireEnv, wireWords } from './messages.js';
import { type CaseOutcome, judge, summarize, tally } from './oracle.js';
import { WireSchema } from './schema.js';
import { serviceTarget, serviceTargets } from './services.js';
import { simForgePhase } from './sim-forge.js';
import type { SimDisk } from '../sim/disk.js';
import { inVirtualTime } from '../sim/drifting-clock.js';

export interface SimBatchOptions {
  readonly seed: number;
  /** Cases of the safe families (phase one); phase two sends half as many again. */
  readonly cases: number;
  readonly families: readonly Family[];
  /** Default drawn from the seed (the lock service, the test app or the KV store). */
  readonly app?: FuzzAppName;
  readonly keepTrace?: boolean;
  readonly traceLogs?: boolean;
}

export interface BatchResult {
  readonly seed: number;
  readonly ok: boolean;
  /** What broke the oracle, one sentence each (with the case and its label where one case did). */
  readonly findings: readonly string[];
  /** The trace digest (simulator); the same seed gives the same digest. */
  readonly digest: string;
  readonly stats: Readonly<Record<string, number | string>>;
  readonly trace?: readonly string[];
}

/** Bounds of a batch, in virtual milliseconds. */
export const simBatchBounds = {
  settleMs: 15_000,
  warmUpMs: 300,
  /** Cases are spread over this long per case (at least `minWindowMs`). */
  windowPerCaseMs: 4,
  minWindowMs: 1000,
  drainMs: 1500,
  /** After the fuzzing, each well-behaved client must complete this many units … */
  unitsAfter: 3,
  /** … within this long. */
  servedWithinMs: 10_000,
  clientDeadlineMs: 4000,
  /**
   * How long a fuzz stream stays open once accepted: past the network's slow delay (40 ms), so a
   * stream the node accepts only to end it (a feed's cancel, then `invalid-request`) is heard
   * ending before the fuzzer closes it.
   */
  streamOpenMs: 100,
};

/** A network with the usual small delays, some reordering and duplicates (genuine ones), no loss. */
const fuzzNetwork: NetworkProfile = {
  minDelayMs: 0.1, maxDelayMs: 3, slowRate: 0.02, slowDelayMs: 40, dropRate: 0, duplicateRate: 0.02, reconnectDelayMaxMs: 0,
};

const ids: readonly NodeId[] = ['n1', 'n2', 'n3'];

export function simWireEnv(): WireEnv {
  return {
    nodes: ids, strangers: ['n9', 'ghost', '10.0.0.1:7001'], cluster: null, otherClusters: ['synod@10.0.0.1:7001', 'another'], anyTypes: true, words: wireWords,
    clusterId: null,
  };
}

/** One batch: see the file comment. */
export function runSimBatch(opts: SimBatchOptions): BatchResult {
  const started = performance.now();
  const caseRng = new Prng(opts.seed ^ 0x0f0220aa);
  const app = fuzzApps[opts.app ?? drawApp(caseRng)];
  let checker: RsmChecker | null = null;
  const cluster = new SimCluster<unknown>({
    seed: opts.seed, ids, network: fuzzNetwork, app: app.app, callbacks: app.app.callbacks === undefined ? undefined : {},
    replicaObserver: (id) => ({ executed: (vs, r, o) => checker?.executed(id, vs, r, o) }),
    keepTrace: opts.keepTrace, traceLogs: opts.traceLogs,
  });
  const { sim } = cluster;
  checker = new RsmChecker(sim);
  const findings: string[] = [];
  const captured = capture(cluster);
  sim.log(`fuzz batch seed=${opts.seed} app=${app.target.name} cases=${opts.cases}`);
  cluster.start();
  if (!cluster.runUntil(() => settled(cluster), simBatchBounds.settleMs)) findings.push(`the cluster did not settle before fuzzing: ${cluster.describe()}`);

  const recorder = new HistoryRecorder(app.workload.calls);
  const sched = { after: (ms: number, fn: () => void) => sim.schedule(ms, fn) };
  const loops: GoodLoop[] = [1, 2].map((k) => {
    const client = cluster.addClient(`wellbehaved${goodMark}${k}`);
    client.observe(inVirtualTime(sim, recorder));
    return app.workload.start(client, sched, sim.rng, simBatchBounds.clientDeadlineMs);
  });
  cluster.runFor(simBatchBounds.warmUpMs);

  const schema = WireSchema.load();
  const servedServices = servedBy(app, serviceTargets.filter((t) => t.simulated).map((t) => t.service));
  const env: CaseEnv = { schema, wire: simWireEnv(), app: app.target, real: false, served: servedServices, captured: [...captured] };
  const safe = opts.families.filter((f) => safeFamilies.includes(f));
  const cases = drawCases(env, safe, opts.cases, caseRng);
  const outcomes = inject(cluster, cases, caseRng);
  cluster.runFor(Math.max(simBatchBounds.minWindowMs, cases.length * simBatchBounds.windowPerCaseMs) + simBatchBounds.drainMs);
  for (const c of cases) {
    const broken = judge(c, outcomes[c.id]!);
    if (broken !== null) findings.push(`case ${c.id} [${c.family} → ${c.toPrimary ? 'primary' : ids[c.to]}] ${c.label}: ${broken}`);
  }

  // The whole oracle: every node up, the quiet view's replicas equal, the clients served and linearizable.
  for (const n of cluster.nodes) if (n.status !== 'up' || n.incarnation !== 1) findings.push(`${n.id} went down (status ${n.status}, process #${n.incarnation})`);
  const unitsBefore = loops.map((l) => l.completed);
  const served = (): boolean => loops.every((l, i) => l.completed - unitsBefore[i]! >= simBatchBounds.unitsAfter);
  if (!cluster.runUntil(served, simBatchBounds.servedWithinMs)) {
    findings.push(`a well-behaved client was not served after the fuzzing: ${loops.map((l, i) => l.completed - unitsBefore[i]!).join(', ')} ${app.workload.unit} ` +
      `in ${simBatchBounds.servedWithinMs} ms (${cluster.describe()})`);
  }
  for (const l of loops) l.stop();
  cluster.runUntil(() => loops.every((l) => l.idle) && recorder.running === 0, simBatchBounds.clientDeadlineMs * 2);
  if (!cluster.runUntil(() => settled(cluster), simBatchBounds.settleMs)) findings.push(`the cluster did not settle after the fuzzing: ${cluster.describe()}`);
  else checkEqualReplicas(cluster, checker);
  const history = recorder.history();
  const verdict = checkLinearizable(history, app.workload.model, { timeBudgetMs: 20_000 });
  if (verdict.verdict === 'violation') findings.push(`the well-behaved clients' history (${history.length} operations) is not linearizable: ${verdict.explanation}`);
  findings.push(...sim.failures);

  const forge = opts.families.filter((f) => forgeFamilies.includes(f));
  const forged = forge.length === 0 ? null : simForgePhase(cluster, env, drawCases({ ...env, captured: [...captured] }, forge, Math.ceil(opts.cases / 2), caseRng), (cs) => inject(cluster, cs, caseRng));
  if (forged !== null) findings.push(...forged.findings);
  for (const n of cluster.nodes) n.crash('end of batch');

  return {
    seed: opts.seed,
    ok: findings.length === 0,
    findings,
    digest: sim.trace.digest(),
    stats: {
      app: app.target.name, cases: cases.length + (forged?.cases ?? 0), ...tally(outcomes),
      good: history.length, captured: captured.length, ...(forged === null ? {} : { forged: forged.cases, byzantineVerdicts: forged.checkerVerdicts }),
      wallMs: Math.round(performance.now() - started),
    },
    ...(sim.trace.lines === null ? {} : { trace: sim.trace.lines }),
  };
}

/**
 * The app of a batch whose options name none. The first draw is the one seeds drew before the KV
 * store was fuzzed (so the lock service's batches stay as they were); a second one then gives
 * half of the other seeds to the KV store.
 */
function drawApp(rng: Prng): FuzzAppName {
  if (rng.chance(0.6)) return 'lock';
  return rng.chance(0.5) ? 'test' : 'kv';
}

/** Of `services`, those a node of `app` serves: the callback service only with callbacks, the feed service only with feeds. */
export function servedBy(app: FuzzApp, services: readonly string[]): Set<string> {
  const hasFeeds = Object.keys(app.app.feeds ?? {}).length > 0;
  return new Set(services.filter((s) => (s !== callbacksCodec.service || app.app.callbacks !== undefined) && (s !== feedsCodec.service || hasFeeds)));
}

/** Every node a member of one view of all three, every replica serving it. */
function settled(cluster: SimCluster<unknown>): boolean {
  const v = cluster.view(ids[0]!);
  return v !== null && v.members.length === ids.length && ids.every((id) => {
    const w = cluster.view(id);
    const r = cluster.node(id).process?.stack.rsm?.core;
    return w !== null && w.status === 'member' && w.vid === v.vid && sameList(w.members, v.members) && r?.status === 'normal' && r.vid === v.vid;
  });
}

function checkEqualReplicas(cluster: SimCluster<unknown>, checker: RsmChecker): void {
  const snapshots = new Map<NodeId, string>();
  const sizes = new Map<NodeId, string>();
  for (const id of ids) {
    const bytes = cluster.node(id).process?.stack.rsm?.core.snapshotBytes();
    if (bytes === null || bytes === undefined) continue;
    snapshots.set(id, Buffer.from(bytes).toString('base64'));
    sizes.set(id, `${bytes.length} bytes`);
  }
  checker.checkEqualState(snapshots, sizes);
}

/** Records every peer message between the cluster's nodes (at most 2000), as envelope bodies. */
export function capture(cluster: SimCluster<unknown>): CapturedEnvelope[] {
  const captured: CapturedEnvelope[] = [];
  cluster.sim.network.taps.push((from, to, service, msg) => {
    const t = serviceTargets.find((s) => s.service === service);
    if (t?.encode === undefined || captured.length >= 2000 || !cluster.ids.includes(from) || !cluster.ids.includes(to)) return;
    captured.push({ service, from, to, body: t.encode(msg) });
  });
  return captured;
}

/**
 * Schedules every case at a random time of the window and returns their outcomes (filled in as
 * the simulation runs): a channel message straight into the node's receiver with the case's
 * sender; a call from a fuzz machine of its own, whose answers come back over the network; a
 * stream opened from such a machine.
 */
export function inject(cluster: SimCluster<unknown>, cases: readonly FuzzCase[], rng: Prng): CaseOutcome[] {
  const { sim } = cluster;
  const outcomes: CaseOutcome[] = cases.map(() => ({ kind: 'silent', detail: 'nothing heard' }));
  const windowMs = Math.max(simBatchBounds.minWindowMs, cases.length * simBatchBounds.windowPerCaseMs);
  for (const c of cases) {
    const at = rng.uniform(0, windowMs);
    // A later answer replaces what only said the message or stream was taken: a stream the node
    // accepted and then ended (a feed's cancel, then `invalid-request`) is judged by its end, as
    // against real processes, where the end comes before the fuzzer closes the stream.
    sim.schedule(at, () => injectOne(cluster, c, (o) => (outcomes[c.id] = o), (o) => {
      const was = outcomes[c.id]!;
      if (was.kind === 'silent' || was.kind === 'accepted' || (was.kind === 'stream' && was.end === 'accepted')) outcomes[c.id] = o;
    }));
  }
  return outcomes;
}

function injectOne(cluster: SimCluster<unknown>, c: FuzzCase, set: (o: CaseOutcome) => void, answer: (o: CaseOutcome) => void): void {
  const { sim } = cluster;
  if (c.payload.form !== 'fields') return; // the simulator has no bytes
  const target = c.toPrimary ? primaryOf(cluster) ?? ids[c.to]! : ids[c.to]!;
  const t = serviceTarget(c.service);
  const wire = t.role === 'channel' ? { ...c.payload.fields, ...channelIdentity(cluster.node(target)) } : c.payload.fields;
  sim.untrusted.set(wire, {
    accepted: () => set({ kind: 'accepted' }),
    refused: (_node, err) => set({ kind: 'refused', typed: err instanceof InvalidMessageError, detail: (err as Error).message ?? String(err) }),
  });
  if (t.role === 'channel') {
    cluster.node(target).receive(c.service, c.from, wire);
    return;
  }
  const machine = fuzzMachineFor(cluster, c, answer);
  if (t.role === 'stream') {
    let stream: { close(): void } | null = null;
    stream = sim.streams.open(machine.id, target, c.service, wire, {
      accepted: () => {
        answer({ kind: 'stream', end: 'accepted', detail: '' });
        sim.schedule(simBatchBounds.streamOpenMs, () => stream?.close());
      },
      message: (_w, received) => received(),
      ended: (end) => answer({ kind: 'stream', end: end.kind, detail: end.detail }),
    });
    return;
  }
  cluster.node(target).receive(c.service, machine.id, wire);
}

/**
 * What the simulated transport checks before a channel's codec sees a message: the cluster id
 * the node keeps on its disk once the cluster has one (then a message without it is dropped
 * before decoding, and the case would go unheard). The fuzzer's channel cases aim at the codecs
 * and the cores, so they carry it; ids themselves are tested where they are checked (the
 * transport's tests, and the real target, where every envelope passes the gRPC transport's checks).
 * Read by shape: a simulator without ids has no `identity` and gets nothing added.
 */
function channelIdentity(node: { readonly disk: SimDisk }): Record<string, unknown> {
  const id = node.disk.identity?.clusterId;
  return typeof id === 'string' ? { cluster_id: id } : {};
}

/** A simulated machine of the case's own, which hears the answers of its call. */
function fuzzMachineFor(cluster: SimCluster<unknown>, c: FuzzCase, answer: (o: CaseOutcome) => void): SimNode<{ readonly [k: string]: unknown }> {
  const id = `${fuzzMachine}-${c.id}`;
  const t = serviceTarget(c.service);
  const node = cluster.sim.addNode<{ readonly [k: string]: unknown }>(id, (_world, self) => {
    if (t.role === 'call' && c.service === 'synod.rsm.Client') {
      self.clientTransport.connect(clientServiceCodec, (_server, a) => answer({ kind: 'answered', ...summarize(a) }));
    }
    return {};
  });
  node.start();
  return node;
}

/** The primary of the view the first live node knows. */
function primaryOf(cluster: SimCluster<unknown>): NodeId | null {
  for (const n of cluster.nodes as Array<SimNode<StackProcess<unknown>>>) {
    const core = n.process?.stack.rsm?.core;
    if (core !== undefined && core.vid > 0) return core.primaryOf();
  }
  return null;
}
