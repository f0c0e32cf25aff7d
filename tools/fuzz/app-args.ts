/**
 * Requests for an app's procedures with random JSON arguments: right and wrong procedure names,
 * argument objects with the app's own argument names and with prototype keys, values of every
 * JSON type, numbers JSON cannot hold exactly, duplicate keys, text that is not JSON, and text
 * nested or sized around the documented limits. Each request says what the limits demand of it:
 * text beyond `limits.maxJsonDepth` or `limits.maxRequestBytes`, or not JSON at all, must be
 * refused at the edge, and a procedure the app does not have must come back `unknown-procedure`.
 */
import { limits } from '../../src/options.js';
import type { Json } from '../../src/rsm/app.js';
import type { Prng } from '../sim/prng.js';
import { deepJsonText, hostileString, prototypeKeys, randomText } from './hostile.js';

/** What the fuzzer knows of an app: its procedures (from the app itself) and hints for its arguments. */
export interface AppTarget {
  readonly name: string;
  /** The app's procedures, handlers and queries (`appProcedures`). */
  readonly procs: readonly string[];
  /** Argument names its procedures read (hints: any name may be sent). */
  readonly argNames: readonly string[];
  /** Arguments shaped like a procedure's own and bent (the KV store's: kv-args.ts); drawn for some of the object-shaped arguments. */
  readonly shapedArgs?: (proc: string, rng: Prng) => Record<string, unknown>;
  /**
   * Requests the app's generator makes whole, procedure and arguments (the KV store's: keys of
   * large values, then a delete of them all in one revision), for states random requests rarely
   * reach; drawn for some requests where the target asks for them (real processes: their values
   * are large, and the simulator compares the state around every query).
   */
  readonly shapedRequest?: (rng: Prng) => { readonly proc: string; readonly args: unknown };
  /**
   * The app's feeds (`App.feeds`), each with the feed's own filter check (throws for a filter it
   * refuses): what a subscription the node admits must pass. Absent or empty: the app has none.
   */
  readonly feeds?: Readonly<Record<string, (filter: Json) => unknown>>;
}

/** One rule a request breaks: the field, and the limit (or rule) it breaks. */
export interface Breach {
  readonly field: string;
  readonly limit: string;
}

/** What the documented limits demand of a request: refused (for every rule it breaks), `unknown-procedure`, or nothing. */
export type EdgeRule =
  | { readonly kind: 'refuse'; readonly breaches: readonly Breach[] }
  | { readonly kind: 'unknown-procedure' }
  | { readonly kind: 'free' };

export interface AppRequest {
  readonly proc: string;
  readonly argsText: string;
  readonly rule: EdgeRule;
  /** For reports: how the arguments were made. */
  readonly shape: string;
}

/** Text that trips JSON readers: prototype keys, duplicates, numbers beyond doubles, lone surrogates, stray bytes. */
const trickyTexts: readonly string[] = [
  '{"__proto__":{"lock":"proto-lock"},"lock":"l","owner":"o"}',
  '{"lock":"a","lock":"b","owner":"x","owner":"y"}',
  '{"lock":"t","owner":"o","token":1e400}',
  '{"lock":"t","owner":"o","token":-0}',
  '{"key":"k","by":9007199254740993}',
  '{"key":"k","by":1e308}',
  '{"item":"\\ud800"}',
  '{"lock":"\\u0000","owner":"\\u0000"}',
  '{"constructor":{"prototype":{"polluted":true}},"lock":"c","owner":"c"}',
  ' {"lock":"spaces","owner":"o"} ',
  'null', '[]', '"text"', '42', 'true', '{}',
];

/** Text that is not JSON. */
const notJson: readonly string[] = ['', 'undefined', 'NaN', '{', '{"lock":', "{'lock':'x'}", '{"lock":"a"}x', '[1,]', '\u0000'];

/**
 * A request for one of `app`'s procedures (mostly) with random arguments, and what the limits
 * demand of it; with `scenarios`, some are the app's own whole requests (`shapedRequest`).
 */
export function appRequest(app: AppTarget, rng: Prng, scenarios = false): AppRequest {
  if (scenarios && app.shapedRequest !== undefined && rng.chance(0.15)) {
    const { proc, args } = app.shapedRequest(rng);
    const text = JSON.stringify(args);
    return { proc, argsText: text, shape: 'scenario', rule: edgeRule(app, proc, text, depthOf(args)) };
  }
  const known = rng.chance(0.8);
  const proc = known ? rng.pick(app.procs) : hostileProc(rng, app);
  const { text, shape, depth } = argsText(app, proc, rng);
  return { proc, argsText: text, shape, rule: edgeRule(app, proc, text, depth) };
}

