/**
 * The node processes of the tester's clusters and their deaths: the registry of every process
 * this process started (what an interrupt kills), and `DeathWatch`, the bookkeeping that tells a
 * planned death (a kill, a crash, a breakpoint the scenario armed) from an unexpected one, and
 * that restarts dead processes under `--supervise`. Separate from the cluster because it reacts
 * to exits, whenever they happen, while the cluster acts on the scenario's orders.
 */
import { type NodeExit, type NodeProcess, sleep } from '../harness/node-process.js';
import { type NodeNames, ScenarioFailure, check, tail } from './report.js';
import { deathTimeoutMs, supervisorRestartDelayMs } from './timing.js';

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

/** Starts `n` with `args`, known to `killEveryNode` from now on. */
export async function startNode(n: NodeProcess, args: readonly string[]): Promise<void> {
  liveNodes.add(n);
  await n.start([...args]);
}

/** `n` was killed for good (its cluster closed): `killEveryNode` forgets it. */
export function forgetNode(n: NodeProcess): void {
  liveNodes.delete(n);
}

/** Why a node process is expected to die, and whether it must then stay down. */
interface DeathPlan {
  readonly why: string;
  /** Under supervision: not restarted (the scenario restarts it itself, or never). */
  readonly stayDown: boolean;
  readonly died: (exit: NodeExit) => void;
}

export interface DeathWatchDeps {
  /** Restart every process that dies unless its plan says it stays down (`--supervise`). */
  readonly supervise: boolean;
  readonly names: NodeNames;
  readonly note: (line: string) => void;
}

/**
 * Watches the exits of one cluster's nodes. A process that dies while no death of it was planned
 * is reported by `unexpected`. With `supervise`, every process that dies is restarted after
 * `supervisorRestartDelayMs`, unless its plan says it stays down. Invariant: at most one planned
 * death per node at a time (planning a second one is a scenario bug and fails it).
 */
export class DeathWatch {
  readonly #deps: DeathWatchDeps;
  readonly #plans = new Map<NodeProcess, DeathPlan>();
  readonly #unexpected: string[] = [];
  /** Restarts the supervisor scheduled and has not finished, by node. */
  readonly #supervised = new Map<NodeProcess, Promise<void>>();
  #closing = false;

  constructor(nodes: readonly NodeProcess[], deps: DeathWatchDeps) {
    this.#deps = deps;
    for (const n of nodes) n.onExit((exit) => this.#onExit(n, exit));
  }

  /** Plans the death of `n` for `why`; resolves with its exit once it died. */
  plan(n: NodeProcess, why: string, stayDown: boolean): Promise<NodeExit> {
    check(!this.#plans.has(n), `${this.#deps.names.label(n)} already has a planned death: ${this.#plans.get(n)?.why}`);
    return new Promise((resolve) => this.#plans.set(n, { why, stayDown, died: resolve }));
  }

  /**
   * Plans the death of `n` by a crash breakpoint the scenario is about to arm; resolves with the
   * process's exit once it died (by SIGKILL to itself, `dieNow`) and checks that its last words
   * match `reason`. `stayDown`: under supervision, leave it down.
   */
  expectDeath(n: NodeProcess, reason: RegExp, opts: { stayDown: boolean }): Promise<void> {
    const label = this.#deps.names.label(n);
    const outputBefore = n.output.length;
    const died = this.plan(n, `breakpoint (${reason.source})`, opts.stayDown);
    const result = (async () => {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([died, new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new ScenarioFailure(`${label} did not die (${reason.source}) within ${deathTimeoutMs} ms`)), deathTimeoutMs);
        })]);
      } finally {
        clearTimeout(timer);
      }
      const words = n.output.slice(Math.max(0, outputBefore - 1000));
      check(reason.test(words), `${label} died, but not of ${reason.source}:\n${tail(words)}`);
      this.#deps.note(`${label} died: ${(words.match(/synod: stopping: (.*)/)?.[1] ?? '').trim()}`);
    })();
    result.catch(() => {}); // a scenario that failed earlier never awaits it; its failure is already reported
    return result;
  }

  /**
   * Forgets the planned death of `n` (e.g. a crash breakpoint that was disarmed before it fired):
   * a later death of it is unexpected again. Returns whether a death was planned.
   */
  forget(n: NodeProcess): boolean {
    return this.#plans.delete(n);
  }

  /** Waits until the supervisor restarted `n` (which died or is dying) and that restart finished. */
  async supervisorRestart(n: NodeProcess): Promise<void> {
    const deadline = Date.now() + deathTimeoutMs;
    while (!n.running || this.#supervised.has(n)) {
      const pending = this.#supervised.get(n);
      if (pending !== undefined) await pending;
      else if (Date.now() > deadline) throw new ScenarioFailure(`the supervisor did not restart ${this.#deps.names.label(n)} within ${deathTimeoutMs} ms`);
      else await sleep(20);
    }
    this.#deps.note(`${this.#deps.names.label(n)} is back (restarted by the supervisor)`);
  }

  /** Deaths nobody planned, and failed supervisor restarts, as sentences. */
  get unexpected(): readonly string[] {
    return this.#unexpected;
  }

  /** The cluster is closing: exits from now on are neither reported nor restarted. */
  close(): void {
    this.#closing = true;
  }

  #onExit(n: NodeProcess, exit: NodeExit): void {
    if (this.#closing) return;
    const label = this.#deps.names.label(n);
    const plan = this.#plans.get(n);
    this.#plans.delete(n);
    if (plan === undefined) {
      this.#unexpected.push(`${label} died unexpectedly (${describeExit(exit)}):\n${tail(n.output)}`);
    } else {
      plan.died(exit);
    }
    if (this.#deps.supervise && plan?.stayDown !== true) {
      const restart = (async () => {
        await sleep(supervisorRestartDelayMs);
        if (this.#closing || n.running) return;
        try {
          await n.restart();
          this.#deps.note(`supervisor: restarted ${label}`);
        } catch (err) {
          if (!this.#closing) this.#unexpected.push(`the supervisor could not restart ${label}: ${(err as Error).message}`);
        }
      })();
      this.#supervised.set(n, restart);
      void restart.finally(() => {
        if (this.#supervised.get(n) === restart) this.#supervised.delete(n);
      });
    }
  }
}

function describeExit(exit: { code: number | null; signal: NodeJS.Signals | null }): string {
  return exit.signal !== null ? `signal ${exit.signal}` : `exit code ${exit.code}`;
}
