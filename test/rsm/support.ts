// Helpers for the RSM scenario tests: a seeded SimCluster running the test app with the RSM
// checker attached, a load of clients appending unique items through the simulated network, and
// the end-of-test audit (nothing acknowledged lost, nothing twice, equal replicas, no failures).
import assert from 'node:assert/strict';
import { type TestState, testApp } from '../../src/apps/test-app.js';
import type { CallResult } from '../../src/client/client-core.js';
import type { RsmClient } from '../../src/client/rsm-client.js';
import type { Members, NodeId } from '../../src/env/types.js';
import type { Request } from '../../src/rsm/messages.js';
import type { Replica } from '../../src/rsm/replica.js';
import { type Viewstamp, formatViewstamp } from '../../src/rsm/viewstamp.js';
import { RsmChecker } from '../../tools/sim/checkers/rsm-checker.js';
import { SimCluster, type SimClusterOptions, sameList } from '../../tools/sim/cluster.js';

/** Generous bound for one view change plus its state transfer on a calm network (detection is ~0.5 s). */
export const viewChangeMs = 3000;

/** One execution a replica reported (through the `ReplicaObserver`). */
export interface Execution {
  readonly node: NodeId;
  readonly atMs: number;
  readonly vs: Viewstamp;
  readonly request: Request;
  /** False when the client table answered it instead of running it (a retry, a stale or conflicting request). */
  readonly ran: boolean;
}

/**
 * A cluster of full node stacks running the test app. Every execution is recorded, and fed to
 * the simulator's RSM checker (the same request at every viewstamp on every replica).
 */
export class RsmScenario {
  readonly cluster: SimCluster<TestState>;
  readonly executions: Execution[] = [];
  readonly checker: RsmChecker;

  constructor(seed: number, ids: readonly NodeId[] = ['n1', 'n2', 'n3'], opts: Partial<SimClusterOptions<TestState>> = {}) {
    let checker: RsmChecker | null = null;
    this.cluster = new SimCluster<TestState>({
      seed,
      ids,
      app: testApp,
      replicaObserver: (node) => ({
        executed: (vs, request, outcome, ran) => {
          this.executions.push({ node, atMs: this.cluster.sim.now, vs, request, ran });
          checker?.executed(node, vs, request, outcome);
        },
      }),
      ...opts,
    });
    this.checker = checker = new RsmChecker(this.cluster.sim);
  }

  get sim(): SimCluster<TestState>['sim'] {
    return this.cluster.sim;
  }

  /** The replica core of a running node (throws if the node is down). */
  core(id: NodeId): Replica<TestState> {
    const core = this.cluster.node(id).process?.stack.rsm?.core;
    if (core === undefined) throw new Error(`${id} is not running: ${this.describe()}`);
    return core;
  }

  /** The replica core of a node, or null if it is down. */
  replica(id: NodeId): Replica<TestState> | null {
    return this.cluster.node(id).process?.stack.rsm?.core ?? null;
  }

  /** The member lists of every view `id` knows, as `a,b,c` strings (index 0 is view 1). */
  history(id: NodeId): string[] {
    return this.cluster.node(id).process!.stack.config.core.views().map((v) => v.members.join(','));
  }

  /**
   * Whether `members` is the current view on every one of them, each a member with its replica
   * normal in that view, and the view's primary is the primary it believes it is: the view serves.
   */
  serving(members: Members): boolean {
    let vid: number | null = null;
    for (const id of members) {
      const v = this.cluster.view(id);
      const r = this.replica(id);
      if (v === null || r === null || v.status !== 'member' || !sameList(v.members, members)) return false;
      if (r.status !== 'normal' || r.vid !== v.vid || (vid !== null && v.vid !== vid)) return false;
      vid = v.vid;
    }
    const primary = this.replica(members[0]!)!.primaryOf();
    return primary !== null && members.includes(primary) && this.replica(primary)!.isPrimary;
  }

  waitServing(members: Members, timeoutMs = viewChangeMs): void {
    assert.ok(this.cluster.runUntil(() => this.serving(members), timeoutMs),
      `expected [${members.join(',')}] serving within ${timeoutMs} ms: ${this.describe()}`);
  }

  /** Starts the nodes one at a time, each joining and serving before the next starts. */
  growTo(ids: readonly NodeId[]): void {
    for (let k = 0; k < ids.length; k++) {
      this.cluster.start(ids[k]!);
      this.waitServing(ids.slice(0, k + 1));
    }
  }

  /** The primary of `id`'s current view, as `id` believes. */
  primaryOf(id: NodeId): NodeId {
    const p = this.core(id).primaryOf();
    assert.ok(p !== null, `${id} knows no primary`);
    return p;
  }

