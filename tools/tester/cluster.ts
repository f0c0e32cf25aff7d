import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { RsmClient } from '../../src/client/rsm-client.js';
import { silentLogger } from '../../src/env/logger.js';
import type { NodeId } from '../../src/env/types.js';
import { type ProbeResult, callReplica } from '../harness/client-probe.js';
import { type NodeExit, NodeProcess, cliPath, sleep } from '../harness/node-process.js';
import { freePortPairs } from '../harness/ports.js';
import { StatusReader } from '../harness/status.js';
import { type LockTesterResult, runLockTester } from '../../src/apps/lock/lock-tester.js';
import type { NodeStatus } from '../../src/node/status.js';
import { defaultClusterName } from '../../src/node/synod-node.js';
import type { Json } from '../../src/rsm/app.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { realClock } from '../../src/runtime/real-clock.js';
import { LockLoad } from './load.js';
import {
  callDeadlineMs, deathTimeoutMs, joinTimeoutMs, lockTestTimeoutMs, lockTesterReachTimeoutMs, pollIntervalMs,
  probeDeadlineMs, quietPeriodMs, statusCallDeadlineMs, supervisorRestartDelayMs, viewChangeTimeoutMs,
} from './timing.js';

/** A scenario's expectation did not hold; the message says what was expected and what was seen. */
export class ScenarioFailure extends Error {
  override readonly name = 'ScenarioFailure';
}

export function check(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) throw new ScenarioFailure(typeof message === 'string' ? message : message());
}

/** A view history, oldest first: each view's members in order. */
export type History = ReadonlyArray<readonly NodeProcess[]>;

/** What the config layer of a node says through the control service (it answers even when the node is isolated). */
interface ControlStatus {
  readonly node?: string;
  readonly incarnation?: string;
  readonly vid?: number | string;
  readonly members?: string[];
  readonly status?: string;
  readonly views?: Array<{ vid?: number | string; members?: string[] }>;
}

/** Why a node process is expected to die, and whether it must then stay down. */
interface DeathPlan {
  readonly why: string;
  /** Under supervision: not restarted (the scenario restarts it itself, or never). */
  readonly stayDown: boolean;
  readonly died: (exit: NodeExit) => void;
}

/**
 * When arming a breakpoint fails, how long the node may take to be gone before the failure counts:
 * under load the breakpoint fires at once and takes the control call's answer down with it.
 */
const armAnswerLostMs = 2000;

/** Every node process of every cluster alive in this process: what an interrupt kills. */
const liveNodes = new Set<NodeProcess>();

/** SIGKILLs every node process this process started and has not seen exit (for exit and signal handlers). */
export function killEveryNode(): void {
  for (const n of liveNodes) n.killNow();
}

/** Whether any node process this process started may still be running. */
export function anyNodeRunning(): boolean {
  return [...liveNodes].some((n) => n.running);
}

export interface TesterClusterOptions {
  /** The scenario's directory: each node's data directory and log file go inside. */
  readonly dir: string;
  readonly size: number;
  /** Restart every node process that dies unless the scenario wants it down (`--supervise`). */
  readonly supervise: boolean;
  /** Log level of the nodes (their log files). */
  readonly logLevel: string;
  /** Where step-by-step notes go (`--verbose`); default nowhere. */
  readonly note?: (line: string) => void;
  /**
   * Extra arguments for every start and restart of every node (after the harness's own), e.g.
   * `['--session-timeout-ms', '600000']`; default none.
   */
  readonly nodeArgs?: readonly string[];
}

/**
 * The nodes of one scenario: `synod lock-server` processes from `dist/` on free loopback ports
 * (the lowest port is the first node, n1), each with its own data directory and log file, and
 * everything a scenario does to them and asks of them: start, kill (SIGTERM / SIGKILL), pause
 * (SIGSTOP / SIGCONT), restart on the same port, partitions and crash breakpoints through the
 * test control service, status through the node service, direct client calls, the lock tester
 * and a background load. Views are checked by content: exact member lists, the same history on
 * every node, the primary.
 *
 * Deaths are bookkept: a process that dies while no death of it was planned (`kill`, `crash`,
 * `expectDeath`) is reported by `unexpectedDeaths`, and fails the scenario. With `supervise`,
 * every process that dies is restarted after `supervisorRestartDelayMs`, unless its plan says it
 * stays down.
 */