/** What the limits demand of `proc(text)`, whose nesting depth the generator knows. */
function edgeRule(app: AppTarget, proc: string, text: string, depth: number): EdgeRule {
  const breaches: Breach[] = [];
  if (proc.length === 0 || proc.length > limits.maxProcNameLength) breaches.push({ field: 'proc', limit: 'limits.maxProcNameLength' });
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > limits.maxRequestBytes) breaches.push({ field: 'args', limit: 'limits.maxRequestBytes' });
  if (depth > limits.maxJsonDepth) breaches.push({ field: 'args', limit: 'limits.maxJsonDepth' });
  if (bytes <= limits.maxRequestBytes && depth <= limits.maxJsonDepth && !isJson(text)) breaches.push({ field: 'args', limit: 'JSON' });
  if (breaches.length > 0) return { kind: 'refuse', breaches };
  return app.procs.includes(proc) ? { kind: 'free' } : { kind: 'unknown-procedure' };
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function hostileProc(rng: Prng, app: AppTarget): string {
  const name = rng.chance(0.5) ? rng.pick(prototypeKeys) : hostileString(rng);
  return app.procs.includes(name) ? `${name}!` : name;
}

/** Arguments as JSON text, how they were made, and how deep they nest. */
function argsText(app: AppTarget, proc: string, rng: Prng): { text: string; shape: string; depth: number } {
  // Half of an app's arguments shaped like its own where it has a generator for them: they get
  // past its first checks, and some are valid, so the store changes and later cases meet it.
  if (app.shapedArgs !== undefined && rng.chance(0.5)) {
    const value = app.shapedArgs(proc, rng);
    return { text: JSON.stringify(value), shape: 'shaped', depth: depthOf(value) };
  }
  const r = rng.next();
  if (r < 0.55) {
    const value = argsObject(app, rng);
    return { text: JSON.stringify(value), shape: 'object', depth: depthOf(value) };
  }
  if (r < 0.7) {
    const text = rng.pick(trickyTexts);
    return { text, shape: 'tricky', depth: text.startsWith('{"constructor"') ? 3 : text.startsWith('{"__proto__"') ? 2 : 1 };
  }
  if (r < 0.8) return { text: rng.pick(notJson), shape: 'not-json', depth: 1 };
  if (r < 0.92) {
    const depth = rng.pick([limits.maxJsonDepth - 1, limits.maxJsonDepth, limits.maxJsonDepth + 1, 100, 10_000, 200_000]);
    const arrays = rng.chance(0.5);
    return { text: deepJsonText(depth, arrays), shape: `${depth}-deep`, depth };
  }
  // Around the size limit: a string whose text (with quotes and key) lands just below or above it.
  const key = rng.pick(app.argNames);
  const overhead = `{"${key}":""}`.length;
  const size = rng.pick([limits.maxRequestBytes - overhead, limits.maxRequestBytes - overhead + 1, 64 * 1024]);
  return { text: sizedText(key, size), shape: `${size + overhead} bytes`, depth: 1 };
}

const sizedTexts = new Map<string, string>();

/** `{"<key>":"zzz…"}` with `size` z's (made once per process, key and size). */
function sizedText(key: string, size: number): string {
  const id = `${key}:${size}`;
  let text = sizedTexts.get(id);
  if (text === undefined) {
    text = JSON.stringify({ [key]: 'z'.repeat(size) });
    sizedTexts.set(id, text);
  }
  return text;
}

/** An object with some of the app's argument names and prototype keys, values of every JSON type. */
function argsObject(app: AppTarget, rng: Prng): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let k = rng.between(0, 4); k > 0; k--) {
    const key = rng.chance(0.75) ? rng.pick(app.argNames) : rng.chance(0.6) ? rng.pick(prototypeKeys) : randomText(rng, 5);
    // Defined as an own property even for `__proto__` (an assignment would set the prototype).
    Object.defineProperty(out, key, { value: jsonValue(rng, 0), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function jsonValue(rng: Prng, depth: number): unknown {
  switch (rng.int(depth < 3 ? 7 : 5)) {
    case 0:
    case 1: return hostileString(rng);
    case 2: return rng.pick([0, 1, -1, 0.5, 2 ** 53, 2 ** 53 + 2, -(2 ** 60), 1e300, 7]);
    case 3: return rng.pick([true, false, null]);
    case 4: return randomText(rng, rng.between(1, 6));
    case 5: return Array.from({ length: rng.between(0, 3) }, () => jsonValue(rng, depth + 1));
    default: return Object.fromEntries(Array.from({ length: rng.between(0, 3) }, () => [randomText(rng, 3), jsonValue(rng, depth + 1)]));
  }
}

/** The nesting depth of a value the generator built (its own structure, counted directly). */
function depthOf(v: unknown): number {
  if (typeof v !== 'object' || v === null) return 0;
  const children = Array.isArray(v) ? v : Object.values(v);
  return 1 + Math.max(0, ...children.map(depthOf));
}
