/**
 * Hostile values: what an attacker, a broken client or a confused operator puts where synod
 * expects a string, a count, a node id or a JSON document. Every draw comes from the batch's
 * seeded `Prng`, so a seed gives the same values in the simulator and against real processes.
 */
import type { Prng } from '../sim/prng.js';

/** Every key of `Object.prototype`: as names, keys and ids they must be plain strings to synod. */
export const prototypeKeys: readonly string[] = Object.getOwnPropertyNames(Object.prototype).sort();

/** Large strings, made once per process (a batch draws them by reference). */
const big = {
  kib64: 'k'.repeat(64 * 1024),
  mib1: 'm'.repeat(1024 * 1024),
  mib1Plus: 'n'.repeat(1024 * 1024 + 1),
};

/** Text that is hard for whatever reads it: encodings, controls, direction marks, lone surrogates. */
export const unicodeStrings: readonly string[] = [
  'é', '漢字', '👍🏽', 'a\u0301', '\u0000', 'nul\u0000inside', '\ud800', '\udfff', 'x\ud83d', '\u202eevil', '\ufeff', '\u200d',
  '\u2028', 'tab\tnew\nline', '"quoted"', '\\', '{"json":1}', '[1,2]', '%s%d%n', '../../etc/passwd', ' ', '',
];

/** Strings as counts and ids arrive in the wrong places. */
const numberish: readonly string[] = ['0', '-1', '1e308', 'NaN', 'Infinity', '18446744073709551615', '9007199254740993', '0x10', '1.5'];

/** Numbers where counts, rounds, viewstamps and tokens go. */
export const hostileNumbers: readonly number[] = [
  0, 1, 2, 3, -1, -0, 0.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 2 ** 31, 2 ** 32, 2 ** 53,
  2 ** 53 + 2, 2 ** 64, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER - 1, 1e308, Number.MIN_VALUE, 65535, 65536,
];

/** Draws one hostile string; `extra` are strings of the situation (node ids, cluster names) to mix in. */
export function hostileString(rng: Prng, extra: readonly string[] = []): string {
  const r = rng.next();
  if (r < 0.2) return rng.pick(prototypeKeys);
  if (r < 0.4) return rng.pick(unicodeStrings);
  if (r < 0.55 && extra.length > 0) return rng.pick(extra);
  if (r < 0.62) return rng.pick(numberish);
  if (r < 0.7) return 'x'.repeat(rng.pick([64, 65, 128, 129, 256, 257, 260, 261, 4096, 4097]));
  if (r < 0.73) return rng.pick([big.kib64, big.mib1, big.mib1Plus]);
  return randomText(rng, rng.between(1, 24));
}

/** A short random string over a mixed alphabet (ASCII, punctuation, a little unicode). */
export function randomText(rng: Prng, length: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-_.:@/ {}[]"\\é漢👍';
  let s = '';
  for (let i = 0; i < length; i++) s += alphabet[rng.int(alphabet.length)] ?? 'a';
  return s;
}

export function hostileNumber(rng: Prng): number {
  return rng.chance(0.8) ? rng.pick(hostileNumbers) : rng.between(-5, 100_000);
}

/**
 * Any JS value at all, for the simulator's wire objects (which reach the codecs as they are,
 * with no protobuf decoder in between): wrong types, nested values, objects with prototype keys.
 */
export function anyValue(rng: Prng, extra: readonly string[] = []): unknown {
  switch (rng.int(9)) {
    case 0: return hostileString(rng, extra);
    case 1: return hostileNumber(rng);
    case 2: return rng.pick([true, false, null, undefined]);
    case 3: return rng.pick([[], {}, [1, 2, 3], ['a'], { round: 1 }, new Uint8Array(3)]);
    case 4: return deepValue(rng.pick([10, 100, 10_000]), rng.chance(0.5));
    case 5: return prototypeKeyObject(rng);
    case 6: return Array.from({ length: rng.pick([65, 1025, 10_000]) }, (_, i) => `n${i}`);
    case 7: return String(hostileNumber(rng));
    default: return randomText(rng, rng.between(0, 8));
  }
}

/** `[[[…]]]` or `{"a":{"a":…}}` nested `depth` levels, as a JS value. */
export function deepValue(depth: number, arrays: boolean): unknown {
  let v: unknown = 0;
  for (let i = 0; i < depth; i++) v = arrays ? [v] : { a: v };
  return v;
}

/** An object whose own keys are prototype keys (as `JSON.parse` makes them: `__proto__` an own property). */
export function prototypeKeyObject(rng: Prng): Record<string, unknown> {
  const keys = rng.shuffle(prototypeKeys).slice(0, rng.between(1, 4));
  return JSON.parse(`{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(rng.pick(['x', 1, null]))}`).join(',')}}`) as Record<string, unknown>;
}

const deepTexts = new Map<string, string>();

/** JSON text nested `depth` levels: `[[…]]` or `{"a":{"a":…}}` (made once per process and shape). */
export function deepJsonText(depth: number, arrays: boolean): string {
  const key = `${depth}${arrays ? '[' : '{'}`;
  let text = deepTexts.get(key);
  if (text === undefined) {
    text = arrays ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}0${'}'.repeat(depth)}`;
    deepTexts.set(key, text);
  }
  return text;
}