export class TesterCluster {
  readonly nodes: readonly NodeProcess[];
  readonly cluster: string;
  readonly supervise: boolean;
  readonly #labels = new Map<string, string>();
  readonly #status: StatusReader;
  readonly #transport: GrpcClientTransport;
  readonly #plans = new Map<NodeProcess, DeathPlan>();
  readonly #unexpected: string[] = [];
  /** Restarts the supervisor scheduled and has not finished, by node. */
  readonly #supervised = new Map<NodeProcess, Promise<void>>();
  readonly #clients: RsmClient[] = [];
  readonly #loads: LockLoad[] = [];
  readonly #note: (line: string) => void;
  readonly #nodeArgs: readonly string[];
  #closing = false;

  private constructor(nodes: NodeProcess[], opts: TesterClusterOptions) {
    this.nodes = nodes;
    this.cluster = defaultClusterName(nodes[0]!.address);
    this.supervise = opts.supervise;
    this.#note = opts.note ?? (() => {});
    this.#nodeArgs = opts.nodeArgs ?? [];
    nodes.forEach((n, i) => this.#labels.set(n.address, `n${i + 1}`));
    this.#status = new StatusReader(this.cluster, silentLogger, {
      callDeadlineMs: statusCallDeadlineMs, reconnectBackoffInitialMs: 50, reconnectBackoffMaxMs: 200,
    });
    this.#transport = new GrpcClientTransport({ cluster: this.cluster, logger: silentLogger });
    for (const n of nodes) n.onExit((exit) => this.#onExit(n, exit));
  }

  /** Makes (does not start) `size` nodes on free loopback port pairs, lowest port first. */
  static async create(opts: TesterClusterOptions): Promise<TesterCluster> {
    const ports = (await freePortPairs(opts.size)).sort((a, b) => a - b);
    const first = `127.0.0.1:${ports[0]}`;
    mkdirSync(opts.dir, { recursive: true });
    const nodes = ports.map((port, i) => new NodeProcess({
      port,
      first,
      dataDir: join(opts.dir, `n${i + 1}`),
      logFile: join(opts.dir, `n${i + 1}.log`),
      logLevel: opts.logLevel,
      entry: [cliPath, 'lock-server'],
      ownProcessGroup: true,
    }));
    return new TesterCluster(nodes, opts);
  }

  // ---- names ---------------------------------------------------------------------------------

  /** n1, n2 … by port order (n1 is the first node). */
  label(node: NodeProcess | string): string {
    const address = typeof node === 'string' ? node : node.address;
    return this.#labels.get(address) ?? address;
  }

  /** `[n1,n2,n3]` */
  list(members: readonly (NodeProcess | string)[]): string {
    return `[${members.map((m) => this.label(m)).join(',')}]`;
  }

  note(line: string): void {
    this.#note(line);
  }

  /** The history of a cluster grown one node at a time: [n1], [n1,n2], … [n1..nk]. */
  growth(k: number = this.nodes.length): NodeProcess[][] {
    return Array.from({ length: k }, (_, i) => this.nodes.slice(0, i + 1));
  }

  // ---- processes -----------------------------------------------------------------------------

  /**
   * Starts the nodes one at a time, each once the previous one serves as a member, so that the
   * views grow in a known order: [n1], [n1,n2], … Checks that history and the primary (n1).
   */
  async grow(): Promise<void> {
    for (let k = 1; k <= this.nodes.length; k++) {
      await this.#start(this.nodes[k - 1]!);
      await this.expectView(this.nodes.slice(0, k), { history: this.growth(k), primary: this.nodes[0]!, timeoutMs: joinTimeoutMs });
    }
    this.note(`grown: ${this.list(this.nodes)} serving, primary n1`);
  }

