/**
 * JSON text under limits (design §4: input is bounded and checked once at the edge). Arguments
 * and replies travel as JSON text; these are the two walks that bound it, and both are loops
 * over an explicit stack: no value or text, however deeply nested, can overflow the call stack
 * in them. (V8's `JSON.parse` is iterative too, but `JSON.stringify` recurses: a 400 KB
 * `[[[…]]]` parses fine and then kills the process that serialises it again.)
 */

import { limits } from '../options.js';

/** How deep and how large a JSON value may be: containers nested, and UTF-8 bytes of its text. */
export interface JsonBounds {
  readonly maxDepth: number;
  readonly maxBytes: number;
}

/** The bounds of a call's arguments: `limits.maxJsonDepth` deep, `limits.maxRequestBytes` of UTF-8. */
export const argsBounds: JsonBounds = { maxDepth: limits.maxJsonDepth, maxBytes: limits.maxRequestBytes };
/** The bounds of a reply and of a callback message: `limits.maxJsonDepth` deep, `limits.maxReplyBytes`. */
export const replyBounds: JsonBounds = { maxDepth: limits.maxJsonDepth, maxBytes: limits.maxReplyBytes };

/**
 * The nesting depth of JSON text: the most arrays and objects open at once (a scalar has depth
 * 0, `[]` and `{}` depth 1, `[[1]]` depth 2). Brackets inside strings do not count. Stops early
 * and returns the depth reached once it exceeds `stopAbove`. Says nothing about whether the text
 * is valid JSON: run it before `JSON.parse`, which then sees only shallow text.
 */
export function jsonTextDepth(text: string, stopAbove: number = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > stopAbove) return deepest;
      }
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return deepest;
}

/** UTF-8 length of `text`, without encoding it. */
export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/**
 * The text of a value, or why it has none within the bounds:
 * - too-deep: containers nested deeper than `maxDepth`;
 * - too-large: more than `maxBytes` UTF-8 bytes of text;
 * - not-json: something `JSON.stringify` refuses too (a bigint, a cycle).
 * `detail` says what, and where, as a path from the value (`at $.locks[3]`).
 */
export type JsonTextResult =
  | { readonly ok: true; readonly text: string }
  | { readonly ok: false; readonly problem: 'too-deep' | 'too-large' | 'not-json'; readonly detail: string };

/** One container being written: its keys (an array's: null, by index) and how far it got. */
interface Frame {
  readonly container: object;
  readonly keys: readonly string[] | null;
  readonly length: number;
  next: number;
  /** Whether a member was written (a comma goes before the next). */
  wrote: boolean;
}

/**
 * `value` as JSON text, exactly as `JSON.stringify(value)` writes it (`toJSON`, boxed
 * primitives, `undefined` and functions left out of objects and `null` in arrays, non-finite
 * numbers as `null`), except that a value that is not JSON at the top (`undefined`, a function)
 * is written `null`, and that it stops, without writing more, as soon as the bounds are passed.
 * Never recurses; its work is bounded by `maxBytes` (every step writes at least one character)
 * and its stack by `maxDepth`. About a third of `JSON.stringify`'s speed. Getters and `toJSON`
 * methods of the value run (they may be app code: call it inside the guard).
 */
export function toJsonText(value: unknown, bounds: JsonBounds): JsonTextResult {
  const max = bounds.maxBytes;
  let out = '';
  const stack: Frame[] = [];
  const at = (): string => `$${stack.map((f) => (f.keys === null ? `[${f.next - 1}]` : `.${f.keys[f.next - 1]}`)).join('')}`;
  const tooLarge: JsonTextResult = { ok: false, problem: 'too-large', detail: `more than ${max} bytes of JSON` };

  // `v` is the next value to write, already resolved (`jsonValueOf`): undefined writes null.
  // The text's length is checked after every value: a character is at least one UTF-8 byte.
  let v = jsonValueOf(value, '');
  for (;;) {
    if (typeof v === 'bigint') return { ok: false, problem: 'not-json', detail: `a bigint at ${at()}` };
    if (typeof v === 'string') {
      out += JSON.stringify(v);
    } else if (typeof v === 'number') {
      out += Number.isFinite(v) ? String(v) : 'null';
    } else if (typeof v !== 'object' || v === null) {
      out += v === undefined || v === null ? 'null' : String(v);
    } else {
      for (const f of stack) if (f.container === v) return { ok: false, problem: 'not-json', detail: `a cycle at ${at()}` };
      if (stack.length >= bounds.maxDepth) {
        return { ok: false, problem: 'too-deep', detail: `nested deeper than ${bounds.maxDepth} levels at ${at()}` };
      }
      const keys = Array.isArray(v) ? null : Object.keys(v);
      stack.push({ container: v, keys, length: keys === null ? (v as unknown[]).length : keys.length, next: 0, wrote: false });
      out += keys === null ? '[' : '{';
    }
    if (out.length > max) return tooLarge;
    // The next member to write, closing every container that is done.
    let found = false;
    while (!found && stack.length > 0) {
      const f = stack[stack.length - 1]!;
      const keys = f.keys;
      while (f.next < f.length) {
        const i = f.next++;
        if (keys === null) {
          v = jsonValueOf((f.container as unknown[])[i], i);
          if (f.wrote) out += ',';
        } else {
          const k = keys[i]!;
          v = jsonValueOf((f.container as Record<string, unknown>)[k], k);
          if (v === undefined) continue; // an object member that is not JSON is left out, key and all
          out += `${f.wrote ? ',' : ''}${JSON.stringify(k)}:`;
        }
        f.wrote = true;
        found = true;
        break;
      }
      if (!found) {
        stack.pop();
        out += keys === null ? ']' : '}';
      }
    }
    if (out.length > max) return tooLarge;
    if (!found) break;
  }
  if (utf8Bytes(out) > max) return tooLarge;
  return { ok: true, text: out };
}

/**
 * What `JSON.stringify` writes for `v` as the member `key`: `toJSON`'s result, a boxed
 * primitive's value, or the value itself; undefined when nothing is written (undefined, a
 * function, a symbol).
 */
function jsonValueOf(v: unknown, key: string | number): unknown {
  if (typeof v === 'object' ? v === null : typeof v !== 'bigint' && typeof v !== 'function') return v === undefined || typeof v === 'symbol' ? undefined : v;
  return jsonObjectValue(v as object | bigint, key);
}

/** `jsonValueOf` for what may have `toJSON`: objects, functions and bigints. */
function jsonObjectValue(v: object | bigint, key: string | number): unknown {
  let x: unknown = v;
  const toJSON = (x as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') x = (toJSON as (k: string) => unknown).call(x, String(key));
  if (typeof x !== 'object' || x === null) {
    return x === undefined || typeof x === 'function' || typeof x === 'symbol' ? undefined : x;
  }
  if (x instanceof Number) return Number(x);
  if (x instanceof String) return String(x);
  if (x instanceof Boolean) return x.valueOf();
  return x;
}
