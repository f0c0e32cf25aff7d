import { limits } from '../options.js';
import type { Json } from '../rsm/app.js';
import { isReservedProc } from '../rsm/client-table.js';
import { type JsonTextResult, toJsonText } from '../rsm/json-text.js';
import { InvalidArgumentError } from './errors.js';

/**
 * A call as the client checks it before queueing it: replicas would refuse the rest, certainly
 * without executing it, so the caller learns it at once. A deadline must be a positive number of
 * milliseconds; the procedure must not be one of synod's own (`isReservedProc`); the arguments are
 * written as JSON text once, here, by a loop (arguments nested too deeply are refused rather than
 * overflowing the caller's stack), within `limits.maxJsonDepth` and `maxRequestBytes`. Every
 * attempt of the call then sends that same text (the request's digest is taken from it).
 */
export function checkCall(proc: string, args: Json, deadlineMs: number, maxRequestBytes: number):
  | { readonly ok: true; readonly argsText: string }
  | { readonly ok: false; readonly error: InvalidArgumentError } {
  if (!(deadlineMs > 0)) return { ok: false, error: new InvalidArgumentError('deadlineMs', 'must be a positive number of milliseconds') };
  if (isReservedProc(proc)) return { ok: false, error: new InvalidArgumentError('proc', `${JSON.stringify(proc)} is reserved for synod itself`) };
  let result: JsonTextResult;
  try {
    result = toJsonText(args, { maxDepth: limits.maxJsonDepth, maxBytes: maxRequestBytes });
  } catch (err) {
    return { ok: false, error: new InvalidArgumentError('args', `cannot be written as JSON: ${err instanceof Error ? err.message : String(err)}`) };
  }
  if (result.ok) return { ok: true, argsText: result.text };
  const limit = result.problem === 'too-deep' ? ' (limits.maxJsonDepth)' : result.problem === 'too-large' ? ' (limits.maxRequestBytes)' : '';
  return { ok: false, error: new InvalidArgumentError('args', `${result.detail}${limit}`) };
}