  async #start(n: NodeProcess): Promise<void> {
    liveNodes.add(n);
    await n.start([...this.#nodeArgs]);
  }

  /**
   * Kills `n` with `signal` and waits for it to be gone; it stays down (also under supervision)
   * until the scenario restarts it. SIGTERM is a graceful stop: the node must exit with 0.
   */
  async kill(n: NodeProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.#signal(n, signal, true);
  }

  /**
   * Kills `n` as a crash would: unsupervised it stays down until `bringBack`; under supervision
   * the supervisor restarts it (a death an init system would see).
   */
  async crash(n: NodeProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.#signal(n, signal, false);
  }

  async #signal(n: NodeProcess, signal: NodeJS.Signals, stayDown: boolean): Promise<void> {
    check(n.running, `${this.label(n)} is not running, cannot send it ${signal}`);
    const died = this.#plan(n, `${signal} by the scenario`, stayDown);
    this.note(`${signal} ${this.label(n)}${stayDown || !this.supervise ? '' : ' (the supervisor will restart it)'}`);
    await n.kill(signal);
    const exit = await died;
    if (signal === 'SIGTERM') {
      check(exit.code === 0, `${this.label(n)} stopped by SIGTERM exited with code ${exit.code} signal ${exit.signal}, not 0:\n${tail(n.output)}`);
    }
  }