  /** Why `id` last crashed, from the trace (needs `keepTrace: true`), or null if it never did. */
  crashReason(id: NodeId): string | null {
    const lines = this.sim.trace.lines;
    assert.ok(lines !== null, 'crashReason needs keepTrace: true');
    const prefix = ` crash ${id} #`;
    const line = lines.findLast((l) => l.includes(prefix));
    return line === undefined ? null : line.slice(line.indexOf('(') + 1, line.lastIndexOf(';'));
  }

  /** Arms an RSM breakpoint (1 or 2) on a running node. */
  arm(id: NodeId, n: 1 | 2): void {
    this.cluster.node(id).process!.breakpoints.arm(n);
  }

  /** Every node's view and replica status, for failure messages. */
  describe(): string {
    const rsm = this.cluster.ids.map((id) => {
      const r = this.replica(id);
      return r === null ? `${id}:down` : `${id}:${r.status}@${formatViewstamp(r.lastExecuted)}${r.isPrimary ? '(P)' : ''}${r.refusing ? '(refusing)' : ''}`;
    });
    return `${this.cluster.describe()} | rsm ${rsm.join(' ')}`;
  }

  /** Every execution, on any node, of the append of `item` (with `ran`: only those the app ran). */
  executionsOf(item: string, ran?: boolean): Execution[] {
    return this.executions.filter((e) => (e.request.args as { item?: unknown } | null)?.item === item && (ran === undefined || e.ran === ran));
  }

  load(clientIds: readonly NodeId[], opts: LoadOptions = {}): Load {
    return new Load(this, clientIds, opts);
  }

  /**
   * Ends a test: stops the load, lets every call finish, waits until `members` serve (default:
   * the current view of the first live node), then audits the members: every acknowledged item
   * sits at its acknowledged index in every member's list, no item appears twice, every member
   * holds byte-equal state (list and client table), and no checker or node failure was recorded.
   */
  finish(loads: Load | readonly Load[], members?: Members): void {
    const all = Array.isArray(loads) ? loads as readonly Load[] : [loads as Load];
    for (const load of all) load.stop();
    const deadlineMs = Math.max(0, ...all.map((l) => l.deadlineMs));
    assert.ok(this.cluster.runUntil(() => all.every((l) => l.pending === 0), deadlineMs + 1000), `calls still pending: ${this.describe()}`);
    const live = this.cluster.ids.find((id) => this.cluster.view(id)?.status === 'member')!;
    const final = members ?? this.cluster.view(live)!.members;
    this.waitServing(final);
    // The primary keeps sweeping the client table (a replicated request every clientTableSweepMs),
    // so the view is quiet only between two requests: compare when every member executed the same.
    const executed = (): Set<string> => new Set(final.map((id) => formatViewstamp(this.core(id).lastExecuted)));
    assert.ok(this.cluster.runUntil(() => executed().size === 1, viewChangeMs), `the members never executed the same requests: ${this.describe()}`);
    assert.deepEqual(this.sim.failures, [], 'simulator checkers and nodes reported failures');
    const snapshots = new Map<NodeId, string>();
    for (const id of final) {
      const r = this.core(id);
      const bytes = r.snapshotBytes();
      assert.ok(r.state !== null && bytes !== null, `${id} holds no state`);
      snapshots.set(id, Buffer.from(bytes).toString('base64'));
      const list = r.state.list;
      assert.equal(new Set(list).size, list.length, `${id}: an item appears twice in [${list.join(' ')}]`);
      for (const [item, index] of all.flatMap((l) => [...l.acked])) {
        assert.equal(list[index], item, `${id}: ${item} was acknowledged at index ${index}; the list has ${list[index] ?? 'nothing'} there (it at ${list.indexOf(item)})`);
      }
    }
    assert.equal(new Set(snapshots.values()).size, 1, `the members of [${final.join(',')}] hold different states: ${this.describe()}`);
    // The checker's own final audit over the same lists (it fails the simulation on a violation).
    this.checker.checkFinal(new Map(final.map((id) => [id, [...this.core(id).state!.list]])), snapshots);
    assert.deepEqual(this.sim.failures, []);
  }
}

export interface LoadOptions {
  /** Virtual milliseconds between one client's calls. Default 5. */
  readonly gapMs?: number;
  /** Each call's deadline. Default 4000. */
  readonly deadlineMs?: number;
  /** The replicas each client starts from (default every node). */
  readonly members?: readonly NodeId[];
}

