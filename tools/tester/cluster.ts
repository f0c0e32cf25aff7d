/**
 * The tester's cluster (`TesterCluster`, below). This file holds what acts on the nodes —
 * starting and signalling processes, test control, clients — and composes the parts beside it:
 * processes.ts (deaths and supervised restarts), views.ts (statuses and the checks on views),
 * report.ts (node names, failures).
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { RsmClient } from '../../src/client/rsm-client.js';
import { silentLogger } from '../../src/env/logger.js';
import { type ProbeResult, callReplica } from '../harness/client-probe.js';
import { NodeProcess, cliPath, sleep } from '../harness/node-process.js';
import { freePortPairs } from '../harness/ports.js';
import { type LockTesterResult, runLockTester } from '../../src/apps/lock/lock-tester.js';
import type { NodeStatus } from '../../src/node/status.js';
import { defaultClusterName } from '../../src/env/cluster-name.js';
import { addressOf } from '../../src/env/types.js';
import type { Json } from '../../src/rsm/app.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { realClock } from '../../src/runtime/real-clock.js';
import { type DevCerts, makeDevCerts } from '../../src/cli/dev-certs.js';
import { type ClientTls, type ClientTlsFiles, loadClientTls } from '../../src/runtime/tls-files.js';
import { LockLoad } from './load.js';
import { DeathWatch, forgetNode, startNode } from './processes.js';
import { NodeNames, ScenarioFailure, check, tail } from './report.js';
import { armAnswerLostMs, callDeadlineMs, joinTimeoutMs, lockTestTimeoutMs, lockTesterReachTimeoutMs, probeDeadlineMs } from './timing.js';
import { type ConfigView, type History, ViewChecks } from './views.js';

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
  /** The built-in app the nodes run (`synod node --app APP`); default the lock service (`synod lock-server`). */
  readonly app?: string;
  /**
   * Run the nodes with mutual TLS and client authentication (`--tls`): development certificates
   * made for them in `dir`/certs (`makeDevCerts`); every client of the harness presents client 1's.
   */
  readonly tls?: boolean;
  /** Where the nodes run (default: free loopback ports on this host). */
  readonly placement?: NodePlacement;
}

/**
 * Nodes on hosts of their own (e.g. network namespaces, `--netns`): node i (0-based) listens on
 * `hosts[i]:port` and is started under `launcher(i)` (see `NodeProcess`'s `launcher`).
 */
export interface NodePlacement {
  readonly hosts: readonly string[];
  readonly port: number;
  readonly launcher: (i: number) => readonly string[];
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
  readonly #names: NodeNames;
  readonly #views: ViewChecks;
  readonly #deaths: DeathWatch;
  readonly #transport: GrpcClientTransport;
  readonly #clients: RsmClient[] = [];
  readonly #loads: LockLoad[] = [];
  readonly #note: (line: string) => void;
  readonly #nodeArgs: readonly string[];
  /** What the harness's clients present and check with (undefined: plaintext). */
  readonly clientTls: ClientTls | undefined;
  /** The same as files, for clients made with `connect()` (undefined: plaintext). */
  readonly clientTlsFiles: ClientTlsFiles | undefined;

  private constructor(nodes: NodeProcess[], opts: TesterClusterOptions, certs: DevCerts | null) {
    this.nodes = nodes;
    this.cluster = defaultClusterName(nodes[0]!.address);
    this.supervise = opts.supervise;
    this.#note = opts.note ?? (() => {});
    this.#nodeArgs = opts.nodeArgs ?? [];
    this.#names = new NodeNames(nodes);
    this.clientTlsFiles = certs === null ? undefined : certs.client(1);
    this.clientTls = this.clientTlsFiles === undefined ? undefined : loadClientTls(this.clientTlsFiles);
    const note = (line: string): void => this.note(line);
    this.#views = new ViewChecks({ cluster: this.cluster, nodes, names: this.#names, note, tls: this.clientTls });
    this.#transport = new GrpcClientTransport({ cluster: this.cluster, logger: silentLogger, tls: this.clientTls });
    this.#deaths = new DeathWatch(nodes, { supervise: opts.supervise, names: this.#names, note });
  }

