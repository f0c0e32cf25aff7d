/**
 * What the tester's nodes say about their views, and the checks a scenario makes on it: each
 * node's status (node service) and config view (control service, which answers while a node is
 * isolated too), a one-line description of every node for failure messages, and the expectations
 * — a view serving on exactly these members in this order with this history and primary, the
 * same state everywhere, no view change for a while, no view decided twice. Separate from the
 * cluster, which acts on the processes: this part only reads and polls.
 */
import type { ClientTls } from '../../src/runtime/tls-files.js';
import type { NodeProcess } from '../harness/node-process.js';
import { sleep } from '../harness/node-process.js';
import { StatusReader } from '../harness/status.js';
import { silentLogger } from '../../src/env/logger.js';
import type { NodeStatus } from '../../src/node/status.js';
import { type NodeNames, ScenarioFailure, check } from './report.js';
import { pollIntervalMs, quietPeriodMs, statusCallDeadlineMs, viewChangeTimeoutMs } from './timing.js';

/** A view history, oldest first: each view's members in order. */
export type History = ReadonlyArray<readonly NodeProcess[]>;

/** A node's view as its control service reports it. */
export interface ConfigView {
  readonly vid: number;
  readonly members: string[];
  /** The config layer's status (member, stale, …). */
  readonly status: string;
  /**
   * The newest views it knows (at most `statusViewsTail`), oldest first: the members of each;
   * `views[i]` is view `firstVid + i`. The tester's clusters grow from scratch, so their
   * histories are short and start at view 1 (`firstVid` 1); the checks here go by vid all the same.
   */
  readonly views: string[][];
  readonly firstVid: number;
  readonly incarnation: string;
}

/** What the config layer of a node says through the control service (it answers even when the node is isolated). */
interface ControlStatus {
  readonly node?: string;
  readonly incarnation?: string;
  readonly vid?: number | string;
  readonly members?: string[];
  readonly status?: string;
  readonly views?: Array<{ vid?: number | string; members?: string[] }>;
}

export interface ViewChecksDeps {
  /** The cluster's name, for the status calls. */
  readonly cluster: string;
  readonly nodes: readonly NodeProcess[];
  readonly names: NodeNames;
  readonly note: (line: string) => void;
  /** Mutual TLS of the status calls; absent: plaintext. */
  readonly tls?: ClientTls;
}

/** Reads one cluster's statuses and checks its views by content. */
export class ViewChecks {
  readonly #deps: ViewChecksDeps;
  readonly #names: NodeNames;
  readonly #status: StatusReader;