  /**
   * Plans the death of `n` by a crash breakpoint the scenario is about to arm; resolves with the
   * process's exit once it died (by SIGKILL to itself, `dieNow`) and checks that its last words
   * match `reason`. `stayDown`: under supervision, leave it down.
   */
  expectDeath(n: NodeProcess, reason: RegExp, opts: { stayDown: boolean }): Promise<void> {
    const outputBefore = n.output.length;
    const died = this.#plan(n, `breakpoint (${reason.source})`, opts.stayDown);
    const result = (async () => {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([died, new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new ScenarioFailure(`${this.label(n)} did not die (${reason.source}) within ${deathTimeoutMs} ms`)), deathTimeoutMs);
        })]);
      } finally {
        clearTimeout(timer);
      }
      const words = n.output.slice(Math.max(0, outputBefore - 1000));
      check(reason.test(words), `${this.label(n)} died, but not of ${reason.source}:\n${tail(words)}`);
      this.note(`${this.label(n)} died: ${(words.match(/synod: stopping: (.*)/)?.[1] ?? '').trim()}`);
    })();
    result.catch(() => {}); // a scenario that failed earlier never awaits it; its failure is already reported
    return result;
  }

  /**
   * Forgets the planned death of `n` (e.g. a crash breakpoint that was disarmed before it fired):
   * a later death of it is unexpected again. Returns whether a death was planned.
   */
  forgetDeath(n: NodeProcess): boolean {
    return this.#plans.delete(n);
  }

  #plan(n: NodeProcess, why: string, stayDown: boolean): Promise<NodeExit> {
    check(!this.#plans.has(n), `${this.label(n)} already has a planned death: ${this.#plans.get(n)?.why}`);
    return new Promise((resolve) => this.#plans.set(n, { why, stayDown, died: resolve }));
  }

  /** Starts `n` again on its port and data directory (it must be down). */
  async restart(n: NodeProcess): Promise<void> {
    check(!n.running, `${this.label(n)} is still running`);
    this.note(`restart ${this.label(n)}`);
    await this.#start(n);
  }

  /**
   * Brings a node that crashed or died of a breakpoint back: under supervision by waiting for the
   * supervisor's restart, otherwise by restarting it now.
   */
  async bringBack(n: NodeProcess): Promise<void> {
    if (!this.supervise) return this.restart(n);
    const deadline = Date.now() + deathTimeoutMs;
    while (!n.running || this.#supervised.has(n)) {
      const pending = this.#supervised.get(n);
      if (pending !== undefined) await pending;
      else if (Date.now() > deadline) throw new ScenarioFailure(`the supervisor did not restart ${this.label(n)} within ${deathTimeoutMs} ms`);
      else await sleep(20);
    }
    this.note(`${this.label(n)} is back (restarted by the supervisor)`);
  }

  /** SIGSTOP: the process keeps its sockets but runs nothing. */
  pause(n: NodeProcess): void {
    this.note(`SIGSTOP ${this.label(n)}`);
    n.pause();
  }

  /** SIGCONT. */
  resume(n: NodeProcess): void {
    this.note(`SIGCONT ${this.label(n)}`);
    n.resume();
  }

  #onExit(n: NodeProcess, exit: NodeExit): void {
    if (this.#closing) return;
    const plan = this.#plans.get(n);
    this.#plans.delete(n);
    if (plan === undefined) {
      this.#unexpected.push(`${this.label(n)} died unexpectedly (${describeExit(exit)}):\n${tail(n.output)}`);
    } else {
      plan.died(exit);
    }
    if (this.supervise && plan?.stayDown !== true) {
      const restart = (async () => {
        await sleep(supervisorRestartDelayMs);
        if (this.#closing || n.running) return;
        try {
          await n.restart();
          this.note(`supervisor: restarted ${this.label(n)}`);
        } catch (err) {
          if (!this.#closing) this.#unexpected.push(`the supervisor could not restart ${this.label(n)}: ${(err as Error).message}`);
        }
      })();
      this.#supervised.set(n, restart);
      void restart.finally(() => {
        if (this.#supervised.get(n) === restart) this.#supervised.delete(n);
      });
    }
  }

  /** Deaths nobody planned, and failed supervisor restarts, as sentences. */
  get unexpectedDeaths(): readonly string[] {
    return this.#unexpected;
  }

  // ---- test control --------------------------------------------------------------------------

  /** Cuts `n` off from every peer and client (its control service still answers). */
  async isolate(n: NodeProcess): Promise<void> {
    this.note(`isolate ${this.label(n)}`);
    await n.control('Partition', { isolate: true });
  }

  /** Cuts `n` off from `peers` (both directions; client calls still reach it). */
  async cut(n: NodeProcess, peers: readonly NodeProcess[]): Promise<void> {
    await n.control('Partition', { peers: peers.map((p) => p.address) });
  }

  /** Splits the cluster into two sides that cannot reach each other. */
  async split(left: readonly NodeProcess[], right: readonly NodeProcess[]): Promise<void> {
    this.note(`split ${this.list(left)} | ${this.list(right)}`);
    await Promise.all([...left.map((n) => this.cut(n, right)), ...right.map((n) => this.cut(n, left))]);
  }

  async heal(...ns: NodeProcess[]): Promise<void> {
    this.note(`heal ${this.list(ns)}`);
    await Promise.all(ns.map((n) => n.control('Heal', {})));
  }

  /** Arms crash breakpoint `bp` on `n` (call `expectDeath` first). */
  async arm(n: NodeProcess, bp: 1 | 2 | 3 | 4): Promise<void> {
    this.note(`arm breakpoint ${bp} on ${this.label(n)}`);
    try {
      await n.control('Breakpoint', { breakpoint: bp });
    } catch (err) {
      // Under load, the breakpoint may fire before the node's answer left: the call then fails with the process.
      const deadline = Date.now() + armAnswerLostMs;
      while (n.running && Date.now() < deadline) await sleep(10);
      if (n.running) throw err;
    }
  }

  /** Has `n`'s Paxos proposer propose `members` for `instance` (the control service's Propose). */
  async propose(n: NodeProcess, instance: number, members: readonly NodeProcess[]): Promise<string> {
    this.note(`${this.label(n)} proposes ${this.list(members)} for view ${instance}`);
    const reply = await n.control<{ outcome?: string }>('Propose', { instance, members: members.map((m) => m.address) });
    return reply.outcome ?? '';
  }

  /** What `n`'s acceptor holds for `instance`: the value it accepted (null: none), and whether it knows a decision. */
  async acceptorSlot(n: NodeProcess, instance: number): Promise<{ accepted: string[] | null; decided: string[] | null }> {
    const reply = await n.control<{ slot?: { accepted_value?: { members?: string[] }; decided?: { members?: string[] } } }>('PaxosStatus', { instance });
    return { accepted: reply.slot?.accepted_value?.members ?? null, decided: reply.slot?.decided?.members ?? null };
  }

  // ---- status --------------------------------------------------------------------------------

  /** `n`'s status through its node service (`synod.node.Node`). */
  status(n: NodeProcess): Promise<NodeStatus> {
    return this.#status.status(n.address);
  }

  /** `n`'s view through its control service: vid, members, config status, views (answers while isolated too). */
  async configView(n: NodeProcess): Promise<{ vid: number; members: string[]; status: string; views: string[][]; incarnation: string }> {
    const s = await n.control<ControlStatus>('Status', {}, statusCallDeadlineMs);
    return {
      vid: Number(s.vid ?? 0),
      members: s.members ?? [],
      status: s.status ?? '',
      views: (s.views ?? []).map((v) => v.members ?? []),
      incarnation: s.incarnation ?? '',
    };
  }

  /** One line per node: what it believes (or why it did not say), for failure messages. */
  async describe(ns: readonly NodeProcess[] = this.nodes): Promise<string> {
    const lines = await Promise.all(ns.map(async (n) => {
      if (!n.running) return `${this.label(n)}: down`;
      if (n.paused) return `${this.label(n)}: paused`;
      try {
        return `${this.label(n)}: ${this.#describeStatus(await this.status(n))}`;
      } catch (err) {
        try {
          const v = await this.configView(n);
          return `${this.label(n)}: (node service: ${(err as Error).message}) control says view ${v.vid} ${this.list(v.members)} ${v.status}`;
        } catch (err2) {
          return `${this.label(n)}: no status (${(err2 as Error).message})`;
        }
      }
    }));
    return lines.join('; ');
  }

  #describeStatus(s: NodeStatus): string {
    const last = s.lastExecuted === null ? 'none' : `${s.lastExecuted.vid}.${s.lastExecuted.seqno}`;
    return `view ${s.vid} ${this.list(s.members)} ${s.configStatus}/${s.replicaStatus ?? '-'}${s.refusing ? ' REFUSING' : ''}, ` +
      `primary ${s.primary === null ? 'none' : this.label(s.primary)}, last executed ${last}, history ${s.views.map((v) => this.list(v.members)).join(' ')}`;
  }

  /**
   * Waits until every node of `members` (exactly these, in this order, are the view's members)
   * is a member serving the same view as a replica in state `normal`, with the same primary
   * (`primary` if given) and the same view history on every one of them — `history` exactly, if
   * given (while a node's history is shorter, it waits; a longer or different one fails). Returns
   * the agreed status.
   */
  async expectView(members: readonly NodeProcess[], opts: { history?: History; primary?: NodeProcess; timeoutMs?: number } = {}): Promise<NodeStatus> {
    const want = members.map((m) => m.address);
    const wantHistory = opts.history?.map((v) => v.map((m) => m.address));
    const timeoutMs = opts.timeoutMs ?? viewChangeTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const all = await Promise.allSettled(members.map((n) => this.status(n)));
      const ok = all.every((r) => r.status === 'fulfilled');
      if (ok) {
        const statuses = all.map((r) => (r as PromiseFulfilledResult<NodeStatus>).value);
        const s0 = statuses[0]!;
        if (wantHistory !== undefined) {
          for (const s of statuses) {
            const mismatch = historyMismatch(s.views.map((v) => [...v.members]), wantHistory);
            if (mismatch !== null) {
              throw new ScenarioFailure(`${this.label(s.node)}'s view history ${this.#histText(s.views.map((v) => v.members))} differs from the expected ` +
                `${this.#histText(wantHistory)} at view ${mismatch + 1}`);
            }
          }
        }
        const agreed = statuses.every((s) => s.configStatus === 'member' && s.replicaStatus === 'normal' && s.vid === s0.vid &&
          same(s.members, want) && s.primary === s0.primary && sameHistory(s.views.map((v) => v.members), s0.views.map((v) => v.members)) &&
          (wantHistory === undefined || s.views.length === wantHistory.length));
        if (agreed) {
          check(s0.primary !== null && want.includes(s0.primary), `the primary ${s0.primary} of view ${s0.vid} is not one of its members`);
          if (opts.primary !== undefined) {
            check(s0.primary === opts.primary.address, `view ${s0.vid} ${this.list(want)}: the primary is ${this.label(s0.primary)}, expected ${this.label(opts.primary)}`);
          }
          this.note(`view ${s0.vid} ${this.list(want)} serving on every member, primary ${this.label(s0.primary)}`);
          return s0;
        }
      }
      if (Date.now() > deadline) {
        throw new ScenarioFailure(`view ${this.list(want)}${opts.primary === undefined ? '' : ` (primary ${this.label(opts.primary)})`}` +
          `${wantHistory === undefined ? '' : ` with history ${this.#histText(wantHistory)}`} not serving on every member within ${timeoutMs} ms; ` +
          `${await this.describe()}`);
      }
      await sleep(pollIntervalMs);
    }
  }

  #histText(h: ReadonlyArray<readonly string[]>): string {
    return h.map((v) => this.list(v)).join(' ');
  }

  /**
   * Polls `probe` every `pollIntervalMs` until it returns a value (not undefined); past
   * `timeoutMs` fails with `what` and every node's belief. A probe that throws a
   * `ScenarioFailure` fails at once; other errors (a node not answering) count as "not yet".
   */
  async until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = viewChangeTimeoutMs): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      try {
        const v = await probe();
        if (v !== undefined) return v;
      } catch (err) {
        if (err instanceof ScenarioFailure) throw err;
        last = ` (last error: ${(err as Error).message})`;
      }
      if (Date.now() > deadline) throw new ScenarioFailure(`${what}: not within ${timeoutMs} ms${last}; ${await this.describe()}`);
      await sleep(pollIntervalMs);
    }
  }

  /**
   * Waits until every node of `members` has executed up to the same viewstamp and holds a
   * complete state (the replicas hold the same state), e.g. after a load stopped.
   */
  async expectSameState(members: readonly NodeProcess[]): Promise<void> {
    const deadline = Date.now() + viewChangeTimeoutMs;
    for (;;) {
      const all = await Promise.allSettled(members.map((n) => this.status(n)));
      if (all.every((r) => r.status === 'fulfilled')) {
        const s = all.map((r) => (r as PromiseFulfilledResult<NodeStatus>).value);
        const key = (x: NodeStatus): string => (x.lastExecuted === null ? 'none' : `${x.lastExecuted.vid}.${x.lastExecuted.seqno}`);
        if (s.every((x) => x.stateComplete && x.lastExecuted !== null && key(x) === key(s[0]!))) {
          this.note(`${this.list(members)} all executed up to ${key(s[0]!)}`);
          return;
        }
      }
      if (Date.now() > deadline) {
        throw new ScenarioFailure(`${this.list(members)} do not hold the same complete state within ${viewChangeTimeoutMs} ms; ${await this.describe(members)}`);
      }
      await sleep(pollIntervalMs);
    }
  }

  /**
   * Watches `ns` for `quietPeriodMs` (through their control services, which answer even while a
   * node is isolated) and fails as soon as any of them is in a view other than `vid`.
   */
  async expectNoViewChange(ns: readonly NodeProcess[], vid: number, why: string, periodMs = quietPeriodMs): Promise<void> {
    const until = Date.now() + periodMs;
    while (Date.now() < until) {
      for (const n of ns) {
        const v = await this.configView(n);
        check(v.vid === vid, `${this.label(n)} moved to view ${v.vid} ${this.list(v.members)} although ${why}`);
      }
      await sleep(pollIntervalMs);
    }
    this.note(`no view change on ${this.list(ns)} for ${periodMs} ms (${why})`);
  }

  /**
   * Every pair of running nodes agrees on every view both know (members, in order): no view was
   * decided twice. Nodes that do not answer (paused, isolated) are asked through their control
   * service, or skipped when that fails too.
   */
  async checkAgreement(): Promise<void> {
    const histories: Array<{ node: NodeProcess; views: string[][] }> = [];
    for (const n of this.nodes) {
      if (!n.running || n.paused) continue;
      try {
        histories.push({ node: n, views: (await this.configView(n)).views });
      } catch {
        // not answering: nothing to compare
      }
    }
    for (const a of histories) {
      for (const b of histories) {
        const common = Math.min(a.views.length, b.views.length);
        for (let i = 0; i < common; i++) {
          check(same(a.views[i]!, b.views[i]!), () => `${this.label(a.node)} and ${this.label(b.node)} disagree on view ${i + 1}: ` +
            `${this.list(a.views[i]!)} vs ${this.list(b.views[i]!)}`);
        }
      }
    }
  }

  // ---- clients -------------------------------------------------------------------------------

  /** An `RsmClient` of the cluster (closed with the cluster), starting from `members` (default every node). */
  client(members: readonly NodeProcess[] = this.nodes): RsmClient {
    const c = new RsmClient({ members: members.map((m) => m.address), transport: this.#transport, clock: realClock });
    this.#clients.push(c);
    return c;
  }

  /** A call that must succeed: `proc(args)` through a client, within `callDeadlineMs`. */
  async call(client: RsmClient, proc: string, args: Json): Promise<Json> {
    try {
      return await client.invoke(proc, args, { deadlineMs: callDeadlineMs });
    } catch (err) {
      throw new ScenarioFailure(`${proc}(${JSON.stringify(args)}) failed: ${(err as Error).name}: ${(err as Error).message}; ${await this.describe()}`);
    }
  }

  /** One client call sent to `n` alone (no redirects, no retries), with `probeDeadlineMs`. */
  probe(n: NodeProcess, proc: string, args: Json, deadlineMs = probeDeadlineMs): Promise<ProbeResult> {
    return callReplica({ cluster: this.cluster, node: n.address, proc, args, deadlineMs });
  }

  /**
   * Runs the lock tester's tests (default all five) in this process against `members` (default
   * every node), collecting its lines; its verdict is checked by `expectLockTesterPassed`.
   */
  lockTester(members: readonly NodeProcess[] = this.nodes, tests?: number[]): Promise<LockTesterResult & { lines: string[] }> {
    const lines: string[] = [];
    return runLockTester({
      cluster: this.cluster,
      members: members.map((m) => m.address),
      write: (line) => {
        lines.push(line);
        this.note(`lock tester: ${line}`);
      },
      tests,
      options: { testTimeoutMs: lockTestTimeoutMs, reachTimeoutMs: lockTesterReachTimeoutMs },
    }).then((r) => ({ ...r, lines }));
  }

  /** Checks a lock tester run: every test passed and the checker saw no violation. */
  expectLockTesterPassed(r: LockTesterResult & { lines: string[] }): void {
    check(r.failed === 0 && r.passed === r.results.length && r.passed > 0 && r.violations.length === 0,
      `${r.verdict}${r.violations.length > 0 ? `; violations: ${r.violations.join('; ')}` : ''}; ${r.lines.filter((l) => /FAILED/.test(l)).join('; ')}`);
  }

  /** Starts the background lock load (see `LockLoad`) against `members` (default every node). */
  startLoad(members: readonly NodeProcess[] = this.nodes, clients = 3): LockLoad {
    const load = new LockLoad({ transport: this.#transport, members: members.map((m) => m.address), clients, prefix: `load-${process.pid}-${Date.now()}` });
    this.#loads.push(load);
    return load.start();
  }

  // ---- teardown ------------------------------------------------------------------------------

  /** Kills every node (SIGKILL), closes every client. Idempotent. */
  async close(): Promise<void> {
    this.#closing = true;
    for (const l of this.#loads) l.abort();
    for (const c of this.#clients) c.close();
    await Promise.all(this.nodes.map(async (n) => {
      n.closeClient();
      await n.kill('SIGKILL');
      liveNodes.delete(n);
    }));
    await this.#status.close();
    await this.#transport.close();
  }
}

function same(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameHistory(a: ReadonlyArray<readonly string[]>, b: ReadonlyArray<readonly string[]>): boolean {
  return a.length === b.length && a.every((v, i) => same(v, b[i]!));
}

/** The index of the first view where `h` differs from `want`, counting a view beyond `want` as a difference; null if `h` is a prefix of `want`. */
function historyMismatch(h: ReadonlyArray<readonly string[]>, want: ReadonlyArray<readonly string[]>): number | null {
  for (let i = 0; i < h.length; i++) {
    if (i >= want.length || !same(h[i]!, want[i]!)) return i;
  }
  return null;
}

export function describeExit(exit: { code: number | null; signal: NodeJS.Signals | null }): string {
  return exit.signal !== null ? `signal ${exit.signal}` : `exit code ${exit.code}`;
}

/** The last lines of a process's output, indented, for failure messages. */
export function tail(output: string, lines = 8): string {
  return output.trimEnd().split('\n').slice(-lines).map((l) => `    ${l}`).join('\n');
}