  /**
   * Makes (does not start) `size` nodes on free loopback port pairs, lowest port first; or, with
   * a placement, node i on the placement's host i.
   */
  static async create(opts: TesterClusterOptions): Promise<TesterCluster> {
    const placed = opts.placement;
    if (placed !== undefined) check(placed.hosts.length >= opts.size, `the placement has ${placed.hosts.length} hosts for ${opts.size} nodes`);
    const ports = placed !== undefined ? Array.from({ length: opts.size }, () => placed.port) : (await freePortPairs(opts.size)).sort((a, b) => a - b);
    const host = (i: number): string => placed?.hosts[i] ?? '127.0.0.1';
    const first = `${host(0)}:${ports[0]}`;
    mkdirSync(opts.dir, { recursive: true });
    const certs = opts.tls === true ? makeDevCerts({ dir: join(opts.dir, 'certs'), nodes: ports.map((p, i) => `${host(i)}:${p}`), clients: 1 }) : null;
    const nodes = ports.map((port, i) => new NodeProcess({
      port,
      first,
      ...(placed === undefined ? {} : { host: host(i), launcher: placed.launcher(i) }),
      dataDir: join(opts.dir, `n${i + 1}`),
      logFile: join(opts.dir, `n${i + 1}.log`),
      logLevel: opts.logLevel,
      entry: opts.app === undefined ? [cliPath, 'lock-server'] : [cliPath, 'node', '--app', opts.app],
      ownProcessGroup: true,
      tls: certs ?? undefined,
    }));
    return new TesterCluster(nodes, opts, certs);
  }

  // ---- names ---------------------------------------------------------------------------------

  /** n1, n2 … by port order (n1 is the first node). */
  label(node: NodeProcess | string): string {
    return this.#names.label(node);
  }