  constructor(deps: ViewChecksDeps) {
    this.#deps = deps;
    this.#names = deps.names;
    this.#status = new StatusReader(deps.cluster, silentLogger, {
      callDeadlineMs: statusCallDeadlineMs, reconnectBackoffInitialMs: 50, reconnectBackoffMaxMs: 200,
    }, deps.tls);
  }

  /** `n`'s status through its node service (`synod.node.Node`). */
  status(n: NodeProcess): Promise<NodeStatus> {
    return this.#status.status(n.address);
  }

  /** `n`'s view through its control service: vid, members, config status, views (answers while isolated too). */
  async configView(n: NodeProcess): Promise<ConfigView> {
    const s = await n.control<ControlStatus>('Status', {}, statusCallDeadlineMs);
    return {
      vid: Number(s.vid ?? 0),
      members: s.members ?? [],
      status: s.status ?? '',
      views: (s.views ?? []).map((v) => v.members ?? []),
      firstVid: Number(s.views?.[0]?.vid ?? 1),
      incarnation: s.incarnation ?? '',
    };
  }

  /** One line per node: what it believes (or why it did not say), for failure messages. */
  async describe(ns: readonly NodeProcess[] = this.#deps.nodes): Promise<string> {
    const lines = await Promise.all(ns.map(async (n) => {
      if (!n.running) return `${this.#names.label(n)}: down`;
      if (n.paused) return `${this.#names.label(n)}: paused`;
      try {
        return `${this.#names.label(n)}: ${this.#describeStatus(await this.status(n))}`;
      } catch (err) {
        try {
          const v = await this.configView(n);
          return `${this.#names.label(n)}: (node service: ${(err as Error).message}) control says view ${v.vid} ${this.#names.list(v.members)} ${v.status}`;
        } catch (err2) {
          return `${this.#names.label(n)}: no status (${(err2 as Error).message})`;
        }
      }
    }));
    return lines.join('; ');
  }

  #describeStatus(s: NodeStatus): string {
    const last = s.lastExecuted === null ? 'none' : `${s.lastExecuted.vid}.${s.lastExecuted.seqno}`;
    return `view ${s.vid} ${this.#names.list(s.members)} ${s.configStatus}/${s.replicaStatus ?? '-'}${s.refusing ? ' REFUSING' : ''}, ` +
      `primary ${s.primary === null ? 'none' : this.#names.label(s.primary)}, last executed ${last}, history ${s.views.map((v) => this.#names.list(v.members)).join(' ')}`;
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
            // A status carries the newest views only: compare them with the same views of the expected history.
            const offset = (s.views[0]?.vid ?? 1) - 1;
            const mismatch = historyMismatch(s.views.map((v) => [...v.members]), wantHistory.slice(offset));
            if (mismatch !== null) {
              throw new ScenarioFailure(`${this.#names.label(s.node)}'s view history ${this.#names.history(s.views.map((v) => v.members))} (from view ${offset + 1}) differs from the expected ` +
                `${this.#names.history(wantHistory)} at view ${mismatch + offset + 1}`);
            }
          }
        }
        const agreed = statuses.every((s) => s.configStatus === 'member' && s.replicaStatus === 'normal' && s.vid === s0.vid &&
          sameMembers(s.members, want) && s.primary === s0.primary && sameHistory(s.views.map((v) => v.members), s0.views.map((v) => v.members)) &&
          (wantHistory === undefined || s.viewsDecided === wantHistory.length));
        if (agreed) {
          check(s0.primary !== null && want.includes(s0.primary), `the primary ${s0.primary} of view ${s0.vid} is not one of its members`);
          if (opts.primary !== undefined) {
            check(s0.primary === opts.primary.address, `view ${s0.vid} ${this.#names.list(want)}: the primary is ${this.#names.label(s0.primary)}, expected ${this.#names.label(opts.primary)}`);
          }
          this.#deps.note(`view ${s0.vid} ${this.#names.list(want)} serving on every member, primary ${this.#names.label(s0.primary)}`);
          return s0;
        }
      }
      if (Date.now() > deadline) {
        throw new ScenarioFailure(`view ${this.#names.list(want)}${opts.primary === undefined ? '' : ` (primary ${this.#names.label(opts.primary)})`}` +
          `${wantHistory === undefined ? '' : ` with history ${this.#names.history(wantHistory)}`} not serving on every member within ${timeoutMs} ms; ` +
          `${await this.describe()}`);
      }
      await sleep(pollIntervalMs);
    }
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
          this.#deps.note(`${this.#names.list(members)} all executed up to ${key(s[0]!)}`);
          return;
        }
      }
      if (Date.now() > deadline) {
        throw new ScenarioFailure(`${this.#names.list(members)} do not hold the same complete state within ${viewChangeTimeoutMs} ms; ${await this.describe(members)}`);
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
        check(v.vid === vid, `${this.#names.label(n)} moved to view ${v.vid} ${this.#names.list(v.members)} although ${why}`);
      }
      await sleep(pollIntervalMs);
    }
    this.#deps.note(`no view change on ${this.#names.list(ns)} for ${periodMs} ms (${why})`);
  }

  /**
   * Every pair of running nodes agrees on every view both know (members, in order): no view was
   * decided twice. Nodes that do not answer (paused, isolated) are asked through their control
   * service, or skipped when that fails too.
   */
  async checkAgreement(): Promise<void> {
    const histories: Array<{ node: NodeProcess; views: string[][]; firstVid: number }> = [];
    for (const n of this.#deps.nodes) {
      if (!n.running || n.paused) continue;
      try {
        const v = await this.configView(n);
        histories.push({ node: n, views: v.views, firstVid: v.firstVid });
      } catch {
        // not answering: nothing to compare
      }
    }
    for (const a of histories) {
      for (const b of histories) {
        // Statuses carry the newest views only: compare the vids both carry.
        const from = Math.max(a.firstVid, b.firstVid);
        const to = Math.min(a.firstVid + a.views.length, b.firstVid + b.views.length) - 1;
        for (let vid = from; vid <= to; vid++) {
          const va = a.views[vid - a.firstVid]!;
          const vb = b.views[vid - b.firstVid]!;
          check(sameMembers(va, vb), () => `${this.#names.label(a.node)} and ${this.#names.label(b.node)} disagree on view ${vid}: ` +
            `${this.#names.list(va)} vs ${this.#names.list(vb)}`);
        }
      }
    }
  }

  close(): Promise<void> {
    return this.#status.close();
  }
}

/** Whether two member lists are equal, order included. */
export function sameMembers(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Whether two view histories are equal, view by view. */
export function sameHistory(a: ReadonlyArray<readonly string[]>, b: ReadonlyArray<readonly string[]>): boolean {
  return a.length === b.length && a.every((v, i) => sameMembers(v, b[i]!));
}

/** The index of the first view where `h` differs from `want`, counting a view beyond `want` as a difference; null if `h` is a prefix of `want`. */
function historyMismatch(h: ReadonlyArray<readonly string[]>, want: ReadonlyArray<readonly string[]>): number | null {
  for (let i = 0; i < h.length; i++) {
    if (i >= want.length || !sameMembers(h[i]!, want[i]!)) return i;
  }
  return null;
}
