import type { Json } from '../../src/rsm/app.js';
import type { AppendInput, AppendOutput, LockInput, LockOutput } from './models.js';
import { type CallMapping, notExecuted } from './recorder.js';

/**
 * The calls of the apps, as the models of models.ts see them (for `HistoryRecorder`).
 */

const objectArgs = (args: Json): Record<string, Json> | null =>
  (typeof args === 'object' && args !== null && !Array.isArray(args) ? args : null);

/** The test app's `append` and `length` (`appendModel`); other procedures are not recorded. */
export const appendCalls: CallMapping<AppendInput, AppendOutput> = {
  input(proc, args) {
    if (proc === 'length') return { proc: 'length' };
    const item = objectArgs(args)?.['item'];
    return proc === 'append' && typeof item === 'string' ? { proc: 'append', item } : null;
  },
  value: (input, value) => (input.proc === 'append' ? { index: value as number } : { length: value as number }),
  // The test app checks arguments before it changes anything.
  appError: (_input, code) => (code === 'bad-args' ? notExecuted : null),
};

/** The lock service's refusals that leave the state as it was (`lock-app.ts`). */
const refusedUnchanged: ReadonlySet<string> = new Set(['bad-args', 'owner-taken', 'internal-only']);

/**
 * The lock service's `acquire`, `release` and `stat` (`lockModel`). `giveBack` is not modelled
 * and not recorded: a recorder that meets one reports it in `skipped`, and the history is then
 * checkable only if it had no effect (refused, or nothing to give back). A client's `expire` or
 * `endDelay` is refused `internal-only` (no effect); the nodes' own are `lockInternalCalls`.
 * `release` refused with `not-held` is an executed operation; any call refused with `bad-args`,
 * `owner-taken` (another client's owner) or `internal-only` had no effect.
 */
export const lockCalls: CallMapping<LockInput, LockOutput> = {
  input(proc, args) {
    const a = objectArgs(args);
    const lock = a?.['lock'];
    if (a === null || typeof lock !== 'string') return null;
    const owner = a['owner'];
    if (proc === 'stat') return { proc: 'stat', lock };
    if (typeof owner !== 'string') return null;
    if (proc === 'acquire') return { proc: 'acquire', lock, owner };
    if (proc !== 'release') return null;
    const token = a['token'];
    return typeof token === 'number' && Number.isFinite(token) ? { proc: 'release', lock, owner, token } : { proc: 'release', lock, owner };
  },
  value: (_input, value) => value as unknown as LockOutput,
  // `not-held` is release's answer; the other refusals are given before anything changes.
  appError: (input, code) => (refusedUnchanged.has(code) ? notExecuted : input.proc === 'release' && code === 'not-held' ? { error: code } : null),
};

/**
 * The nodes' own requests to the lock service that change it (`expire`, `endDelay`), as
 * operations of `lockModel`: an `expire({ owner })` touches every lock, so it becomes one
 * operation per lock of `locks()` (the locks the history uses: the model checks lock by lock);
 * an `endDelay({ lock })` one operation. Anything else, or a refused request (it changed
 * nothing), maps to none.
 */
export const lockInternalCalls = (locks: () => readonly string[]): InternalCallMapping<LockInput, LockOutput> => ({
  operations(proc, args, value) {
    const a = objectArgs(args);
    if (proc === 'expire' && typeof a?.['owner'] === 'string') {
      const owner = a['owner'];
      return locks().map((lock) => ({ input: { proc: 'expire', lock, owner }, output: { expired: true } }));
    }
    const ended = objectArgs(value)?.['ended'];
    if (proc === 'endDelay' && typeof a?.['lock'] === 'string' && typeof ended === 'boolean') return [{ input: { proc: 'endDelay', lock: a['lock'] }, output: { ended } }];
    return [];
  },
});

/** How the requests a node makes on its own (not a client's call) map onto a model's operations. */
export interface InternalCallMapping<I, O> {
  /** The operations an executed request with reply `value` stands for ([]: none). */
  operations(proc: string, args: Json, value: Json): ReadonlyArray<{ readonly input: I; readonly output: O }>;
}
