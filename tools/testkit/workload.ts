import type { NodeId } from '../../src/env/types.js';
import { type App, appProcedure, appProcedures } from '../../src/rsm/app.js';
import type { RsmClient } from '../../src/client/rsm-client.js';
import { AppRejectedError, InvalidArgumentError } from '../../src/client/errors.js';
import { checkLinearizable } from '../lincheck/check.js';
import type { CallMapping } from '../lincheck/recorder.js';
import type { CheckResult, History, Model } from '../lincheck/types.js';
import { type Workload, type WorkloadRun, rsmRunBounds } from '../sim/rsm-run.js';
import { type HistoryInput, type HistoryOutput, callMapping, checkerModel, withFinalState } from './history-model.js';
import { describeBytes } from './json.js';
import { type Call, type SeededRandom, type SequentialModel, type SimulatedClient, TestkitUsageError } from './types.js';

/** How the testkit's clients pace their calls (virtual milliseconds). */
export const clientPacing = {
  /** A client makes its first call within this long of the start (so clients do not start in step). */
  firstCallWithinMs: 100,
  /** Pause between a client's calls: uniform in this range. */
  callPauseMs: [0, 30] as const,
};

type Violation = Extract<CheckResult, { verdict: 'violation' }>;

/** A history the checker found no linearization for, with the verdict (for the picture). */
export interface FoundViolation {
  readonly history: History<HistoryInput, HistoryOutput>;
  readonly verdict: Violation;
}

/**
 * The whole-stack run's workload for a user's app (see `runStackSimulation`): each client asks
 * `nextCall` for its next call, makes it, pauses, and asks again; every call is recorded and the
 * history checked against the model; the members of the final view must hold one app state (and
 * one client table), and that state must be one the model reaches by some order of the calls.
 */
export class AppWorkload<S, M> implements Workload<S, M, HistoryInput, HistoryOutput> {
  readonly name = 'testkit';
  readonly progressUnit = 'calls';
  readonly app: App<S>;
  readonly calls: CallMapping<HistoryInput, HistoryOutput>;
  readonly model: Model<M, HistoryInput, HistoryOutput>;
  readonly #spec: SequentialModel<M, S>;
  readonly #nextCall: (rng: SeededRandom, client: SimulatedClient) => Call;
  readonly #counts = { calls: 0, acked: 0, appErrors: 0, unknown: 0 };
  #clients = 0;
  /** The app state of the final view's members, once they were found equal. */
  #finalState: { readonly state: S } | null = null;
  /** The first violation found: of the clients' history (told by the run) or of the final state. */
  violation: FoundViolation | null = null;
  /** The final-state check's verdict; `skipped` where the run did not settle into one state. */
  finalCheck: CheckResult['verdict'] | 'skipped' = 'skipped';
  /** A mistake of the test itself (a call the app cannot take): the run is void, the error thrown. */
  usageError: TestkitUsageError | null = null;

  constructor(app: App<S>, spec: SequentialModel<M, S>, nextCall: (rng: SeededRandom, client: SimulatedClient) => Call) {
    this.app = app;
    this.#spec = spec;
    this.#nextCall = nextCall;
    this.calls = callMapping(spec);
    this.model = checkerModel(spec);
  }

  startClient(client: RsmClient, run: WorkloadRun): void {
    const { sim } = run;
    const rng = sim.rng;
    const id = client.clientId;
    const index = this.#clients++;
    let made = 0;
    const next = (): void => {
      if (!run.issuing() || this.usageError !== null) return;
      const call = this.#draw(rng, { id, index, calls: made });
      if (call === null) return;
      made++;
      this.#counts.calls++;
      const invokedMs = sim.now;
      client.submit(call.proc, call.args, { deadlineMs: rsmRunBounds.clientDeadlineMs }, (r) => {
        if (r.ok || r.error instanceof AppRejectedError) {
          // The app ran the call (a refusal is an outcome too): the cluster served this client.
          if (r.ok) this.#counts.acked++;
          else this.#counts.appErrors++;
          run.progressed(id, invokedMs);
        } else if (r.error instanceof InvalidArgumentError) {
          this.usageError ??= new TestkitUsageError(`nextCall gave ${id} a call synod refuses as invalid input ` +
            `(${call.proc}: ${r.error.message}); arguments must be JSON values within synod's limits`);
          return;
        } else {
          this.#counts.unknown++;
        }
        sim.schedule(rng.uniform(...clientPacing.callPauseMs), next);
      });
    };
    sim.schedule(rng.uniform(0, clientPacing.firstCallWithinMs), next);
  }

