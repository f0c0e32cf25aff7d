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
 * The lock service's `acquire`, `release` and `stat` (`lockModel`). `expire` and `giveBack` are
 * not modelled and not recorded: a recorder that meets one reports it in `skipped`, and the
 * history is then checkable only if it had no effect (refused, or nothing to give back).
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