  /** `[n1,n2,n3]` */
  list(members: readonly (NodeProcess | string)[]): string {
    return this.#names.list(members);
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
   * Starts the first `size` nodes (default all) one at a time, each once the previous one serves
   * as a member, so that the views grow in a known order: [n1], [n1,n2], … Checks that history
   * and the primary (n1). The others stay unstarted until the scenario starts them (`start`).
   */
  async grow(size: number = this.nodes.length): Promise<void> {
    for (let k = 1; k <= size; k++) {
      await this.#start(this.nodes[k - 1]!);
      await this.expectView(this.nodes.slice(0, k), { history: this.growth(k), primary: this.nodes[0]!, timeoutMs: joinTimeoutMs });
    }
    this.note(`grown: ${this.list(this.nodes.slice(0, size))} serving, primary n1`);
  }

  /** Starts `n` for the first time (after a partial `grow`), with `extraArgs` after the scenario's node arguments. */
  async start(n: NodeProcess, extraArgs: readonly string[] = []): Promise<void> {
    check(!n.running, `${this.label(n)} is already running`);
    this.note(`start ${this.label(n)}`);
    await this.#start(n, extraArgs);
  }

  async #start(n: NodeProcess, extraArgs: readonly string[] = []): Promise<void> {
    await startNode(n, [...this.#nodeArgs, ...extraArgs]);
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
    const died = this.#deaths.plan(n, `${signal} by the scenario`, stayDown);
    this.note(`${signal} ${this.label(n)}${stayDown || !this.supervise ? '' : ' (the supervisor will restart it)'}`);
    await n.kill(signal);
    const exit = await died;
    if (signal === 'SIGTERM') {
      check(exit.code === 0, `${this.label(n)} stopped by SIGTERM exited with code ${exit.code} signal ${exit.signal}, not 0:\n${tail(n.output)}`);
    }
  }

  /**
   * Plans the death of `n` by a crash breakpoint the scenario is about to arm; resolves once it
   * died of it (see `DeathWatch.expectDeath`). `stayDown`: under supervision, leave it down.
   */
  expectDeath(n: NodeProcess, reason: RegExp, opts: { stayDown: boolean }): Promise<void> {
    return this.#deaths.expectDeath(n, reason, opts);
  }

  /**
   * Forgets the planned death of `n` (e.g. a crash breakpoint that was disarmed before it fired):
   * a later death of it is unexpected again. Returns whether a death was planned.
   */
  forgetDeath(n: NodeProcess): boolean {
    return this.#deaths.forget(n);
  }

  /**
   * Starts `n` again on its port and data directory (it must be down), with `extraArgs` after
   * the scenario's node arguments (e.g. `--join`).
   */
  async restart(n: NodeProcess, extraArgs: readonly string[] = []): Promise<void> {
    check(!n.running, `${this.label(n)} is still running`);
    this.note(`restart ${this.label(n)}${extraArgs.length === 0 ? '' : ` ${extraArgs.join(' ')}`}`);
    await this.#start(n, extraArgs);
  }

  /** Deletes `n`'s data directory, as a lost disk or an operator's `rm -rf` would (it must be down). */
  wipe(n: NodeProcess): void {
    check(!n.running, `${this.label(n)} is still running, its data directory cannot be wiped`);
    this.note(`rm -rf the data directory of ${this.label(n)}`);
    rmSync(n.dataDir, { recursive: true, force: true });
  }

  /** What `n` logged so far, every life of it (its log file). */
  log(n: NodeProcess): string {
    const file = n.logFile;
    check(file !== undefined, `${this.label(n)} logs to no file`);
    return readFileSync(file, 'utf8');
  }

  /**
   * Brings a node that crashed or died of a breakpoint back: under supervision by waiting for the
   * supervisor's restart, otherwise by restarting it now.
   */
  async bringBack(n: NodeProcess): Promise<void> {
    if (!this.supervise) return this.restart(n);
    await this.#deaths.supervisorRestart(n);
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

  /** Deaths nobody planned, and failed supervisor restarts, as sentences. */
  get unexpectedDeaths(): readonly string[] {
    return this.#deaths.unexpected;
  }

  // ---- test control --------------------------------------------------------------------------

  /** Cuts `n` off from every peer and client (its control service still answers). */
  async isolate(n: NodeProcess): Promise<void> {
    this.note(`isolate ${this.label(n)}`);
    await n.control('Partition', { isolate: true });
  }

  /**
   * Cuts `n` off from `peers` (both directions; client calls still reach it): on every channel,
   * or with `services` on those peer channels only (gRPC service names, e.g. `synod.rsm.Replica`).
   */
  async cut(n: NodeProcess, peers: readonly NodeProcess[], services?: readonly string[]): Promise<void> {
    if (services !== undefined) this.note(`cut ${this.label(n)} from ${this.list(peers)} on ${services.join(',')}`);
    await n.control('Partition', { peers: peers.map((p) => p.address), ...(services === undefined ? {} : { services }) });
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

  /**
   * Has `n`'s Paxos proposer propose `members` for `instance` (the control service's Propose).
   * A view lists members by id (address and disk id): each is named as `n`'s current view lists
   * it, or as its own status says (a node the view does not list).
   */
  async propose(n: NodeProcess, instance: number, members: readonly NodeProcess[]): Promise<string> {
    this.note(`${this.label(n)} proposes ${this.list(members)} for view ${instance}`);
    const listed = (await this.status(n)).memberIds;
    const ids = await Promise.all(members.map(async (m) =>
      listed.find((id) => addressOf(id) === m.address) ?? (await this.status(m)).member));
    const reply = await n.control<{ outcome?: string }>('Propose', { instance, members: ids });
    return reply.outcome ?? '';
  }

  /** What `n`'s acceptor holds for `instance`: the value it accepted (null: none), and whether it knows a decision; by address. */
  async acceptorSlot(n: NodeProcess, instance: number): Promise<{ accepted: string[] | null; decided: string[] | null }> {
    const reply = await n.control<{ slot?: { accepted_value?: { members?: string[] }; decided?: { members?: string[] } } }>('PaxosStatus', { instance });
    const addresses = (ids: string[] | undefined): string[] | null => ids === undefined ? null : ids.map(addressOf);
    return { accepted: addresses(reply.slot?.accepted_value?.members), decided: addresses(reply.slot?.decided?.members) };
  }


  // ---- views: what the nodes say, and the checks on it (see `ViewChecks`) ---------------------

  status(n: NodeProcess): Promise<NodeStatus> {
    return this.#views.status(n);
  }

  configView(n: NodeProcess): Promise<ConfigView> {
    return this.#views.configView(n);
  }

  describe(ns: readonly NodeProcess[] = this.nodes): Promise<string> {
    return this.#views.describe(ns);
  }

  expectView(members: readonly NodeProcess[], opts: { history?: History; primary?: NodeProcess; timeoutMs?: number } = {}): Promise<NodeStatus> {
    return this.#views.expectView(members, opts);
  }

  until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs?: number): Promise<T> {
    return this.#views.until(what, probe, timeoutMs);
  }

  expectSameState(members: readonly NodeProcess[]): Promise<void> {
    return this.#views.expectSameState(members);
  }

  expectNoViewChange(ns: readonly NodeProcess[], vid: number, why: string, periodMs?: number): Promise<void> {
    return this.#views.expectNoViewChange(ns, vid, why, periodMs);
  }

  checkAgreement(): Promise<void> {
    return this.#views.checkAgreement();
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
    return callReplica({ cluster: this.cluster, node: n.address, proc, args, deadlineMs, tls: this.clientTls });
  }

  /**
   * Runs the lock tester's tests (default all five) in this process against `members` (default
   * every node), collecting its lines; its verdict is checked by `expectLockTesterPassed`.
   */
  lockTester(members: readonly NodeProcess[] = this.nodes, tests?: number[]): Promise<LockTesterResult & { lines: string[] }> {
    const lines: string[] = [];
    return runLockTester({
      cluster: this.cluster,
      tls: this.clientTls,
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
    this.#deaths.close();
    for (const l of this.#loads) l.abort();
    for (const c of this.#clients) c.close();
    await Promise.all(this.nodes.map(async (n) => {
      n.closeClient();
      await n.kill('SIGKILL');
      forgetNode(n);
    }));
    await this.#views.close();
    await this.#transport.close();
  }
}