  /** The client's next call, checked; null (and `usageError` set) when it is not one the app can take. */
  #draw(rng: SeededRandom, client: SimulatedClient): Call | null {
    let call: Call;
    try {
      call = this.#nextCall(rng, client);
    } catch (err) {
      this.usageError ??= new TestkitUsageError(`nextCall threw for ${client.id}: ${(err as Error).message}`, { cause: err });
      return null;
    }
    const proc = (call as Partial<Call> | null)?.proc;
    if (typeof proc !== 'string' || appProcedure(this.app, proc) === undefined) {
      const known = appProcedures(this.app).join(', ');
      this.usageError ??= new TestkitUsageError(`nextCall gave ${client.id} the procedure ${JSON.stringify(proc)}, which the app does not have (it has: ${known})`);
      return null;
    }
    return call;
  }

  checkFinal(states: ReadonlyMap<NodeId, S>, snapshots: ReadonlyMap<NodeId, string>, run: WorkloadRun): void {
    const bytes = new Map([...states].map(([id, s]) => [id, Uint8Array.from(this.app.marshalState(s))]));
    const distinct = new Set([...bytes.values()].map((b) => Buffer.from(b).toString('base64')));
    if (distinct.size > 1) {
      const held = [...bytes].map(([id, b]) => `${id} holds ${describeBytes(b)}`).join('; ');
      run.sim.fail(`replica divergence: the ${states.size} members of the final view hold ${distinct.size} different app states ` +
        `(${held}). The app is not deterministic (a handler reads a clock, randomness, I/O or a global) or its ` +
        'marshalState/unmarshalState lose or change part of the state on a state transfer');
      return;
    }
    // The same app state everywhere; the client tables (the outcomes kept for retries) must agree too.
    const tables = new Map<string, NodeId[]>();
    for (const [id, snapshot] of snapshots) tables.set(snapshot, [...tables.get(snapshot) ?? [], id]);
    if (tables.size > 1) {
      const groups = [...tables.values()].map((ids) => ids.join(', ')).join(' | ');
      run.sim.fail(`replica divergence: the members of the final view hold one app state but ${tables.size} different ` +
        `client tables (${groups}): the outcomes kept for retried calls differ, so replicas answered some call ` +
        'differently (a handler that is not deterministic, or state that marshalState/unmarshalState lost on a transfer)');
      return;
    }
    const first = states.values().next();
    if (first.done !== true) this.#finalState = { state: first.value };
  }

  /** The run found the clients' history not linearizable (the final state is then not checked). */
  noteViolation(history: History<HistoryInput, HistoryOutput>, verdict: Violation): void {
    this.violation ??= { history, verdict };
  }

  /**
   * The final state: the history followed by the replicas' state must linearize too. Checked
   * only when the history alone raised no violation, so what fails here is the state itself.
   */
  checkHistory(history: History<HistoryInput, HistoryOutput>): string | null {
    if (this.#finalState === null || this.violation !== null) return null;
    const extended = withFinalState(history, this.#spec, this.#finalState.state);
    if (extended === null) return null;
    const verdict = checkLinearizable(extended, this.model, { timeBudgetMs: rsmRunBounds.lincheckBudgetMs });
    this.finalCheck = verdict.verdict;
    if (verdict.verdict !== 'violation') return null;
    this.violation = { history: extended, verdict };
    return 'the replicas\' final state is reached by no order of the calls the clients saw (an acknowledged call ' +
      `was lost, or a call took effect twice or without a client making it): ${verdict.explanation}`;
  }

  stats(): Record<string, number> {
    return { ...this.#counts };
  }
}