/**
 * Clients that each append unique items (`<client>:<n>`), one call at a time, with a short gap,
 * until stopped. Each acknowledged item is recorded with the index the app returned.
 */
export class Load {
  readonly clients = new Map<NodeId, RsmClient>();
  /** Acknowledged item → its index in the list. */
  readonly acked = new Map<string, number>();
  /** Acknowledged items per client, in order. */
  readonly ackedBy = new Map<NodeId, string[]>();
  /** Calls that ended with an error (not executed, or outcome unknown), with the error's name. */
  readonly failed: Array<{ readonly item: string; readonly error: string }> = [];
  readonly deadlineMs: number;
  readonly #scenario: RsmScenario;
  readonly #gapMs: number;
  /** Items sent per client: numbering continues across stop and start, so items stay unique. */
  readonly #sent = new Map<NodeId, number>();
  #running = false;
  /** Bumped by every start, so that a loop left over from before a stop never runs again. */
  #generation = 0;
  /** Calls submitted and not finished yet. */
  pending = 0;

  constructor(scenario: RsmScenario, clientIds: readonly NodeId[], opts: LoadOptions) {
    this.#scenario = scenario;
    this.#gapMs = opts.gapMs ?? 5;
    this.deadlineMs = opts.deadlineMs ?? 4000;
    for (const id of clientIds) {
      this.clients.set(id, scenario.cluster.addClient(id, opts.members === undefined ? {} : { members: opts.members }));
      this.ackedBy.set(id, []);
    }
  }

  get ackedCount(): number {
    return this.acked.size;
  }

  /** Starts (or restarts) every client's loop. */
  start(): this {
    if (this.#running) return this;
    this.#running = true;
    this.#generation++;
    for (const [id, client] of this.clients) this.#loop(id, client);
    return this;
  }

  /** No client starts another call; calls in progress still finish. */
  stop(): void {
    this.#running = false;
  }

  /** Runs until `n` more items have been acknowledged; asserts it happens within `timeoutMs`. */
  waitMoreAcked(n: number, timeoutMs = viewChangeMs): void {
    const target = this.acked.size + n;
    assert.ok(this.#scenario.cluster.runUntil(() => this.acked.size >= target, timeoutMs),
      `only ${this.acked.size} of ${target} items acknowledged within ${timeoutMs} ms: ${this.#scenario.describe()}`);
  }

  /** Runs until every client has had `n` more items acknowledged. */
  waitEveryClientAcked(n: number, timeoutMs = viewChangeMs): void {
    const targets = new Map([...this.ackedBy].map(([id, items]) => [id, items.length + n]));
    const done = (): boolean => [...this.ackedBy].every(([id, items]) => items.length >= targets.get(id)!);
    assert.ok(this.#scenario.cluster.runUntil(done, timeoutMs),
      `not every client got ${n} more acknowledgements: ${[...this.ackedBy].map(([id, i]) => `${id}:${i.length}`).join(' ')} ${this.#scenario.describe()}`);
  }

  /** One call of `client` outside the loop, with the result recorded like the loop's. */
  call(id: NodeId, item: string, done: (r: CallResult) => void = () => {}): void {
    const client = this.clients.get(id)!;
    this.pending++;
    client.submit('append', { item }, { deadlineMs: this.deadlineMs }, (r) => {
      this.pending--;
      this.#record(id, item, r);
      done(r);
    });
  }

  #loop(id: NodeId, client: RsmClient): void {
    const sim = this.#scenario.sim;
    const generation = this.#generation;
    const next = (): void => {
      if (!this.#running || this.#generation !== generation) return;
      const item = `${id}:${this.#bump(id)}`;
      this.pending++;
      client.submit('append', { item }, { deadlineMs: this.deadlineMs }, (r) => {
        this.pending--;
        this.#record(id, item, r);
        sim.schedule(this.#gapMs, next);
      });
    };
    sim.schedule(0, next);
  }

  #bump(id: NodeId): number {
    const k = (this.#sent.get(id) ?? 0) + 1;
    this.#sent.set(id, k);
    return k;
  }

  #record(id: NodeId, item: string, r: CallResult): void {
    if (r.ok) {
      // Recorded as simulation failures: this runs inside the client's task, not the test's.
      if (typeof r.value !== 'number') this.#scenario.sim.fail(`${item}: append answered ${JSON.stringify(r.value)}`);
      if (this.acked.has(item)) this.#scenario.sim.fail(`${item} acknowledged twice`);
      this.acked.set(item, r.value as number);
      this.ackedBy.get(id)?.push(item);
    } else {
      this.failed.push({ item, error: r.error.name });
    }
  }
}
