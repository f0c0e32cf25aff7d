import type { CallResult } from '../../src/client/client-core.js';
import type { ObservedCall, RsmCallObserver } from '../../src/client/rsm-client.js';
import { lockCalls } from '../lincheck/mappings.js';
import type { LockInput, LockOutput } from '../lincheck/models.js';
import { HistoryRecorder } from '../lincheck/recorder.js';
import type { History } from '../lincheck/types.js';

/** What the recorder saw, by outcome. */
export interface RecordedCounts {
  /** Operations with a known outcome (a reply, or the app's `not-held`). */
  readonly completed: number;
  /** Operations whose outcome is unknown (deadline passed, client closed, or not completed while recording). */
  readonly unknown: number;
  /** Calls refused without being executed (`InvalidArgumentError`): left out of the history. */
  readonly refused: number;
  /** Operations in the history, by procedure. */
  readonly byProc: Readonly<Record<'acquire' | 'release' | 'stat', number>>;
}

/**
 * Records the lock operations of many `RsmClient`s (each lock client's `.rsm`) as a lincheck
 * history for `lockModel`, on the clients' shared clock (`performance.now()` for real clients).
 * The mapping of calls to operations is lincheck's (`HistoryRecorder` with `lockCalls`):
 * - `acquire`, `release`, `stat`: operations of those shapes, the app's reply as the output, the
 *   app's `not-held` as `{ error: 'not-held' }`;
 * - `InvalidArgumentError` (refused, never executed): left out;
 * - `DeadlineExceededError`, `ClientClosedError`, or not completed while recording: unknown
 *   outcome (it may have taken effect at any time after its invocation, or never).
 *
 * On top of it: one lane per client with a name of the caller's (`observerFor`), `stop()` (what
 * happens afterwards is not part of the history: later calls are left out, since they start after
 * every recorded one, and later completions leave their operations unknown), and `problems`: any
 * call during recording that is not an operation of the model — above all `expire`, which
 * releases locks and empties queues behind the clients' backs and which `lockModel` does not
 * model. A history with problems cannot be checked soundly.
 */
export class LockHistoryRecorder implements RsmCallObserver {
  readonly #recorder = new HistoryRecorder<LockInput, LockOutput>(lockCalls);
  /** Lane of each client id seen through `observerFor`. */
  readonly #lanes = new Map<string, string>();
  readonly #problems: string[] = [];
  #recording = true;

  /** An observer for one client whose operations go in lane `lane` (e.g. the lock client's owner). */
  observerFor(lane: string): RsmCallObserver {
    return {
      invoked: (call, atMs) => {
        this.#lanes.set(call.clientId, lane);
        this.invoked(call, atMs);
      },
      completed: (call, result, atMs) => this.completed(call, result, atMs),
    };
  }

  invoked(call: ObservedCall, atMs: number): void {
    if (!this.#recording) return;
    const skippedBefore = this.#recorder.skipped.get(call.proc) ?? 0;
    this.#recorder.invoked(call, atMs);
    if ((this.#recorder.skipped.get(call.proc) ?? 0) > skippedBefore) {
      const lane = this.#lanes.get(call.clientId) ?? call.clientId;
      this.#problems.push(call.proc === 'expire'
        ? `${lane} called expire(${JSON.stringify(call.args)}) while the history was recorded: the lock model does not model expire ` +
          '(it releases locks and dequeues owners behind the clients\' backs), so the history cannot be checked'
        : `${lane} called ${call.proc}(${JSON.stringify(call.args)}) while the history was recorded: not an operation of the lock model`);
    }
  }

  completed(call: ObservedCall, result: CallResult, atMs: number): void {
    if (this.#recording) this.#recorder.completed(call, result, atMs);
  }

  /** Stops recording: what happens from now on is not part of the history. */
  stop(): void {
    this.#recording = false;
  }

  get recording(): boolean {
    return this.#recording;
  }

  /** Calls that are not operations of `lockModel`, as sentences (empty in a sound recording). */
  get problems(): readonly string[] {
    return this.#problems;
  }

  /** The history so far (ids in invocation order, lanes by the names given to `observerFor`). */
  history(): History<LockInput, LockOutput> {
    return this.#recorder.history().map((op) => ({ ...op, client: this.#lanes.get(op.client) ?? op.client }));
  }

  counts(): RecordedCounts {
    const history = this.#recorder.history();
    const byProc = { acquire: 0, release: 0, stat: 0 };
    let completed = 0;
    for (const op of history) {
      const proc = op.input.proc;
      if (proc === 'acquire' || proc === 'release' || proc === 'stat') byProc[proc]++; // clients' calls only: no node's own is recorded here
      if (op.output !== undefined) completed++;
    }
    return { completed, unknown: history.length - completed, refused: this.#recorder.size - history.length, byProc };
  }
}
